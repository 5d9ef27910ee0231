// The consumer: manually assigned partitions, client-side positions, one long-polled FETCH in flight
// per partition. Positions live only here, so a dropped connection is simply reopened and fetching
// resumes where it was. GroupConsumer (group-consumer.ts) drives one of these for its fetching: the
// members marked @internal are its door in.

import { asTributaryError, TributaryError } from '../errors.ts';
import { decodeRecordBatch, readBatchInfo, splitBatches, verifyBatch, type DecodedRecord } from '../format/record-batch.ts';
import { limits } from '../limits.ts';
import type { RecordsFrame } from '../protocol/edge/frames.ts';
import { EdgeClient, type ConnectOptions } from './connection.ts';

export type OffsetSpec = number | 'earliest' | 'latest';

export interface ConsumerOptions extends ConnectOptions {
  /** Per fetch (one partition). Default 1 MiB. */
  maxBytes?: number;
  /** How long a fetch waits for new records, and so how long an idle poll() waits. Default 500. */
  maxWaitMs?: number;
  /** On OFFSET_OUT_OF_RANGE (and for an assignment without offset): jump, or 'none' to throw. Default 'latest'. */
  autoOffsetReset?: 'earliest' | 'latest' | 'none';
}

export interface PartitionAssignment {
  topic: string;
  partition: number;
  /** Default: autoOffsetReset. */
  offset?: OffsetSpec;
}

export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: number;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: { key: string; value: Buffer | null }[];
}

interface TopicRef {
  name: string;
  alias: number;
  partitions: number;
}

interface Fetched {
  records: ConsumedRecord[];
  /** Position after these records. */
  next: number;
}

interface Assigned {
  topic: TopicRef;
  partition: number;
  position: number;
  /** Id of the fetch whose answer is wanted; 0 = none in flight. A seek orphans the current one. */
  fetchId: number;
  result: Fetched | TributaryError | null;
}

const DEFAULT_MAX_BYTES = 1024 * 1024;
const DEFAULT_MAX_WAIT_MS = 500;

export class Consumer {
  private readonly opts: ConnectOptions;
  private readonly maxBytes: number;
  private readonly maxWaitMs: number;
  private readonly autoOffsetReset: 'earliest' | 'latest' | 'none';
  private conn: EdgeClient;
  private reopening: Promise<void> | null = null;
  private readonly topics = new Map<string, TopicRef>();
  private readonly registering = new Map<string, Promise<TopicRef>>();
  private nextAlias = 0;
  private assignments = new Map<string, Assigned>();
  private nextFetchId = 1;
  private wake: (() => void) | null = null;
  private polling = false;
  private closed = false;

  private constructor(conn: EdgeClient, opts: ConsumerOptions) {
    const { maxBytes = DEFAULT_MAX_BYTES, maxWaitMs = DEFAULT_MAX_WAIT_MS, autoOffsetReset = 'latest', ...connect } = opts;
    this.conn = conn;
    this.opts = { frameBytesMax: limits.edgeFrameBytesMax, ...connect, clientId: conn.clientId };
    this.maxBytes = maxBytes;
    this.maxWaitMs = maxWaitMs;
    this.autoOffsetReset = autoOffsetReset;
  }

  static async connect(opts: ConsumerOptions = {}): Promise<Consumer> {
    const { maxBytes = DEFAULT_MAX_BYTES, maxWaitMs = DEFAULT_MAX_WAIT_MS, autoOffsetReset = 'latest' } = opts;
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw invalidOption('maxBytes', maxBytes, 'a positive integer');
    if (!Number.isInteger(maxWaitMs) || maxWaitMs < 0) throw invalidOption('maxWaitMs', maxWaitMs, 'a non-negative integer');
    if (!['earliest', 'latest', 'none'].includes(autoOffsetReset)) throw invalidOption('autoOffsetReset', autoOffsetReset, "'earliest', 'latest' or 'none'");
    // A stored batch is only readable through frames at least its size [EDGE-8.1]: ask for the largest.
    return new Consumer(await EdgeClient.connect({ frameBytesMax: limits.edgeFrameBytesMax, ...opts }), opts);
  }

  /** Replaces the assignment. Throws UNKNOWN_TOPIC or INVALID_PARTITION; an explicit offset is checked by the first fetch. */
  async assign(assignments: PartitionAssignment[]): Promise<void> {
    this.assertOpen();
    await this.ensureConnected();
    const next = new Map<string, Assigned>();
    await Promise.all(
      assignments.map(async ({ topic: name, partition, offset }) => {
        let topic = await this.topicRef(name);
        // The count is the one REGISTERED gave: a topic grown since then is registered again.
        if (Number.isInteger(partition) && partition >= topic.partitions) topic = await this.topicRef(name, true);
        if (!Number.isInteger(partition) || partition < 0 || partition >= topic.partitions)
          throw new TributaryError('INVALID_PARTITION', `topic ${name} has no partition ${partition} (it has ${topic.partitions})`);
        const position = await this.resolveOffset(name, partition, offset ?? this.defaultOffset(name, partition));
        next.set(key(name, partition), { topic, partition, position, fetchId: 0, result: null });
      }),
    );
    this.assignments = next;
    this.wake?.();
  }

  /** The offset of the next record poll() returns for the partition. */
  position(topic: string, partition: number): number {
    return this.assigned(topic, partition).position;
  }

  async seek(topic: string, partition: number, offset: OffsetSpec): Promise<void> {
    this.assertOpen();
    const a = this.assigned(topic, partition);
    const position = await this.resolveOffset(topic, partition, offset);
    a.position = position;
    a.fetchId = 0;
    a.result = null;
    // A poll waiting for the orphaned fetch would otherwise never hear of it again.
    this.wake?.();
  }

  /**
   * Records from every partition that has some, in offset order per partition. When none has, waits
   * until each partition's long-poll ended (about maxWaitMs) and returns []. Throws the first
   * partition error (OFFSET_OUT_OF_RANGE with autoOffsetReset 'none', CORRUPT_MESSAGE,
   * UNKNOWN_TOPIC, ...); other partitions' records stay for the next poll.
   */
  async poll(): Promise<ConsumedRecord[]> {
    this.assertOpen();
    if (this.polling) throw new TributaryError('INVALID_REQUEST', 'poll() is already running on this consumer');
    this.polling = true;
    try {
      // At most one fetch per partition per poll, counting one still in flight from the last poll:
      // the broker's long-poll bounds the wait, and an empty answer cannot make poll() spin.
      const fetched = new Set<Assigned>();
      for (const a of this.assignments.values()) if (a.fetchId !== 0) fetched.add(a);
      if (this.assignments.size === 0) {
        // Nothing to fetch still must not return at once: an iterating caller would spin.
        const timer = setTimeout(() => this.wake?.(), this.maxWaitMs);
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
        clearTimeout(timer);
        return [];
      }
      for (;;) {
        if (this.closed) return [];
        await this.ensureConnected();
        const out = this.take();
        if (out.length > 0) return out;
        let inflight = 0;
        for (const a of this.assignments.values()) {
          if (a.fetchId === 0 && !fetched.has(a)) {
            fetched.add(a);
            this.startFetch(a);
          }
          if (a.fetchId !== 0) inflight++;
        }
        if (inflight === 0) return [];
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
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

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    await this.conn.close();
  }

  // ---- for GroupConsumer ----

  /** @internal The current connection (a new one after a reconnect), for group requests on it. */
  get connection(): EdgeClient {
    return this.conn;
  }

  /** @internal Reopens a dropped connection, with every alias registered again; throws if the broker is unreachable. */
  reconnect(): Promise<void> {
    this.assertOpen();
    return this.ensureConnected();
  }

  /** @internal The topic's alias on the current connection, registered (and with `create` created) on first use. */
  async alias(topic: string, create = false): Promise<{ alias: number; partitions: number }> {
    const ref = await this.topicRef(topic, false, create);
    return { alias: ref.alias, partitions: ref.partitions };
  }

  /** @internal Drops the assignment at once: a running poll() returns what it has, fetches in flight are orphaned. */
  unassign(): void {
    this.assignments = new Map();
    this.wake?.();
  }

  // ---- fetching ----

  private startFetch(a: Assigned): void {
    const id = this.nextFetchId++;
    a.fetchId = id;
    const offset = a.position;
    const conn = this.conn;
    conn.fetch(a.topic.alias, a.partition, offset, this.maxBytes, this.maxWaitMs).then(
      (frame) => {
        if (a.fetchId !== id) return;
        a.fetchId = 0;
        try {
          a.result = decodeFetched(a, offset, frame);
        } catch (err) {
          a.result = readError(err);
        }
        this.wake?.();
      },
      (err: unknown) => {
        if (a.fetchId !== id) return;
        const error = readError(err);
        // A dropped connection is the poll loop's to handle (it reconnects), not this partition's.
        if (conn.closed) a.fetchId = 0;
        else if (error.codeName === 'OFFSET_OUT_OF_RANGE' && this.autoOffsetReset !== 'none') return this.reset(a, id, this.autoOffsetReset, error);
        else {
          a.fetchId = 0;
          a.result = error;
        }
        this.wake?.();
      },
    );
  }

  /**
   * Moves a partition whose position left the log to its start or end; it is fetched again after.
   * A version 3 broker sent the log's range with the error [EDGE-5.17]; an older one needs METADATA.
   */
  private reset(a: Assigned, id: number, to: 'earliest' | 'latest', error: TributaryError): void {
    const range = error.context as { logStartOffset?: unknown; nextOffset?: unknown } | undefined;
    const known = to === 'earliest' ? range?.logStartOffset : range?.nextOffset;
    const position = typeof known === 'number' ? Promise.resolve(known) : this.resolveOffset(a.topic.name, a.partition, to);
    position.then(
      (position) => {
        if (a.fetchId !== id) return;
        a.fetchId = 0;
        a.position = position;
        this.wake?.();
      },
      (err: unknown) => {
        if (a.fetchId !== id) return;
        a.fetchId = 0;
        if (!this.conn.closed) a.result = readError(err);
        this.wake?.();
      },
    );
  }

  /** Takes every completed fetch: throws the first error, else returns all records and advances positions. */
  private take(): ConsumedRecord[] {
    for (const a of this.assignments.values()) {
      if (a.result instanceof TributaryError) {
        const error = a.result;
        a.result = null;
        throw error;
      }
    }
    let out: ConsumedRecord[] = [];
    for (const a of this.assignments.values()) {
      const result = a.result;
      if (result === null || result instanceof TributaryError) continue;
      a.result = null;
      a.position = Math.max(a.position, result.next);
      if (result.records.length > 0) out = out.length === 0 ? result.records : out.concat(result.records);
    }
    return out;
  }

  // ---- topics and offsets ----

  /** `refresh` registers a known topic again, under its alias, for its current partition count. */
  private topicRef(name: string, refresh = false, create = false): Promise<TopicRef> {
    const known = this.topics.get(name);
    if (known !== undefined && !refresh) return Promise.resolve(known);
    let pending = this.registering.get(name);
    if (pending === undefined) {
      const alias = known?.alias ?? this.nextAlias++;
      pending = this.conn
        .register(alias, name, create)
        .then((partitions) => {
          const topic = known ?? { name, alias, partitions };
          topic.partitions = partitions;
          this.topics.set(name, topic);
          return topic;
        })
        .finally(() => this.registering.delete(name));
      this.registering.set(name, pending);
    }
    return pending;
  }

  private defaultOffset(topic: string, partition: number): 'earliest' | 'latest' {
    if (this.autoOffsetReset === 'none') throw new TributaryError('INVALID_REQUEST', `no offset given for ${topic}/${partition} and autoOffsetReset is 'none'`);
    return this.autoOffsetReset;
  }

  private async resolveOffset(topic: string, partition: number, offset: OffsetSpec): Promise<number> {
    if (typeof offset === 'number') {
      if (!Number.isSafeInteger(offset) || offset < 0) throw new TributaryError('INVALID_REQUEST', `offset must be a non-negative integer, 'earliest' or 'latest', got ${offset}`);
      return offset;
    }
    const [meta] = await this.conn.metadata([topic]);
    const p = meta?.partitions.find((x) => x.partition === partition);
    if (p === undefined) throw new TributaryError('INVALID_PARTITION', `topic ${topic} has no partition ${partition}`);
    return offset === 'earliest' ? p.logStartOffset : p.nextOffset;
  }

  private assigned(topic: string, partition: number): Assigned {
    const a = this.assignments.get(key(topic, partition));
    if (a === undefined) throw new TributaryError('INVALID_REQUEST', `${topic}/${partition} is not assigned to this consumer`);
    return a;
  }

  // ---- connection ----

  private ensureConnected(): Promise<void> {
    if (!this.conn.closed) return Promise.resolve();
    return (this.reopening ??= this.reopen().finally(() => (this.reopening = null)));
  }

  /** A new connection with the same aliases; positions carry over, fetches in flight are orphaned. */
  private async reopen(): Promise<void> {
    const conn = await EdgeClient.connect(this.opts);
    try {
      await Promise.all([...this.topics.values()].map(async (t) => (t.partitions = await conn.register(t.alias, t.name, false))));
      if (this.closed) throw new TributaryError('INVALID_REQUEST', 'the consumer is closed');
    } catch (err) {
      conn.destroy();
      throw err;
    }
    this.conn = conn;
    for (const a of this.assignments.values()) a.fetchId = 0;
    this.wake?.();
  }

  private assertOpen(): void {
    if (this.closed) throw new TributaryError('INVALID_REQUEST', 'the consumer is closed');
  }
}

function key(topic: string, partition: number): string {
  return `${partition}:${topic}`;
}

/** Verifies and decodes a RECORDS answer; records before `from` (the first batch may start earlier) are skipped. */
function decodeFetched(a: Assigned, from: number, frame: RecordsFrame): Fetched {
  const where = `${a.topic.name}/${a.partition}`;
  const batches = splitBatches(frame.batches);
  let covered = 0;
  let next = from;
  const records: ConsumedRecord[] = [];
  for (const batch of batches) {
    covered += batch.length;
    const info = readBatchInfo(batch)!;
    if (!verifyBatch(batch)) throw new TributaryError('CORRUPT_MESSAGE', `batch at offset ${info.baseOffset} of ${where} failed its CRC check`);
    let decoded: DecodedRecord[];
    try {
      decoded = decodeBatch(batch, info.baseOffset, where);
    } catch (err) {
      // What came before it is delivered; the next fetch starts at this batch and throws then.
      if (next > from) return { records, next };
      throw err;
    }
    for (const r of decoded) {
      if (r.offset < from) continue;
      records.push({
        topic: a.topic.name,
        partition: a.partition,
        offset: r.offset,
        timestampMs: r.timestampMs,
        key: r.key,
        value: r.value,
        headers: r.headers.length === 0 ? [] : r.headers.map((h) => ({ key: h.key, value: h.value === null ? null : asBuffer(h.value) })),
      });
    }
    next = Math.max(next, info.baseOffset + info.lastOffsetDelta + 1);
  }
  if (covered !== frame.batches.length) throw new TributaryError('CORRUPT_MESSAGE', `fetch answer for ${where} holds ${frame.batches.length - covered} bytes that are not a record batch`);
  return { records, next };
}

/**
 * A batch's records, decompressed when a Kafka producer compressed it; a batch that cannot be read
 * (a codec this build lacks, a bad stream, past batchDecompressedBytesMax) throws its error with
 * the partition and offset in the message.
 */
function decodeBatch(batch: Buffer, baseOffset: number, where: string): DecodedRecord[] {
  try {
    return decodeRecordBatch(batch);
  } catch (err) {
    const e = readError(err);
    throw new TributaryError(e.codeName, `batch at offset ${baseOffset} of ${where}: ${e.message}`, e.context, { cause: err });
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

function readError(err: unknown): TributaryError {
  // decodeRecordBatch throws RangeError on a malformed record section that passed the CRC.
  if (err instanceof RangeError) return new TributaryError('CORRUPT_MESSAGE', err.message, undefined, { cause: err });
  return asTributaryError(err);
}

function invalidOption(name: string, value: unknown, expected: string): TributaryError {
  return new TributaryError('INVALID_CONFIG', `consumer option ${name}: got ${JSON.stringify(value)}, expected ${expected}`);
}
