// The consumer-group requests of one edge connection [EDGE-12]: each frame becomes a coordinator (or
// broker) call and its answer frame. Partitions travel as this connection's topic aliases, except in
// JOIN_GROUP/JOINED and the admin frames, which name topics. At most edgeGroupRequestsInflightMax
// unanswered per connection: a JOIN_GROUP waits for the rebalance, and a client must not pile up more.

import { getMaxListeners, setMaxListeners } from 'node:events';
import type { Broker } from '../../broker/broker.ts';
import { asTributaryError, TributaryError } from '../../errors.ts';
import type { RecordInput } from '../../format/record-batch.ts';
import type { AssignStrategy, GroupState, ResetTarget } from '../../groups/types.ts';
import { limits } from '../../limits.ts';
import type {
  EdgeRecord,
  Frame,
  GroupStateCode,
  JoinGroupFrame,
  OffsetCommitEntry,
  ProduceCommitFrame,
  ResetOffsetsFrame,
  StrategyCode,
} from '../../protocol/edge/frames.ts';

export type GroupFrame = Extract<
  Frame,
  {
    type:
      | 'join-group'
      | 'heartbeat'
      | 'leave-group'
      | 'commit-offsets'
      | 'fetch-offsets'
      | 'produce-commit'
      | 'list-groups'
      | 'describe-group'
      | 'reset-offsets'
      | 'delete-group';
  }
>;

export interface GroupRequestHost {
  broker: Broker;
  aliases: ReadonlyMap<number, string>;
  clientId: () => string;
  remoteAddress: string;
  send: (frame: Frame) => void;
  sendError: (corr: number, err: TributaryError) => void;
  /** Aborted when the connection closes: a pending join is dropped. */
  signal: AbortSignal;
}

/** Requests answered after a wait; the others are answered in the turn they arrive. */
const waitingTypes: ReadonlySet<GroupFrame['type']> = new Set(['join-group', 'commit-offsets', 'produce-commit', 'reset-offsets', 'delete-group']);

const strategyByCode: (AssignStrategy | null)[] = [null, 'range', 'roundrobin', 'sticky'];
const stateCodes: Record<GroupState, GroupStateCode> = { empty: 0, rebalancing: 1, stable: 2, dead: 3 };
const strategyCodes: Record<AssignStrategy, StrategyCode> = { range: 1, roundrobin: 2, sticky: 3 };

export class GroupRequests {
  private inflight = 0;

  constructor(private readonly host: GroupRequestHost) {
    // Each JOIN_GROUP waiting for a rebalance listens on the connection's signal. They are bounded by
    // the in-flight limit; past Node's default of 10 it would print a "possible memory leak" warning.
    setMaxListeners(getMaxListeners(host.signal) + limits.edgeGroupRequestsInflightMax, host.signal);
  }

  handle(frame: GroupFrame): void {
    // Only requests that wait (for a rebalance or a storage transaction) count against the limit:
    // a burst of heartbeats or describes is answered at once and holds nothing.
    const waits = waitingTypes.has(frame.type);
    if (waits && this.inflight >= limits.edgeGroupRequestsInflightMax)
      return this.host.sendError(frame.corr, new TributaryError('THROTTLED', `at most ${limits.edgeGroupRequestsInflightMax} group requests in flight per connection`));
    let answer: Frame | Promise<Frame>;
    try {
      answer = this.answer(frame);
    } catch (err) {
      return this.fail(frame.corr, err);
    }
    if (!(answer instanceof Promise)) return this.host.send(answer);
    this.inflight++;
    // The continuation keeps the corr, not the frame: a PRODUCE_COMMIT's records die once encoded.
    const corr = frame.corr;
    answer.then(
      (f) => {
        this.inflight--;
        if (!this.host.signal.aborted) this.host.send(f);
      },
      (err: unknown) => {
        this.inflight--;
        this.fail(corr, err);
      },
    );
  }

  private fail(corr: number, err: unknown): void {
    const error = asTributaryError(err);
    this.host.broker.countError(error);
    if (!this.host.signal.aborted) this.host.sendError(corr, error);
  }

  private answer(f: GroupFrame): Frame | Promise<Frame> {
    const { groups } = this.host.broker;
    switch (f.type) {
      case 'join-group':
        return this.join(f);
      case 'heartbeat':
        groups.heartbeat(f.group, f.memberId, f.generation);
        return { type: 'ok', corr: f.corr };
      case 'leave-group':
        groups.leave(f.group, f.memberId);
        return { type: 'ok', corr: f.corr };
      case 'commit-offsets':
        return groups
          .commit({ group: f.group, memberId: f.memberId, generation: f.generation, offsets: f.offsets.map((o) => this.offsetEntry(o)), owner: this })
          .then(() => ({ type: 'ok', corr: f.corr }));
      case 'fetch-offsets': {
        const wanted = f.partitions.map((p) => ({ alias: p.alias, topic: this.topic(p.alias), partition: p.partition }));
        const found = groups.fetchOffsets(f.group, wanted);
        return { type: 'offsets', corr: f.corr, offsets: found.map((o, i) => ({ alias: wanted[i]!.alias, partition: o.partition, offset: o.offset, metadata: o.metadata })) };
      }
      case 'produce-commit':
        return this.produceCommit(f);
      case 'list-groups':
        return { type: 'groups', corr: f.corr, groups: groups.listGroups().map((g) => ({ name: g.group, state: stateCodes[g.state], members: g.members })) };
      case 'describe-group': {
        const d = groups.describeGroup(f.group);
        return {
          type: 'group-description',
          corr: f.corr,
          group: d.group,
          state: stateCodes[d.state],
          strategy: strategyCodes[d.strategy],
          generation: d.generation,
          members: d.members.map((m) => ({ ...m, instanceId: m.instanceId ?? '' })),
          partitions: d.partitions.map(({ lag: _lag, ...p }) => p),
        };
      }
      case 'reset-offsets':
        return groups
          .resetOffsets({ group: f.group, topic: f.topic, partition: f.partition === -1 ? undefined : f.partition, target: resetTarget(f), execute: f.execute })
          .then((entries) => ({ type: 'offsets-reset', corr: f.corr, entries }));
      case 'delete-group':
        return groups.deleteGroup(f.group).then(() => ({ type: 'ok', corr: f.corr }));
    }
  }

  private async join(f: JoinGroupFrame): Promise<Frame> {
    const strategy = strategyByCode[f.strategy];
    if (strategy === undefined) throw new TributaryError('INVALID_REQUEST', `unknown assignment strategy ${f.strategy}`);
    const r = await this.host.broker.groups.join({
      group: f.group,
      memberId: f.memberId,
      instanceId: f.instanceId === '' ? null : f.instanceId,
      clientId: this.host.clientId(),
      host: this.host.remoteAddress,
      topics: f.topics,
      pattern: f.pattern === '' ? null : f.pattern,
      strategy,
      sessionTimeoutMs: f.sessionTimeoutMs,
      rebalanceTimeoutMs: f.rebalanceTimeoutMs,
      owner: this,
      signal: this.host.signal,
    });
    return {
      type: 'joined',
      corr: f.corr,
      generation: r.generation,
      memberId: r.memberId,
      sessionTimeoutMs: r.sessionTimeoutMs,
      heartbeatMs: Math.max(1, Math.floor(r.sessionTimeoutMs / 3)),
      assignment: r.assignment,
    };
  }

  // Not async, as Broker.produce: only the corr waits for the transaction, not the frame.
  private produceCommit(f: ProduceCommitFrame): Promise<Frame> {
    const now = Date.now();
    const corr = f.corr;
    const produced = this.host.broker.produceWithCommit({
      batches: f.batches.map((b) => ({ topic: this.topic(b.alias), partition: b.partition, records: toRecords(b.records, b.baseTimestampMs > 0 ? b.baseTimestampMs : now) })),
      commit: { group: f.group, memberId: f.memberId, generation: f.generation, offsets: f.offsets.map((o) => this.offsetEntry(o)), owner: this },
      flush: f.flush,
    });
    return produced.then((results) => ({ type: 'produced', corr, batches: results.map((r) => ({ partition: r.partition, baseOffset: r.baseOffset })) }));
  }

  private offsetEntry(o: OffsetCommitEntry): { topic: string; partition: number; offset: number; metadata: string } {
    return { topic: this.topic(o.alias), partition: o.partition, offset: o.offset, metadata: o.metadata };
  }

  private topic(alias: number): string {
    const topic = this.host.aliases.get(alias);
    if (topic === undefined) throw new TributaryError('UNKNOWN_ALIAS', `alias ${alias} is not registered on this connection`);
    return topic;
  }
}

function toRecords(records: EdgeRecord[], base: number): RecordInput[] {
  return records.map((r, i) => {
    const timestampMs = base + r.timestampDeltaMs;
    // [EDGE-7.2] as in PRODUCE.
    if (timestampMs < 0) throw new TributaryError('INVALID_REQUEST', `record ${i} has a negative timestamp`);
    return { timestampMs, key: r.key, value: r.value, headers: r.headers };
  });
}

function resetTarget(f: ResetOffsetsFrame): ResetTarget {
  switch (f.mode) {
    case 0:
      return { to: 'earliest' };
    case 1:
      return { to: 'latest' };
    case 2:
      return { to: 'offset', offset: f.value };
    case 3:
      return { to: 'datetime', timestampMs: f.value };
    case 4:
      return { to: 'shift', by: f.value };
    default:
      throw new TributaryError('INVALID_REQUEST', `unknown reset mode ${f.mode as number}`);
  }
}
