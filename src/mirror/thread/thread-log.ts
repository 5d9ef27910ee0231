// The log as the mirror thread sees it: it reads topics, partition states and batches straight from
// the shared LMDB environment (log-reader.ts; LMDB readers never block the writer), parks long-poll
// fetches until the main thread says a commit appended to the partition (appended()), and makes
// records durable with its own env.sync calls, shared like LogStore.flushed().

import type { Logger } from 'pino';
import { FetchWaiters } from '../../broker/fetch-waiters.ts';
import { TributaryError } from '../../errors.ts';
import { readBatchInfo } from '../../format/record-batch.ts';
import { limits } from '../../limits.ts';
import { freshReads, syncToDisk, type LmdbHandles, type StoredTopic } from '../../storage/lmdb-env.ts';
import { LogReader, type ReadResult } from '../../storage/log-reader.ts';
import { MirrorCursors } from '../../storage/mirror-cursors.ts';
import type { PartitionState } from '../../storage/txn-appends.ts';
import type { MirrorHost } from '../host.ts';
import type { ThreadStore } from './thread-store.ts';

export class ThreadLog implements MirrorHost {
  private readonly h: LmdbHandles;
  private readonly store: ThreadStore;
  private readonly reader: LogReader;
  private readonly waiters = new FetchWaiters();
  /** "topicId/partition" → the offset below which every record is known to be on disk. */
  private readonly durableBelow = new Map<string, number>();
  private syncRunning: Promise<void> | null = null;
  private nextSync: Promise<void> | null = null;
  private closed = false;

  constructor(h: LmdbHandles, store: ThreadStore, logger: Logger) {
    this.h = h;
    this.store = store;
    this.reader = new LogReader(h, logger.child({ module: 'mirror-thread' }));
  }

  /** Reads from now on see every commit made before this call (the main thread's included). */
  fresh(): void {
    freshReads(this.h.env);
  }

  /** A commit on the main thread made records visible in the partition: wake its parked fetches. */
  appended(topicId: number, partition: number): void {
    this.waiters.wake(topicId, partition);
  }

  /** Ends every parked fetch: the fetches re-read (topics changed) or fail (closing, fail-stop). */
  wakeAll(): void {
    this.waiters.wakeAll();
  }

  close(): void {
    this.closed = true;
    this.waiters.wakeAll();
  }

  storedTopics(): StoredTopic[] {
    return this.reader.topics();
  }

  findTopic(name: string): StoredTopic | undefined {
    return this.reader.topic(name);
  }

  topicById(topicId: number): StoredTopic | undefined {
    return this.reader.topics().find((t) => t.id === topicId);
  }

  partitionState(topicId: number, partition: number): PartitionState | undefined {
    return this.reader.partitionState(topicId, partition);
  }

  partitionStates(topicId: number): PartitionState[] {
    return this.reader.partitionStates(topicId);
  }

  peek(topic: StoredTopic, partition: number, offset: number, maxBytes: number): ReadResult {
    return this.reader.read(topic, partition, offset, maxBytes);
  }

  async fetch(name: string, partition: number, offset: number, maxBytes: number, maxWaitMs: number, signal?: AbortSignal): Promise<ReadResult> {
    this.assertOpen();
    const bytesMax = Math.max(1, Math.min(maxBytes, limits.fetchBytesMax));
    this.fresh();
    const topic = this.requireTopic(name);
    let result = this.reader.read(topic, partition, offset, bytesMax);
    const waitMs = Math.min(maxWaitMs, limits.fetchWaitMsMax);
    if (result.batches.length === 0 && waitMs > 0) {
      await this.waiters.wait(topic.id, partition, waitMs, signal);
      this.assertOpen();
      this.fresh();
      result = this.reader.read(this.requireTopic(name), partition, offset, bytesMax);
    }
    return result;
  }

  /**
   * The records read were committed, and so was everything below the log end seen by that read: a
   * sync started now covers all of it. A backlog read in many chunks, while ingest appends behind
   * it, costs one sync, not one per chunk.
   */
  async durable(topicId: number, partition: number, read: ReadResult): Promise<void> {
    const last = read.batches.at(-1);
    const info = last === undefined ? null : readBatchInfo(last);
    if (info === null) return;
    const key = `${topicId}/${partition}`;
    if ((this.durableBelow.get(key) ?? -1) > info.baseOffset + info.lastOffsetDelta) return;
    await this.flushed();
    if ((this.durableBelow.get(key) ?? -1) < read.nextOffset) this.durableBelow.set(key, read.nextOffset);
  }

  mirrorCursors(mirror: string, logger: Logger): MirrorCursors {
    return new MirrorCursors(this.store, mirror, logger);
  }

  /** As LogStore.flushed: calls share syncs; while one runs, later callers wait for the next. */
  private flushed(): Promise<void> {
    if (!this.syncRunning) return this.startSync();
    this.nextSync ??= this.syncRunning.then(
      () => this.startSync(),
      () => this.startSync(),
    );
    return this.nextSync;
  }

  private startSync(): Promise<void> {
    this.nextSync = null;
    const run = new Promise<void>((resolve, reject) => {
      if (this.store.failed) return reject(this.store.failed);
      syncToDisk(this.h.env, (err) => (err ? reject(this.store.failStop(err, 'flush to disk failed')) : resolve()));
    });
    this.syncRunning = run;
    const clear = () => {
      if (this.syncRunning === run) this.syncRunning = null;
    };
    run.then(clear, clear);
    return run;
  }

  private requireTopic(name: string): StoredTopic {
    const topic = this.reader.topic(name);
    if (!topic) throw new TributaryError('UNKNOWN_TOPIC', `unknown topic ${name}`, { topic: name });
    return topic;
  }

  private assertOpen(): void {
    if (this.store.failed) throw this.store.failed;
    if (this.closed) throw new TributaryError('SHUTTING_DOWN', 'the mirror thread is stopping');
  }
}
