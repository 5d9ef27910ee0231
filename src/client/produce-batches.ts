// The records of one PRODUCE_COMMIT [EDGE-12]: ProducerRecords grouped into one batch per
// (topic, partition), in call order within each, with the partition chosen as Producer chooses it
// (explicit, else Kafka's murmur2 of the key, else left to the broker). Maps the answer back to
// one RecordMetadata per record.

import { partitionForKey } from '../broker/partitioner.ts';
import { TributaryError } from '../errors.ts';
import type { EdgeRecord, ProduceBatch } from '../protocol/edge/frames.ts';
import { toBytes, toHeaders, type ProducerRecord, type RecordMetadata } from './producer.ts';

export interface TopicTarget {
  alias: number;
  partitions: number;
}

export interface PlannedBatches {
  batches: ProduceBatch[];
  /** For each batch, its topic and the index of each of its records in the call. */
  origins: { topic: string; slots: number[] }[];
}

/** `targets` holds every record's topic, registered on the connection the frame goes out on. */
export function planBatches(records: ProducerRecord[], targets: ReadonlyMap<string, TopicTarget>): PlannedBatches {
  const byKey = new Map<string, { batch: ProduceBatch; origin: { topic: string; slots: number[] } }>();
  const now = Date.now();
  records.forEach((record, slot) => {
    const target = targets.get(record.topic)!;
    const key = toBytes(record.key);
    const partition = choosePartition(record, target, key);
    const timestampMs = record.timestampMs ?? now;
    if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) throw new TributaryError('INVALID_REQUEST', `timestampMs must be a non-negative integer, got ${timestampMs}`);
    const id = `${target.alias}:${partition}`;
    let entry = byKey.get(id);
    if (entry === undefined) {
      // The base timestamp 0 would mean "broker receive time", so an epoch-0 record gets a delta of -1.
      entry = { batch: { alias: target.alias, partition, baseTimestampMs: Math.max(timestampMs, 1), records: [] }, origin: { topic: record.topic, slots: [] } };
      byKey.set(id, entry);
    }
    const edge: EdgeRecord = { timestampDeltaMs: timestampMs - entry.batch.baseTimestampMs, key, value: toBytes(record.value), headers: toHeaders(record.headers) };
    entry.batch.records.push(edge);
    entry.origin.slots.push(slot);
  });
  const entries = [...byKey.values()];
  return { batches: entries.map((e) => e.batch), origins: entries.map((e) => e.origin) };
}

/** One RecordMetadata per record of the call, from PRODUCED's one base offset per batch. */
export function recordMetadata(count: number, plan: PlannedBatches, answer: { partition: number; baseOffset: number }[]): RecordMetadata[] {
  const out = new Array<RecordMetadata>(count);
  plan.origins.forEach((origin, i) => {
    const { partition, baseOffset } = answer[i]!;
    origin.slots.forEach((slot, j) => (out[slot] = { topic: origin.topic, partition, offset: baseOffset + j, duplicate: false }));
  });
  return out;
}

/** -1 lets the broker choose for an unkeyed record without a partition. */
function choosePartition(record: ProducerRecord, target: TopicTarget, key: Uint8Array | null): number {
  if (record.partition !== undefined) {
    const p = record.partition;
    if (!Number.isInteger(p) || p < 0 || p >= target.partitions)
      throw new TributaryError('INVALID_PARTITION', `topic ${record.topic} has no partition ${p} (it has ${target.partitions})`);
    return p;
  }
  return key === null ? -1 : partitionForKey(key, target.partitions);
}
