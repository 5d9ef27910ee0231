// The appends of one group transaction, inside it: assigns each batch its offsets, writes it, and keeps
// the partitions' new next offsets and sizes and the producers' sequences aside until the transaction
// committed (log-store.ts applies them then, so in-memory state never runs ahead of the disk). A
// savepoint lets an atomic unit (LogStore.appendAtomic) that fails in its child transaction take back
// exactly what it planned. Never commits, never touches in-memory partition state.

import type { Database } from 'lmdb';
import { TributaryError } from '../errors.ts';
import { stampBaseOffset } from '../format/record-batch.ts';
import type { StoredTopic } from './lmdb-env.ts';

/** The log state of one partition (log-store.ts owns and updates it). */
export interface PartitionState {
  readonly topicId: number;
  readonly partition: number;
  logStartOffset: number;
  nextOffset: number;
  bytes: number;
}

export interface ProducerRef {
  clientId: string;
  seq: number;
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

export interface Savepoint {
  next: Map<PartitionState, PlannedPartition>;
  seqs: Map<string, number>;
}

export class TxnAppends {
  readonly next = new Map<PartitionState, PlannedPartition>();
  readonly seqs = new Map<string, number>();
  private readonly log: Database<Buffer, [number, number, number]>;
  private readonly stateOf: (topicId: number, partition: number) => PartitionState | undefined;
  private readonly lastSeq: (clientId: string) => number;

  constructor(
    log: Database<Buffer, [number, number, number]>,
    stateOf: (topicId: number, partition: number) => PartitionState | undefined,
    lastSeq: (clientId: string) => number,
  ) {
    this.log = log;
    this.stateOf = stateOf;
    this.lastSeq = lastSeq;
  }

  /** Writes the batch at the partition's next offset; inside the transaction. A deleted topic is an error, not a throw. */
  place(a: AppendItem): AppendResult | TributaryError {
    const state = this.stateOf(a.topic.id, a.partition);
    if (!state) return new TributaryError('UNKNOWN_TOPIC', `topic ${a.topic.name} was deleted`, { topic: a.topic.name });
    if (a.producer) {
      const last = this.seqs.get(a.producer.clientId) ?? this.lastSeq(a.producer.clientId);
      if (a.producer.seq <= last) return { baseOffset: 0, duplicate: true };
      this.seqs.set(a.producer.clientId, a.producer.seq);
    }
    const cur = this.next.get(state) ?? { nextOffset: state.nextOffset, bytes: state.bytes, appendedBytes: 0 };
    const baseOffset = cur.nextOffset;
    stampBaseOffset(a.batch, baseOffset);
    cur.nextOffset += a.recordCount;
    cur.bytes += a.batch.length;
    cur.appendedBytes += a.batch.length;
    this.next.set(state, cur);
    this.log.putSync([state.topicId, state.partition, cur.nextOffset - 1], a.batch);
    return { baseOffset, duplicate: false };
  }

  /** A copy of what is planned so far: a few entries, the partitions and producers of one loop turn. */
  savepoint(): Savepoint {
    return { next: new Map([...this.next].map(([s, p]) => [s, { ...p }])), seqs: new Map(this.seqs) };
  }

  /** Forgets what was planned since `sp` (its writes went with the child transaction that was aborted). */
  rollback(sp: Savepoint): void {
    this.next.clear();
    for (const [s, p] of sp.next) this.next.set(s, p);
    this.seqs.clear();
    for (const [c, seq] of sp.seqs) this.seqs.set(c, seq);
  }
}
