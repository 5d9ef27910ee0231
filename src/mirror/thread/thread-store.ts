// The mirror thread's writes to the shared LMDB environment (its cursors and paused flags, through
// mirror-cursors.ts), under the log store's rules for such side writes (LogStore.sideTxn): refused
// after a fail-stop or once closed, STORAGE_FULL while the room checks fail (minFreeDiskBytes,
// maxMapSizeBytes), and a transaction that fails for another reason is the disk's: the thread stops
// writing at once and reports it, and the main thread fail-stops the whole store (LogStore.reportFailure).
// lmdb-js serialises the write transactions of both threads on the one environment.

import fs from 'node:fs';
import path from 'node:path';
import { isTributaryError, TributaryError } from '../../errors.ts';
import { databasesOf, failedForRoom, filesystemFreeBytes, usedMapBytes, type LmdbHandles } from '../../storage/lmdb-env.ts';
import type { CursorStore } from '../../storage/mirror-cursors.ts';

export interface ThreadStoreOptions {
  dataDir: string;
  minFreeDiskBytes: number;
  /** -1: no maximum. */
  maxMapSizeBytes: number;
  /** Told once, when a write or flush of this thread failed for a reason that is the disk's. */
  onFailStop: (message: string, what: string) => void;
}

export class ThreadStore implements CursorStore {
  readonly lmdb: LmdbHandles;
  private readonly opts: ThreadStoreOptions;
  private failure: TributaryError | null = null;
  private closed = false;

  constructor(h: LmdbHandles, opts: ThreadStoreOptions) {
    this.lmdb = h;
    this.opts = opts;
  }

  get failed(): TributaryError | null {
    return this.failure;
  }

  /** The main thread's store failed: nothing is written from here again. */
  failedElsewhere(message: string): void {
    this.failure ??= new TributaryError('STORAGE_FAILED', message);
  }

  /** A write or flush of this thread failed for the disk's reason. */
  failStop(err: unknown, what: string): TributaryError {
    if (this.failure === null) {
      const message = err instanceof Error ? err.message : String(err);
      this.failure = new TributaryError('STORAGE_FAILED', `${what}: ${message}; writes stopped (restart after fixing the disk)`, undefined, { cause: err });
      this.opts.onFailStop(message, what);
    }
    return this.failure;
  }

  close(): void {
    this.closed = true;
  }

  sideTxn(write: () => void, opts: { checkRoom?: boolean } = {}): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new TributaryError('SHUTTING_DOWN', 'the mirror thread is stopping');
    const refusal = opts.checkRoom === false ? null : this.roomError();
    if (refusal) throw refusal;
    try {
      this.lmdb.env.transactionSync(write);
    } catch (err) {
      if (isTributaryError(err, 'INVALID_REQUEST')) throw err;
      if (failedForRoom(err, this.opts.dataDir, 0)) throw new TributaryError('STORAGE_FULL', `no room for the mirror's write: ${err instanceof Error ? err.message : String(err)}`, undefined, { cause: err });
      throw this.failStop(err, 'mirror cursor transaction failed');
    }
  }

  private roomError(): TributaryError | null {
    const mapMax = this.opts.maxMapSizeBytes;
    // As the log store's check: the file never shrinks, what LMDB's trees use decides (lmdb-env.ts).
    if (mapMax >= 0 && fileBytes(this.opts.dataDir) > mapMax && usedMapBytes(this.lmdb.env, databasesOf(this.lmdb)) > mapMax)
      return new TributaryError('STORAGE_FULL', `LMDB map is full: more than maxMapSizeBytes ${mapMax} in use`);
    const free = filesystemFreeBytes(this.opts.dataDir);
    if (free < this.opts.minFreeDiskBytes) return new TributaryError('STORAGE_FULL', `data dir filesystem has ${free} bytes free (minFreeDiskBytes ${this.opts.minFreeDiskBytes})`, { freeBytes: free });
    return null;
  }
}

function fileBytes(dataDir: string): number {
  try {
    return fs.statSync(path.join(dataDir, 'tributary.lmdb')).size;
  } catch {
    return 0;
  }
}
