// PRODUCE on one edge connection [EDGE-7]: every frame with acks 1 or all is answered exactly once, in
// the order the frames arrived, with an ACK entry or an ERROR [EDGE-7.4]; one ACK frame carries what a
// group transaction settled [EDGE-5.6]. For an idempotent client, a retransmission is answered with where
// the original's records are [EDGE-7.5]. It counts the frames and bytes awaiting their answer; the
// connection decides when that stops reading.

import type { Broker } from '../../broker/broker.ts';
import { partitionForKey } from '../../broker/partitioner.ts';
import { asTributaryError, TributaryError } from '../../errors.ts';
import type { RecordInput } from '../../format/record-batch.ts';
import type { AckEntry, Frame, ProduceFrame } from '../../protocol/edge/frames.ts';
import { uvarintSize } from '../../protocol/edge/varint.ts';
import type { ProducerWindow } from './producer-window.ts';

export interface ProduceHost {
  broker: Broker;
  frameBytesMax: () => number;
  send: (frame: Frame) => void;
  sendError: (seq: number, err: TributaryError) => void;
  /** After answers went out: the in-flight counts fell. */
  answered: () => void;
}

interface PendingProduce {
  seq: number;
  bytes: number;
  settled: boolean;
  ack: AckEntry | null;
  error: TributaryError | null;
  /** Retransmissions that arrived while this frame was still unanswered: they get its answer. */
  followers: PendingProduce[] | null;
}

export class Produces {
  private readonly queue: PendingProduce[] = [];
  private bytes = 0;
  private drainScheduled = false;
  /** Highest seq this connection took: a frame above it is no retransmission on this connection. */
  private seqMax = 0;

  /**
   * @param producer the client id and recent outcomes of an idempotent client; null for a client
   *   without the idempotent flag, whose frames are all stored (at least once) [EDGE-7.5].
   */
  constructor(
    private readonly host: ProduceHost,
    private readonly producer: { clientId: string; window: ProducerWindow } | null,
  ) {}

  get inflightFrames(): number {
    return this.queue.length;
  }

  get inflightBytes(): number {
    return this.bytes;
  }

  /** @param topic the topic of the frame's alias; undefined when the alias is not registered. */
  start(frame: ProduceFrame, topic: string | undefined): void {
    // [EDGE-7.5] 0 is WELCOME's "nothing stored": an idempotent frame under it would be taken for stored.
    if (frame.seq < 1) return this.answerNow(frame, { error: new TributaryError('INVALID_REQUEST', 'seq must be at least 1') });
    // Before any check of the frame itself: a retransmission of a stored frame is never refused.
    if (this.producer !== null && this.answerRetransmission(frame, topic, this.producer)) return;
    if (topic === undefined) {
      const error = new TributaryError('UNKNOWN_ALIAS', `alias ${frame.alias} is not registered on this connection`);
      this.host.broker.countError(error);
      return this.answerNow(frame, { error });
    }
    const base = frame.baseTimestampMs > 0 ? frame.baseTimestampMs : Date.now();
    const records: RecordInput[] = new Array(frame.records.length);
    let bytes = 0;
    for (let i = 0; i < frame.records.length; i++) {
      const r = frame.records[i];
      const timestampMs = base + r.timestampDeltaMs;
      if (timestampMs < 0) return this.answerNow(frame, { error: new TributaryError('INVALID_REQUEST', `record ${i} has a negative timestamp`) }); // [EDGE-7.2]
      records[i] = { timestampMs, key: r.key, value: r.value, headers: r.headers };
      bytes += (r.value?.length ?? 0) + (r.key?.length ?? 0);
    }
    const producer = this.producer;
    const promise = this.host.broker.produce({
      topic,
      partition: frame.partition,
      records,
      acks: frame.acks,
      producer: producer ? { clientId: producer.clientId, seq: frame.seq } : undefined,
      autoCreate: false,
    });
    // The continuations below hold primitives, never the frame: its records then die young, in the
    // scavenge, instead of being copied and promoted while the group commits.
    const { seq, partition: asked } = frame;
    if (frame.acks === 0) {
      promise.then(
        (r) => {
          if (!r.duplicate) producer?.window.record(seq, r);
        },
        (err: unknown) => {
          producer?.window.record(seq, null);
          this.host.sendError(seq, asTributaryError(err));
        },
      );
      return;
    }
    const firstKey = frame.records[0]?.key ?? null;
    const pending = this.push(seq, bytes);
    promise.then(
      (r) => {
        // A duplicate (an older connection's frame stored meanwhile) is reported where the original went.
        const { partition, baseOffset } = r.duplicate ? (producer?.window.find(seq) ?? unknownLocation(this.host.broker, asked, firstKey, topic)) : r;
        if (!r.duplicate) producer?.window.record(seq, r);
        this.settle(pending, { ack: { seq, partition, baseOffset, duplicate: r.duplicate } });
      },
      (err: unknown) => {
        producer?.window.record(seq, null);
        this.settle(pending, { error: asTributaryError(err) });
      },
    );
  }

  /**
   * [EDGE-7.5] a frame this connection already took, or that the store holds, is not appended again:
   * it gets the original's ACK with the duplicate flag, or INVALID_REQUEST when the original was
   * refused (only a new seq can store it). Returns false for a frame to append.
   */
  private answerRetransmission(frame: ProduceFrame, topic: string | undefined, producer: { clientId: string; window: ProducerWindow }): boolean {
    const takenHere = frame.seq <= this.seqMax;
    this.seqMax = Math.max(this.seqMax, frame.seq);
    const stored = this.host.broker.lastProducerSeq(producer.clientId);
    // The usual frame, above everything seen: no search.
    if (!takenHere && frame.seq > stored) return false;
    // The first unanswered frame under this seq is the original; its followers come after it.
    const original = takenHere ? this.queue.find((p) => p.seq === frame.seq && !p.settled) : undefined;
    if (original) {
      if (frame.acks !== 0) (original.followers ??= []).push(this.push(frame.seq, 0));
      return true;
    }
    const known = producer.window.find(frame.seq);
    if (known === null) {
      this.answerNow(frame, { error: refusedBefore(frame.seq) });
      return true;
    }
    if (known !== undefined) {
      this.answerNow(frame, { ack: { seq: frame.seq, ...known, duplicate: true } });
      return true;
    }
    // Stored by an earlier connection, or answered too long ago to be remembered.
    if (frame.seq > stored) return false;
    this.answerNow(frame, { ack: { seq: frame.seq, ...unknownLocation(this.host.broker, frame.partition, frame.records[0]?.key ?? null, topic), duplicate: true } });
    return true;
  }

  /**
   * An answer known now still goes out behind the answers to earlier frames [EDGE-7.4]. A refusal
   * is remembered like one from storage: a resend under the same seq is refused too.
   */
  private answerNow(frame: ProduceFrame, answer: { ack?: AckEntry; error?: TributaryError }): void {
    if (answer.error && frame.seq >= 1) this.producer?.window.record(frame.seq, null);
    if (frame.acks === 0) {
      if (answer.error) this.host.sendError(frame.seq, answer.error);
      return;
    }
    this.settle(this.push(frame.seq, 0), answer);
  }

  private push(seq: number, bytes: number): PendingProduce {
    const pending: PendingProduce = { seq, bytes, settled: false, ack: null, error: null, followers: null };
    this.queue.push(pending);
    this.bytes += bytes;
    return pending;
  }

  private settle(pending: PendingProduce, answer: { ack?: AckEntry; error?: TributaryError }): void {
    pending.settled = true;
    pending.ack = answer.ack ?? null;
    pending.error = answer.error ?? null;
    if (pending.followers !== null) {
      for (const f of pending.followers) this.settle(f, pending.ack ? { ack: { ...pending.ack, duplicate: true } } : { error: refusedBefore(pending.seq) });
    }
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    // One ACK frame for everything a group transaction settled [EDGE-5.6]: setImmediate runs after every
    // promise continuation of that transaction commit.
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.drainScheduled = false;
    const acks = new AckBatcher(this.host.frameBytesMax(), (entries) => this.host.send({ type: 'ack', entries }));
    while (this.queue.length > 0 && this.queue[0].settled) {
      const p = this.queue.shift()!;
      this.bytes -= p.bytes;
      if (p.ack) {
        acks.add(p.ack);
        continue;
      }
      acks.flush();
      this.host.sendError(p.seq, p.error!);
    }
    acks.flush();
    this.host.answered();
  }
}

function refusedBefore(seq: number): TributaryError {
  return new TributaryError('INVALID_REQUEST', `seq ${seq} was refused earlier on this connection and is not stored; send its records again with a new seq`);
}

/**
 * [EDGE-7.5] a duplicate whose original is no longer remembered: the partition it names (the key's
 * for −1 with a key, 0 for −1 without one) and baseOffset 0. Round robin is not asked: its next
 * pick is not where the original went.
 */
function unknownLocation(broker: Broker, asked: number, key: Uint8Array | null, topic: string | undefined): { partition: number; baseOffset: number } {
  if (asked >= 0) return { partition: asked, baseOffset: 0 };
  const partitions = (topic === undefined ? undefined : broker.findTopic(topic)?.partitions) ?? 1;
  return { partition: key === null ? 0 : partitionForKey(key, partitions), baseOffset: 0 };
}

/**
 * Collects ACK entries into frames of at most frameBytesMax [EDGE-5.6], sizing each entry as the
 * codec writes it so a frame is sent only when the next entry would not fit. Entries of one frame
 * have ascending seqs; a seq that does not ascend (a client reusing seqs) starts a new frame.
 */
class AckBatcher {
  private entries: AckEntry[] = [];
  /** Bytes of the entries so far, without the count and firstSeq fields. */
  private entryBytes = 0;

  constructor(
    private readonly frameBytesMax: number,
    private readonly sendAck: (entries: AckEntry[]) => void,
  ) {}

  add(entry: AckEntry): void {
    const previous = this.entries.at(-1);
    if (previous !== undefined && entry.seq <= previous.seq) this.flush();
    let size = this.entrySize(entry);
    if (this.entries.length > 0 && this.frameBytes(this.entries.length + 1, this.entryBytes + size) > this.frameBytesMax) {
      this.flush();
      // The first entry of a frame has no seqDelta; one entry alone always fits (edgeFrameBytesMin).
      size = this.entrySize(entry);
    }
    this.entries.push(entry);
    this.entryBytes += size;
  }

  flush(): void {
    if (this.entries.length === 0) return;
    this.sendAck(this.entries);
    this.entries = [];
    this.entryBytes = 0;
  }

  /** Type, count, firstSeq and the entries. */
  private frameBytes(count: number, entryBytes: number): number {
    return 1 + uvarintSize(count) + uvarintSize(this.entries[0].seq) + entryBytes;
  }

  private entrySize(e: AckEntry): number {
    const previous = this.entries.at(-1);
    const seqDelta = previous ? uvarintSize(e.seq - previous.seq) : 0;
    return seqDelta + uvarintSize(e.partition) + uvarintSize(e.baseOffset) + 1;
  }
}
