// Kafka upstream: one idempotent producer (@platformatic/kafka, acks=all) per connection attempt.
// Records keep their key, value, timestamp and headers, plus an `origin` header; a keyed record goes to
// the partition Kafka's default partitioner picks, an unkeyed one to its log partition (modulo the
// remote count), so order per key and per log partition holds.
//
// One produce request per remote partition is in flight at a time: the client numbers an idempotent
// batch from the sequence it last saw acknowledged, so a second concurrent batch to the same partition
// would reuse those numbers and the cluster would drop it as a duplicate. Records queued meanwhile
// leave together in the next batch (up to maxMessageBytes), so a busy partition sends full batches.

import fs from 'node:fs';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { Admin, Producer, type MessageToProduce, type ProducerOptions } from '@platformatic/kafka';
import type { Logger } from 'pino';
import { partitionForKey } from '../../../broker/partitioner.ts';
import { TributaryError } from '../../../errors.ts';
import type { DecodedRecord } from '../../../format/record-batch.ts';
import type { OutboundMessage, SendDone, Sink, SinkConnection } from '../../sink.ts';
import { kafkaRemoteTopicProblems, type KafkaMirrorConfig } from './config.ts';
import { classify, kafkaErrorNames, operationError } from './kafka-errors.ts';

type Bytes = Buffer;
type KafkaProducer = Producer<Bytes, Bytes, Bytes, Bytes>;

export interface KafkaMessage extends OutboundMessage {
  /** edgeId/topic/partition/offset, also sent as the `origin` header. */
  origin: string;
  /** Remote topic, or null when the template gives no valid Kafka topic name (`problem` says why). */
  topic: string | null;
  problem: string | null;
  sourceTopic: string;
  sourcePartition: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Map<Buffer, Buffer | null>;
  timestampMs: number;
}

/** Bytes of a record batch besides its records (Kafka's RecordBatch header). */
const BATCH_OVERHEAD = 61;
/** A record's own fields around key, value and headers: length, attributes, deltas, length prefixes. */
const RECORD_OVERHEAD = 21;
const ORIGIN = Buffer.from('origin');
/** No protocol limit: the engine's windowMax bounds what is in flight. */
const MAX_INFLIGHT = 1_000_000;
/**
 * Times a produce request the cluster did not answer in time is sent again, the same records in the
 * same batch, before the session ends. The client does not retry a timeout itself, and it numbers a
 * batch from the last sequence acknowledged, so the resend carries the same producer id and sequence
 * numbers: a cluster that stored the first one answers with its offset and stores nothing twice.
 */
const TIMEOUT_RESENDS = 2;
/** Kafka topic names: [a-zA-Z0-9._-], at most 249 characters. */
const KAFKA_TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;

export interface KafkaSinkOptions {
  /** Partitions of a log topic (for topics this mirror creates upstream). */
  partitionsOf: (topic: string) => number | undefined;
}

export class KafkaSink implements Sink<KafkaMessage> {
  readonly address: string;
  private readonly cfg: KafkaMirrorConfig;
  private readonly edgeId: string;
  private readonly log: Logger;
  private readonly options: ProducerOptions<Bytes, Bytes, Bytes, Bytes>;
  private readonly partitionsOf: (topic: string) => number | undefined;
  /** remoteTopic with {edgeId} filled in, split around {topic}. */
  private readonly template: string[];
  private readonly remotes = new Map<string, { topic: string | null; problem: string | null }>();

  /** Reads the TLS files and checks the codec now, so a bad mirror fails the start. */
  constructor(cfg: KafkaMirrorConfig, edgeId: string, logger: Logger, opts: KafkaSinkOptions) {
    this.cfg = cfg;
    this.edgeId = edgeId;
    this.log = logger.child({ module: 'kafka-sink', mirror: cfg.name });
    this.partitionsOf = opts.partitionsOf;
    this.address = `kafka${cfg.tls.enabled ? '+tls' : ''}://${cfg.brokers.join(',')}`;
    if (cfg.compression === 'zstd' && typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync !== 'function')
      throw new TributaryError('INVALID_CONFIG', `mirror ${cfg.name}: compression zstd needs Node.js 22.15 or later (this is ${process.version}); use lz4, snappy or gzip`, { mirror: cfg.name });
    const filled = cfg.remoteTopic.replaceAll('{edgeId}', edgeId);
    const problems = kafkaRemoteTopicProblems(filled.replaceAll('{topic}', ''));
    if (!KAFKA_TOPIC.test(filled.replaceAll('{topic}', 't')))
      problems.push(`with edgeId "${edgeId}" it gives "${filled}", not a Kafka topic name [a-zA-Z0-9._-]{1,249}`);
    if (problems.length > 0) throw new TributaryError('INVALID_CONFIG', `mirror ${cfg.name}: remoteTopic ${problems.join('; ')}`, { mirror: cfg.name });
    this.template = filled.split('{topic}');
    this.options = {
      clientId: cfg.clientId ?? `tributary-${edgeId}-${cfg.name}`,
      bootstrapBrokers: cfg.brokers,
      idempotent: true,
      acks: -1,
      compression: cfg.compression,
      connectTimeout: cfg.connectTimeoutMs,
      // `timeout` is the Produce request's own field (how long the cluster may wait for acks=all).
      // A request whose connection breaks is retried twice by the client on a fresh connection with
      // the same sequence numbers (the cluster drops a batch it already has). One left unanswered on a
      // live connection the client does not retry (its TimeoutError is not retriable): after
      // requestTimeout the sink sends the same batch again (TIMEOUT_RESENDS), all attempts within the
      // engine's ackTimeoutMs when it is 4 s or more; past that the session ends and the next one
      // resends from the cursor.
      timeout: Math.max(1_000, Math.floor(cfg.ackTimeoutMs / (TIMEOUT_RESENDS + 2))),
      requestTimeout: Math.max(1_000, Math.floor(cfg.ackTimeoutMs / (TIMEOUT_RESENDS + 2))),
      retries: 2,
      retryDelay: 250,
      autocreateTopics: false,
      ...(cfg.sasl !== null ? { sasl: { mechanism: cfg.sasl.mechanism, username: cfg.sasl.username, password: cfg.sasl.password } } : {}),
      ...(cfg.tls.enabled ? { tls: this.tlsOptions() } : {}),
    };
  }

  private tlsOptions(): Record<string, unknown> {
    const read = (key: 'caFile' | 'certFile' | 'keyFile') => {
      const file = this.cfg.tls[key];
      if (file === null) return undefined;
      try {
        return fs.readFileSync(file);
      } catch (err) {
        throw new TributaryError('INVALID_CONFIG', `mirror ${this.cfg.name}: tls.${key} ${file}: ${(err as Error).message}`, { mirror: this.cfg.name }, { cause: err });
      }
    };
    const [ca, cert, key] = [read('caFile'), read('certFile'), read('keyFile')];
    // Node's `ca` replaces the default roots; caFile adds to them, as for MQTT mirrors.
    return { ...(ca ? { ca: [...tls.rootCertificates, ca.toString('utf8')] } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), rejectUnauthorized: this.cfg.tls.rejectUnauthorized };
  }

  prepare(sourceTopic: string, partition: number, record: DecodedRecord): KafkaMessage {
    const origin = `${this.edgeId}/${sourceTopic}/${partition}/${record.offset}`;
    const remote = this.remoteOf(sourceTopic);
    // Keyed by Buffer objects, each its own key: duplicate header names stay apart, as Kafka allows.
    const headers = new Map<Buffer, Buffer | null>();
    let bytes = RECORD_OVERHEAD + (record.key?.length ?? 0) + (record.value?.length ?? 0);
    for (const h of record.headers) {
      const key = Buffer.from(h.key);
      const value = h.value === null ? null : Buffer.from(h.value.buffer, h.value.byteOffset, h.value.byteLength);
      headers.set(key, value);
      bytes += 2 + key.length + (value?.length ?? 0);
    }
    const originValue = Buffer.from(origin);
    headers.set(ORIGIN, originValue);
    bytes += 2 + ORIGIN.length + originValue.length;
    return {
      origin,
      topic: remote.topic,
      problem: remote.problem,
      sourceTopic,
      sourcePartition: partition,
      key: record.key,
      value: record.value,
      headers,
      timestampMs: record.timestampMs,
      bytes,
    };
  }

  /** The remote topic of a log topic, worked out once per topic rather than once per record. */
  private remoteOf(sourceTopic: string): { topic: string | null; problem: string | null } {
    let remote = this.remotes.get(sourceTopic);
    if (remote === undefined) {
      const name = this.template.join(sourceTopic);
      const valid = KAFKA_TOPIC.test(name);
      remote = { topic: valid ? name : null, problem: valid ? null : `remote topic "${name}" is not a Kafka topic name (at most 249 characters)` };
      this.remotes.set(sourceTopic, remote);
    }
    return remote;
  }

  async connect(signal: AbortSignal): Promise<KafkaSinkConnection> {
    const producer: KafkaProducer = new Producer({ ...this.options });
    const onAbort = () => void closeQuietly(producer);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      // Connects, authenticates and gets a producer id: bad credentials or a missing
      // IdempotentWrite right show here, not on the first record.
      await producer.initIdempotentProducer({});
    } catch (err) {
      await closeQuietly(producer);
      throw operationError(err, this.address, signal.aborted ? 'mirror stopping' : 'connecting');
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    this.log.debug({ upstream: this.address, producerId: String(producer.producerId), epoch: producer.producerEpoch }, 'kafka producer ready');
    return new KafkaSinkConnection(producer, this.cfg, this.options, this.address, this.log, signal, this.partitionsOf);
  }
}

interface Item {
  message: KafkaMessage;
  done: SendDone;
}

/** The records waiting for one remote partition, and whether a batch of it is in flight. */
interface PartitionQueue {
  topic: string;
  partition: number;
  items: Item[];
  inflight: boolean;
  /** Records still to send one per batch, after a batch the cluster refused as a whole. */
  singly: number;
  /** The first records to send again as exactly one batch (a batch whose answer timed out); 0 for none. */
  again: number;
  /** Timed-out sends of the batch at the head of the queue. */
  timeouts: number;
}

/** A remote topic's partition count, or the records waiting while it is looked up (or created). */
type TopicRoute = Route | { waiting: Item[] };

/** A looked-up remote topic: its partition count and the queues of its partitions, by number. */
interface Route {
  partitions: number;
  queues: (PartitionQueue | undefined)[];
}

export class KafkaSinkConnection implements SinkConnection<KafkaMessage> {
  readonly maxInflight = MAX_INFLIGHT;
  readonly closed: Promise<TributaryError | undefined>;
  private readonly producer: KafkaProducer;
  private readonly cfg: KafkaMirrorConfig;
  private readonly options: ProducerOptions<Bytes, Bytes, Bytes, Bytes>;
  private readonly address: string;
  private readonly log: Logger;
  private readonly topics = new Map<string, TopicRoute>();
  /** Every partition queue of every route, for the flush to walk. */
  private readonly queues: PartitionQueue[] = [];
  private flushScheduled = false;
  private isClosed = false;
  /**
   * The connection attempt: the engine aborts it when the mirror fails or pauses, e.g. on an
   * onRejected stop decided inside a done callback. Records queued behind must not leave then,
   * though close() comes only once the engine's pumps have ended.
   */
  private readonly attempt: AbortSignal;
  private readonly partitionsOf: (topic: string) => number | undefined;
  private resolveClosed!: (err: TributaryError | undefined) => void;

  constructor(
    producer: KafkaProducer,
    cfg: KafkaMirrorConfig,
    options: ProducerOptions<Bytes, Bytes, Bytes, Bytes>,
    address: string,
    log: Logger,
    attempt: AbortSignal,
    partitionsOf: (topic: string) => number | undefined,
  ) {
    this.producer = producer;
    this.partitionsOf = partitionsOf;
    this.attempt = attempt;
    this.cfg = cfg;
    this.options = options;
    this.address = address;
    this.log = log;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  send(message: KafkaMessage, done: SendDone): boolean {
    if (this.isClosed) return false;
    const refusal = this.refusal(message);
    if (refusal !== null) {
      queueMicrotask(() => done(refusal));
      return true;
    }
    const topic = message.topic!;
    const route = this.topics.get(topic);
    if (route === undefined) {
      this.topics.set(topic, { waiting: [{ message, done }] });
      void this.lookUp(topic, message);
    } else if ('waiting' in route) route.waiting.push({ message, done });
    else this.enqueue(topic, route, { message, done });
    return true;
  }

  /** Why a record cannot go to any topic, found before sending. */
  private refusal(message: KafkaMessage): TributaryError | null {
    return message.problem === null ? null : new TributaryError('UPSTREAM_REJECTED', message.problem, { origin: message.origin });
  }

  /** Why a record cannot go in any batch, found before sending. */
  private tooLarge(message: KafkaMessage): TributaryError | null {
    // Compressed, a big record may still fit: the cluster decides then.
    if (this.cfg.compression === 'none' && message.bytes + BATCH_OVERHEAD > this.cfg.maxMessageBytes)
      return new TributaryError('UPSTREAM_REJECTED', `a record of about ${message.bytes + BATCH_OVERHEAD} bytes in its batch exceeds maxMessageBytes (${this.cfg.maxMessageBytes})`, { origin: message.origin, kafkaError: 'MESSAGE_TOO_LARGE' });
    return null;
  }

  /**
   * The remote topic's partition count; a missing topic is created (createTopics) with as many
   * partitions as the log topic of `first`, its first record, or fails the mirror.
   */
  private async lookUp(topic: string, first: KafkaMessage): Promise<void> {
    let partitions: number;
    try {
      partitions = await this.partitionCount(topic);
    } catch (err) {
      const missing = kafkaErrorNames(err).has('UNKNOWN_TOPIC_OR_PARTITION');
      try {
        if (!missing || !this.cfg.createTopics) throw err;
        await this.createTopic(topic, this.partitionsOf(first.sourceTopic) ?? first.sourcePartition + 1);
        partitions = await this.partitionCount(topic);
      } catch (err2) {
        this.failWaiting(topic, err2, missing && !this.cfg.createTopics);
        return;
      }
    }
    const route = this.topics.get(topic);
    if (this.isClosed || route === undefined || !('waiting' in route)) return;
    const ready: Route = { partitions, queues: [] };
    this.topics.set(topic, ready);
    for (const item of route.waiting) this.enqueue(topic, ready, item);
  }

  private async partitionCount(topic: string): Promise<number> {
    const metadata = await this.producer.metadata({ topics: [topic], autocreateTopics: false });
    const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
    if (count <= 0) throw new TributaryError('UPSTREAM_UNAVAILABLE', `the cluster reports no partitions for ${topic}`);
    return count;
  }

  private async createTopic(topic: string, partitions: number): Promise<void> {
    const { clientId, bootstrapBrokers, connectTimeout, timeout, sasl, tls } = this.options;
    const admin = new Admin({ clientId, bootstrapBrokers, connectTimeout, timeout, retries: 1, ...(sasl ? { sasl } : {}), ...(tls ? { tls } : {}) });
    try {
      await admin.createTopics({ topics: [topic], partitions, replicas: -1 });
      this.log.info({ topic, partitions }, 'created the remote topic');
    } catch (err) {
      if (!kafkaErrorNames(err).has('TOPIC_ALREADY_EXISTS')) throw err;
    } finally {
      await admin.close().catch(() => undefined);
    }
  }

  private failWaiting(topic: string, err: unknown, missing: boolean): void {
    const route = this.topics.get(topic);
    this.topics.delete(topic);
    if (this.isClosed || route === undefined || !('waiting' in route)) return;
    const error = missing
      ? new TributaryError('UPSTREAM_MISCONFIGURED', `${this.address}: remote topic ${topic} does not exist; create it upstream or set createTopics: true`, { url: this.address, topic })
      : operationError(err, this.address, `looking up remote topic ${topic}`);
    for (const item of route.waiting) item.done(error);
  }

  private enqueue(topic: string, route: Route, item: Item): void {
    const m = item.message;
    const partition = m.key !== null ? partitionForKey(m.key, route.partitions) : m.sourcePartition % route.partitions;
    let queue = route.queues[partition];
    if (queue === undefined) {
      queue = { topic, partition, items: [], inflight: false, singly: 0, again: 0, timeouts: 0 };
      route.queues[partition] = queue;
      this.queues.push(queue);
    }
    queue.items.push(item);
    if (!queue.inflight) this.scheduleFlush();
  }

  /** Once per event-loop turn: everything the gate granted in this turn leaves in as few batches as fit. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.halted) return;
      for (const queue of this.queues) if (!queue.inflight && queue.items.length > 0) this.produce(queue);
    });
  }

  private get halted(): boolean {
    return this.isClosed || this.attempt.aborted;
  }

  private produce(queue: PartitionQueue): void {
    // A record too large to go is refused in its turn, once the records before it are acknowledged:
    // with onRejected stop the cursor then stops on it, and nothing behind it leaves.
    for (let head = queue.items[0]; head !== undefined; head = queue.items[0]) {
      const refusal = this.tooLarge(head.message);
      if (refusal === null) break;
      queue.items.shift();
      if (queue.singly > 0) queue.singly--;
      head.done(refusal);
      if (this.halted) return;
    }
    if (queue.items.length === 0) return;
    let count = 0;
    let bytes = BATCH_OVERHEAD;
    const again = queue.again;
    queue.again = 0;
    // A resend must be the same batch, for its sequence numbers to match the one the cluster may hold.
    const limit = again > 0 ? again : queue.singly > 0 ? 1 : queue.items.length;
    while (count < limit && (count === 0 || bytes + queue.items[count]!.message.bytes <= this.cfg.maxMessageBytes)) bytes += queue.items[count++]!.message.bytes;
    const batch = queue.items.splice(0, count);
    if (again === 0 && queue.singly > 0) queue.singly--;
    queue.inflight = true;
    const messages: MessageToProduce<Bytes, Bytes, Bytes, Bytes>[] = batch.map(({ message: m }) => ({
      topic: queue.topic,
      partition: queue.partition,
      key: m.key ?? undefined,
      value: m.value as Buffer,
      headers: m.headers as Map<Buffer, Buffer>,
      timestamp: BigInt(m.timestampMs),
    }));
    this.producer.send({ messages }, (err) => {
      queue.inflight = false;
      if (this.isClosed) return;
      if (err === null || err === undefined) {
        queue.timeouts = 0;
        for (const item of batch) item.done();
      } else this.failed(queue, batch, err);
      if (queue.items.length > 0) this.scheduleFlush();
    });
  }

  private failed(queue: PartitionQueue, batch: Item[], err: unknown): void {
    if (kafkaErrorNames(err).has('REQUEST_TIMED_OUT') && queue.timeouts < TIMEOUT_RESENDS) {
      queue.timeouts++;
      this.log.debug({ topic: queue.topic, partition: queue.partition, records: batch.length, attempt: queue.timeouts }, 'produce request not answered in time; sending the same batch again');
      queue.items = batch.concat(queue.items);
      queue.again = batch.length;
      return;
    }
    queue.timeouts = 0;
    const verdict = classify(err, this.address, batch.length, `producing to ${queue.topic}/${queue.partition}`);
    if (verdict.kind === 'split') {
      // Nothing of the batch was stored and no sequence number used: send its records one by one,
      // so the one the cluster refuses is found and the others go.
      this.log.debug({ topic: queue.topic, partition: queue.partition, records: batch.length }, 'batch refused as a whole; sending its records one by one');
      queue.items = batch.concat(queue.items);
      queue.singly = Math.max(queue.singly, batch.length);
      return;
    }
    for (const item of batch) item.done(verdict.error);
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    await closeQuietly(this.producer);
    this.resolveClosed(undefined);
  }
}

/** Closes a client, in-flight requests included; its errors say nothing the mirror needs. */
function closeQuietly(client: KafkaProducer): Promise<void> {
  return new Promise((resolve) => client.close(true, () => resolve()));
}

