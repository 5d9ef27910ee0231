// A mirror's position: per topic-partition, the next offset to ship upstream. Acks arrive one per
// record, so cursors are set in memory and persisted together in one synchronous transaction at most
// every FLUSH_INTERVAL_MS (and on close). A crash loses at most that interval of cursor progress,
// which only means re-shipping those records: the mirror is at-least-once anyway.

import type { Logger } from 'pino';
import type { LmdbHandles } from './lmdb-env.ts';

export const CURSOR_FLUSH_INTERVAL_MS = 100;

export class MirrorCursors {
  private readonly h: LmdbHandles;
  private readonly mirror: string;
  private readonly log: Logger;
  /** "topicId/partition" → [topicId, partition, offset] not yet persisted. */
  private readonly dirty = new Map<string, [number, number, number]>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private persisting = true;
  private readonly storageFailed: () => boolean;
  /** Persisting transactions so far (for tests: proves batching). */
  commits = 0;

  /** `storageFailed`: true once the log store stopped writing for good (fail-stop); retrying is then pointless. */
  constructor(handles: LmdbHandles, mirrorName: string, logger: Logger, storageFailed: () => boolean = () => false) {
    this.h = handles;
    this.mirror = mirrorName;
    this.log = logger;
    this.storageFailed = storageFailed;
  }

  /** The next offset to ship, or undefined when this mirror never shipped from the partition. */
  get(topicId: number, partition: number): number | undefined {
    const pending = this.dirty.get(`${topicId}/${partition}`);
    if (pending !== undefined) return pending[2];
    return this.h.mirrorCursors.get([this.mirror, topicId, partition]);
  }

  /** Moves the cursor forward; a lower offset (a late ack below a retention skip) is ignored. */
  set(topicId: number, partition: number, offset: number): void {
    if (this.closed) return;
    const current = this.get(topicId, partition);
    if (current !== undefined && offset <= current) return;
    this.dirty.set(`${topicId}/${partition}`, [topicId, partition, offset]);
    if (this.timer === null && this.persisting) {
      this.timer = setTimeout(() => this.flush(), CURSOR_FLUSH_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /** Persists every pending cursor in one transaction. A failure keeps them pending for the next try. */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.dirty.size === 0 || !this.persisting) return;
    const entries = [...this.dirty.values()];
    try {
      this.h.env.transactionSync(() => {
        for (const [topicId, partition, offset] of entries) this.h.mirrorCursors.putSync([this.mirror, topicId, partition], offset);
      });
      this.commits++;
      for (const [topicId, partition, offset] of entries) {
        const key = `${topicId}/${partition}`;
        if (this.dirty.get(key)?.[2] === offset) this.dirty.delete(key);
      }
    } catch (err) {
      // Storage full: the records stay in the log, so shipping can go on; retry later. After a
      // fail-stop nothing will be written again: stop trying (a restart re-ships from the last cursors).
      if (this.storageFailed()) {
        this.log.error({ err, cursors: entries.length }, 'storage failed; mirror cursors are kept in memory only');
        this.persisting = false;
        return;
      }
      this.log.error({ err, cursors: entries.length }, 'persisting mirror cursors failed; retrying');
      if (!this.closed) {
        this.timer = setTimeout(() => this.flush(), CURSOR_FLUSH_INTERVAL_MS * 10);
        this.timer.unref();
      }
    }
  }

  /** Whether an operator paused this mirror (kept across restarts, like a paused Kafka connector). */
  get paused(): boolean {
    return this.h.meta.get(this.pausedKey) === true;
  }

  /** Written at once: a pause must survive a crash right after the command returned. */
  setPaused(paused: boolean): void {
    this.h.env.transactionSync(() => {
      if (paused) this.h.meta.putSync(this.pausedKey, true);
      else this.h.meta.removeSync(this.pausedKey);
    });
  }

  private get pausedKey(): string {
    return `mirror.paused:${this.mirror}`;
  }

  /** Persists what is pending; later sets are ignored (the LMDB environment is about to close). */
  close(): void {
    this.flush();
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
