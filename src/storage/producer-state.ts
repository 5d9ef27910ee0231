// The one shape of idempotent producer state, for both protocols, and the rules that decide whether
// a producer's batch is new, a retransmission, or refused. No clock and no transactions of its own:
// log-store.ts and txn-appends.ts read and write the rows inside the group transaction that stores
// the batches; LMDB is touched here only by the one-time migration, inside its caller's transaction.
//
// One row per (producer, topic id, partition), in the `producerState` database:
//   key   [producer, topicId, partition]   producer = 'e:<clientId>' (edge) or 'k:<producerId>' (Kafka)
//   value [epoch, lastSeenMs, batches]     batches = [firstSeq, lastSeq, baseOffset] × 1..5, oldest first
// A Kafka producer has a sequence per partition (KIP-98): a row per partition it wrote, holding its
// last 5 batches, so a retry of any batch still in flight (a client sends at most 5 per partition) is
// answered with the offset the original got. An edge client has one sequence across partitions
// [EDGE-7.5]: its row has topic id 0 (no topic has it) and partition 0, epoch 0 and its last frame.
// A row per partition, rather than one per producer holding every partition, keeps a group
// transaction's writes to the rows its batches touched, and a lookup to one key.

import type { Database, RootDatabase } from 'lmdb';
import { TributaryError } from '../errors.ts';

/** The batches Kafka's broker keeps per producer and partition to answer retries (ProducerStateEntry). */
export const PRODUCER_BATCHES_KEPT = 5;
/** The topic id of an edge client's row: topic ids start at 1. */
export const EDGE_SCOPE_TOPIC_ID = 0;

export type ProducerStateKey = [producer: string, topicId: number, partition: number];
/** [epoch, lastSeenMs, flat [firstSeq, lastSeq, baseOffset] per kept batch, oldest first]. */
export type ProducerStateValue = [epoch: number, lastSeenMs: number, batches: number[]];

/** An edge client's PRODUCE frame: one sequence across partitions; any seq above the stored one is new. */
export interface EdgeProducerRef {
  clientId: string;
  seq: number;
}

/** A Kafka batch's producer fields (RecordBatch v2 header); lastSeq = baseSequence + lastOffsetDelta. */
export interface KafkaProducerRef {
  /** The int64 producer id, as decimal text (ids above 2^53 stay exact). */
  producerId: string;
  epoch: number;
  firstSeq: number;
  lastSeq: number;
}

export type ProducerRef = EdgeProducerRef | KafkaProducerRef;

export function isEdgeRef(ref: ProducerRef): ref is EdgeProducerRef {
  return 'clientId' in ref;
}

export function edgeStateKey(clientId: string): ProducerStateKey {
  return [`e:${clientId}`, EDGE_SCOPE_TOPIC_ID, 0];
}

export function kafkaStateKey(producerId: string, topicId: number, partition: number): ProducerStateKey {
  return [`k:${producerId}`, topicId, partition];
}

/** The client id of an edge row's key; null for a Kafka producer's. */
export function edgeClientIdOf(key: ProducerStateKey): string | null {
  return key[0].startsWith('e:') ? key[0].slice(2) : null;
}

/** The last sequence of the newest batch of a row. */
export function lastSeqOf(value: ProducerStateValue): number {
  const b = value[2];
  return b[b.length - 2];
}

/** The row after a batch was stored: it becomes the newest of the kept batches (a new epoch starts them over). */
export function withBatch(prev: ProducerStateValue | undefined, epoch: number, firstSeq: number, lastSeq: number, baseOffset: number, nowMs: number): ProducerStateValue {
  const kept = prev !== undefined && prev[0] === epoch ? prev[2].slice(-(PRODUCER_BATCHES_KEPT - 1) * 3) : [];
  kept.push(firstSeq, lastSeq, baseOffset);
  return [epoch, nowMs, kept];
}

/** What a Kafka producer's batch is, against its stored row for the partition. */
export type KafkaVerdict = { kind: 'append' } | { kind: 'duplicate'; baseOffset: number } | { kind: 'refused'; error: TributaryError };

/**
 * Kafka's broker rules (ProducerAppendInfo, ProducerStateEntry.findDuplicateBatch, since 2.5): a batch
 * equal (epoch, first and last sequence) to one of the kept ones is a duplicate, answered with the
 * original's offset and not stored again; an older epoch is INVALID_PRODUCER_EPOCH; a newer epoch must
 * start at sequence 0; the same epoch must continue at the last sequence + 1 (after 2^31-1 comes 0),
 * else OUT_OF_ORDER_SEQUENCE. A producer with no row (new, or forgotten after
 * PRODUCER_STATE_RETENTION_MS) may start at any sequence, as Kafka accepts one whose state is gone.
 */
export function checkKafkaBatch(row: ProducerStateValue | undefined, ref: KafkaProducerRef, where: { topic: string; partition: number }): KafkaVerdict {
  if (row === undefined) return { kind: 'append' };
  const [epoch, , batches] = row;
  if (ref.epoch === epoch) {
    for (let i = 0; i < batches.length; i += 3)
      if (batches[i] === ref.firstSeq && batches[i + 1] === ref.lastSeq) return { kind: 'duplicate', baseOffset: batches[i + 2] };
  }
  const context = { ...where, producerId: ref.producerId, epoch: ref.epoch, firstSeq: ref.firstSeq };
  if (ref.epoch < epoch)
    return refused('INVALID_PRODUCER_EPOCH', `producer ${ref.producerId} sent epoch ${ref.epoch} to ${where.topic}/${where.partition}, which already has epoch ${epoch}`, context);
  if (ref.epoch > epoch) {
    if (ref.firstSeq === 0) return { kind: 'append' };
    return refused('OUT_OF_ORDER_SEQUENCE', `producer ${ref.producerId} starts its new epoch ${ref.epoch} on ${where.topic}/${where.partition} at sequence ${ref.firstSeq}, not 0`, context);
  }
  const last = lastSeqOf(row);
  if (ref.firstSeq === last + 1 || (ref.firstSeq === 0 && last === INT32_MAX)) return { kind: 'append' };
  return refused('OUT_OF_ORDER_SEQUENCE', `producer ${ref.producerId} sent sequence ${ref.firstSeq} to ${where.topic}/${where.partition}, whose last stored sequence is ${last}`, context);
}

const INT32_MAX = 2 ** 31 - 1;

function refused(name: 'OUT_OF_ORDER_SEQUENCE' | 'INVALID_PRODUCER_EPOCH', message: string, context: Record<string, unknown>): KafkaVerdict {
  return { kind: 'refused', error: new TributaryError(name, message, context) };
}

/**
 * Storage format 2 kept one row per edge client in a database of its own (client id → [lastSeq,
 * lastSeenMs]). Moves each into `producerState` as that client's edge row (its frame's offset was not
 * kept: -1) and drops the old database; runs inside the transaction that raises the format version,
 * so it happens exactly once.
 */
export function migrateEdgeProducers(env: RootDatabase, state: Database<ProducerStateValue, ProducerStateKey>): number {
  const old = env.openDB<[number, number], string>({ name: 'producers' });
  let moved = 0;
  for (const { key, value } of old.getRange()) {
    state.putSync(edgeStateKey(key), [0, value[1], [value[0], value[0], -1]]);
    moved++;
  }
  old.dropSync();
  return moved;
}
