// The appends of one group transaction, inside it: assigns each batch its offsets, writes it, and keeps
// the partitions' new next offsets and sizes and the producers' new state rows aside until the
// transaction committed (log-store.ts writes the rows in the same transaction and applies the rest
// then, so in-memory state never runs ahead of the disk). A savepoint lets an atomic unit
// (LogStore.appendAtomic) that fails in its child transaction take back exactly what it planned.
// Never commits, never touches in-memory partition state.

import type { Database } from 'lmdb';
import { TributaryError } from '../errors.ts';
import { stampBaseOffset } from '../format/record-batch.ts';
import type { StoredTopic } from './lmdb-env.ts';
import {
  checkKafkaBatch,
  edgeStateKey,
  isEdgeRef,
  kafkaStateKey,
  lastSeqOf,
  withBatch,
  type ProducerRef,
  type ProducerStateKey,
  type ProducerStateValue,
} from './producer-state.ts';

export type { ProducerRef } from './producer-state.ts';

/** The log state of one partition (log-store.ts owns and updates it). */
export interface PartitionState {
  readonly topicId: number;
  readonly partition: number;
  logStartOffset: number;
  nextOffset: number;
  bytes: number;
}

export interface AppendResult {
  baseOffset: number;
  /** A retransmission of an already stored producer sequence: nothing was appended. */
  duplicate: boolean;
}

/** One batch to place; `recordCount` was checked against the batch when it was queued. */
export interface AppendItem {
  topic: StoredTopic;
  partition: number;
  batch: Buffer;
  recordCount: number;
  producer: ProducerRef | undefined;
}

export interface PlannedPartition {
  nextOffset: number;
  bytes: number;
  appendedBytes: number;
}

/** A producer's state row as this transaction leaves it. */
export interface PlannedProducerRow {
  key: ProducerStateKey;
  value: ProducerStateValue;
}

export interface Savepoint {
  next: Map<PartitionState, PlannedPartition>;
  producers: Map<string, PlannedProducerRow>;
}

export class TxnAppends {
  readonly next = new Map<PartitionState, PlannedPartition>();
  /** By row (rowId): the rows this transaction's batches changed, to be written in it. */
  readonly producers = new Map<string, PlannedProducerRow>();
  private readonly log: Database<Buffer, [number, number, number]>;
  private readonly stateOf: (topicId: number, partition: number) => PartitionState | undefined;
  private readonly storedRow: (key: ProducerStateKey) => ProducerStateValue | undefined;
  private readonly nowMs: number;

  /** @param storedRow a producer's row as committed before this transaction (log-store.ts). */
  constructor(
    log: Database<Buffer, [number, number, number]>,
    stateOf: (topicId: number, partition: number) => PartitionState | undefined,
    storedRow: (key: ProducerStateKey) => ProducerStateValue | undefined,
    nowMs: number,
  ) {
    this.log = log;
    this.stateOf = stateOf;
    this.storedRow = storedRow;
    this.nowMs = nowMs;
  }

  /** Writes the batch at the partition's next offset; inside the transaction. A deleted topic is an error, not a throw. */
  place(a: AppendItem): AppendResult | TributaryError {
    const state = this.stateOf(a.topic.id, a.partition);
    if (!state) return new TributaryError('UNKNOWN_TOPIC', `topic ${a.topic.name} was deleted`, { topic: a.topic.name });
    let row: { id: string; key: ProducerStateKey; prev: ProducerStateValue | undefined; epoch: number; firstSeq: number; lastSeq: number } | null = null;
    if (a.producer && isEdgeRef(a.producer)) {
      // [EDGE-7.5] one sequence across partitions: anything not above the stored one was stored.
      const key = edgeStateKey(a.producer.clientId);
      const prev = this.rowOf(key);
      if (prev !== undefined && a.producer.seq <= lastSeqOf(prev)) return { baseOffset: 0, duplicate: true };
      row = { id: rowId(key), key, prev, epoch: 0, firstSeq: a.producer.seq, lastSeq: a.producer.seq };
    } else if (a.producer) {
      const key = kafkaStateKey(a.producer.producerId, state.topicId, state.partition);
      const prev = this.rowOf(key);
      const verdict = checkKafkaBatch(prev, a.producer, { topic: a.topic.name, partition: a.partition });
      if (verdict.kind === 'duplicate') return { baseOffset: verdict.baseOffset, duplicate: true };
      if (verdict.kind === 'refused') return verdict.error;
      row = { id: rowId(key), key, prev, epoch: a.producer.epoch, firstSeq: a.producer.firstSeq, lastSeq: a.producer.lastSeq };
    }
    const cur = this.next.get(state) ?? { nextOffset: state.nextOffset, bytes: state.bytes, appendedBytes: 0 };
    const baseOffset = cur.nextOffset;
    stampBaseOffset(a.batch, baseOffset);
    cur.nextOffset += a.recordCount;
    cur.bytes += a.batch.length;
    cur.appendedBytes += a.batch.length;
    this.next.set(state, cur);
    this.log.putSync([state.topicId, state.partition, cur.nextOffset - 1], a.batch);
    if (row !== null) this.producers.set(row.id, { key: row.key, value: withBatch(row.prev, row.epoch, row.firstSeq, row.lastSeq, baseOffset, this.nowMs) });
    return { baseOffset, duplicate: false };
  }

  private rowOf(key: ProducerStateKey): ProducerStateValue | undefined {
    return this.producers.get(rowId(key))?.value ?? this.storedRow(key);
  }

  /** A copy of what is planned so far: a few entries, the partitions and producers of one loop turn. */
  savepoint(): Savepoint {
    return { next: new Map([...this.next].map(([s, p]) => [s, { ...p }])), producers: new Map(this.producers) };
  }

  /** Forgets what was planned since `sp` (its writes went with the child transaction that was aborted). */
  rollback(sp: Savepoint): void {
    this.next.clear();
    for (const [s, p] of sp.next) this.next.set(s, p);
    this.producers.clear();
    for (const [id, r] of sp.producers) this.producers.set(id, r);
  }
}

/** A row's key as one string, for the maps of one transaction. */
function rowId(key: ProducerStateKey): string {
  return `${key[1]}/${key[2]}/${key[0]}`;
}
