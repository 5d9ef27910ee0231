// Where `groups reset-offsets` moves a partition's committed offset, as kafka-consumer-groups does:
// every target is clamped to the records the partition still holds.

import { TributaryError } from '../errors.ts';
import { decodeRecordBatch, readBatchInfo } from '../format/record-batch.ts';
import type { PartitionState, ReadResult, StoredTopic } from '../storage/log-store.ts';
import type { ResetTarget } from './types.ts';

export interface ResetHost {
  partitionState(topicId: number, partition: number): Readonly<PartitionState> | undefined;
  peek(topic: StoredTopic, partition: number, offset: number, maxBytes: number): ReadResult;
}

/** The offset `target` names for one partition; `committed` is -1 when nothing is committed. */
export function resetOffset(host: ResetHost, topic: StoredTopic, partition: number, committed: number, target: ResetTarget): number {
  const state = host.partitionState(topic.id, partition);
  if (!state) throw new TributaryError('INVALID_PARTITION', `topic ${topic.name} has no partition ${partition}`, { topic: topic.name, partition });
  const clamp = (o: number) => Math.min(Math.max(o, state.logStartOffset), state.nextOffset);
  switch (target.to) {
    case 'earliest':
      return state.logStartOffset;
    case 'latest':
      return state.nextOffset;
    case 'offset':
      return clamp(target.offset);
    case 'shift':
      // Kafka shifts from the committed offset; with none there is nothing to shift from but the start.
      return clamp((committed < 0 ? state.logStartOffset : committed) + target.by);
    case 'datetime':
      return offsetForTime(host, topic, state, target.timestampMs);
  }
}

/**
 * The first offset whose record's timestamp is at or after `timestampMs` (the log end when none is),
 * found by binary search over the batches' max timestamps. Exact when timestamps do not go backwards
 * across batches, as with broker-assigned times; with client times that do, it is a batch whose
 * predecessor ends before the time, which may be later than the first batch reaching it (Kafka's time
 * index finds that one; there is no such index here: src/listeners/kafka/README.md).
 */
function offsetForTime(host: ResetHost, topic: StoredTopic, state: Readonly<PartitionState>, timestampMs: number): number {
  let lo = state.logStartOffset;
  let hi = state.nextOffset;
  // Invariant: every batch ending below lo is older than the time; the answer is at or below hi.
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const batch = firstBatch(host, topic, state.partition, mid);
    if (batch === null) return state.nextOffset;
    const info = readBatchInfo(batch)!;
    const last = info.baseOffset + info.lastOffsetDelta;
    if (info.maxTimestampMs < timestampMs) lo = last + 1;
    else if (info.baseOffset >= lo) hi = info.baseOffset;
    else {
      // The batch straddles lo: the answer is inside it.
      for (const r of decodeRecordBatch(batch)) if (r.offset >= lo && r.timestampMs >= timestampMs) return r.offset;
      return last + 1;
    }
  }
  const batch = lo < state.nextOffset ? firstBatch(host, topic, state.partition, lo) : null;
  if (batch === null) return lo;
  for (const r of decodeRecordBatch(batch)) if (r.offset >= lo && r.timestampMs >= timestampMs) return r.offset;
  return lo;
}

function firstBatch(host: ResetHost, topic: StoredTopic, partition: number, offset: number): Buffer | null {
  // maxBytes 1: the store returns at least the batch holding the offset.
  return host.peek(topic, partition, offset, 1).batches[0] ?? null;
}
