// The group consumer: a member of a consumer group [EDGE-12] that reads the partitions the broker
// assigns it and commits its positions in the broker, with Kafka's delivery semantics.
//
// Fetching is a Consumer's (consumer.ts), driven here: this class decides what it is assigned and
// from where. Membership follows the broker's eager protocol: JOIN_GROUP is answered once the group
// is stable, with this member's share (the broker assigns; there is no client assignor); one
// heartbeat timer keeps the session; REBALANCE_IN_PROGRESS means "give your partitions back and join
// again", UNKNOWN_MEMBER / ILLEGAL_GENERATION mean they are already gone (join again), and
// FENCED_INSTANCE that another process took this static member's place (stop). All of that is acted
// on inside poll(), as Kafka does, so callbacks and commits never race the caller.
//
// Positions: `handedOut` is where the records poll() returned end, per partition; `committed` is
// what the broker holds as far as this member knows. A partition that started at the reset policy
// has none until its position is committed (as Kafka's, that commit may carry no record: the next
// member then starts where this one did). Which positions are committed when is the delivery mode:
// - at-least-once: what an earlier poll() returned is processed when poll() is called again; that is
//   committed every autoCommitIntervalMs (inside poll), before a revocation and on close.
// - at-most-once: poll() commits what it is about to return before returning it.
// - exactly-once: only produceAndCommit() commits, together with the records it writes, in one
//   broker transaction. Whenever its outcome is unknown (connection lost, rebalance, crash), the
//   member restarts from what the broker has committed; a PRODUCE_COMMIT is never sent twice.

import { asTributaryError, TributaryError, type ErrorName } from '../errors.ts';
import type { AssignStrategy } from '../groups/types.ts';
import { Strategy, type StrategyCode } from '../protocol/edge/frames.ts';
import type { ConnectOptions, EdgeClient } from './connection.ts';
import { Consumer, type ConsumedRecord, type ConsumerOptions, type OffsetSpec } from './consumer.ts';
import { planBatches, recordMetadata, type TopicTarget } from './produce-batches.ts';
import type { ProducerRecord, RecordMetadata } from './producer.ts';

export type DeliverySemantics = 'at-least-once' | 'at-most-once' | 'exactly-once';

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface OffsetCommit extends TopicPartition {
  /** The offset of the next record to read (as Kafka's). */
  offset: number;
  /** Stored with the offset, at most 4 KiB. Default ''. */
  metadata?: string;
}

/** May be async: poll() awaits it before going on. */
export type PartitionsListener = (partitions: TopicPartition[]) => void | Promise<void>;

export interface GroupConsumerOptions extends ConnectOptions {
  group: string;
  /** Exact topic names. At least one of topics and pattern. */
  topics?: string[];
  /** A regular expression matched against whole topic names (topics created later join the subscription). */
  pattern?: string;
  /** Static membership (Kafka's group.instance.id): a restart within the session gets its partitions back with no rebalance. */
  instanceId?: string;
  /** Default: the broker's (10 s). A member silent this long is evicted. */
  sessionTimeoutMs?: number;
  /** Default: the group's (sticky for a new group). */
  strategy?: AssignStrategy;
  /** Default 'at-least-once'. */
  delivery?: DeliverySemantics;
  /** at-least-once: commit processed positions this often (checked in poll()). 0 = never automatically: not periodically, not before a revocation, not on close. Default 5000. */
  autoCommitIntervalMs?: number;
  /** Where a partition without a committed offset starts, or one whose committed offset retention passed. 'none' makes poll() throw. Default 'latest'. */
  autoOffsetReset?: 'earliest' | 'latest' | 'none';
  /** Per fetch (one partition). Default 1 MiB. */
  maxBytes?: number;
  /** How long an idle poll() waits. Default 500. */
  maxWaitMs?: number;
  /** After every join, with this member's new share (possibly empty), before its positions are fetched. */
  onPartitionsAssigned?: PartitionsListener;
  /** Before a rebalance takes the partitions back (after at-least-once committed), and on close. */
  onPartitionsRevoked?: PartitionsListener;
  /** The partitions were already gone (evicted, fenced, generation over, connection lost): nothing could be committed. Default: onPartitionsRevoked. */
  onPartitionsLost?: PartitionsListener;
}

export interface ProduceAndCommitOptions {
  /** Answer once the transaction is on disk (acks 'all') instead of once it committed. Default false. */
  flush?: boolean;
}

/**
 * What poll() must do before fetching: null = nothing; join = not a member; assigned = joined, the
 * assigned callback is due; positions = committed offsets to fetch; rebalance = give the
 * partitions back and join again; lost = the partitions are already gone, join again.
 */
type Need = null | 'join' | 'assigned' | 'positions' | 'rebalance' | 'lost';

const DEFAULT_AUTO_COMMIT_INTERVAL_MS = 5000;
/** A join refused because a newer join or generation overtook it is sent again this many times. */
const JOIN_ATTEMPTS = 3;
/** Connections one poll() reopens before it gives up and throws. */
const RECONNECTS_PER_POLL = 3;
const STRATEGY_CODES: Record<AssignStrategy, StrategyCode> = { range: Strategy.RANGE, roundrobin: Strategy.ROUNDROBIN, sticky: Strategy.STICKY };
/** The member or its generation is gone: partitions are lost. UNKNOWN_MEMBER also ends the member id; FENCED_INSTANCE the consumer. */
const LOST_CODES = new Set<ErrorName>(['UNKNOWN_MEMBER', 'ILLEGAL_GENERATION', 'FENCED_INSTANCE', 'NOT_ASSIGNED']);
const CONSUMER_OPTIONS = [
  'host',
  'port',
  'clientId',
  'token',
  'requestTimeoutMs',
  'connectTimeoutMs',
  'keepaliveMs',
  'frameBytesMax',
  'maxBytes',
  'maxWaitMs',
  'autoOffsetReset',
] as const satisfies readonly (keyof ConsumerOptions)[];

export class GroupConsumer {
  private readonly consumer: Consumer;
  private readonly opts: GroupConsumerOptions;
  private readonly delivery: DeliverySemantics;
  private readonly autoCommitIntervalMs: number;
  /** The connection membership runs on; a different one in the consumer means it was reopened. */
  private conn: EdgeClient;
  private member = '';
  private gen = -1;
  private need: Need = 'join';
  private assigned: TopicPartition[] = [];
  /** Per partition key: the position after the records poll() handed out. */
  private readonly handedOut = new Map<string, TopicPartition & { offset: number }>();
  /** Per partition key: the group's committed offset, as fetched at the join and moved by this member's commits. */
  private readonly committed = new Map<string, number>();
  /** Per partition key: where it started in this generation (the committed offset, or the reset policy's). */
  private readonly startedAt = new Map<string, number>();
  /** at-least-once: handedOut as it was when poll() was last called. */
  private processed = new Map<string, TopicPartition & { offset: number }>();
  /** Assigned partitions with no committed offset under autoOffsetReset 'none'. */
  private noOffset: TopicPartition[] = [];
  /** exactly-once: records handed out were given up uncommitted (rebalance, lost): the next produceAndCommit must not write their results. */
  private dropped = false;
  /** Another process joined with this static member's instance id: this consumer is done (as Kafka's). */
  private fenced: TributaryError | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private heartbeating = false;
  private lastAutoCommitMs = Date.now();
  private polling = false;
  private closed = false;

  private constructor(consumer: Consumer, opts: GroupConsumerOptions) {
    this.consumer = consumer;
    this.opts = opts;
    this.delivery = opts.delivery ?? 'at-least-once';
    this.autoCommitIntervalMs = opts.autoCommitIntervalMs ?? DEFAULT_AUTO_COMMIT_INTERVAL_MS;
    this.conn = consumer.connection;
    this.watch(this.conn);
  }

  /** Connects; the group is joined by the first poll(), as Kafka's subscribe() does. */
  static async connect(opts: GroupConsumerOptions): Promise<GroupConsumer> {
    validate(opts);
    // Only what was given: an undefined would override the Consumer's own defaults when spread.
    const consumerOptions = Object.fromEntries(CONSUMER_OPTIONS.flatMap((name) => (opts[name] === undefined ? [] : [[name, opts[name]]]))) as ConsumerOptions;
    const consumer = await Consumer.connect(consumerOptions);
    if (consumer.connection.version < 2) {
      await consumer.close();
      throw new TributaryError('UNSUPPORTED_VERSION', `the broker speaks edge protocol ${consumer.connection.version}: consumer groups need 2`);
    }
    return new GroupConsumer(consumer, opts);
  }

  /** '' until the first join completes. */
  get memberId(): string {
    return this.member;
  }

  /** -1 until the first join completes. */
  get generation(): number {
    return this.gen;
  }

  /** The partitions of the current generation ([] while joining). */
  assignment(): TopicPartition[] {
    return this.assigned.map((tp) => ({ ...tp }));
  }

  /** @internal The current connection, for tests that simulate a crash or a dropped link. */
  get connection(): EdgeClient {
    return this.consumer.connection;
  }

  /**
   * Records from the assigned partitions, in offset order per partition; [] after about maxWaitMs
   * without any. Joins the group first when needed (the first call, a rebalance, a lost member or
   * connection), running the callbacks. Throws OFFSET_OUT_OF_RANGE while a partition has no position
   * under autoOffsetReset 'none', and what fetching or committing throws.
   */
  async poll(): Promise<ConsumedRecord[]> {
    this.assertOpen();
    if (this.polling) throw new TributaryError('INVALID_REQUEST', 'poll() is already running on this consumer');
    this.polling = true;
    try {
      if (this.delivery === 'at-least-once') {
        this.processed = new Map(this.handedOut);
        await this.autoCommit();
      }
      for (;;) {
        await this.ensureMember();
        if (this.closed) return [];
        if (this.noOffset.length > 0) throw noOffsetError(this.opts.group, this.noOffset);
        const conn = this.conn;
        const records = await this.consumer.poll();
        if (this.closed) return [];
        // Fetched for partitions this member may no longer own: the next owner reads them.
        if (this.need === 'lost' || this.need === 'join' || conn !== this.consumer.connection || conn.closed) continue;
        for (const r of records) this.handedOut.set(key(r.topic, r.partition), { topic: r.topic, partition: r.partition, offset: r.offset + 1 });
        if (this.delivery === 'at-most-once' && records.length > 0 && !(await this.commitBeforeHandingOut())) continue;
        return records;
      }
    } finally {
      this.polling = false;
    }
  }

  /** Yields records until close(). */
  async *[Symbol.asyncIterator](): AsyncGenerator<ConsumedRecord> {
    while (!this.closed) {
      for (const record of await this.poll()) {
        if (this.closed) return;
        yield record;
      }
    }
  }

  /**
   * Commits the position after every record poll() handed out (no argument), or the given offsets
   * (partitions of this member's assignment only: NOT_ASSIGNED otherwise). Throws what the broker
   * answers; UNKNOWN_MEMBER and ILLEGAL_GENERATION also make the next poll() join again.
   */
  async commit(offsets?: OffsetCommit[]): Promise<void> {
    this.assertOpen();
    if (offsets === undefined) return this.commitPositions([...this.handedOut.values()]);
    for (const o of offsets) {
      if (!this.assigned.some((tp) => tp.topic === o.topic && tp.partition === o.partition))
        throw new TributaryError('NOT_ASSIGNED', `${o.topic}/${o.partition} is not assigned to this member`, { group: this.opts.group });
    }
    return this.commitPositions(offsets);
  }

  /**
   * exactly-once: writes `records` and commits the position after every record poll() handed out,
   * in one broker transaction: both are stored or neither. Resolves with each record's location.
   * On any error nothing of it is known to be stored: drop the results being written; the next
   * poll() returns the records again from the committed offsets (after joining again if the
   * membership or connection was lost). Never retransmitted.
   */
  async produceAndCommit(records: ProducerRecord[], options: ProduceAndCommitOptions = {}): Promise<RecordMetadata[]> {
    this.assertOpen();
    if (this.delivery !== 'exactly-once') throw new TributaryError('INVALID_REQUEST', "produceAndCommit needs delivery 'exactly-once'");
    if (this.dropped) {
      this.dropped = false;
      await this.rewind();
      throw new TributaryError('ILLEGAL_GENERATION', 'records handed out before the partitions were given up were not committed; drop their results and poll() again', { group: this.opts.group });
    }
    if (this.need === 'lost' || this.need === 'join') {
      await this.rewind();
      throw new TributaryError('ILLEGAL_GENERATION', 'this member lost its partitions; drop the results and poll() again', { group: this.opts.group });
    }
    const positions = [...this.handedOut.values()];
    if (positions.length === 0) throw new TributaryError('INVALID_REQUEST', 'nothing was consumed: produceAndCommit commits the positions of what poll() returned', { group: this.opts.group });
    const conn = this.conn;
    try {
      const targets = new Map<string, TopicTarget>();
      for (const topic of new Set(records.map((r) => r.topic))) targets.set(topic, await this.consumer.alias(topic, true));
      const plan = planBatches(records, targets);
      const offsets = await this.offsetEntries(positions);
      const member = this.member;
      const generation = this.gen;
      if (conn !== this.consumer.connection) throw new TributaryError('UNKNOWN', 'the connection was reopened; poll() again');
      const answer = await conn.produceCommit({ flush: options.flush ?? false, group: this.opts.group, memberId: member, generation, batches: plan.batches, offsets });
      for (const p of positions) this.committed.set(key(p.topic, p.partition), p.offset);
      return recordMetadata(records.length, plan, answer);
    } catch (err) {
      const error = asTributaryError(err);
      this.failed(conn, error);
      await this.rewind();
      throw error;
    }
  }

  /** at-least-once commits what was handed out; the member leaves (a static member lets its session run out); the connection closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    const member = this.need === null || this.need === 'rebalance' || this.need === 'assigned' || this.need === 'positions';
    try {
      if (member && !this.conn.closed) {
        if (this.delivery === 'at-least-once' && this.autoCommitIntervalMs > 0) await this.commitQuietly([...this.handedOut.values()]);
        if (this.assigned.length > 0) await this.opts.onPartitionsRevoked?.(this.assignment());
      }
    } finally {
      this.closed = true;
      this.stopHeartbeat();
      if (member && this.opts.instanceId === undefined && !this.conn.closed) await this.conn.leaveGroup({ group: this.opts.group, memberId: this.member }).catch(() => undefined);
      await this.consumer.close();
    }
  }

  // ---- membership ----

  private async ensureMember(): Promise<void> {
    for (let drops = 0; ; ) {
      if (this.closed) return;
      const conn = this.consumer.connection;
      if (conn !== this.conn || conn.closed) await this.reopen();
      if (this.need === null) return;
      try {
        await this.step(this.need);
      } catch (err) {
        // A connection dropped under a step is reopened (which throws if the broker is unreachable).
        if (!this.conn.closed || ++drops > RECONNECTS_PER_POLL) throw err;
      }
    }
  }

  private async step(need: Exclude<Need, null>): Promise<void> {
    switch (need) {
      case 'rebalance':
      case 'lost':
        return this.giveUp(need);
      case 'join':
        if (this.fenced) throw this.fenced;
        return this.join();
      case 'assigned':
        this.need = 'positions';
        await this.opts.onPartitionsAssigned?.(this.assignment());
        return;
      case 'positions':
        return this.startPositions();
    }
  }

  /**
   * A dropped connection: reopened, and the member joins again with its id [EDGE-12.3]. Its
   * partitions count as lost: the broker accepts its commits only on the connection of its latest
   * join, so nothing can be committed before that join, and it restarts from the committed offsets.
   */
  private async reopen(): Promise<void> {
    this.stopHeartbeat();
    this.consumer.unassign();
    await this.consumer.reconnect();
    this.conn = this.consumer.connection;
    this.watch(this.conn);
    if (this.need !== 'join') this.need = 'lost';
  }

  /** Revocation (at-least-once commits what was processed first) or loss; either way positions are dropped. */
  private async giveUp(why: 'rebalance' | 'lost'): Promise<void> {
    this.consumer.unassign();
    let revoked = why === 'rebalance';
    if (revoked && this.delivery === 'at-least-once' && this.autoCommitIntervalMs > 0) revoked = await this.commitQuietly([...this.processed.values()]);
    if (this.delivery === 'exactly-once' && this.uncommitted()) this.dropped = true;
    const partitions = this.assignment();
    this.assigned = [];
    this.handedOut.clear();
    this.processed.clear();
    this.committed.clear();
    this.startedAt.clear();
    this.noOffset = [];
    if (!revoked) this.stopHeartbeat();
    this.need = 'join';
    if (partitions.length === 0) return;
    const listener = revoked ? this.opts.onPartitionsRevoked : (this.opts.onPartitionsLost ?? this.opts.onPartitionsRevoked);
    await listener?.(partitions);
  }

  private async join(): Promise<void> {
    this.stopHeartbeat();
    const conn = this.conn;
    for (let attempt = 1; ; attempt++) {
      try {
        const joined = await conn.joinGroup({
          group: this.opts.group,
          memberId: this.member,
          instanceId: this.opts.instanceId ?? '',
          sessionTimeoutMs: this.opts.sessionTimeoutMs ?? 0,
          rebalanceTimeoutMs: 0,
          strategy: this.opts.strategy === undefined ? Strategy.GROUP : STRATEGY_CODES[this.opts.strategy],
          pattern: this.opts.pattern ?? '',
          topics: this.opts.topics ?? [],
        });
        if (this.closed || conn !== this.conn) return;
        this.member = joined.memberId;
        this.gen = joined.generation;
        this.assigned = joined.assignment.flatMap((tp) => tp.partitions.map((partition) => ({ topic: tp.topic, partition })));
        this.need = 'assigned';
        this.startHeartbeat(joined.heartbeatMs);
        return;
      } catch (err) {
        const error = asTributaryError(err);
        if (error.codeName === 'FENCED_INSTANCE') throw this.fence(error);
        if (error.codeName === 'UNKNOWN_MEMBER' && this.member !== '') this.member = '';
        else if (!(attempt < JOIN_ATTEMPTS && (error.codeName === 'REBALANCE_IN_PROGRESS' || error.codeName === 'ILLEGAL_GENERATION'))) throw error;
      }
    }
  }

  /** Each assigned partition starts at its committed offset, else where autoOffsetReset says. */
  private async startPositions(): Promise<void> {
    const conn = this.conn;
    const generation = this.gen;
    const partitions = this.assigned;
    const found = partitions.length === 0 ? [] : await conn.fetchOffsets({ group: this.opts.group, partitions: await this.aliasEntries(partitions) });
    if (this.need !== 'positions' || this.gen !== generation || conn !== this.conn) return;
    const reset = this.opts.autoOffsetReset ?? 'latest';
    const noOffset: TopicPartition[] = [];
    const plan = partitions.flatMap((tp, i): (TopicPartition & { offset: OffsetSpec })[] => {
      const offset = found[i]!.offset;
      if (offset >= 0) return [{ ...tp, offset }];
      if (reset === 'none') {
        noOffset.push(tp);
        return [];
      }
      return [{ ...tp, offset: reset }];
    });
    await this.consumer.assign(plan);
    if (this.need !== 'positions' || this.gen !== generation || conn !== this.conn) return;
    for (const tp of plan) {
      const position = this.consumer.position(tp.topic, tp.partition);
      if (typeof tp.offset === 'number') this.committed.set(key(tp.topic, tp.partition), position);
      this.startedAt.set(key(tp.topic, tp.partition), position);
      this.handedOut.set(key(tp.topic, tp.partition), { topic: tp.topic, partition: tp.partition, offset: position });
    }
    this.processed = new Map(this.handedOut);
    this.noOffset = noOffset;
    this.need = null;
  }

  private startHeartbeat(intervalMs: number): void {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(() => this.heartbeat(), Math.max(1, intervalMs));
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  /** One at a time: a slow answer is not piled on. Errors say what the next poll() must do. */
  private heartbeat(): void {
    if (this.heartbeating || this.closed) return;
    this.heartbeating = true;
    const conn = this.conn;
    const generation = this.gen;
    conn
      .heartbeat({ group: this.opts.group, memberId: this.member, generation })
      .catch((err: unknown) => {
        if (generation === this.gen) this.failed(conn, asTributaryError(err));
      })
      .finally(() => (this.heartbeating = false));
  }

  /** What a failed group request means for this member: the next poll() rejoins, or nothing. */
  private failed(conn: EdgeClient, error: TributaryError): void {
    if (conn !== this.conn || conn.closed) return;
    if (error.codeName === 'TIMEOUT') {
      // The broker may still act on the request: a new connection (and join) is the only clean state.
      conn.destroy(error);
      return;
    }
    if (LOST_CODES.has(error.codeName)) {
      if (error.codeName === 'UNKNOWN_MEMBER') this.member = '';
      if (error.codeName === 'FENCED_INSTANCE') this.fence(error);
      if (this.need !== 'join') this.need = 'lost';
      this.stopHeartbeat();
      this.consumer.unassign();
    } else if (error.codeName === 'REBALANCE_IN_PROGRESS') {
      // Heartbeats go on: they keep the session while the caller finishes what it holds.
      if (this.need === null || this.need === 'assigned' || this.need === 'positions') this.need = 'rebalance';
      this.consumer.unassign();
    }
  }

  /** Joining again would fence the other process in turn: poll() throws this from now on. */
  private fence(error: TributaryError): TributaryError {
    this.fenced ??= new TributaryError('FENCED_INSTANCE', `another consumer joined group ${this.opts.group} with instance id ${this.opts.instanceId}: this one stops (${error.message})`, {
      group: this.opts.group,
    });
    this.member = '';
    return this.fenced;
  }

  /** A closed connection stops fetching at once; poll() reopens it and joins again. */
  private watch(conn: EdgeClient): void {
    conn.once('close', () => {
      if (conn !== this.conn || this.closed) return;
      this.stopHeartbeat();
      this.consumer.unassign();
    });
  }

  // ---- commits ----

  private async autoCommit(): Promise<void> {
    if (this.autoCommitIntervalMs === 0 || this.need !== null || Date.now() - this.lastAutoCommitMs < this.autoCommitIntervalMs) return;
    this.lastAutoCommitMs = Date.now();
    await this.commitQuietly([...this.processed.values()]);
  }

  /** at-most-once: true once what poll() is about to return is committed; false (positions rewound) if not. */
  private async commitBeforeHandingOut(): Promise<boolean> {
    try {
      await this.commitPositions([...this.handedOut.values()]);
      return true;
    } catch (err) {
      await this.rewind();
      const error = asTributaryError(err);
      // A membership or connection failure is handled by joining again; anything else is the caller's.
      if (this.need === 'lost' || this.need === 'join' || this.conn.closed) return false;
      throw error;
    }
  }

  /** Commits only positions that moved; resolves false when the commit failed (what it means is recorded). */
  private async commitQuietly(positions: OffsetCommit[]): Promise<boolean> {
    try {
      await this.commitPositions(positions);
      return true;
    } catch {
      return false;
    }
  }

  private async commitPositions(positions: OffsetCommit[]): Promise<void> {
    const moved = positions.filter((p) => p.metadata !== undefined || this.committed.get(key(p.topic, p.partition)) !== p.offset);
    if (moved.length === 0) return;
    if (this.need === 'join' || this.need === 'lost') throw new TributaryError('UNKNOWN_MEMBER', 'this member is not in the group (it joins again in the next poll())', { group: this.opts.group });
    const conn = this.conn;
    try {
      const offsets = await this.offsetEntries(moved);
      await conn.commitOffsets({ group: this.opts.group, memberId: this.member, generation: this.gen, offsets });
    } catch (err) {
      const error = asTributaryError(err);
      this.failed(conn, error);
      throw error;
    }
    for (const p of moved) this.committed.set(key(p.topic, p.partition), p.offset);
  }

  /** exactly-once, at-most-once: positions go back to what is committed (or where they started); the records come again. */
  private async rewind(): Promise<void> {
    const seeks: Promise<void>[] = [];
    for (const [k, p] of this.handedOut) {
      const back = this.rewindTarget(k);
      if (back === undefined || back === p.offset) continue;
      this.handedOut.set(k, { ...p, offset: back });
      // Unless the member joins again anyway, which starts from the broker's committed offsets.
      if (this.need === null || this.need === 'rebalance') seeks.push(this.consumer.seek(p.topic, p.partition, back).catch(() => undefined));
    }
    await Promise.all(seeks);
  }

  private rewindTarget(k: string): number | undefined {
    return this.committed.get(k) ?? this.startedAt.get(k);
  }

  /** Records were handed out and not committed. */
  private uncommitted(): boolean {
    for (const [k, p] of this.handedOut) if (this.rewindTarget(k) !== p.offset) return true;
    return false;
  }

  private async offsetEntries(offsets: OffsetCommit[]): Promise<{ alias: number; partition: number; offset: number; metadata: string }[]> {
    return Promise.all(offsets.map(async (o) => ({ alias: (await this.consumer.alias(o.topic)).alias, partition: o.partition, offset: o.offset, metadata: o.metadata ?? '' })));
  }

  private aliasEntries(partitions: TopicPartition[]): Promise<{ alias: number; partition: number }[]> {
    return Promise.all(partitions.map(async (tp) => ({ alias: (await this.consumer.alias(tp.topic)).alias, partition: tp.partition })));
  }

  private assertOpen(): void {
    if (this.closed) throw new TributaryError('INVALID_REQUEST', 'the consumer is closed');
  }
}

function key(topic: string, partition: number): string {
  return `${partition}:${topic}`;
}

function noOffsetError(group: string, partitions: TopicPartition[]): TributaryError {
  const list = partitions.map((tp) => `${tp.topic}/${tp.partition}`).join(', ');
  return new TributaryError('OFFSET_OUT_OF_RANGE', `group ${group} has no committed offset for ${list} and autoOffsetReset is 'none' (set one with tributary groups reset-offsets)`, { group });
}

function validate(opts: GroupConsumerOptions): void {
  if (typeof opts.group !== 'string' || opts.group === '') throw invalidOption('group', opts.group, 'a non-empty string');
  if ((opts.topics === undefined || opts.topics.length === 0) && (opts.pattern === undefined || opts.pattern === ''))
    throw invalidOption('topics', opts.topics, 'topics or a pattern to subscribe to');
  if (opts.delivery !== undefined && !['at-least-once', 'at-most-once', 'exactly-once'].includes(opts.delivery))
    throw invalidOption('delivery', opts.delivery, "'at-least-once', 'at-most-once' or 'exactly-once'");
  if (opts.strategy !== undefined && !(opts.strategy in STRATEGY_CODES)) throw invalidOption('strategy', opts.strategy, "'sticky', 'range' or 'roundrobin'");
  const interval = opts.autoCommitIntervalMs;
  if (interval !== undefined && (!Number.isInteger(interval) || interval < 0)) throw invalidOption('autoCommitIntervalMs', interval, 'a non-negative integer');
  const session = opts.sessionTimeoutMs;
  if (session !== undefined && (!Number.isInteger(session) || session < 0)) throw invalidOption('sessionTimeoutMs', session, 'a non-negative integer');
}

function invalidOption(name: string, value: unknown, expected: string): TributaryError {
  return new TributaryError('INVALID_CONFIG', `group consumer option ${name}: got ${JSON.stringify(value)}, expected ${expected}`);
}
