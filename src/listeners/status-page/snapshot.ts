// What the status page shows, as one plain JSON-able object (GET /status.json, and the HTML render):
// read from the broker, the listeners, the mirrors and the recent-log ring at request time. Rates
// come from successive snapshots: the sampler keeps at most statusSamplesMax of them, one per
// statusSampleMsMin at most, and only when someone asks (an idle gateway with no viewer does no work).

import type { Broker } from '../../broker/broker.ts';
import { isTributaryError, type ErrorName } from '../../errors.ts';
import type { GroupState } from '../../groups/types.ts';
import { limits } from '../../limits.ts';
import type { MirrorControl, MirrorStatus } from '../../mirror/status.ts';
import type { RecentLogEntry, RecentLogs } from '../../observability/recent-logs.ts';

/** Storage use against its limits; read by main.ts, which owns the store and the config. */
export interface StorageReading {
  /** Stored record batches: what storage.diskBudgetBytes counts. */
  logBytes: number;
  /** The LMDB data file. */
  fileBytes: number;
  /** The part of it in use (what maxMapSizeBytes is checked against); the rest is free pages. */
  mapUsedBytes: number;
  /** -1: no budget. */
  diskBudgetBytes: number;
  diskBudgetPolicy: string;
  /** Free bytes on the data dir's filesystem; null when it cannot be asked. */
  freeDiskBytes: number | null;
  minFreeDiskBytes: number;
  mapSizeBytes: number;
  /** -1: the map grows while the disk allows. */
  maxMapSizeBytes: number;
  /** Why storage stopped taking writes (fail-stop), or null. */
  failed: { code: ErrorName; message: string } | null;
}

export interface StatusSources {
  broker: Broker;
  mirrors: MirrorControl | null;
  /** Connected clients per listener; null for a listener that is off. */
  clients(): { mqtt: ClientList | null; edge: ClientList | null; kafka: { connections: number } | null };
  storage(): StorageReading;
  /** null when the process's logger does not feed one. */
  recentLogs: RecentLogs | null;
}

export interface ClientList {
  count: number;
  /** At most statusClientIdsMax. */
  ids: string[];
}

export interface PartitionRow {
  partition: number;
  logStartOffset: number;
  nextOffset: number;
  bytes: number;
  /** Records appended per second since an earlier snapshot; null without one. */
  inPerS: number | null;
}

export interface TopicRow {
  name: string;
  partitions: PartitionRow[];
  inPerS: number | null;
  /** Records returned by fetches per second (what tributary_records_out_total counts, for this topic). */
  outPerS: number | null;
}

export interface MirrorRow extends Pick<MirrorStatus, 'name' | 'sink' | 'url' | 'state' | 'backlogRecords' | 'backlogBytes' | 'oldestUnshippedAgeMs' | 'shippedRecords'> {
  /** Records acknowledged upstream per second since an earlier snapshot. */
  drainPerS: number | null;
  lastError: { code: string; message: string; atMs: number } | null;
}

export interface GroupRow {
  group: string;
  state: GroupState;
  members: number;
  lag: number;
  partitions: { topic: string; partition: number; committed: number; logEndOffset: number; lag: number; memberId: string | null }[];
}

/** One mirror's chart points, oldest first: backlog at each kept snapshot and the drain rate since the one before. */
export interface MirrorSeries {
  timeS: number[];
  backlogRecords: number[];
  drainPerS: (number | null)[];
}

export interface StatusSnapshot {
  timeMs: number;
  topics: TopicRow[];
  clients: ReturnType<StatusSources['clients']>;
  mirrors: MirrorRow[];
  /** Set when the mirror thread did not answer (being restarted): the mirrors are then missing. */
  mirrorsUnavailable: string | null;
  groups: GroupRow[];
  storage: StorageReading;
  recentLogs: RecentLogEntry[] | null;
  /** By mirror name. */
  mirrorHistory: Record<string, MirrorSeries>;
}

/** Counters of one snapshot, kept to compute rates from the next ones. */
interface Sample {
  timeMs: number;
  /**
   * Per partition and topic; null once two newer samples are kept: kept samples are at least
   * statusSampleMsMin apart, so a baseline is always one of the last two, and older ones need only
   * their mirror counters (the chart), a few numbers whatever the number of partitions.
   */
  logs: { partitionNext: Map<string, number>; topicNext: Map<string, number>; topicOut: Map<string, number> } | null;
  mirrorShipped: Map<string, number>;
  mirrorBacklog: Map<string, number>;
}

export class StatusSampler {
  private readonly samples: Sample[] = [];
  private readonly src: StatusSources;

  constructor(src: StatusSources) {
    this.src = src;
  }

  async snapshot(): Promise<StatusSnapshot> {
    const { broker } = this.src;
    let mirrorsUnavailable: string | null = null;
    const statuses = await (this.src.mirrors?.statuses() ?? Promise.resolve([])).catch((err: unknown) => {
      mirrorsUnavailable = err instanceof Error ? err.message : String(err);
      return [];
    });
    // After the mirror thread answered: the logs below are read now, synchronously.
    const timeMs = Date.now();
    const topics = broker.listTopics();
    const outByTopic = broker.counters.recordsOutByTopic;
    const logs = { partitionNext: new Map<string, number>(), topicNext: new Map<string, number>(), topicOut: new Map(outByTopic) };
    const now: Sample = { timeMs, logs, mirrorShipped: new Map(), mirrorBacklog: new Map() };
    for (const t of topics) {
      let sum = 0;
      for (const p of t.partitions) {
        logs.partitionNext.set(partitionKey(t.name, p.partition), p.nextOffset);
        sum += p.nextOffset;
      }
      logs.topicNext.set(t.name, sum);
    }
    for (const s of statuses) {
      now.mirrorShipped.set(s.name, s.shippedRecords);
      now.mirrorBacklog.set(s.name, s.backlogRecords);
    }
    const base = this.baseline(timeMs);
    const rate = (read: (s: Sample) => number | undefined): number | null => {
      if (base === null) return null;
      const before = read(base);
      const after = read(now);
      // A counter that went down started over (a topic deleted and created again, a restarted thread).
      if (before === undefined || after === undefined || after < before) return null;
      return (after - before) / ((timeMs - base.timeMs) / 1000);
    };
    const snapshot: StatusSnapshot = {
      timeMs,
      topics: topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partition: p.partition,
          logStartOffset: p.logStartOffset,
          nextOffset: p.nextOffset,
          bytes: p.bytes,
          inPerS: rate((s) => s.logs?.partitionNext.get(partitionKey(t.name, p.partition))),
        })),
        inPerS: rate((s) => s.logs?.topicNext.get(t.name)),
        // A topic that existed then and had no fetch yet had read 0.
        outPerS: rate((s) => s.logs?.topicOut.get(t.name) ?? (s.logs?.topicNext.has(t.name) ? 0 : undefined)),
      })),
      clients: this.src.clients(),
      mirrors: statuses.map((s) => ({
        name: s.name,
        sink: s.sink,
        url: s.url,
        state: s.state,
        backlogRecords: s.backlogRecords,
        backlogBytes: s.backlogBytes,
        oldestUnshippedAgeMs: s.oldestUnshippedAgeMs,
        shippedRecords: s.shippedRecords,
        drainPerS: rate((x) => x.mirrorShipped.get(s.name)),
        lastError: s.lastError,
      })),
      mirrorsUnavailable,
      groups: groupRows(broker),
      storage: this.src.storage(),
      recentLogs: this.src.recentLogs?.list() ?? null,
      mirrorHistory: {},
    };
    this.keep(now);
    snapshot.mirrorHistory = this.mirrorHistory(statuses.map((s) => s.name));
    return snapshot;
  }

  /** The newest kept sample at least statusSampleMsMin older than `timeMs`. */
  private baseline(timeMs: number): Sample | null {
    for (let i = this.samples.length - 1; i >= 0; i--) if (timeMs - this.samples[i]!.timeMs >= limits.statusSampleMsMin) return this.samples[i]!;
    return null;
  }

  private keep(sample: Sample): void {
    const last = this.samples.at(-1);
    if (last !== undefined && sample.timeMs - last.timeMs < limits.statusSampleMsMin) return;
    this.samples.push(sample);
    if (this.samples.length > limits.statusSamplesMax) this.samples.shift();
    if (this.samples.length > 2) this.samples[this.samples.length - 3]!.logs = null;
  }

  private mirrorHistory(names: string[]): Record<string, MirrorSeries> {
    const out: Record<string, MirrorSeries> = {};
    for (const name of names) {
      const series: MirrorSeries = { timeS: [], backlogRecords: [], drainPerS: [] };
      let previous: Sample | null = null;
      for (const s of this.samples) {
        const backlog = s.mirrorBacklog.get(name);
        const shipped = s.mirrorShipped.get(name);
        if (backlog === undefined || shipped === undefined) {
          previous = null;
          continue;
        }
        const before = previous?.mirrorShipped.get(name);
        series.timeS.push(s.timeMs / 1000);
        series.backlogRecords.push(backlog);
        series.drainPerS.push(previous === null || before === undefined || shipped < before ? null : (shipped - before) / ((s.timeMs - previous.timeMs) / 1000));
        previous = s;
      }
      out[name] = series;
    }
    return out;
  }
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function groupRows(broker: Broker): GroupRow[] {
  return broker.groups.listGroups().flatMap((g) => {
    try {
      const d = broker.groups.describeGroup(g.group);
      const partitions = d.partitions.map((p) => ({ topic: p.topic, partition: p.partition, committed: p.committed, logEndOffset: p.logEndOffset, lag: p.lag, memberId: p.memberId === '' ? null : p.memberId }));
      return [{ group: g.group, state: d.state, members: d.members.length, lag: partitions.reduce((sum, p) => sum + p.lag, 0), partitions }];
    } catch (err) {
      // Listed for an offset of a topic deleted since: nothing left to show.
      if (isTributaryError(err, 'UNKNOWN_GROUP')) return [];
      throw err;
    }
  });
}
