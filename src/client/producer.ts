// The producer: batches records per (topic, partition), sends each batch as one PRODUCE frame with
// the next sequence number, resolves every record from its frame's ACK, bounds what is in flight, and
// survives a dropped connection by retransmitting unacknowledged frames under their original
// sequence numbers (the broker deduplicates those it already stored).
//
// A record moves: send() → [blocked queue, only under backpressure] → open batch (one per partition,
// linger timer) → sealed → [ready queue, only under backpressure or while disconnected] → transmitted
// with a seq → unacked (acks 1/all) → ACK or ERROR settles its records.

import { setTimeout as sleep } from 'node:timers/promises';
import { partitionForKey } from '../broker/partitioner.ts';
import { asTributaryError, TributaryError, type ErrorName } from '../errors.ts';
import { limits } from '../limits.ts';
import { encodeFrame, recordSize } from '../protocol/edge/codec.ts';
import type { AckEntry, Acks, EdgeHeader, EdgeRecord } from '../protocol/edge/frames.ts';
import { defaultClientId, EdgeClient, type ConnectOptions } from './connection.ts';

export interface ProducerOptions extends ConnectOptions {
  /** 0: resolve once written to the socket; 1: once committed; 'all': once flushed to disk. Default 1. */
  acks?: Acks;
  /** How long a batch waits for more records after its first. Default 5. */
  lingerMs?: number;
  /** Default 1000. */
  batchRecordsMax?: number;
  /** Default 256 KiB; never above what fits the negotiated frame size. */
  batchBytesMax?: number;
  /** Reconnect attempts after a dropped connection (backoff 100 ms doubling to 5 s, plus jitter). Default 5. */
  retries?: number;
  /** Retransmissions after a reconnect are deduplicated by the broker. Default true. */
  idempotent?: boolean;
  /** Unacknowledged PRODUCE frames; past it, sealed batches and then send() calls wait. Default 64. */
  inflightFramesMax?: number;
}

export interface ProducerRecord {
  topic: string;
  key?: string | Uint8Array | null;
  value: string | Uint8Array | null;
  headers?: Record<string, string | Uint8Array | null>;
  /** Default: murmur2 of the key like Kafka, else a partition chosen per batch. */
  partition?: number;
  /** Default: now. */
  timestampMs?: number;
}

export interface RecordMetadata {
  topic: string;
  partition: number;
  /** -1 with acks=0, and for a retransmission whose original's offset the broker no longer knows. */
  offset: number;
  /** Stored by an earlier transmission of the same frame, at `offset` when that is not -1. */
  duplicate: boolean;
}

/** Where a record's outcome goes: a send() promise or one slot of a sendBatch() promise. */
interface Sink {
  ok(slot: number, meta: RecordMetadata): void;
  fail(error: TributaryError): void;
}

class OneSink implements Sink {
  constructor(
    private readonly resolve: (meta: RecordMetadata) => void,
    private readonly reject: (error: TributaryError) => void,
  ) {}

  ok(_slot: number, meta: RecordMetadata): void {
    this.resolve(meta);
  }

  fail(error: TributaryError): void {
    this.reject(error);
  }
}

class GroupSink implements Sink {
  private readonly results: RecordMetadata[];
  private remaining: number;

  constructor(
    count: number,
    private readonly resolve: (metas: RecordMetadata[]) => void,
    private readonly reject: (error: TributaryError) => void,
  ) {
    this.results = new Array(count);
    this.remaining = count;
  }

  ok(slot: number, meta: RecordMetadata): void {
    this.results[slot] = meta;
    if (--this.remaining === 0) this.resolve(this.results);
  }

  fail(error: TributaryError): void {
    this.remaining = -1;
    this.reject(error);
  }
}

interface TopicState {
  readonly name: string;
  readonly alias: number;
  /** 0 until the first REGISTERED. */
  partitions: number;
  registering: boolean;
  /** Set when registration failed; records still queued for this state fail with it. */
  error: TributaryError | null;
  readonly open: (Batch | undefined)[];
  /** Partition unkeyed records go to until its batch is sealed; -1 = choose the next one. */
  sticky: number;
  roundRobin: number;
}

class Batch {
  records: EdgeRecord[] = [];
  readonly sinks: Sink[] = [];
  readonly slots: number[] = [];
  bytes = 0;
  timer: NodeJS.Timeout | null = null;
  seq = 0;
  /** Encoded once at transmission, kept for retransmission. */
  frame: Buffer | null = null;

  constructor(
    readonly topic: TopicState,
    readonly partition: number,
    readonly baseTimestampMs: number,
  ) {}
}

interface BlockedRecord {
  record: ProducerRecord;
  topic: TopicState;
  sink: Sink;
  slot: number;
}

/** FIFO with O(1) shift: the blocked queue can hold every record of an un-awaited burst. */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 4096 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

const DEFAULT_BATCH_BYTES_MAX = 256 * 1024;
/** PRODUCE frame bytes besides its records: length prefix, type, seq, alias, partition, acks, timestamp, count. */
const FRAME_HEADROOM_BYTES = 64;
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 5_000;
/**
 * Reconnecting cannot help: the same HELLO or the same frames would fail again, or (INVALID_REQUEST
 * on the connection) another producer took over this client id and the two would evict each other.
 */
const FATAL_CODES = new Set<ErrorName>(['NOT_AUTHORIZED', 'UNSUPPORTED_VERSION', 'FRAME_TOO_LARGE', 'INVALID_REQUEST']);

export class Producer {
  readonly clientId: string;
  private readonly opts: ConnectOptions;
  private readonly acks: Acks;
  private readonly lingerMs: number;
  private readonly batchRecordsMax: number;
  private readonly batchBytesWanted: number;
  private batchBytesMax: number;
  private readonly retries: number;
  private readonly idempotent: boolean;
  private readonly inflightFramesMax: number;

  private readonly topics = new Map<string, TopicState>();
  private nextAlias = 0;
  private readonly openBatches = new Set<Batch>();
  private readonly ready = new Fifo<Batch>();
  private readonly blocked = new Fifo<BlockedRecord>();
  /** Transmitted, awaiting ACK or ERROR, in seq order (Map keeps insertion order). */
  private readonly unacked = new Map<number, Batch>();
  private nextSeq = 1;

  private conn: EdgeClient | null = null;
  /** Connected and every known topic registered: frames may go out. */
  private live = false;
  private writeBlocked = false;
  /** The reconnect loop, while one runs. */
  private reconnecting: Promise<void> | null = null;
  private pumping = false;
  private idleWaiters: (() => void)[] = [];
  private closing: Promise<void> | null = null;
  /** Set by an error reconnecting cannot cure: every later send fails with it. */
  private fatal: TributaryError | null = null;

  private constructor(opts: ProducerOptions) {
    const {
      acks = 1,
      lingerMs = 5,
      batchRecordsMax = 1000,
      batchBytesMax = DEFAULT_BATCH_BYTES_MAX,
      retries = 5,
      idempotent = true,
      inflightFramesMax = 64,
      ...connect
    } = opts;
    if (acks !== 0 && acks !== 1 && acks !== 'all') throw invalidOption('acks', acks, "0, 1 or 'all'");
    requireInt('lingerMs', lingerMs, 0, 60_000);
    requireInt('batchRecordsMax', batchRecordsMax, 1, limits.appendRecordsMax);
    requireInt('batchBytesMax', batchBytesMax, 1, limits.edgeFrameBytesMax);
    requireInt('retries', retries, 0, 1000);
    requireInt('inflightFramesMax', inflightFramesMax, 1, limits.edgeInflightFramesMax);
    this.clientId = connect.clientId ?? defaultClientId();
    this.opts = { ...connect, clientId: this.clientId };
    this.acks = acks;
    this.lingerMs = lingerMs;
    this.batchRecordsMax = batchRecordsMax;
    this.batchBytesWanted = batchBytesMax;
    this.batchBytesMax = batchBytesMax;
    this.retries = retries;
    this.idempotent = idempotent;
    this.inflightFramesMax = inflightFramesMax;
  }

  static async connect(opts: ProducerOptions = {}): Promise<Producer> {
    const producer = new Producer(opts);
    await producer.open();
    return producer;
  }

  /** Resolves once the record is acknowledged at the configured acks level. */
  send(record: ProducerRecord): Promise<RecordMetadata> {
    return new Promise((resolve, reject) => this.accept(record, new OneSink(resolve, reject), 0));
  }

  /** Resolves with one result per record, in order; rejects with the first failure (other records may be stored). */
  sendBatch(records: ProducerRecord[]): Promise<RecordMetadata[]> {
    if (records.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const sink = new GroupSink(records.length, resolve, reject);
      for (let i = 0; i < records.length; i++) this.accept(records[i], sink, i);
    });
  }

  /** Sends every open batch now and resolves once nothing is pending (records sent meanwhile included). */
  flush(): Promise<void> {
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.pump();
    return idle;
  }

  /** Flushes, then closes the connection. Later sends fail. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      await this.flush();
      await this.reconnecting;
      await this.conn?.close();
    })());
  }

  /** @internal The current connection, for tests that simulate a dropped link. */
  get connection(): EdgeClient | null {
    return this.conn;
  }

  // ---- accumulating ----

  private accept(record: ProducerRecord, sink: Sink, slot: number): void {
    if (this.closing) return sink.fail(new TributaryError('INVALID_REQUEST', 'the producer is closed'));
    if (this.fatal) return sink.fail(this.fatal);
    const topic = this.topicState(record.topic);
    // Records wait behind earlier waiting ones, whatever their partition, so nothing overtakes.
    if (this.blocked.length === 0 && this.ready.length === 0 && topic.partitions > 0) return this.append(record, topic, sink, slot);
    this.blocked.push({ record, topic, sink, slot });
    this.pump();
  }

  private topicState(name: string): TopicState {
    let topic = this.topics.get(name);
    if (topic === undefined) {
      topic = { name, alias: this.nextAlias++, partitions: 0, registering: false, error: null, open: [], sticky: -1, roundRobin: Math.floor(Math.random() * 0x10000) };
      this.topics.set(name, topic);
    }
    return topic;
  }

  private append(record: ProducerRecord, topic: TopicState, sink: Sink, slot: number): void {
    const key = toBytes(record.key);
    const partition = this.choosePartition(record, topic, key);
    if (partition < 0) return sink.fail(new TributaryError('INVALID_PARTITION', `topic ${topic.name} has no partition ${record.partition} (it has ${topic.partitions})`));
    const timestampMs = record.timestampMs ?? Date.now();
    if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) return sink.fail(new TributaryError('INVALID_REQUEST', `timestampMs must be a non-negative integer, got ${timestampMs}`));
    const edge: EdgeRecord = { timestampDeltaMs: 0, key, value: toBytes(record.value), headers: toHeaders(record.headers) };

    let batch = topic.open[partition];
    if (batch !== undefined) {
      edge.timestampDeltaMs = timestampMs - batch.baseTimestampMs;
      const size = recordSize(edge);
      if (batch.bytes + size <= this.batchBytesMax) return this.add(batch, edge, size, sink, slot);
      this.seal(batch);
    }
    // The frame's base timestamp 0 would mean "broker receive time", so an epoch-0 record gets a delta of -1.
    batch = new Batch(topic, partition, Math.max(timestampMs, 1));
    edge.timestampDeltaMs = timestampMs - batch.baseTimestampMs;
    const size = recordSize(edge);
    if (size > this.batchBytesMax)
      return sink.fail(new TributaryError('RECORD_TOO_LARGE', `a record of ${size} bytes does not fit a batch of at most ${this.batchBytesMax} bytes`, { topic: topic.name }));
    topic.open[partition] = batch;
    this.openBatches.add(batch);
    batch.timer = setTimeout(this.sealOnLinger, this.lingerMs, batch);
    this.add(batch, edge, size, sink, slot);
  }

  /** Kafka's choice: explicit, else murmur2 of the key, else sticky per batch. -1 = invalid. */
  private choosePartition(record: ProducerRecord, topic: TopicState, key: Uint8Array | null): number {
    const count = topic.partitions;
    if (record.partition !== undefined) {
      const p = record.partition;
      return Number.isInteger(p) && p >= 0 && p < count ? p : -1;
    }
    if (key !== null) return partitionForKey(key, count);
    if (topic.sticky < 0 || topic.sticky >= count) topic.sticky = topic.roundRobin++ % count;
    return topic.sticky;
  }

  private add(batch: Batch, edge: EdgeRecord, size: number, sink: Sink, slot: number): void {
    batch.records.push(edge);
    batch.sinks.push(sink);
    batch.slots.push(slot);
    batch.bytes += size;
    if (batch.records.length >= this.batchRecordsMax || batch.bytes >= this.batchBytesMax) this.seal(batch);
  }

  private readonly sealOnLinger = (batch: Batch): void => {
    batch.timer = null;
    this.seal(batch);
    this.pump();
  };

  private seal(batch: Batch): void {
    if (batch.timer !== null) clearTimeout(batch.timer);
    batch.timer = null;
    const topic = batch.topic;
    if (topic.open[batch.partition] === batch) topic.open[batch.partition] = undefined;
    this.openBatches.delete(batch);
    if (topic.sticky === batch.partition) topic.sticky = -1;
    if (this.ready.length === 0 && this.canTransmit()) this.transmit(batch);
    else this.ready.push(batch);
  }

  private sealAll(): void {
    for (const batch of [...this.openBatches]) this.seal(batch);
  }

  // ---- transmitting ----

  private canTransmit(): boolean {
    return this.live && !this.writeBlocked && (this.acks === 0 || this.unacked.size < this.inflightFramesMax) && !this.conn!.closed;
  }

  private transmit(batch: Batch): void {
    const seq = this.nextSeq++;
    batch.seq = seq;
    batch.frame = encodeFrame({
      type: 'produce',
      seq,
      alias: batch.topic.alias,
      partition: batch.partition,
      acks: this.acks,
      baseTimestampMs: batch.baseTimestampMs,
      records: batch.records,
    });
    batch.records = [];
    if (this.acks !== 0) this.unacked.set(seq, batch);
    this.write(batch.frame);
    if (this.acks === 0) settle(batch, -1, false);
  }

  private write(frame: Buffer): void {
    const conn = this.conn!;
    if (conn.sendProduce(frame) || this.writeBlocked) return;
    this.writeBlocked = true;
    void conn.drain().then(() => {
      if (conn !== this.conn) return;
      this.writeBlocked = false;
      this.pump();
    });
  }

  /** Moves work forward as far as backpressure allows; called after anything that frees capacity. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        while (this.ready.length > 0 && this.canTransmit()) this.transmit(this.ready.shift()!);
        if (this.ready.length > 0 || !this.appendBlockedHead()) break;
      }
      // A flush does not wait for linger timers, including those of records it just unblocked.
      if (this.idleWaiters.length > 0) this.sealAll();
    } finally {
      this.pumping = false;
    }
    if (!this.live && this.reconnecting === null && this.hasWork()) this.reconnect(new TributaryError('UNKNOWN', 'not connected'));
    this.notifyIdle();
  }

  /** Appends the first blocked record; false when there is none or its topic awaits registration. */
  private appendBlockedHead(): boolean {
    const head = this.blocked.peek();
    if (head === undefined) return false;
    const { topic } = head;
    if (topic.error !== null) {
      this.blocked.shift();
      head.sink.fail(topic.error);
      return true;
    }
    if (topic.partitions === 0) {
      if (this.live) this.register(topic);
      return false;
    }
    this.blocked.shift();
    this.append(head.record, topic, head.sink, head.slot);
    return true;
  }

  private register(topic: TopicState): void {
    if (topic.registering) return;
    topic.registering = true;
    const conn = this.conn!;
    conn.register(topic.alias, topic.name, true).then(
      (partitions) => {
        topic.registering = false;
        if (conn !== this.conn) return;
        topic.partitions = partitions;
        this.pump();
      },
      (err: unknown) => {
        topic.registering = false;
        // A dropped connection is not the topic's fault: the reconnect registers it again.
        if (conn !== this.conn) return;
        this.failTopic(topic, asTributaryError(err));
        this.pump();
      },
    );
  }

  private hasWork(): boolean {
    return this.unacked.size > 0 || this.ready.length > 0 || this.blocked.length > 0 || this.openBatches.size > 0;
  }

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0 || this.hasWork()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  // ---- acknowledgements ----

  private readonly onAck = (entries: AckEntry[]): void => {
    for (const entry of entries) {
      const batch = this.unacked.get(entry.seq);
      if (batch === undefined) continue;
      this.unacked.delete(entry.seq);
      // [EDGE-7.5] a duplicate's baseOffset 0 may mean "no longer remembered"; above 0 it is the original's.
      settle(batch, entry.duplicate && entry.baseOffset === 0 ? -1 : entry.baseOffset, entry.duplicate);
    }
    this.pump();
  };

  // THROTTLED and STORAGE_FULL are retriable, but only the caller knows whether to retry; a retry is a
  // new send with a new seq.
  private readonly onProduceError = (seq: number, error: TributaryError): void => {
    const batch = this.unacked.get(seq);
    if (batch === undefined) return;
    this.unacked.delete(seq);
    failBatch(batch, error);
    this.pump();
  };

  // ---- connection ----

  /** Connects, re-registers every topic, settles what the broker already stored, retransmits the rest. */
  private async open(): Promise<void> {
    const conn = await EdgeClient.connect({ ...this.opts, idempotent: this.idempotent });
    conn.on('ack', this.onAck);
    conn.on('produce-error', this.onProduceError);
    conn.once('close', (error) => this.onConnectionClosed(conn, error));
    const { lastSeq, frameBytesMax } = conn.welcome;
    this.batchBytesMax = Math.min(this.batchBytesWanted, frameBytesMax - FRAME_HEADROOM_BYTES);
    if (this.idempotent) {
      for (const [seq, batch] of this.unacked) {
        if (seq > lastSeq) break;
        this.unacked.delete(seq);
        settle(batch, -1, true);
      }
      this.nextSeq = Math.max(this.nextSeq, lastSeq + 1);
    }
    try {
      await this.registerAll(conn);
      if (conn.closed) throw new TributaryError('UNKNOWN', `connection to ${conn.address} closed during registration`);
    } catch (err) {
      conn.destroy();
      throw err;
    }
    this.conn = conn;
    this.live = true;
    this.writeBlocked = false;
    for (const batch of this.unacked.values()) this.write(batch.frame!);
    this.pump();
  }

  private async registerAll(conn: EdgeClient): Promise<void> {
    const topics = [...this.topics.values()];
    const results = await Promise.allSettled(topics.map((t) => conn.register(t.alias, t.name, true)));
    for (let i = 0; i < topics.length; i++) {
      const r = results[i];
      if (r.status === 'fulfilled') {
        topics[i].partitions = r.value;
        continue;
      }
      const error = asTributaryError(r.reason);
      if (conn.closed || error.codeName === 'TIMEOUT') throw error;
      this.failTopic(topics[i], error);
    }
  }

  private onConnectionClosed(conn: EdgeClient, error: TributaryError | null): void {
    if (conn !== this.conn) return;
    this.conn = null;
    this.live = false;
    this.writeBlocked = false;
    if (error === null) return;
    if (FATAL_CODES.has(error.codeName)) return this.failFatally(error);
    if (this.hasWork()) this.reconnect(error);
  }

  private reconnect(cause: TributaryError): void {
    const loop = (async () => {
      let lastError = cause;
      for (let attempt = 0; attempt < this.retries; attempt++) {
        await sleep(backoffMs(attempt));
        // Everything pending may have failed meanwhile (a topic refused): then there is no reason to connect.
        if (!this.hasWork()) break;
        try {
          await this.open();
          return;
        } catch (err) {
          lastError = asTributaryError(err);
          if (FATAL_CODES.has(lastError.codeName)) return this.failFatally(lastError);
        }
      }
      this.failAll(lastError);
    })();
    this.reconnecting = loop;
    void loop.finally(() => {
      if (this.reconnecting === loop) this.reconnecting = null;
    });
  }

  private failFatally(error: TributaryError): void {
    this.fatal = error;
    this.failAll(error);
  }

  /** Gives up on everything pending; a later send starts a fresh reconnect. */
  private failAll(error: TributaryError): void {
    for (const batch of this.unacked.values()) failBatch(batch, error);
    this.unacked.clear();
    for (let b = this.ready.shift(); b !== undefined; b = this.ready.shift()) failBatch(b, error);
    for (const batch of [...this.openBatches]) this.discard(batch, error);
    for (let r = this.blocked.shift(); r !== undefined; r = this.blocked.shift()) r.sink.fail(error);
    this.notifyIdle();
  }

  /** The broker refused the topic (unknown with auto-create off, invalid name, ...): fail its records. */
  private failTopic(topic: TopicState, error: TributaryError): void {
    topic.error = error;
    if (this.topics.get(topic.name) === topic) this.topics.delete(topic.name);
    for (const batch of topic.open) if (batch !== undefined) this.discard(batch, error);
    for (const [seq, batch] of this.unacked) {
      if (batch.topic !== topic) continue;
      this.unacked.delete(seq);
      failBatch(batch, error);
    }
    const ready: Batch[] = [];
    for (let b = this.ready.shift(); b !== undefined; b = this.ready.shift()) {
      if (b.topic === topic) failBatch(b, error);
      else ready.push(b);
    }
    for (const b of ready) this.ready.push(b);
  }

  private discard(batch: Batch, error: TributaryError): void {
    if (batch.timer !== null) clearTimeout(batch.timer);
    batch.topic.open[batch.partition] = undefined;
    this.openBatches.delete(batch);
    failBatch(batch, error);
  }
}

function settle(batch: Batch, baseOffset: number, duplicate: boolean): void {
  const { sinks, slots } = batch;
  const topic = batch.topic.name;
  const partition = batch.partition;
  for (let i = 0; i < sinks.length; i++) {
    sinks[i].ok(slots[i], { topic, partition, offset: baseOffset < 0 ? -1 : baseOffset + i, duplicate });
  }
}

function failBatch(batch: Batch, error: TributaryError): void {
  for (const sink of batch.sinks) sink.fail(error);
}

/** Shared with produce-batches.ts (PRODUCE_COMMIT carries the same records). */
export function toBytes(v: string | Uint8Array | null | undefined): Uint8Array | null {
  if (v == null) return null;
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}

const NO_HEADERS: EdgeHeader[] = [];

export function toHeaders(headers: Record<string, string | Uint8Array | null> | undefined): EdgeHeader[] {
  if (headers === undefined) return NO_HEADERS;
  const keys = Object.keys(headers);
  if (keys.length === 0) return NO_HEADERS;
  return keys.map((key) => ({ key, value: toBytes(headers[key]) }));
}

function backoffMs(attempt: number): number {
  const base = Math.min(BACKOFF_BASE_MS * 2 ** attempt, BACKOFF_MAX_MS);
  return base + Math.random() * base * 0.2;
}

function invalidOption(name: string, value: unknown, expected: string): TributaryError {
  return new TributaryError('INVALID_CONFIG', `producer option ${name}: got ${JSON.stringify(value)}, expected ${expected}`);
}

function requireInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw invalidOption(name, value, `an integer ${min}..${max}`);
}
