// A mirror's position per topic-partition: the cursor (next offset to ship upstream: everything below
// was acknowledged) and the highest offset ever published (a publish at or below it is a resend, also
// after a restart), stored in the offset store under reader `m:<mirror>` (offset = cursor or -1,
// high = highest published). Acks arrive one per record, so cursors change in memory and are persisted
// together in one transaction (a CursorStore's sideTxn: the log's room checks and fail-stop; on the
// mirror thread, mirror/thread/thread-store.ts applies them and reports a fail-stop to the main thread) at
// most every CURSOR_FLUSH_INTERVAL_MS (and on close). A crash loses at most that interval of cursor
// progress, which only means re-shipping those records: the mirror is at-least-once anyway.
//
// The published range [low, high] is contiguous: records are published in offset order from the
// cursor. It starts where the mirror started shipping (a startFrom cursor, a forward reset: a
// first publish past high + 1 starts a new range), and a rewind below low (mirror reset) extends it
// down once the records in between were published once: until then they are first sends.
//
// The highest published offset is written ahead instead (reserve(), once per read chunk, before any
// record of it is sent), so that after a kill -9 every record shipped again counts as a resend: a
// high mark persisted after the fact would lag the sends by up to the flush interval, and the
// records of that lag would count as first sends although the upstream already had them. A graceful
// stop persists the exact mark.

import assert from 'node:assert/strict';
import type { Logger } from 'pino';
import { isTributaryError } from '../errors.ts';
import type { LmdbHandles } from './lmdb-env.ts';
import type { LogStore } from './log-store.ts';
import { mirrorReader } from './offsets-db.ts';

/** What the cursors write through: the LogStore on the main thread, mirror/thread/thread-store.ts on the mirror thread. */
export type CursorStore = Pick<LogStore, 'sideTxn' | 'failed' | 'lmdb'>;

interface CursorRow {
  topicId: number;
  partition: number;
  offset: number;
  high: number;
  low: number;
}

/**
 * A mirror's committed cursor (undefined: it never shipped from the partition), read from LMDB, not
 * from a mirror's memory: what retention on the main thread spares while the mirror thread ships. It
 * lags the mirror thread's in-memory cursor by at most the flush interval, which only keeps more.
 */
export function committedCursor(h: LmdbHandles, mirror: string, topicId: number, partition: number): number | undefined {
  const offset = h.offsets.get([mirrorReader(mirror), topicId, partition])?.[0];
  return offset === undefined || offset < 0 ? undefined : offset;
}

export const CURSOR_FLUSH_INTERVAL_MS = 100;

/** One partition's position; held by the shipping code so the hot path needs no map lookup. */
export interface MirrorPosition {
  readonly topicId: number;
  readonly partition: number;
  /** Undefined until the mirror shipped anything from this partition. */
  cursor: number | undefined;
  /** Highest offset published so far; -1 when none. */
  high: number;
  /** Highest offset that may have been published: persisted before any publish above the last one. */
  highReserved: number;
  /** Lowest offset of the published range [low, high] (empty while high < low). */
  low: number;
  /**
   * After a rewind below low: records from `from` up to `below` (the old low) are published for the
   * first time (those up to `published` already were, in this catch-up); low becomes `from` once
   * `below - 1` was published. Memory only: a restart meanwhile keeps the old low.
   */
  rewound: { from: number; below: number; published: number } | null;
}

export class MirrorCursors {
  private readonly store: CursorStore;
  private readonly h: LmdbHandles;
  private readonly mirror: string;
  /** The mirror's reader name in the offset store. */
  private readonly reader: string;
  private readonly log: Logger;
  /** "topicId/partition" → position, loaded on first use: bounded by the partition count. */
  private readonly positions = new Map<string, MirrorPosition>();
  private readonly dirty = new Set<MirrorPosition>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private persisting = true;
  /** Persisting transactions so far (for tests: proves batching). */
  txnCommits = 0;

  constructor(store: CursorStore, mirrorName: string, logger: Logger) {
    this.store = store;
    this.h = store.lmdb;
    this.mirror = mirrorName;
    this.reader = mirrorReader(mirrorName);
    this.log = logger;
  }

  position(topicId: number, partition: number): MirrorPosition {
    const key = `${topicId}/${partition}`;
    let pos = this.positions.get(key);
    if (pos === undefined) {
      // -1 for a cursor not set yet.
      const [cursor, , , high, low = 0] = this.h.offsets.get([this.reader, topicId, partition]) ?? [-1, '', 0, -1];
      pos = { topicId, partition, cursor: cursor < 0 ? undefined : cursor, high, highReserved: high, low, rewound: null };
      this.positions.set(key, pos);
    }
    return pos;
  }

  /** The next offset to ship, or undefined when this mirror never shipped from the partition. */
  get(topicId: number, partition: number): number | undefined {
    return this.position(topicId, partition).cursor;
  }

  /** Moves the cursor forward; a lower offset (a late ack below a retention skip) is ignored. */
  set(topicId: number, partition: number, offset: number): void {
    this.advance(this.position(topicId, partition), offset);
  }

  /** A new cursor where nothing was published yet (startFrom): the published range will start there. */
  place(topicId: number, partition: number, offset: number): void {
    const pos = this.position(topicId, partition);
    if (pos.cursor !== undefined || this.closed) return;
    if (pos.high < pos.low) pos.low = offset;
    this.advance(pos, offset);
  }

  advance(pos: MirrorPosition, offset: number): void {
    if (this.closed || (pos.cursor !== undefined && offset <= pos.cursor)) return;
    pos.cursor = offset;
    this.markDirty(pos);
  }

  /**
   * Puts cursors where an operator says (`tributary mirror reset`, backwards too), committed in one
   * transaction before it returns. The highest published offsets stay, so what is shipped again after
   * a rewind counts as resent. Not refused for room, as setPaused: a few bytes, and moving forward is
   * how a paused mirror gives retention room back. Throws a TributaryError.
   */
  moveTo(moves: readonly { pos: MirrorPosition; offset: number }[]): void {
    if (moves.length === 0) return;
    this.write(
      moves.map(({ pos, offset }) => ({ topicId: pos.topicId, partition: pos.partition, offset, high: pos.highReserved, low: pos.low })),
      { checkRoom: false },
    );
    for (const { pos, offset } of moves) {
      pos.cursor = offset;
      this.dirty.delete(pos);
      // A catch-up under way stays as it is when the cursor moves within or past it (what it published
      // stays published); one further back starts again from there.
      if (pos.rewound !== null && offset >= pos.rewound.from) continue;
      if (offset < pos.low && pos.high >= pos.low) pos.rewound = { from: offset, below: pos.low, published: offset - 1 };
    }
  }

  /**
   * Persists, before it returns, that records up to `lastOffset` may be published: called with the
   * last offset of a chunk before its first record is sent, so it costs one transaction per chunk,
   * not one per record. Not refused for room, as setPaused: a few bytes. Throws a TributaryError.
   */
  reserve(pos: MirrorPosition, lastOffset: number): void {
    if (lastOffset <= pos.highReserved || this.closed) return;
    this.write([{ topicId: pos.topicId, partition: pos.partition, offset: pos.cursor ?? -1, high: lastOffset, low: pos.low }], { checkRoom: false });
    pos.highReserved = lastOffset;
  }

  /** Records a publish of `offset`; true when it is a resend (published before, maybe before a restart). */
  published(pos: MirrorPosition, offset: number): boolean {
    // Called once per shipped record: the message is built only when the check fails.
    if (offset > pos.highReserved && !this.closed) assert.fail(`publish of offset ${offset} above the reserved ${pos.highReserved}`);
    const r = pos.rewound;
    if (r !== null && offset >= r.from && offset < r.below) {
      if (offset <= r.published) return true;
      r.published = offset;
      if (offset === r.below - 1) {
        pos.low = r.from;
        pos.rewound = null;
        this.markDirty(pos);
      }
      return false;
    }
    if (offset >= pos.low && offset <= pos.high) return true;
    if (offset > pos.high) {
      // Past a gap nothing was published (a startFrom cursor, a forward reset): a new range starts.
      if (offset > pos.high + 1 || pos.high < pos.low) pos.low = offset;
      pos.high = offset;
    }
    return false;
  }

  private markDirty(pos: MirrorPosition): void {
    if (this.closed) return;
    this.dirty.add(pos);
    if (this.timer === null && this.persisting) {
      this.timer = setTimeout(() => this.flush(), CURSOR_FLUSH_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /** Persists every changed position in one transaction. A failure keeps them pending for the next try. */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.dirty.size === 0 || !this.persisting) return;
    // Until close, what was reserved: a record at or below it may have left before a crash.
    const entries = [...this.dirty].map((p) => [p, p.cursor ?? -1, this.closed ? p.high : p.highReserved] as const);
    try {
      this.write(entries.map(([p, cursor, high]) => ({ topicId: p.topicId, partition: p.partition, offset: cursor, high, low: p.low })));
      this.txnCommits++;
      for (const [p, cursor] of entries) if ((p.cursor ?? -1) === cursor) this.dirty.delete(p);
    } catch (err) {
      // Storage full: the records stay in the log, so shipping can go on; retry later. After a
      // fail-stop nothing will be written again: stop trying (a restart re-ships from the last cursors).
      if (this.store.failed !== null || isTributaryError(err, 'SHUTTING_DOWN')) {
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

  /** One transaction; rows as the offset store keeps them (offsets-db.ts). Throws a TributaryError. */
  private write(rows: readonly CursorRow[], opts: { checkRoom?: boolean } = {}): void {
    this.store.sideTxn(() => {
      const now = Date.now();
      for (const r of rows) this.h.offsets.putSync([this.reader, r.topicId, r.partition], [r.offset, '', now, r.high, r.low]);
    }, opts);
  }

  /** Whether an operator paused this mirror (kept across restarts, like a paused Kafka connector). */
  get paused(): boolean {
    return this.h.meta.get(this.pausedKey) === true;
  }

  /**
   * Committed before it returns (a crash right after keeps it; a power cut may take back the last
   * transactions, as for acks=1 records). Not refused for want of room: it is a few bytes, and a paused
   * mirror holds back retention, so resuming is how a full disk gets room back. Throws a TributaryError.
   */
  setPaused(paused: boolean): void {
    this.store.sideTxn(
      () => {
        if (paused) this.h.meta.putSync(this.pausedKey, true);
        else this.h.meta.removeSync(this.pausedKey);
      },
      { checkRoom: false },
    );
  }

  private get pausedKey(): string {
    return `mirror.paused:${this.mirror}`;
  }

  /**
   * Persists what is pending, with the exact highest published offsets (nothing is sent after this);
   * later changes are kept in memory only (the LMDB environment is about to close).
   */
  close(): void {
    for (const p of this.positions.values()) if (p.highReserved > p.high) this.dirty.add(p);
    this.closed = true;
    this.flush();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
