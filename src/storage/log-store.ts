// The partition logs: topics, group transaction (offsets planned in txn-appends.ts, atomic units),
// reads, retention deletes (planned in retention-plan.ts), producer state, the storage format's migration.
// Owns the LMDB handles; knows no protocol. Every write goes through an LMDB transaction run from one
// place (runGroup / writeSync / sideTxn), so in-memory state changes only after a transaction
// committed and there is never a half-applied group to undo.
//
// Where commits run: a group transaction is an lmdb-js async transaction. Its body runs on this thread
// inside the write transaction lmdb-js's writer thread began, as a child transaction (a throw aborts
// all of it); the writer thread then commits, with the commit's fdatasync of the data pages (see
// lmdb-env.ts), while this loop serves sockets; in-memory state and acks follow the commit. One group
// is in flight at a time. A group holding MQTT session writes (TxnParticipant.commitsOnLoop), topic
// admin, retention steps (deferred while a group is in flight) and side transactions still commit with
// transactionSync on this thread; one called while a group is in flight commits before the group's body
// takes what is queued, or after the group's commit (lmdb-js's write lock: this thread waits for that
// commit), so writes stay in call order. A failed async commit comes as "Commit failed" with the LMDB error in `commitError`
// (commitFailure below), classified as a synchronous one is. acks=all then waits for an env.sync()
// started after the transaction commit, off the thread.

import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Database } from 'lmdb';
import { asTributaryError, isTributaryError, TributaryError } from '../errors.ts';
import { readBatchInfo } from '../format/record-batch.ts';
import {
  filesystemFreeBytes,
  failedForRoom,
  openLmdb,
  STORAGE_FORMAT_VERSION,
  syncToDisk,
  databasesOf,
  usedMapBytes,
  type LmdbHandles,
  type StoredTopic,
} from './lmdb-env.ts';
import { ListenerList } from './listener-list.ts';
import { readBatches, type ReadResult } from './log-reader.ts';
import { evictedBytes, logStartAfter, planOldestEvictions, planRetention, type Eviction } from './retention-plan.ts';
import { TxnAppends, type AppendItem, type AppendResult, type PartitionState, type ProducerRef } from './txn-appends.ts';
import { migrateMirrorCursors, topicOffsetKeys } from './offsets-db.ts';
import { edgeClientIdOf, edgeStateKey, lastSeqOf, migrateEdgeProducers, type ProducerStateKey, type ProducerStateValue } from './producer-state.ts';

export type { StoredTopic } from './lmdb-env.ts';
export type { AppendResult, PartitionState, ProducerRef } from './txn-appends.ts';

/** What a component keeping its own state in the log's environment (MQTT sessions, mirror cursors) uses. */
export type SideWriteStore = Pick<LogStore, 'sideTxn' | 'failed' | 'lmdb' | 'addTxnParticipant' | 'scheduleGroup'>;

/**
 * A writer whose staged writes ride in the log's group transactions (the MQTT session state): one
 * transaction, one fdatasync per loop turn for everything, and one failure outcome.
 */
export interface TxnParticipant {
  /** Whether writes wait for the next group transaction. */
  readonly hasStaged: boolean;
  /** At the start of a group: takes what is staged (later writes stage anew for the next group). */
  take(): TakenWrites;
  /**
   * Its writes commit only in a group run on this thread, as every group did before the writer
   * thread: for callers built on nothing else running between their write and its commit (the MQTT
   * session state: aedes delivers a message to a client that came back while its queue write was
   * committing, a second time and ahead of its queue, measured with test/listeners/mqtt/stored-drain.test.ts).
   */
  readonly commitsOnLoop?: boolean;
}

export interface TakenWrites {
  /** Inside the group's transaction. */
  write(): void;
  /** Null when the transaction committed, else why nothing of it was kept. */
  settle(err: TributaryError | null): void;
}

/** Called after every transaction commit that made new records visible in a partition. */
export type AppendListener = (topicId: number, partition: number) => void;
/**
 * The offset from which a subscriber needs a partition's records kept (undefined: it needs none kept).
 * Time and size retention keep every batch whose last offset is at or past the lowest of all floors,
 * so a mirror keeps what it has not shipped yet. The disk budget and the purge of deleted topics
 * ignore floors: running out of room is worse than dropping unshipped records, and a deleted topic
 * has nothing left to ship.
 */
export type RetentionFloor = (topicId: number, partition: number) => number | undefined;
/**
 * Called once per partition whose log start moved because retention or the disk budget deleted
 * batches, after the in-memory state is updated and outside any transaction, so a subscriber can
 * compare its cursor with the new start.
 */
export type LogStartListener = (topicId: number, partition: number, previousStart: number, newStart: number) => void;

export type DiskBudgetPolicy = 'reject-new' | 'drop-oldest';

/** What alterTopic changes; a field left out keeps its value. */
export interface TopicChange {
  partitions?: number;
  /** -1 = unlimited. */
  retentionMs?: number;
  /** Per partition; -1 = unlimited. */
  retentionBytes?: number;
}

export interface LogStoreOptions {
  dataDir: string;
  mapSizeBytes: number;
  /** -1 = the map grows while the disk allows; otherwise the data file never grows past this. */
  maxMapSizeBytes?: number;
  /** -1 = no budget. Counts stored batch bytes of every partition. */
  diskBudgetBytes: number;
  diskBudgetPolicy: DiskBudgetPolicy;
  /** Writes are refused while the data dir's filesystem has less room than this. */
  minFreeDiskBytes: number;
  txnQueueBytesMax: number;
  logger: Logger;
}

export type { ReadResult } from './log-reader.ts';

export interface StorageStats {
  topics: number;
  partitions: number;
  logBytes: number;
  fileBytes: number;
  /** The part of the data file LMDB's trees use; the rest is free pages writes reuse (lmdb-env.ts usedMapBytes). */
  mapUsedBytes: number;
  appends: number;
  appendedRecords: number;
  groupTxns: number;
  evictedBatches: number;
  evictedRecords: number;
  failed: boolean;
}

interface PendingAppend extends AppendItem {
  flush: boolean;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

/** Written with the batches of an atomic unit, in its child transaction (an offset commit: offset-store.ts). */
export interface AtomicSideWrite {
  /** Inside the unit's transaction, before its batches; an error keeps nothing of the unit. */
  check(): TributaryError | null;
  write(): void;
}

/** An appendAtomic call: all of it or nothing. */
interface PendingUnit {
  items: AppendItem[];
  side: AtomicSideWrite;
  flush: boolean;
  resolve: (r: AppendResult[]) => void;
  reject: (e: unknown) => void;
}

type Pending = PendingAppend | PendingUnit;

interface Refused {
  appends: Pending[];
  error: TributaryError;
}

/** What one group transaction took from the queue and what its body planned, until it settles. */
interface TakenGroup {
  /** Appends refused for room while the participants' writes still went in. */
  refused: Refused | null;
  appends: Pending[];
  bytes: number;
  sides: TakenWrites[];
  sideErrors: (TributaryError | null)[];
  results: (AppendResult | AppendResult[] | TributaryError)[];
  plan: TxnAppends;
  evictions: Eviction[];
}

const PURGING_KEY = 'purgingTopicIds';
/** The first producer id not yet reserved (meta); ids are reserved a block at a time. */
const PRODUCER_ID_RESERVED_KEY = 'producerIdsReservedTo';
const PRODUCER_ID_BLOCK = 1000;
/** Idempotent producer state is forgotten after this long without a produce (Kafka's default). */
/** How often idle producers' rows are looked for (a scan of the whole producer table). */
const PRODUCER_EXPIRY_CHECK_MS = 3_600_000;
export const PRODUCER_STATE_RETENTION_MS = 7 * 86_400_000;

export class LogStore {
  /** When expireProducers next scans the producer table (see there). */
  private producerExpiryDueMs = 0;
  private readonly h: LmdbHandles;
  /** The named databases of `h`, for the map's room check. */
  private readonly databases: Database[];
  private readonly opts: LogStoreOptions;
  private readonly log: Logger;
  private readonly topicsByName = new Map<string, StoredTopic>();
  private readonly states = new Map<number, PartitionState[]>();
  /** Edge clients' rows by client id (the edge reads one per PRODUCE frame); Kafka producers' rows are read from LMDB. */
  private readonly edgeProducerRows = new Map<string, ProducerStateValue>();
  private purgingTopicIds: number[];
  private nextProducerId = 0;
  private producerIdsReservedTo = 0;
  private producerIdBlockOnDisk: Promise<void> = Promise.resolve();
  private pending: Pending[] = [];
  private pendingBytes = 0;
  private groupScheduled = false;
  /** The group transaction whose commit runs on lmdb-js's writer thread; settles after its callers are answered. */
  private groupInFlight: Promise<void> | null = null;
  /** batchesMax of a maintenance step asked for while a group was in flight (see maintenanceStep). */
  private maintenanceDeferred: number | null = null;
  private closing = false;
  private logBytes = 0;
  private failure: TributaryError | null = null;
  private syncRunning: Promise<void> | null = null;
  private nextSync: Promise<void> | null = null;
  /**
   * Group transactions known to be on disk: a sync covers every transaction commit made before it started. -1 until
   * the first sync: a crashed predecessor's last transaction commits may still sit in the page cache.
   */
  private durableGroupTxns = -1;
  private closed = false;
  private readonly counters = { appends: 0, appendedRecords: 0, groupTxns: 0, evictedBatches: 0, evictedRecords: 0 };
  private readonly appendListeners = new ListenerList<AppendListener>();
  private readonly retentionFloors = new ListenerList<RetentionFloor>();
  private readonly logStartListeners = new ListenerList<LogStartListener>();
  private readonly topicsListeners = new ListenerList<() => void>();
  private readonly beforeGroupListeners = new ListenerList<() => void>();
  private readonly participants = new ListenerList<TxnParticipant>();
  private readonly failureListeners = new ListenerList<(failure: TributaryError) => void>();

  constructor(opts: LogStoreOptions) {
    this.opts = opts;
    this.log = opts.logger.child({ module: 'storage' });
    this.h = openLmdb(opts.dataDir, opts.mapSizeBytes);
    this.databases = databasesOf(this.h);
    const version = this.h.meta.get('formatVersion');
    if (version === undefined) this.h.meta.putSync('formatVersion', STORAGE_FORMAT_VERSION);
    else if (version === 1 || version === 2) this.migrateFrom(version);
    else if (version !== STORAGE_FORMAT_VERSION)
      throw new TributaryError('STORAGE_FAILED', `data dir ${opts.dataDir} has storage format ${String(version)}, this build reads ${STORAGE_FORMAT_VERSION}`);
    this.purgingTopicIds = (this.h.meta.get(PURGING_KEY) as number[] | undefined) ?? [];
    this.loadTopics();
  }

  // Every step from `from` to the current format in one transaction: a crash before it commits leaves
  // the old format, migrated at the next open.
  private migrateFrom(from: 1 | 2): void {
    let mirrorCursors = 0;
    let edgeProducers = 0;
    this.writeSync(() => {
      if (from === 1) mirrorCursors = migrateMirrorCursors(this.h.env, this.h.offsets, Date.now());
      edgeProducers = migrateEdgeProducers(this.h.env, this.h.producerState);
      this.h.meta.putSync('formatVersion', STORAGE_FORMAT_VERSION);
    });
    this.log.info({ mirrorCursors, edgeProducers, from, to: STORAGE_FORMAT_VERSION }, 'storage format migrated');
  }

  // ---- hooks: each returns its unsubscribe ----

  addAppendListener(listener: AppendListener): () => void {
    return this.appendListeners.add(listener);
  }

  /** Floors combine as their minimum: a batch goes only once no subscriber needs it. */
  addRetentionFloor(floor: RetentionFloor): () => void {
    return this.retentionFloors.add(floor);
  }

  addLogStartListener(listener: LogStartListener): () => void {
    return this.logStartListeners.add(listener);
  }

  /** Called after a topic was created, grown or deleted, so mirrors find new partitions without polling. */
  addTopicsListener(listener: () => void): () => void {
    return this.topicsListeners.add(listener);
  }

  /**
   * Called when a group transaction starts, before it takes what is pending: the appends it makes join
   * this group. The broker hands over the batches it coalesced this turn, so they wait for one loop
   * turn instead of two (its own, then the store's).
   */
  addBeforeGroupListener(listener: () => void): () => void {
    return this.beforeGroupListeners.add(listener);
  }

  private loadTopics(): void {
    for (const { value: topic } of this.h.topics.getRange()) {
      this.topicsByName.set(topic.name, topic);
      const states: PartitionState[] = [];
      for (let p = 0; p < topic.partitions; p++) {
        const stored = this.h.partitions.get([topic.id, p]) ?? [0, 0, 0];
        states.push({ topicId: topic.id, partition: p, logStartOffset: stored[0], nextOffset: stored[1], bytes: stored[2] });
        this.logBytes += stored[2];
      }
      this.states.set(topic.id, states);
    }
  }

  // ---- topics ----

  getTopic(name: string): StoredTopic | undefined {
    return this.topicsByName.get(name);
  }

  listTopics(): StoredTopic[] {
    // Code unit order, not localeCompare: the same on every machine, and no ICU collator (MBs of RSS).
    return [...this.topicsByName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  partitionState(topicId: number, partition: number): PartitionState | undefined {
    return this.states.get(topicId)?.[partition];
  }

  partitionStates(topicId: number): readonly PartitionState[] {
    return this.states.get(topicId) ?? [];
  }

  createTopic(spec: Omit<StoredTopic, 'id' | 'createdMs'>): StoredTopic {
    this.assertWritable();
    if (this.topicsByName.has(spec.name)) throw new TributaryError('TOPIC_EXISTS', `topic ${spec.name} already exists`, { topic: spec.name });
    let topic!: StoredTopic;
    this.writeSync(() => {
      const id = ((this.h.meta.get('nextTopicId') as number | undefined) ?? 1);
      this.h.meta.putSync('nextTopicId', id + 1);
      topic = { ...spec, id, createdMs: Date.now() };
      this.h.topics.putSync(spec.name, topic);
      for (let p = 0; p < spec.partitions; p++) this.h.partitions.putSync([id, p], [0, 0, 0]);
    });
    this.topicsByName.set(topic.name, topic);
    this.states.set(topic.id, freshStates(topic.id, 0, topic.partitions));
    this.log.info({ topic: topic.name, partitions: topic.partitions, retentionMs: topic.retentionMs, retentionBytes: topic.retentionBytes }, 'topic created');
    this.topicsChanged();
    return topic;
  }

  /** Raises the partition count; existing partitions keep their offsets. */
  growTopic(name: string, partitions: number): StoredTopic {
    return this.alterTopic(name, { partitions });
  }

  /**
   * Raises the partition count and/or replaces the retention, in one transaction; existing
   * partitions keep their offsets. Retention reads the topic on its next step, so the new limits
   * apply from then on, to the records already stored too.
   */
  alterTopic(name: string, change: TopicChange): StoredTopic {
    this.assertWritable();
    const topic = this.requireTopic(name);
    const partitions = change.partitions ?? topic.partitions;
    if (partitions < topic.partitions)
      throw new TributaryError('INVALID_REQUEST', `topic ${name} has ${topic.partitions} partitions; the count can only grow`, { topic: name });
    const altered: StoredTopic = { ...topic, partitions, retentionMs: change.retentionMs ?? topic.retentionMs, retentionBytes: change.retentionBytes ?? topic.retentionBytes };
    if (altered.partitions === topic.partitions && altered.retentionMs === topic.retentionMs && altered.retentionBytes === topic.retentionBytes) return topic;
    this.writeSync(() => {
      this.h.topics.putSync(name, altered);
      for (let p = topic.partitions; p < partitions; p++) this.h.partitions.putSync([topic.id, p], [0, 0, 0]);
    });
    this.topicsByName.set(name, altered);
    if (partitions > topic.partitions) this.states.get(topic.id)!.push(...freshStates(topic.id, topic.partitions, partitions));
    this.log.info(
      { topic: name, partitions: [topic.partitions, partitions], retentionMs: [topic.retentionMs, altered.retentionMs], retentionBytes: [topic.retentionBytes, altered.retentionBytes] },
      'topic altered',
    );
    this.topicsChanged();
    return altered;
  }

  /** Removes the topic at once; its batches are purged in the background by maintenanceStep(). */
  deleteTopic(name: string): void {
    this.assertWritable();
    const topic = this.requireTopic(name);
    const purging = [...this.purgingTopicIds, topic.id];
    this.writeSync(() => {
      this.h.topics.removeSync(name);
      for (let p = 0; p < topic.partitions; p++) this.h.partitions.removeSync([topic.id, p]);
      this.h.meta.putSync(PURGING_KEY, purging);
    });
    this.purgingTopicIds = purging;
    this.topicsByName.delete(name);
    for (const s of this.states.get(topic.id) ?? []) this.logBytes -= s.bytes;
    this.states.delete(topic.id);
    this.log.info({ topic: name }, 'topic deleted');
    this.topicsChanged();
  }

  // The change is committed and visible: a failing listener must not turn it into an error for the caller.
  private topicsChanged(): void {
    for (const listener of this.topicsListeners.all) {
      try {
        listener();
      } catch (err) {
        this.log.error({ err }, 'topics listener failed');
      }
    }
  }

  private requireTopic(name: string): StoredTopic {
    const topic = this.topicsByName.get(name);
    if (!topic) throw new TributaryError('UNKNOWN_TOPIC', `unknown topic ${name}`, { topic: name });
    return topic;
  }

  // ---- producer state ----

  /** An edge client's last stored PRODUCE seq, 0 when none [EDGE-7.5]. */
  lastProducerSeq(clientId: string): number {
    const row = this.edgeProducerRow(clientId);
    return row === undefined ? 0 : lastSeqOf(row);
  }

  /** Cached only for clients that have a stored row: a HELLO alone must not grow the cache. */
  private edgeProducerRow(clientId: string): ProducerStateValue | undefined {
    let row = this.edgeProducerRows.get(clientId);
    if (row === undefined) {
      row = this.h.producerState.get(edgeStateKey(clientId));
      if (row !== undefined) this.edgeProducerRows.set(clientId, row);
    }
    return row;
  }

  /**
   * A producer's committed row. Kafka producers' rows are not cached: their ids come from the
   * batches clients send, and a cache keyed by them would let a client grow the heap; LMDB serves
   * the read from its memory map.
   */
  private storedProducerRow(key: ProducerStateKey): ProducerStateValue | undefined {
    const clientId = edgeClientIdOf(key);
    return clientId === null ? this.h.producerState.get(key) : this.edgeProducerRow(clientId);
  }

  /**
   * A producer id never handed out before (Kafka's InitProducerId without a transactional id). Ids
   * are reserved on disk a block at a time, so a flood of requests costs one small transaction per
   * block; a new block is on disk before its first id is handed out, so no power cut hands one out twice.
   */
  async newProducerId(): Promise<number> {
    this.assertWritable();
    if (this.nextProducerId >= this.producerIdsReservedTo) {
      const from = (this.h.meta.get(PRODUCER_ID_RESERVED_KEY) as number | undefined) ?? 0;
      this.writeSync(() => this.h.meta.putSync(PRODUCER_ID_RESERVED_KEY, from + PRODUCER_ID_BLOCK));
      this.nextProducerId = from;
      this.producerIdsReservedTo = from + PRODUCER_ID_BLOCK;
      this.producerIdBlockOnDisk = this.flushed();
    }
    const id = this.nextProducerId++;
    await this.producerIdBlockOnDisk;
    return id;
  }

  // ---- append ----

  /**
   * Queues a batch (RecordBatch v2, any base offset) for the next group transaction. Resolves once the
   * transaction holding it committed, and, with `flush`, once that transaction commit is on disk.
   */
  append(topic: StoredTopic, partition: number, batch: Buffer, producer: ProducerRef | undefined, flush: boolean): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      const refusal = this.admissionError(topic, partition, batch.length);
      if (refusal) return reject(refusal);
      const recordCount = batchRecordCount(batch);
      if (recordCount instanceof TributaryError) return reject(recordCount);
      this.pending.push({ topic, partition, batch, recordCount, producer, flush, resolve, reject });
      this.pendingBytes += batch.length;
      // setImmediate runs after this loop turn's I/O callbacks: every append decoded from the sockets
      // readable now joins the same transaction.
      this.scheduleGroup();
    });
  }

  /**
   * Appends every batch and makes `side.write()` in ONE child transaction of the next group
   * transaction, all or nothing: when `side.check()` (evaluated inside the transaction, before the
   * batches) returns an error, or any batch is refused (admission, a topic deleted meanwhile, room),
   * nothing of the unit is kept, no partition state changes, and the promise rejects. Resolves with
   * one result per batch, in order, once committed (with `flush`, once on disk, as append). What
   * exactly-once read-process-write rests on: a consumer's output records and its input offset commit.
   */
  appendAtomic(items: { topic: StoredTopic; partition: number; batch: Buffer }[], flush: boolean, side: AtomicSideWrite): Promise<AppendResult[]> {
    return new Promise((resolve, reject) => {
      const planned: AppendItem[] = [];
      let bytes = 0;
      for (const { topic, partition, batch } of items) {
        const refusal = this.admissionError(topic, partition, bytes + batch.length);
        if (refusal) return reject(refusal);
        const recordCount = batchRecordCount(batch);
        if (recordCount instanceof TributaryError) return reject(recordCount);
        planned.push({ topic, partition, batch, recordCount, producer: undefined });
        bytes += batch.length;
      }
      this.pending.push({ items: planned, side, flush, resolve, reject });
      this.pendingBytes += bytes;
      this.scheduleGroup();
    });
  }

  private admissionError(topic: StoredTopic, partition: number, bytes: number): TributaryError | null {
    if (this.failure) return this.failure;
    if (this.closed || this.closing) return new TributaryError('SHUTTING_DOWN', 'storage is closed');
    if (partition < 0 || partition >= topic.partitions)
      return new TributaryError('INVALID_PARTITION', `topic ${topic.name} has no partition ${partition}`, { topic: topic.name, partition });
    if (this.pendingBytes + bytes > this.opts.txnQueueBytesMax)
      return new TributaryError('THROTTLED', `transaction queue holds ${this.pendingBytes} bytes (max ${this.opts.txnQueueBytesMax})`);
    const budget = this.opts.diskBudgetBytes;
    if (budget >= 0 && this.opts.diskBudgetPolicy === 'reject-new' && this.logBytes + this.pendingBytes + bytes > budget)
      return new TributaryError('STORAGE_FULL', `disk budget of ${budget} bytes reached (policy reject-new)`, { topic: topic.name, partition });
    if (budget >= 0 && bytes > budget)
      return new TributaryError('STORAGE_FULL', `a batch of ${bytes} bytes exceeds the disk budget of ${budget} bytes`, { topic: topic.name, partition });
    return null;
  }

  /** Its staged writes join every group transaction from now on; it calls scheduleGroup() when it needs one. */
  addTxnParticipant(p: TxnParticipant): () => void {
    return this.participants.add(p);
  }

  /** Has a group transaction run at the end of this loop turn even if nothing is pending yet (see addBeforeGroupListener). */
  scheduleGroup(): void {
    if (this.groupScheduled) return;
    this.groupScheduled = true;
    setImmediate(() => this.runGroup());
  }

  private runGroup(): void {
    // While groupScheduled is still true, appends made by the hook join this group without scheduling another.
    for (const listener of this.beforeGroupListeners.all) listener();
    this.groupScheduled = false;
    // One group in flight: what is queued meanwhile waits for the next, started when this one settles.
    if (this.groupInFlight || !this.hasQueuedWrites()) return;
    // Refused as a whole (failed or closed storage): answered at once, without a transaction.
    if (this.failure || this.closed) {
      this.takeGroup(false);
      return;
    }
    if (this.participants.all.some((p) => p.commitsOnLoop && p.hasStaged)) return this.runGroupOnLoop();
    let group: TakenGroup | null = null;
    // The body runs on this thread inside the write transaction lmdb-js's writer thread began; that
    // thread then commits (and fdatasyncs) while this loop goes on. Taking what is queued inside the
    // body, not before, keeps the writes in call order with the synchronous side transactions: one
    // made before the body ran commits before it, one made after waits for this commit (lmdb-js's
    // write lock). The nested transactionSync is a child transaction: a throw aborts all of the group.
    const committed = this.h.env.transaction(() => {
      group = this.takeGroup(true);
      const taken = group;
      if (taken !== null) this.h.env.transactionSync(() => this.writeGroup(taken));
    });
    // Settled in the same callback that answers its callers: by the time they go on, the next group may start.
    this.groupInFlight = committed
      .then(
        () => this.groupSettled(() => group !== null && this.applyGroup(group)),
        (err: unknown) => commitFailure(err).then((cause) => this.groupSettled(() => group !== null && this.failGroup(group, cause))),
      )
      .catch((err: unknown) => this.log.error({ err }, 'group transaction settlement failed'));
  }

  private hasQueuedWrites(): boolean {
    return this.pending.length > 0 || this.participants.all.some((p) => p.hasStaged);
  }

  private groupSettled(settle: () => void): void {
    this.groupInFlight = null;
    try {
      settle();
    } finally {
      // A maintenance step asked for while the group was in flight runs now, before the next group starts.
      const deferred = this.maintenanceDeferred;
      this.maintenanceDeferred = null;
      if (deferred !== null) {
        try {
          if (this.maintenanceStep(Date.now(), deferred) > 0) this.maintenanceDeferred = deferred;
        } catch (err) {
          this.log.error({ err }, 'retention step failed');
        }
      }
      if (this.hasQueuedWrites()) this.scheduleGroup();
    }
  }

  /** A group as every group ran before the writer thread: body and commit (its fdatasync too) on this thread. */
  private runGroupOnLoop(): void {
    const group = this.takeGroup(false);
    if (group === null) return;
    try {
      this.h.env.transactionSync(() => this.writeGroup(group));
    } catch (err) {
      this.failGroup(group, err);
      return;
    }
    this.applyGroup(group);
  }

  /**
   * Inside the group's write transaction, before anything is written: what the group holds, refusals
   * answered. `offLoop`: the writer thread commits it, so participants that commit on the loop wait.
   */
  private takeGroup(offLoop: boolean): TakenGroup | null {
    let appends = this.pending;
    let bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    const sides = this.participants.all.filter((p) => p.hasStaged && !(offLoop && p.commitsOnLoop)).map((p) => p.take());
    if (appends.length === 0 && sides.length === 0) return null;

    const refusal = this.failure ?? (this.closed ? new TributaryError('SHUTTING_DOWN', 'storage is closed') : this.roomError(bytes));
    let refused: Refused | null = null;
    if (refusal) {
      // Refused for the size of the appends, the participants' few bytes may still fit on their own.
      const sideRefusal = appends.length === 0 || refusal.codeName !== 'STORAGE_FULL' ? refusal : this.roomError(0);
      if (sideRefusal || sides.length === 0) {
        for (const a of appends) a.reject(refusal);
        for (const side of sides) side.settle(sideRefusal ?? refusal);
        return null;
      }
      // Answered with the participants, as when the group ran on this thread.
      refused = { appends, error: refusal };
      appends = [];
      bytes = 0;
    }
    return {
      refused,
      appends,
      bytes,
      sides,
      // A participant's write that throws (a key over LMDB's size limit, from what a client sent) is its
      // own failure, in a child transaction: it must not take the log's appends or the store with it.
      sideErrors: sides.map(() => null),
      results: new Array(appends.length),
      plan: new TxnAppends(
        this.h.log,
        (topicId, partition) => this.states.get(topicId)?.[partition],
        (key) => this.storedProducerRow(key),
        Date.now(),
      ),
      evictions: [],
    };
  }

  /** Inside the group's child transaction: everything the group writes. A throw aborts all of it. */
  private writeGroup(g: TakenGroup): void {
    const { plan, appends, results } = g;
    g.evictions = this.planBudgetEvictions(g.bytes);
    const evictions = g.evictions;
    for (const e of evictions) this.h.log.removeSync(e.key);
    for (let i = 0; i < appends.length; i++) {
      const p = appends[i];
      results[i] = 'items' in p ? this.placeUnit(plan, p) : plan.place(p);
    }
    for (const e of evictions) if (!plan.next.has(e.state)) plan.next.set(e.state, { nextOffset: e.state.nextOffset, bytes: e.state.bytes, appendedBytes: 0 });
    for (const [state, cur] of plan.next) {
      const logStart = logStartAfter(state, evictions);
      const bytes = cur.bytes - evictedBytes(state, evictions);
      this.h.partitions.putSync([state.topicId, state.partition], [logStart, cur.nextOffset, bytes]);
    }
    // The producers' state rides in the transaction of the batches it describes: both or neither.
    for (const row of plan.producers.values()) this.h.producerState.putSync(row.key, row.value);
    g.sides.forEach((side, i) => {
      try {
        this.h.env.transactionSync(() => side.write());
      } catch (err) {
        // Anything but refused input or room is the disk's fault: out of the group, fail-stop.
        const refusal = this.participantRefusal(err);
        if (refusal === null) throw err;
        g.sideErrors[i] = refusal;
      }
    });
  }

  /** Neither the group's body nor its commit went through: nothing of it is kept. */
  private failGroup(g: TakenGroup, err: unknown): void {
    const error = this.classifyWriteError(err, g.bytes);
    if (g.refused) for (const a of g.refused.appends) a.reject(g.refused.error);
    for (const a of g.appends) a.reject(error);
    for (const side of g.sides) side.settle(error);
  }

  /** After the commit: the in-memory state catches up with the disk, then the callers are answered. */
  private applyGroup(g: TakenGroup): void {
    const { plan, appends: group, results, evictions } = g;
    for (const [state, cur] of plan.next) {
      // A topic deleted while this group was in flight: its bytes already left logBytes.
      if (this.states.get(state.topicId)?.[state.partition] !== state) continue;
      state.bytes += cur.appendedBytes;
      this.logBytes += cur.appendedBytes;
      state.nextOffset = cur.nextOffset;
    }
    for (const row of plan.producers.values()) {
      const clientId = edgeClientIdOf(row.key);
      if (clientId !== null) this.edgeProducerRows.set(clientId, row.value);
    }
    // Last of the in-memory updates: log start listeners must see this transaction's appends too.
    this.applyEvictions(evictions.filter((e) => this.states.get(e.state.topicId)?.[e.state.partition] === e.state));
    this.counters.groupTxns++;
    g.sides.forEach((side, i) => side.settle(g.sideErrors[i]));
    if (g.refused) for (const a of g.refused.appends) a.reject(g.refused.error);

    const flushers: (() => void)[] = [];
    const flushRejects: ((e: unknown) => void)[] = [];
    for (let i = 0; i < group.length; i++) {
      const p = group[i];
      const r = results[i];
      if (r instanceof TributaryError) {
        p.reject(r);
        continue;
      }
      const placed = 'items' in p ? (r as AppendResult[]).map((x, j) => [x, p.items[j]] as const) : [[r as AppendResult, p] as const];
      for (const [x, a] of placed)
        if (!x.duplicate) {
          this.counters.appends++;
          this.counters.appendedRecords += a.recordCount;
        }
      const resolve = () => (p.resolve as (v: AppendResult | AppendResult[]) => void)(r);
      if (p.flush) {
        flushers.push(resolve);
        flushRejects.push(p.reject);
      } else resolve();
    }
    if (flushers.length > 0) this.resolveAfterFlush(flushers, flushRejects);
    for (const state of plan.next.keys()) {
      if (this.states.get(state.topicId)?.[state.partition] !== state) continue;
      for (const listener of this.appendListeners.all) listener(state.topicId, state.partition);
    }
  }

  /**
   * An atomic unit in a child transaction of the group: its check, its batches, its side write. A
   * refusal aborts the child transaction (nothing of the unit is written) and takes back what it
   * planned; a failure that is the disk's, not the unit's, is thrown on to fail the group.
   */
  private placeUnit(plan: TxnAppends, unit: PendingUnit): AppendResult[] | TributaryError {
    const sp = plan.savepoint();
    let refusal: TributaryError | null = null;
    const placed: AppendResult[] = [];
    try {
      this.h.env.transactionSync(() => {
        refusal = runUnitCheck(unit.side);
        for (let i = 0; refusal === null && i < unit.items.length; i++) {
          const r = plan.place(unit.items[i]);
          if (r instanceof TributaryError) refusal = r;
          else placed.push(r);
        }
        if (refusal === null) unit.side.write();
        // Throwing is how a child transaction is aborted.
        if (refusal !== null) throw refusal;
      });
    } catch (err) {
      plan.rollback(sp);
      if (err === refusal && refusal !== null) return refusal;
      const own = this.participantRefusal(err);
      if (own === null) throw err;
      return own;
    }
    return placed;
  }

  // acks=all: the transaction commit returned, so its pages are written and fdatasynced; the meta page that makes
  // the transaction commit durable is flushed by the next env.sync(). A failed sync is fail-stop: no ack, no
  // further writes.
  private resolveAfterFlush(resolves: (() => void)[], rejects: ((e: unknown) => void)[]): void {
    this.flushed().then(
      () => {
        if (this.failure) for (const reject of rejects) reject(this.failure);
        else for (const resolve of resolves) resolve();
      },
      () => {
        for (const reject of rejects) reject(this.failure);
      },
    );
  }

  /**
   * Resolves once every transaction commit made before the call is on disk. Calls share syncs: while one runs,
   * later callers wait for the next, which starts after it (it may have begun before their transaction commit).
   */
  flushed(): Promise<void> {
    if (!this.syncRunning) return this.startSync();
    this.nextSync ??= this.syncRunning.then(
      () => this.startSync(),
      () => this.startSync(),
    );
    return this.nextSync;
  }

  /**
   * Resolves once every record appended so far survives a power cut: at once when no transaction committed
   * since the last sync, else with the next shared sync. For readers that hand records on (the
   * mirror): an acks=1 transaction a power cut takes back gives its offsets to new records, which would
   * then carry the origin of records already shipped.
   */
  durable(): Promise<void> {
    return this.counters.groupTxns === this.durableGroupTxns ? Promise.resolve() : this.flushed();
  }

  private startSync(): Promise<void> {
    this.nextSync = null;
    const covers = this.counters.groupTxns;
    const run = new Promise<void>((resolve, reject) => {
      syncToDisk(this.h.env, (err) => {
        if (err) {
          this.failStop(err, 'flush to disk failed');
          reject(this.failure);
        } else {
          this.durableGroupTxns = Math.max(this.durableGroupTxns, covers);
          resolve();
        }
      });
    });
    this.syncRunning = run;
    const clear = () => {
      if (this.syncRunning === run) this.syncRunning = null;
    };
    run.then(clear, clear);
    return run;
  }

  private roomError(groupBytes: number): TributaryError | null {
    const mapMax = this.opts.maxMapSizeBytes ?? -1;
    // The file's size first (one stat), LMDB's own count only when that is near the ceiling: the file
    // never shrinks, and the pages retention freed in it take new writes without growing it.
    if (mapMax >= 0 && this.fileBytes() + 2 * groupBytes > mapMax) {
      const used = usedMapBytes(this.h.env, this.databases);
      if (used + 2 * groupBytes > mapMax)
        return new TributaryError('STORAGE_FULL', `LMDB map is full: ${used} bytes in use of maxMapSizeBytes ${mapMax} (data file ${this.fileBytes()} bytes)`);
    }
    const free = filesystemFreeBytes(this.opts.dataDir);
    // Page overhead and the B-tree copy-on-write can double what a batch costs on disk.
    if (free - 2 * groupBytes < this.opts.minFreeDiskBytes)
      return new TributaryError('STORAGE_FULL', `data dir filesystem has ${free} bytes free (minFreeDiskBytes ${this.opts.minFreeDiskBytes})`, { freeBytes: free });
    return null;
  }

  private classifyWriteError(err: unknown, groupBytes: number): TributaryError {
    const message = err instanceof Error ? err.message : String(err);
    if (failedForRoom(err, this.opts.dataDir, groupBytes)) {
      const free = filesystemFreeBytes(this.opts.dataDir);
      this.log.warn({ code: (err as { code?: unknown }).code, freeBytes: free, groupBytes }, 'write refused: no room on the data dir');
      return new TributaryError('STORAGE_FULL', `no room to write ${groupBytes} bytes: ${message}`, { freeBytes: free }, { cause: err });
    }
    this.failStop(err, 'storage transaction failed');
    return this.failure!;
  }

  /**
   * A participant's write that threw inside the group: refused input (a key or value over LMDB's
   * limits, an INVALID_REQUEST of its own) or no room, to be refused alone; null for anything else,
   * which is the disk's fault and fail-stop.
   */
  private participantRefusal(err: unknown): TributaryError | null {
    if (isTributaryError(err, 'INVALID_REQUEST')) return err;
    const message = err instanceof Error ? err.message : String(err);
    const code = (err as { code?: unknown }).code;
    if (code === MDB_BAD_VALSIZE || /maximum key size/i.test(message)) return new TributaryError('INVALID_REQUEST', `write refused by storage: ${message}`, undefined, { cause: err });
    if (failedForRoom(err, this.opts.dataDir, 0)) return new TributaryError('STORAGE_FULL', `no room for the write: ${message}`, undefined, { cause: err });
    return null;
  }

  private failStop(err: unknown, what: string): void {
    if (this.failure) return;
    const message = err instanceof Error ? err.message : String(err);
    this.failure = new TributaryError('STORAGE_FAILED', `${what}: ${message}; writes stopped (restart after fixing the disk)`, undefined, { cause: err });
    this.log.fatal({ err }, `${what}; storage is now read-only`);
    for (const listener of this.failureListeners.all) listener(this.failure);
  }

  /** Called once, at the fail-stop (the mirror thread stops writing its cursors then). */
  addFailureListener(listener: (failure: TributaryError) => void): () => void {
    return this.failureListeners.add(listener);
  }

  /**
   * A write of another thread on this environment (the mirror thread's cursors) failed for a reason
   * that is the disk's: fail-stop, as sideTxn would for the same failure on this thread.
   */
  reportFailure(err: unknown, what: string): void {
    this.failStop(err, what);
  }

  /**
   * Commits a write of a component that keeps its state in this environment (MQTT sessions, mirror
   * cursors) under the log's rules: refused once storage failed or closed, STORAGE_FULL while the room
   * checks fail (minFreeDiskBytes, maxMapSizeBytes; `checkRoom: false` skips them for a few bytes an
   * operator needs written, such as a mirror's resume), and a transaction that fails for another
   * reason is fail-stop for every writer and for /healthz. `write` throwing (a key over LMDB's size
   * limit, say) only refuses it. Throws a TributaryError; nothing of `write` is kept then.
   */
  sideTxn(write: () => void, opts: { checkRoom?: boolean } = {}): void {
    this.assertWritable();
    const refusal = opts.checkRoom === false ? null : this.roomError(0);
    if (refusal) throw refusal;
    let refused: TributaryError | null = null;
    // In a child transaction, as in runGroup: a write that throws is refused alone, not fail-stop.
    this.writeSync(() => {
      try {
        this.h.env.transactionSync(write);
      } catch (err) {
        refused = this.participantRefusal(err);
        if (refused === null) throw err;
      }
    });
    if (refused) throw refused;
  }

  private assertWritable(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new TributaryError('SHUTTING_DOWN', 'storage is closed');
  }

  private writeSync(fn: () => void): void {
    try {
      this.h.env.transactionSync(fn);
    } catch (err) {
      throw this.classifyWriteError(err, 0);
    }
  }

  // ---- read ----

  /**
   * Whole batches starting at the one holding `offset`, up to maxBytes (at least one batch).
   * A batch failing its CRC is never returned: it is an error when first, the end of the result otherwise.
   */
  read(topic: StoredTopic, partition: number, offset: number, maxBytes: number): ReadResult {
    const state = this.states.get(topic.id)?.[partition];
    if (!state) throw new TributaryError('INVALID_PARTITION', `topic ${topic.name} has no partition ${partition}`, { topic: topic.name, partition });
    return readBatches(this.h, topic, state, offset, maxBytes, this.log);
  }

  // ---- retention and maintenance ----

  /**
   * One bounded step of background work: purge deleted topics, then delete batches past retention
   * (age, bytes per partition) and over the disk budget (drop-oldest). Returns the batches deleted;
   * callers schedule another step at once while it returns > 0.
   */
  maintenanceStep(nowMs: number, batchesMax: number): number {
    if (this.failure || this.closed) return 0;
    // Its plan reads the partitions' in-memory state, which a group in flight is about to move: the
    // step runs when that group settled instead (and again after each group while it deletes).
    if (this.groupInFlight) {
      this.maintenanceDeferred = batchesMax;
      return 0;
    }
    const purged = this.purgeStep(batchesMax);
    if (purged > 0) return purged;
    const expired = this.expireProducers(nowMs, batchesMax);
    if (expired > 0) return expired;
    const evictions: Eviction[] = [];
    for (const topic of this.topicsByName.values()) {
      for (const state of this.states.get(topic.id) ?? []) {
        if (batchesMax > evictions.length && state.logStartOffset < state.nextOffset)
          planRetention(this.h.log, topic, state, this.retentionFloorOf(state), nowMs, batchesMax - evictions.length, evictions);
        if (evictions.length >= batchesMax) break;
      }
    }
    if (evictions.length === 0 && this.opts.diskBudgetBytes >= 0 && this.logBytes > this.opts.diskBudgetBytes)
      evictions.push(...this.planBudgetEvictions(0, batchesMax));
    if (evictions.length === 0) return 0;
    this.writeSync(() => {
      for (const e of evictions) this.h.log.removeSync(e.key);
      for (const state of new Set(evictions.map((e) => e.state)))
        this.h.partitions.putSync([state.topicId, state.partition], [logStartAfter(state, evictions), state.nextOffset, state.bytes - evictedBytes(state, evictions)]);
    });
    this.applyEvictions(evictions);
    return evictions.length;
  }

  /** Oldest batches across all partitions until `incomingBytes` fits the budget (drop-oldest only). */
  private planBudgetEvictions(incomingBytes: number, batchesMax = Number.MAX_SAFE_INTEGER): Eviction[] {
    const budget = this.opts.diskBudgetBytes;
    if (budget < 0 || this.opts.diskBudgetPolicy !== 'drop-oldest') return [];
    return planOldestEvictions(this.h.log, this.states.values(), this.logBytes + incomingBytes - budget, batchesMax);
  }

  // A floor that cannot be read keeps the whole partition: records deleted too early cannot be shipped.
  private retentionFloorOf(state: PartitionState): number {
    let lowest = Infinity;
    for (const floor of this.retentionFloors.all) {
      try {
        lowest = Math.min(lowest, floor(state.topicId, state.partition) ?? Infinity);
      } catch (err) {
        this.log.error({ err, topicId: state.topicId, partition: state.partition }, 'retention floor failed; partition kept whole this step');
        return -Infinity;
      }
    }
    return lowest;
  }

  private applyEvictions(evictions: Eviction[]): void {
    if (evictions.length === 0) return;
    const previousStarts = new Map<PartitionState, number>();
    for (const e of evictions) {
      if (!previousStarts.has(e.state)) previousStarts.set(e.state, e.state.logStartOffset);
      e.state.logStartOffset = Math.max(e.state.logStartOffset, e.key[2] + 1);
      e.state.bytes -= e.bytes;
      this.logBytes -= e.bytes;
      this.counters.evictedBatches++;
      this.counters.evictedRecords += e.records;
    }
    this.log.debug({ batches: evictions.length }, 'retention deleted batches');
    for (const [state, previousStart] of previousStarts) {
      for (const listener of this.logStartListeners.all) {
        // The deletions are committed; a failing listener must not fail the appends or the step that made them.
        try {
          listener(state.topicId, state.partition, previousStart, state.logStartOffset);
        } catch (err) {
          this.log.error({ err, topicId: state.topicId, partition: state.partition }, 'log start listener failed');
        }
      }
    }
  }

  private expireProducers(nowMs: number, max: number): number {
    // A scan reads every producer row (one per Kafka producer and partition): not on every step of a
    // retention run, only when the last full scan is an hour old. Rows live 7 days, so an hour late is nothing.
    if (nowMs < this.producerExpiryDueMs) return 0;
    const stale: ProducerStateKey[] = [];
    for (const { key, value } of this.h.producerState.getRange()) {
      if (value[1] < nowMs - PRODUCER_STATE_RETENTION_MS) stale.push(key);
      if (stale.length >= max) break;
    }
    if (stale.length < max) this.producerExpiryDueMs = nowMs + PRODUCER_EXPIRY_CHECK_MS;
    if (stale.length === 0) return 0;
    this.writeSync(() => {
      for (const key of stale) this.h.producerState.removeSync(key);
    });
    for (const key of stale) {
      const clientId = edgeClientIdOf(key);
      if (clientId !== null) this.edgeProducerRows.delete(clientId);
    }
    this.log.info({ producers: stale.length }, 'forgot idle idempotent producers');
    return stale.length;
  }

  private purgeStep(batchesMax: number): number {
    if (this.purgingTopicIds.length === 0) return 0;
    const topicId = this.purgingTopicIds[0];
    const keys = [...this.h.log.getKeys({ start: [topicId, 0, 0], end: [topicId + 1, 0, 0], limit: batchesMax })];
    // Committed offsets and mirror cursors of the topic go with its batches (a new topic of the same name has a new id).
    const offsetKeys = topicOffsetKeys(this.h.offsets, topicId, batchesMax - keys.length);
    const done = keys.length + offsetKeys.length < batchesMax;
    const remaining = done ? this.purgingTopicIds.slice(1) : this.purgingTopicIds;
    this.writeSync(() => {
      for (const k of keys) this.h.log.removeSync(k);
      for (const k of offsetKeys) this.h.offsets.removeSync(k);
      if (done) this.h.meta.putSync(PURGING_KEY, remaining);
    });
    this.purgingTopicIds = remaining;
    return Math.max(keys.length + offsetKeys.length, done ? 1 : 0);
  }

  // ---- stats and lifecycle ----

  stats(): StorageStats {
    let partitions = 0;
    for (const s of this.states.values()) partitions += s.length;
    return { topics: this.topicsByName.size, partitions, logBytes: this.logBytes, fileBytes: this.fileBytes(), mapUsedBytes: this.closed ? 0 : usedMapBytes(this.h.env, this.databases), ...this.counters, failed: this.failure !== null };
  }

  private fileBytes(): number {
    try {
      return fs.statSync(path.join(this.opts.dataDir, 'tributary.lmdb')).size;
    } catch {
      return 0;
    }
  }

  get failed(): TributaryError | null {
    return this.failure;
  }

  /** The environment and its databases, for the MQTT persistence that shares them (mqtt-persistence.ts). */
  get lmdb(): LmdbHandles {
    return this.h;
  }

  /** Refuses new appends, commits what is queued (after the group in flight), waits for the flush, closes LMDB once. */
  async close(): Promise<void> {
    if (this.closed || this.closing) return;
    this.closing = true;
    while (this.groupInFlight) await this.groupInFlight;
    if (this.hasQueuedWrites()) {
      this.runGroup();
      await this.groupInFlight;
    }
    this.closed = true;
    try {
      if (!this.failure) await this.flushed();
    } finally {
      await this.h.env.close();
    }
  }
}

/**
 * The cause of a failed asynchronous transaction: lmdb-js rejects a failed commit with "Commit failed"
 * and the LMDB error in `commitError`, a promise of its own that must be handled here or it becomes an
 * unhandled rejection; an error thrown by the transaction's body comes as it is.
 */
function commitFailure(err: unknown): Promise<unknown> {
  const inner = (err as { commitError?: Promise<unknown> } | null)?.commitError;
  return inner instanceof Promise ? inner.then(() => err, (cause: unknown) => cause) : Promise.resolve(err);
}

/** LMDB's "key or data too large" (lmdb.h). */
const MDB_BAD_VALSIZE = -30781;

/** Offsets are assigned by recordCount and the batch is keyed by its last offset: both must agree. */
function batchRecordCount(batch: Buffer): number | TributaryError {
  const info = readBatchInfo(batch);
  if (info === null || info.totalBytes !== batch.length || info.lastOffsetDelta + 1 !== info.recordCount)
    return new TributaryError('INVALID_REQUEST', 'append needs exactly one RecordBatch v2 with consecutive offset deltas');
  return info.recordCount;
}

// A check that throws is its caller's bug: it refuses the unit, never the group (which would be taken
// for a disk failure and stop every write).
function runUnitCheck(side: AtomicSideWrite): TributaryError | null {
  try {
    return side.check();
  } catch (err) {
    return asTributaryError(err);
  }
}

function freshStates(topicId: number, from: number, to: number): PartitionState[] {
  const out: PartitionState[] = [];
  for (let p = from; p < to; p++) out.push({ topicId, partition: p, logStartOffset: 0, nextOffset: 0, bytes: 0 });
  return out;
}
