// Which batches retention deletes: by age and size per partition (retention.ms, retention.bytes, above
// the subscribers' floors) and the oldest across all partitions for the disk budget. Plans only: reads
// the log, never writes it and never changes partition state (log-store.ts deletes in its transaction
// and applies the plan after the transaction commit).

import type { Database } from 'lmdb';
import { readBatchInfo } from '../format/record-batch.ts';
import type { StoredTopic } from './lmdb-env.ts';
import type { PartitionState } from './txn-appends.ts';

type LogDb = Database<Buffer, [number, number, number]>;

/** One planned deletion of the first batch of a partition. */
export interface Eviction {
  state: PartitionState;
  key: [number, number, number];
  bytes: number;
  records: number;
}

/** Appends to `out` the partition's oldest batches past time or size retention and below `floor`, at most `max`. */
export function planRetention(log: LogDb, topic: StoredTopic, state: PartitionState, floor: number, nowMs: number, max: number, out: Eviction[]): void {
  let bytes = state.bytes;
  for (const { key, value } of log.getRange({ start: [topic.id, state.partition, 0], end: [topic.id, state.partition + 1, 0], limit: max })) {
    if (key[2] >= floor) return;
    const info = readBatchInfo(value);
    const size = value.length;
    const expired = topic.retentionMs >= 0 && info !== null && info.maxTimestampMs < nowMs - topic.retentionMs;
    // Kafka's rule: drop the oldest while what remains still meets retention.bytes.
    const oversized = topic.retentionBytes >= 0 && bytes - size >= topic.retentionBytes;
    if (!expired && !oversized) return;
    out.push({ state, key: [key[0], key[1], key[2]], bytes: size, records: info ? info.lastOffsetDelta + 1 : 0 });
    bytes -= size;
  }
}

/** The oldest batches across all partitions (by max timestamp) until `excessBytes` are freed, at most `batchesMax`. */
export function planOldestEvictions(log: LogDb, partitions: Iterable<readonly PartitionState[]>, excessBytes: number, batchesMax: number): Eviction[] {
  let excess = excessBytes;
  const all = [...partitions];
  const out: Eviction[] = [];
  const cursors = new Map<PartitionState, Iterator<{ key: [number, number, number]; value: Buffer }>>();
  const heads = new Map<PartitionState, { key: [number, number, number]; value: Buffer } | null>();
  const headOf = (s: PartitionState) => {
    if (!heads.has(s)) {
      let it = cursors.get(s);
      if (!it) {
        it = log.getRange({ start: [s.topicId, s.partition, 0], end: [s.topicId, s.partition + 1, 0] })[Symbol.iterator]();
        cursors.set(s, it);
      }
      const n = it.next();
      heads.set(s, n.done ? null : n.value);
    }
    return heads.get(s)!;
  };
  while (excess > 0 && out.length < batchesMax) {
    let oldest: PartitionState | null = null;
    let oldestTs = Infinity;
    for (const states of all)
      for (const s of states) {
        const head = headOf(s);
        const ts = head ? (readBatchInfo(head.value)?.maxTimestampMs ?? 0) : Infinity;
        if (ts < oldestTs) {
          oldestTs = ts;
          oldest = s;
        }
      }
    if (!oldest) break;
    const head = headOf(oldest)!;
    const info = readBatchInfo(head.value);
    out.push({ state: oldest, key: [head.key[0], head.key[1], head.key[2]], bytes: head.value.length, records: info ? info.lastOffsetDelta + 1 : 0 });
    excess -= head.value.length;
    heads.delete(oldest);
  }
  return out;
}

export function logStartAfter(state: PartitionState, evictions: Eviction[]): number {
  let start = state.logStartOffset;
  for (const e of evictions) if (e.state === state) start = Math.max(start, e.key[2] + 1);
  return start;
}

export function evictedBytes(state: PartitionState, evictions: Eviction[]): number {
  let bytes = 0;
  for (const e of evictions) if (e.state === state) bytes += e.bytes;
  return bytes;
}
