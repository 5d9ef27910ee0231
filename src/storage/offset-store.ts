// A named reader's committed position per topic-partition: consumer groups' offsets (reader `g:<group>`)
// and mirrors' cursors (`m:<mirror>`, through mirror-cursors.ts), in the `offsets` database
// (offsets-db.ts), plus the groups' `groupMeta` records for the expiry of an empty group's offsets.
//
// Offset commits are staged and ride in the log's next group transaction (a TxnParticipant): the
// commits and appends of one loop turn share one transaction and one fdatasync. Each staged call has a
// `check` the caller's rules run INSIDE that transaction, just before its write (generation fencing:
// nothing can change between the check and the write), and succeeds or fails alone. The same write can
// instead join a unit of LogStore.appendAtomic (offsetWrite), which stores it with records, all or
// nothing. Reads go to LMDB and see committed state only; this module keeps no cache. It never
// decides whether a commit is allowed (the coordinator's check does) and knows no protocol.

import { Buffer } from 'node:buffer';
import type { Database, Key } from 'lmdb';
import type { Logger } from 'pino';
import { asTributaryError, TributaryError } from '../errors.ts';
import { limits } from '../limits.ts';
import type { AtomicSideWrite, SideWriteStore, TakenWrites, TxnParticipant } from './log-store.ts';
import { groupReader, readerRange, type GroupMeta, type OffsetsDb } from './offsets-db.ts';

export interface StoredOffset {
  topicId: number;
  partition: number;
  /** -1: none (a mirror that reserved a publish before shipping anything). */
  offset: number;
  metadata: string;
  commitMs: number;
  /** A mirror's highest published offset; -1 for groups. */
  high: number;
}

export interface OffsetEntry {
  topicId: number;
  partition: number;
  offset: number;
  metadata: string;
}

/** An offset write for LogStore.appendAtomic: `check` inside the unit's transaction, then `write`. */
export type SideWrite = AtomicSideWrite;

interface StagedCall {
  check: () => TributaryError | null;
  write: () => void;
  resolve: () => void;
  reject: (err: TributaryError) => void;
}

/** What a staged entry counts toward limits.offsetCommitQueueBytesMax beyond its reader and metadata. */
const ENTRY_OVERHEAD_BYTES = 32;

export class OffsetStore implements TxnParticipant {
  private readonly store: SideWriteStore;
  private readonly db: OffsetsDb;
  private readonly meta: Database<GroupMeta, string>;
  private readonly log: Logger;
  private staged: StagedCall[] = [];
  private stagedBytes = 0;
  /** Joins the group transactions at the first staged write (a mirror's store never stages). */
  private unsubscribe: (() => void) | null = null;

  constructor(store: SideWriteStore, logger: Logger) {
    this.store = store;
    this.db = store.lmdb.offsets;
    this.meta = store.lmdb.groupMeta;
    this.log = logger.child({ module: 'offsets' });
  }

  // ---- reads (committed state) ----

  get(reader: string, topicId: number, partition: number): StoredOffset | undefined {
    const v = this.db.get([reader, topicId, partition]);
    return v === undefined ? undefined : { topicId, partition, offset: v[0], metadata: v[1], commitMs: v[2], high: v[3] };
  }

  /** The reader's offsets in topicId, partition order. May name topics deleted since, until their purge step ran. */
  list(reader: string): StoredOffset[] {
    const out: StoredOffset[] = [];
    for (const { key, value: v } of this.db.getRange(readerRange(reader)))
      out.push({ topicId: key[1], partition: key[2], offset: v[0], metadata: v[1], commitMs: v[2], high: v[3] });
    return out;
  }

  /** Distinct reader names starting with `prefix`, sorted; one seek per reader, so bounded by what is stored. */
  readers(prefix: string): string[] {
    const out: string[] = [];
    let start: Key = [prefix];
    for (;;) {
      const first: IteratorResult<[string, number, number]> = this.db.getKeys({ start, limit: 1 })[Symbol.iterator]().next();
      if (first.done || !first.value[0].startsWith(prefix)) return out;
      const reader: string = first.value[0];
      out.push(reader);
      start = readerRange(reader).end;
    }
  }

  /** Since when `group` has had no members, as last set; undefined when no record is stored. */
  emptySince(group: string): number | undefined {
    return this.meta.get(group)?.emptySinceMs;
  }

  // ---- staged writes (the next group transaction) ----

  /**
   * Staged: written in the next LogStore group transaction. `check` runs inside the transaction, just
   * before the write: if it returns an error (or throws) nothing of this call is written and the
   * promise rejects with it. Resolves when the transaction committed (not necessarily flushed: as an
   * acks=1 append). Rejects with INVALID_REQUEST (metadata or reader name too long, bad numbers) or
   * THROTTLED (limits.offsetCommitQueueBytesMax staged) at once, STORAGE_FULL / STORAGE_FAILED /
   * SHUTTING_DOWN from the transaction.
   */
  commit(reader: string, entries: readonly OffsetEntry[], check: () => TributaryError | null): Promise<void> {
    try {
      const write = this.offsetWrite(reader, entries, check);
      return this.stage(entryBytes(reader, entries), write.check, write.write);
    } catch (err) {
      return Promise.reject(asTributaryError(err));
    }
  }

  /** Every offset of `reader`; for a `g:<group>` reader also the group's groupMeta record. Staged as commit. */
  deleteReader(reader: string): Promise<void> {
    const invalid = readerError(reader);
    if (invalid) return Promise.reject(invalid);
    const group = reader.startsWith('g:') ? reader.slice(2) : null;
    return this.stage(Buffer.byteLength(reader) + ENTRY_OVERHEAD_BYTES, null, () => this.removeReaderNow(reader, group, Infinity));
  }

  /** Records since when `group` is empty (null: it has members; the record is removed). Staged as commit. */
  setEmptySince(group: string, ms: number | null): Promise<void> {
    const invalid = readerError(groupReader(group));
    if (invalid) return Promise.reject(invalid);
    if (ms !== null && !Number.isSafeInteger(ms)) return Promise.reject(new TributaryError('INVALID_REQUEST', `emptySinceMs ${ms} is not a whole number of ms`));
    return this.stage(Buffer.byteLength(group) + ENTRY_OVERHEAD_BYTES, null, () => {
      if (ms === null) this.meta.removeSync(group);
      else this.meta.putSync(group, { emptySinceMs: ms });
    });
  }

  /**
   * The same offset write as commit(), for a unit of LogStore.appendAtomic instead of the next group
   * transaction: `check` then `write` inside the unit's transaction. Throws INVALID_REQUEST at once for
   * what commit() would refuse.
   */
  offsetWrite(reader: string, entries: readonly OffsetEntry[], check: () => TributaryError | null): SideWrite {
    const invalid = readerError(reader) ?? entriesError(entries);
    if (invalid) throw invalid;
    if (entryBytes(reader, entries) > limits.offsetCommitQueueBytesMax)
      throw new TributaryError('INVALID_REQUEST', `an offset commit of ${entries.length} entries is larger than ${limits.offsetCommitQueueBytesMax} bytes`);
    // Copied: the caller may reuse its array before the transaction runs.
    const rows = entries.map((e) => ({ ...e }));
    return {
      check: () => this.runCheck(check, reader),
      write: () => {
        const now = Date.now();
        for (const e of rows) this.db.putSync([reader, e.topicId, e.partition], [e.offset, e.metadata, now, -1]);
      },
    };
  }

  private stage(bytes: number, check: (() => TributaryError | null) | null, write: () => void): Promise<void> {
    if (this.store.failed) return Promise.reject(this.store.failed);
    if (this.stagedBytes + bytes > limits.offsetCommitQueueBytesMax)
      return Promise.reject(new TributaryError('THROTTLED', `offset commits staged hold ${this.stagedBytes} bytes (max ${limits.offsetCommitQueueBytesMax})`));
    this.unsubscribe ??= this.store.addTxnParticipant(this);
    return new Promise<void>((resolve, reject) => {
      this.staged.push({ check: check ?? (() => null), write, resolve, reject });
      this.stagedBytes += bytes;
      this.store.scheduleGroup();
    });
  }

  // A check that throws is a bug of its caller: it fails that call alone, never the transaction (which
  // would be taken for a disk failure and stop every write).
  private runCheck(check: () => TributaryError | null, reader: string): TributaryError | null {
    try {
      return check();
    } catch (err) {
      this.log.error({ err, reader }, 'offset commit check threw; commit refused');
      return asTributaryError(err);
    }
  }

  get hasStaged(): boolean {
    return this.staged.length > 0;
  }

  take(): TakenWrites {
    const calls = this.staged;
    this.staged = [];
    this.stagedBytes = 0;
    const refusals: (TributaryError | null)[] = calls.map(() => null);
    return {
      write: () => {
        calls.forEach((c, i) => {
          refusals[i] = c.check();
          if (refusals[i] === null) c.write();
        });
      },
      settle: (err) => calls.forEach((c, i) => {
        const e = err ?? refusals[i];
        if (e) c.reject(e);
        else c.resolve();
      }),
    };
  }

  // ---- synchronous writes (their own transaction) ----

  /**
   * Writes positions at once, in a transaction of its own (LogStore.sideTxn: its room checks unless
   * `checkRoom` is false, its fail-stop). For mirror cursors, which batch in memory and need some
   * writes (a reserved publish) committed before they return. Throws a TributaryError.
   */
  writeNow(reader: string, entries: readonly { topicId: number; partition: number; offset: number; high: number }[], opts: { checkRoom?: boolean } = {}): void {
    const invalid = readerError(reader);
    if (invalid) throw invalid;
    this.store.sideTxn(() => {
      const now = Date.now();
      for (const e of entries) this.db.putSync([reader, e.topicId, e.partition], [e.offset, '', now, e.high]);
    }, opts);
  }

  /**
   * Deletes the offsets (and groupMeta) of groups that have been empty longer than `retentionMs`:
   * since their groupMeta record, or without one (after a restart, membership being in memory) since
   * their newest commit. `isEmpty` is asked first: a group with members keeps its offsets. At most
   * `max` offsets per call, in one transaction; returns how many records were deleted (call again
   * while > 0). Throws a TributaryError when storage refuses the write.
   */
  expire(nowMs: number, retentionMs: number, isEmpty: (group: string) => boolean, max: number): number {
    const expired: string[] = [];
    let planned = 0;
    for (const reader of this.readers('g:')) {
      const group = reader.slice(2);
      if (planned >= max) break;
      if (!isEmpty(group)) continue;
      const since = this.emptySince(group) ?? Math.max(...this.list(reader).map((o) => o.commitMs));
      if (nowMs - since <= retentionMs) continue;
      expired.push(group);
      planned += this.list(reader).length;
    }
    // Groups with a record but no offsets left (committed nothing, or expired in an earlier step).
    const bare: string[] = [];
    for (const { key: group, value } of this.meta.getRange()) {
      if (planned + bare.length >= max) break;
      if (nowMs - value.emptySinceMs <= retentionMs || this.hasOffsets(group) || !isEmpty(group)) continue;
      bare.push(group);
    }
    if (expired.length === 0 && bare.length === 0) return 0;
    let deleted = 0;
    // Deleting makes room: not refused while the disk is short of it.
    this.store.sideTxn(
      () => {
        let left = max;
        for (const group of expired) {
          const n = this.removeReaderNow(groupReader(group), group, left);
          deleted += n;
          left -= n;
        }
        for (const group of bare.slice(0, left)) {
          this.meta.removeSync(group);
          deleted++;
        }
      },
      { checkRoom: false },
    );
    if (deleted > 0) this.log.info({ groups: [...expired, ...bare].slice(0, 20), records: deleted, retentionMs }, 'expired offsets of empty groups');
    return deleted;
  }

  private hasOffsets(group: string): boolean {
    return !this.db.getKeys({ ...readerRange(groupReader(group)), limit: 1 })[Symbol.iterator]().next().done;
  }

  /** Up to `max` offsets of `reader`, and once none are left the group's record. Inside a transaction. */
  private removeReaderNow(reader: string, group: string | null, max: number): number {
    let n = 0;
    for (const key of this.db.getKeys({ ...readerRange(reader), limit: max === Infinity ? undefined : max })) {
      this.db.removeSync(key);
      n++;
    }
    if (group !== null && n < max && this.meta.get(group) !== undefined) {
      this.meta.removeSync(group);
      n++;
    }
    return n;
  }

  /** Leaves the group transactions (what is staged still rides the next one). */
  close(): void {
    if (this.staged.length > 0) return;
    this.unsubscribe?.();
    this.unsubscribe = null;
  }
}

function readerError(reader: string): TributaryError | null {
  const bytes = Buffer.byteLength(reader);
  if (bytes === 0 || bytes > limits.offsetReaderBytesMax)
    return new TributaryError('INVALID_REQUEST', `reader name of ${bytes} bytes (1 to ${limits.offsetReaderBytesMax} allowed)`);
  return null;
}

function entriesError(entries: readonly OffsetEntry[]): TributaryError | null {
  for (const e of entries) {
    if (!isIndex(e.topicId) || !isIndex(e.partition) || !Number.isSafeInteger(e.offset))
      return new TributaryError('INVALID_REQUEST', `offset commit entry ${e.topicId}/${e.partition} at ${e.offset}: not whole numbers`);
    const bytes = Buffer.byteLength(e.metadata);
    if (bytes > limits.offsetMetadataBytesMax)
      return new TributaryError('INVALID_REQUEST', `offset metadata of ${bytes} bytes is longer than ${limits.offsetMetadataBytesMax}`, { partition: e.partition });
  }
  return null;
}

function isIndex(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function entryBytes(reader: string, entries: readonly OffsetEntry[]): number {
  const readerBytes = Buffer.byteLength(reader);
  let bytes = 0;
  for (const e of entries) bytes += readerBytes + Buffer.byteLength(e.metadata) + ENTRY_OVERHEAD_BYTES;
  return bytes;
}
