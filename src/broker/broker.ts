// The broker core: every way in ends in produce(), every way out in fetch(). Owns the topic registry
// rules (names, auto-create, defaults), partition choice, acks, long-poll fetches and the retention
// schedule. Knows no protocol; listeners translate their frames into these calls.

import type { Logger } from 'pino';
import { TributaryError, type ErrorName } from '../errors.ts';
import { encodeRecordBatch, readBatchInfo, verifyBatch, type RecordInput } from '../format/record-batch.ts';
import { limits } from '../limits.ts';
import type { AtomicSideWrite, LogStore, PartitionState, ProducerRef, ReadResult, StorageStats, StoredTopic, TopicChange } from '../storage/log-store.ts';
import type { KafkaProducerRef } from '../storage/producer-state.ts';
import { OffsetStore } from '../storage/offset-store.ts';
import { GroupCoordinator, type CoordinatorOptions } from '../groups/coordinator.ts';
import type { CommitRequest } from '../groups/types.ts';
import { FetchWaiters } from './fetch-waiters.ts';
import { partitionForKey, RoundRobin } from './partitioner.ts';
import { validateTopicName } from './topic-name.ts';

// Listeners, mirrors and HTTP see storage only through the broker (test/architecture): these are the
// storage types its methods hand out.
export type { LogStartListener, PartitionState, ReadResult, RetentionFloor, StorageStats, StoredTopic } from '../storage/log-store.ts';
export type { MirrorCursors, MirrorPosition } from '../storage/mirror-cursors.ts';

export type AcksLevel = 0 | 1 | 'all';

export interface BrokerOptions {
  autoCreate: boolean;
  defaultPartitions: number;
  /** -1 = unlimited. */
  defaultRetentionMs: number;
  /** -1 = unlimited. */
  defaultRetentionBytes: number;
  retentionCheckIntervalMs: number;
  retentionBatchesPerStep: number;
  /** Consumer groups (config section groups); defaults as there. */
  groups?: Partial<CoordinatorOptions>;
}

const groupDefaults: CoordinatorOptions = { sessionTimeoutMsDefault: 10_000, offsetsRetentionMs: 7 * 86_400_000, expiryCheckIntervalMs: 600_000, initialRebalanceDelayMs: 300 };

export interface TopicSpec {
  name: string;
  partitions?: number;
  /** undefined = broker default, -1 = unlimited. */
  retentionMs?: number;
  retentionBytes?: number;
}

export interface PartitionDescription {
  partition: number;
  logStartOffset: number;
  nextOffset: number;
  bytes: number;
}

export interface TopicDescription {
  name: string;
  partitions: PartitionDescription[];
  retentionMs: number;
  retentionBytes: number;
  createdMs: number;
}

export interface ProduceRequest {
  topic: string;
  /** undefined or -1: murmur2 of the first record's key, else round robin. */
  partition?: number;
  records: RecordInput[];
  acks: AcksLevel;
  producer?: ProducerRef;
  /** Defaults to the broker's autoCreate setting. */
  autoCreate?: boolean;
  /**
   * May share a batch with other small requests of the same turn (MQTT: one record per PUBLISH).
   * Edge PRODUCE frames keep one batch per frame, as the edge SPEC promises consumers.
   */
  shareBatch?: boolean;
}

/** Records for several partitions and a group's offset commit, stored in one transaction: both or neither. */
export interface ProduceCommitRequest {
  batches: { topic: string; partition?: number; records: RecordInput[] }[];
  commit: CommitRequest;
  /** Resolve once on disk (acks all) rather than once committed. */
  flush: boolean;
}

/** One client-encoded batch for one partition (Broker.produceBatch). */
export interface EncodedProduceRequest {
  topic: string;
  partition: number;
  /** Exactly one RecordBatch v2; its base offset is overwritten in place when stored. */
  batch: Buffer;
  acks: AcksLevel;
  /** Defaults to the broker's autoCreate setting. */
  autoCreate?: boolean;
}

export interface ProduceResult {
  topic: string;
  partition: number;
  baseOffset: number;
  duplicate: boolean;
}

export interface BrokerCounters {
  produceRequests: number;
  recordsIn: number;
  bytesIn: number;
  fetchRequests: number;
  recordsOut: number;
  bytesOut: number;
  /** recordsOut by topic name (the status page's rate out); a deleted topic's entry goes with it. */
  recordsOutByTopic: Map<string, number>;
  errors: Map<ErrorName, number>;
}

/** Requests up to this many records may share a batch with others of the same turn. */
const COALESCE_RECORDS_MAX = 64;
const COALESCE_BATCH_RECORDS_MAX = 4096;
const COALESCE_BATCH_BYTES_MAX = 1024 * 1024;

/** One batch of an exactly-once request, encoded: what waits for its transaction instead of the records. */
interface EncodedAppend {
  topic: StoredTopic;
  partition: number;
  batch: Buffer;
  recordCount: number;
}

interface CoalescedWaiter {
  count: number;
  resolve: (r: ProduceResult) => void;
  reject: (e: unknown) => void;
}

interface CoalescedGroup {
  topic: StoredTopic;
  partition: number;
  flush: boolean;
  /** Every request's records, in arrival order; only the waiters outlive the encoding (see produce). */
  records: RecordInput[];
  waiters: CoalescedWaiter[];
  bytes: number;
}

function estimateBytes(records: RecordInput[]): number {
  let bytes = 0;
  for (const r of records) {
    bytes += 32 + (r.key?.length ?? 0) + (r.value?.length ?? 0);
    // UTF-16 length bounds a key's UTF-8 size by 3: an overestimate only starts a new batch sooner.
    for (const h of r.headers) bytes += 8 + 3 * h.key.length + (h.value?.length ?? 0);
  }
  return bytes;
}

function encodeBatch(records: RecordInput[], topic: StoredTopic, partition: number): Buffer {
  const batch = encodeRecordBatch(records);
  if (batch.length > limits.appendBytesMax)
    throw new TributaryError('RECORD_TOO_LARGE', `batch of ${batch.length} bytes (max ${limits.appendBytesMax})`, { topic: topic.name, partition });
  return batch;
}

/** A client's batch is stored as sent only when it is whole, intact and its offsets are consecutive. */
function checkClientBatch(batch: Buffer, topic: string, partition: number): number {
  if (batch.length > limits.appendBytesMax)
    throw new TributaryError('RECORD_TOO_LARGE', `batch of ${batch.length} bytes (max ${limits.appendBytesMax})`, { topic, partition });
  const info = readBatchInfo(batch);
  if (info === null || info.totalBytes !== batch.length) throw new TributaryError('INVALID_REQUEST', 'not exactly one RecordBatch v2 (magic 2)', { topic, partition });
  if (!verifyBatch(batch)) throw new TributaryError('CORRUPT_MESSAGE', 'record batch fails its CRC-32C check', { topic, partition });
  if (info.recordCount < 1 || info.recordCount > limits.appendRecordsMax || info.lastOffsetDelta + 1 !== info.recordCount)
    throw new TributaryError('INVALID_REQUEST', `record count ${info.recordCount} does not match lastOffsetDelta ${info.lastOffsetDelta}`, { topic, partition });
  return info.recordCount;
}

/**
 * An idempotent Kafka producer's fields of a checked batch (producer id ≥ 0), else undefined. The
 * last sequence is the first plus lastOffsetDelta, wrapping past 2^31-1 to 0 as Kafka's does.
 */
function kafkaProducerOf(batch: Buffer): KafkaProducerRef | undefined {
  const producerId = batch.readBigInt64BE(PRODUCER_ID_POS);
  if (producerId < 0n) return undefined;
  const firstSeq = batch.readInt32BE(BASE_SEQUENCE_POS);
  const lastSeq = (firstSeq + batch.readInt32BE(LAST_OFFSET_DELTA_POS)) % 2 ** 31;
  return { producerId: producerId.toString(), epoch: batch.readInt16BE(PRODUCER_EPOCH_POS), firstSeq, lastSeq };
}

/** RecordBatch v2 header positions (src/format/record-batch.ts). */
const LAST_OFFSET_DELTA_POS = 23;
const PRODUCER_ID_POS = 43;
const PRODUCER_EPOCH_POS = 51;
const BASE_SEQUENCE_POS = 53;

export class Broker {
  /** For main.ts, which owns the store's lifecycle, and tests; everything else goes through the methods below. */
  readonly store: LogStore;
  private readonly opts: BrokerOptions;
  private readonly log: Logger;
  private readonly waiters = new FetchWaiters();
  private readonly roundRobin = new Map<number, RoundRobin>();
  private readonly coalescing = new Map<string, CoalescedGroup>();
  private retentionTimer: NodeJS.Timeout | null = null;
  private maintenanceRunning = false;
  private closed = false;
  private readonly offsets: OffsetStore;
  /** Consumer groups: every protocol's joins, heartbeats and offset commits end here. */
  readonly groups: GroupCoordinator;
  readonly counters: BrokerCounters = { produceRequests: 0, recordsIn: 0, bytesIn: 0, fetchRequests: 0, recordsOut: 0, bytesOut: 0, recordsOutByTopic: new Map(), errors: new Map() };

  constructor(store: LogStore, opts: BrokerOptions, logger: Logger) {
    this.store = store;
    this.opts = opts;
    this.log = logger.child({ module: 'broker' });
    store.addAppendListener((topicId, partition) => this.waiters.wake(topicId, partition));
    store.addBeforeGroupListener(() => this.flushCoalesced());
    this.offsets = new OffsetStore(store, logger);
    this.groups = new GroupCoordinator(this, this.offsets, { ...groupDefaults, ...opts.groups }, logger);
  }

  /** Starts the retention schedule. */
  start(): void {
    this.scheduleMaintenance(this.opts.retentionCheckIntervalMs);
  }

  // ---- topics ----

  createTopic(spec: TopicSpec): TopicDescription {
    validateTopicName(spec.name);
    const partitions = spec.partitions ?? this.opts.defaultPartitions;
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > limits.partitionsMax)
      throw new TributaryError('INVALID_REQUEST', `partitions must be 1..${limits.partitionsMax}, got ${partitions}`, { topic: spec.name });
    const retentionMs = spec.retentionMs ?? this.opts.defaultRetentionMs;
    const retentionBytes = spec.retentionBytes ?? this.opts.defaultRetentionBytes;
    if (retentionMs < -1 || retentionBytes < -1) throw new TributaryError('INVALID_REQUEST', 'retention must be -1 (unlimited) or a non-negative number', { topic: spec.name });
    const topic = this.store.createTopic({ name: spec.name, partitions, retentionMs, retentionBytes });
    return this.describe(topic);
  }

  growTopic(name: string, partitions: number): TopicDescription {
    return this.alterTopic(name, { partitions });
  }

  /**
   * Raises the partition count and/or sets the retention of an existing topic (a field left out
   * keeps its value). Throws UNKNOWN_TOPIC, or INVALID_REQUEST for a lower count or a bad value.
   */
  alterTopic(name: string, change: TopicChange): TopicDescription {
    const before = this.requireTopic(name);
    const { partitions, retentionMs, retentionBytes } = change;
    if (partitions !== undefined && (!Number.isInteger(partitions) || partitions > limits.partitionsMax))
      throw new TributaryError('INVALID_REQUEST', `partitions must be an integer up to ${limits.partitionsMax}, got ${partitions}`, { topic: name });
    for (const value of [retentionMs, retentionBytes])
      if (value !== undefined && !(Number.isSafeInteger(value) && value >= -1))
        throw new TributaryError('INVALID_REQUEST', `retention must be -1 (unlimited) or a non-negative integer, got ${value}`, { topic: name });
    const altered = this.store.alterTopic(name, change);
    // Lower limits delete now rather than at the next scheduled check.
    if (altered.retentionMs !== before.retentionMs || altered.retentionBytes !== before.retentionBytes) this.scheduleMaintenance(0);
    return this.describe(altered);
  }

  deleteTopic(name: string): void {
    const topic = this.requireTopic(name);
    this.store.deleteTopic(name);
    this.roundRobin.delete(topic.id);
    this.counters.recordsOutByTopic.delete(name);
    this.waiters.wakeAll();
    this.scheduleMaintenance(0);
  }

  describeTopic(name: string): TopicDescription {
    return this.describe(this.requireTopic(name));
  }

  listTopics(): TopicDescription[] {
    return this.store.listTopics().map((t) => this.describe(t));
  }

  private describe(topic: StoredTopic): TopicDescription {
    return {
      name: topic.name,
      retentionMs: topic.retentionMs,
      retentionBytes: topic.retentionBytes,
      createdMs: topic.createdMs,
      partitions: this.store.partitionStates(topic.id).map((s) => ({ partition: s.partition, logStartOffset: s.logStartOffset, nextOffset: s.nextOffset, bytes: s.bytes })),
    };
  }

  requireTopic(name: string): StoredTopic {
    const topic = this.store.getTopic(name);
    if (!topic) {
      validateTopicName(name);
      throw new TributaryError('UNKNOWN_TOPIC', `unknown topic ${name}`, { topic: name });
    }
    return topic;
  }

  /** The stored topic (with its id), or undefined when there is none; never creates one. */
  findTopic(name: string): StoredTopic | undefined {
    return this.store.getTopic(name);
  }

  /** Every stored topic, by name. */
  storedTopics(): StoredTopic[] {
    return this.store.listTopics();
  }

  /** The live state of a partition (read only: the store updates it after every transaction). */
  partitionState(topicId: number, partition: number): Readonly<PartitionState> | undefined {
    return this.store.partitionState(topicId, partition);
  }

  partitionStates(topicId: number): readonly Readonly<PartitionState>[] {
    return this.store.partitionStates(topicId);
  }

  /** The topic, created with the defaults when missing and auto-creation is allowed. */
  resolveTopic(name: string, autoCreate = this.opts.autoCreate): StoredTopic {
    const topic = this.store.getTopic(name);
    if (topic) return topic;
    if (!autoCreate) return this.requireTopic(name);
    this.createTopic({ name });
    return this.store.getTopic(name)!;
  }

  // ---- produce ----

  /**
   * Appends the records to one partition; resolves at the durability `acks` asks for. Small
   * `shareBatch` requests that arrive in the same event-loop turn for the same partition and acks
   * share one batch (one encode, one CRC, one LMDB put): an MQTT PUBLISH is one record, and a key per
   * record is what ARCHITECTURE.md warns caps throughput.
   */
  produce(req: ProduceRequest): Promise<ProduceResult> {
    // Not async: a suspended async function keeps its arguments, and the request's records would
    // then live until the commit, copied and promoted by the GC, instead of dying once encoded.
    try {
      this.counters.produceRequests++;
      const topic = this.resolveTopic(req.topic, req.autoCreate);
      if (req.records.length === 0) throw new TributaryError('INVALID_REQUEST', 'a produce request needs at least one record', { topic: topic.name });
      if (req.records.length > limits.appendRecordsMax)
        throw new TributaryError('RECORD_TOO_LARGE', `${req.records.length} records in one append (max ${limits.appendRecordsMax})`, { topic: topic.name });
      const partition = this.choosePartition(topic, req.partition, req.records[0].key);
      if (req.shareBatch && req.producer === undefined && req.records.length <= COALESCE_RECORDS_MAX) return this.coalesce(topic, partition, req);
      const batch = encodeBatch(req.records, topic, partition);
      return this.appendEncoded(topic, partition, batch, req.records.length, req.producer, req.acks === 'all');
    } catch (err) {
      this.countError(err);
      return Promise.reject(err);
    }
  }

  private async appendEncoded(topic: StoredTopic, partition: number, batch: Buffer, recordCount: number, producer: ProducerRef | undefined, flush: boolean): Promise<ProduceResult> {
    try {
      const result = await this.store.append(topic, partition, batch, producer, flush);
      if (!result.duplicate) {
        this.counters.recordsIn += recordCount;
        this.counters.bytesIn += batch.length;
      }
      return { topic: topic.name, partition, baseOffset: result.baseOffset, duplicate: result.duplicate };
    } catch (err) {
      this.countError(err);
      throw err;
    }
  }

  /**
   * Exactly-once read-process-write inside the broker: the output records and the consumer's offset
   * commit are one LMDB transaction, checked against the group's current generation inside it, so a
   * consumer killed at any moment leaves its output with every result once and none twice. Its
   * errors are counted by the caller, as those of the group coordinator's other requests are.
   */
  produceWithCommit(req: ProduceCommitRequest): Promise<ProduceResult[]> {
    // Not async, as produce: the records die once encoded instead of living until the commit.
    try {
      this.counters.produceRequests++;
      const write = this.groups.offsetWrite(req.commit);
      const refusal = write.check();
      if (refusal) throw refusal;
      const items = req.batches.map((b) => {
        const topic = this.resolveTopic(b.topic);
        if (b.records.length === 0) throw new TributaryError('INVALID_REQUEST', 'a batch needs at least one record', { topic: topic.name });
        if (b.records.length > limits.appendRecordsMax)
          throw new TributaryError('RECORD_TOO_LARGE', `${b.records.length} records in one append (max ${limits.appendRecordsMax})`, { topic: topic.name });
        const partition = this.choosePartition(topic, b.partition, b.records[0]!.key);
        return { topic, partition, batch: encodeBatch(b.records, topic, partition), recordCount: b.records.length };
      });
      return this.appendWithCommit(items, req.flush, this.offsets.offsetWrite(write.reader, write.entries, write.check), req.commit.group);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private async appendWithCommit(items: EncodedAppend[], flush: boolean, commit: AtomicSideWrite, group: string): Promise<ProduceResult[]> {
    const results = await this.store.appendAtomic(items, flush, commit);
    this.groups.committed(group);
    for (const it of items) {
      this.counters.recordsIn += it.recordCount;
      this.counters.bytesIn += it.batch.length;
    }
    return results.map((r, i) => ({ topic: items[i]!.topic.name, partition: items[i]!.partition, baseOffset: r.baseOffset, duplicate: false }));
  }

  /**
   * Appends one RecordBatch v2 as a client encoded it (the Kafka listener): checked (magic 2,
   * CRC-32C, record count against lastOffsetDelta), never decoded nor re-encoded; the store stamps
   * its base offset, which the CRC does not cover. The caller refuses compressed batches it cannot
   * serve before calling (src/listeners/kafka/batch-gate.ts).
   */
  async produceBatch(req: EncodedProduceRequest): Promise<ProduceResult> {
    try {
      this.counters.produceRequests++;
      const topic = this.resolveTopic(req.topic, req.autoCreate);
      const partition = this.choosePartition(topic, req.partition, null);
      const recordCount = checkClientBatch(req.batch, topic.name, partition);
      const result = await this.store.append(topic, partition, req.batch, kafkaProducerOf(req.batch), req.acks === 'all');
      if (!result.duplicate) {
        this.counters.recordsIn += recordCount;
        this.counters.bytesIn += req.batch.length;
      }
      return { topic: topic.name, partition, baseOffset: result.baseOffset, duplicate: result.duplicate };
    } catch (err) {
      this.countError(err);
      throw err;
    }
  }

  private coalesce(topic: StoredTopic, partition: number, req: ProduceRequest): Promise<ProduceResult> {
    return new Promise((resolve, reject) => {
      const flush = req.acks === 'all';
      const key = `${topic.id}/${partition}`;
      let group = this.coalescing.get(key);
      const bytes = estimateBytes(req.records);
      // One open group per partition, appended before a request that cannot join it: appends reach
      // the store in arrival order, so a client's records keep their order whatever their acks.
      if (group && (group.flush !== flush || group.records.length + req.records.length > COALESCE_BATCH_RECORDS_MAX || group.bytes + bytes > COALESCE_BATCH_BYTES_MAX)) {
        this.coalescing.delete(key);
        this.appendCoalesced(group);
        group = undefined;
      }
      if (!group) this.coalescing.set(key, (group = { topic, partition, flush, records: [], waiters: [], bytes: 0 }));
      for (const r of req.records) group.records.push(r);
      group.waiters.push({ count: req.records.length, resolve, reject });
      group.bytes += bytes;
      // The store's next group transaction takes the open groups (addBeforeGroupListener): one loop turn, not two.
      this.store.scheduleGroup();
    });
  }

  private flushCoalesced(): void {
    if (this.coalescing.size === 0) return;
    const groups = [...this.coalescing.values()];
    this.coalescing.clear();
    for (const g of groups) this.appendCoalesced(g);
  }

  private appendCoalesced(g: CoalescedGroup): void {
    // The continuations below hold no reference to g, whose records then die young (see produce).
    const { topic, partition, waiters } = g;
    const count = g.records.length;
    let batch: Buffer;
    try {
      batch = encodeBatch(g.records, topic, partition);
    } catch (err) {
      this.rejectAll(waiters, err);
      return;
    }
    this.store.append(topic, partition, batch, undefined, g.flush).then(
      (r) => {
        this.counters.recordsIn += count;
        this.counters.bytesIn += batch.length;
        let offset = r.baseOffset;
        for (const w of waiters) {
          w.resolve({ topic: topic.name, partition, baseOffset: offset, duplicate: false });
          offset += w.count;
        }
      },
      (err: unknown) => this.rejectAll(waiters, err),
    );
  }

  private rejectAll(waiters: CoalescedWaiter[], err: unknown): void {
    for (const w of waiters) {
      this.countError(err);
      w.reject(err);
    }
  }

  private choosePartition(topic: StoredTopic, requested: number | undefined, firstKey: Uint8Array | null): number {
    if (requested !== undefined && requested !== -1) {
      if (!Number.isInteger(requested) || requested < 0 || requested >= topic.partitions)
        throw new TributaryError('INVALID_PARTITION', `topic ${topic.name} has no partition ${requested} (it has ${topic.partitions})`, { topic: topic.name, partition: requested });
      return requested;
    }
    if (firstKey !== null) return partitionForKey(firstKey, topic.partitions);
    let rr = this.roundRobin.get(topic.id);
    if (!rr) this.roundRobin.set(topic.id, (rr = new RoundRobin()));
    return rr.next(topic.partitions);
  }

  // ---- fetch ----

  /**
   * Whole batches from the one holding `offset`. When none is available yet, parks up to maxWaitMs
   * until an append to this partition commits.
   */
  async fetch(name: string, partition: number, offset: number, maxBytes: number, maxWaitMs: number, signal?: AbortSignal): Promise<ReadResult> {
    try {
      this.counters.fetchRequests++;
      const bytesMax = Math.max(1, Math.min(maxBytes, limits.fetchBytesMax));
      let result = this.store.read(this.requireTopic(name), partition, offset, bytesMax);
      const waitMs = Math.min(maxWaitMs, limits.fetchWaitMsMax);
      if (result.batches.length === 0 && waitMs > 0 && !this.closed) {
        await this.waiters.wait(this.requireTopic(name).id, partition, waitMs, signal);
        result = this.store.read(this.requireTopic(name), partition, offset, bytesMax);
      }
      this.counters.bytesOut += result.bytes;
      let records = 0;
      for (const b of result.batches) records += readBatchInfo(b)?.recordCount ?? 0;
      this.counters.recordsOut += records;
      if (records > 0) this.counters.recordsOutByTopic.set(name, (this.counters.recordsOutByTopic.get(name) ?? 0) + records);
      return result;
    } catch (err) {
      this.countError(err);
      throw err;
    }
  }

  /**
   * Resolves once `partition` has a record at `offset` or after maxWaitMs (capped as fetch caps it),
   * without reading anything: a listener waits here before it reserves memory for the answer, then
   * calls fetch() with no wait. Resolves at once when the read would not be empty or would fail.
   */
  async waitForRecords(name: string, partition: number, offset: number, maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    const waitMs = Math.min(maxWaitMs, limits.fetchWaitMsMax);
    const topic = this.store.getTopic(name);
    if (waitMs <= 0 || this.closed || !topic || this.store.partitionState(topic.id, partition)?.nextOffset !== offset) return;
    await this.waiters.wait(topic.id, partition, waitMs, signal);
  }

  /**
   * Whole batches from the one holding `offset`, at once and without counting as a fetch: for status
   * pages (a mirror's oldest unshipped record) and benchmarks, not for consumers.
   */
  peek(topic: StoredTopic, partition: number, offset: number, maxBytes: number): ReadResult {
    return this.store.read(topic, partition, offset, maxBytes);
  }

  /** Resolves once every record appended so far survives a power cut (LogStore.durable). */
  durable(): Promise<void> {
    return this.store.durable();
  }

  /** A new idempotent Kafka producer: an id never handed out before, epoch 0 (InitProducerId). */
  async initProducerId(): Promise<{ producerId: number; epoch: number }> {
    return { producerId: await this.store.newProducerId(), epoch: 0 };
  }

  /** The last sequence stored for an idempotent producer; 0 when none. */
  lastProducerSeq(clientId: string): number {
    return this.store.lastProducerSeq(clientId);
  }

  /** Why storage stopped taking writes (fail-stop), or null while it takes them. */
  get storageFailure(): TributaryError | null {
    return this.store.failed;
  }

  storageStats(): StorageStats {
    return this.store.stats();
  }

  // ---- storage hooks (each returns its unsubscribe); the mirror thread's are in mirror/thread ----

  /** Called after a topic was created, grown or deleted. */
  addTopicsListener(listener: () => void): () => void {
    return this.store.addTopicsListener(listener);
  }

  countError(err: unknown): void {
    const name: ErrorName = err instanceof TributaryError ? err.codeName : 'UNKNOWN';
    this.counters.errors.set(name, (this.counters.errors.get(name) ?? 0) + 1);
  }

  get parkedFetches(): number {
    return this.waiters.parked;
  }

  // ---- retention ----

  private scheduleMaintenance(delayMs: number): void {
    if (this.closed) return;
    if (this.retentionTimer) clearTimeout(this.retentionTimer);
    this.retentionTimer = setTimeout(() => this.runMaintenance(), delayMs);
    this.retentionTimer.unref();
  }

  // Each step deletes a bounded number of batches in one short transaction, then yields to the event
  // loop, so produce and fetch are never blocked for long.
  private runMaintenance(): void {
    this.retentionTimer = null;
    if (this.maintenanceRunning || this.closed) return;
    this.maintenanceRunning = true;
    const step = () => {
      let deleted = 0;
      try {
        deleted = this.store.maintenanceStep(Date.now(), this.opts.retentionBatchesPerStep);
      } catch (err) {
        this.log.error({ err }, 'retention step failed');
      }
      if (deleted > 0 && !this.closed) {
        setImmediate(step);
        return;
      }
      this.maintenanceRunning = false;
      this.scheduleMaintenance(this.opts.retentionCheckIntervalMs);
    };
    step();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.groups.close();
    if (this.retentionTimer) clearTimeout(this.retentionTimer);
    this.waiters.wakeAll();
    // Shared batches still waiting for their turn (a will published while MQTT closes) are appended,
    // not refused: the store commits what it was handed before it closes.
    this.flushCoalesced();
    await this.store.close();
  }
}
