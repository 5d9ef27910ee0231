import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { open } from 'lmdb';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { LogStore } from '../../src/storage/log-store.ts';
import { CURSOR_FLUSH_INTERVAL_MS, MirrorCursors } from '../../src/storage/mirror-cursors.ts';
import { OffsetStore } from '../../src/storage/offset-store.ts';
import { onCleanup, silentLogger, storeOptions, tempDir } from '../helpers/temp.ts';

describe('mirror cursors', () => {
  it('batches cursor writes into one transaction per interval and survives a reopen', async () => {
    const dir = tempDir();
    const store = new LogStore(storeOptions(dir));
    const cursors = new MirrorCursors(store, 'cloud', silentLogger);
    const other = new MirrorCursors(store, 'backup', silentLogger);
    expect(cursors.get(1, 0)).toBeUndefined();
    for (let offset = 1; offset <= 1000; offset++) cursors.set(1, offset % 2, offset);
    expect(cursors.get(1, 0)).toBe(1000);
    expect(cursors.txnCommits).toBe(0);
    await sleep(CURSOR_FLUSH_INTERVAL_MS * 2);
    expect(cursors.txnCommits).toBe(1);
    cursors.set(1, 1, 1001);
    cursors.close();
    other.close();
    expect(other.get(1, 1)).toBeUndefined();
    await store.close();

    const reopened = new LogStore(storeOptions(dir));
    const again = new MirrorCursors(reopened, 'cloud', silentLogger);
    expect([again.get(1, 0), again.get(1, 1)]).toEqual([1000, 1001]);
    again.close();
    await reopened.close();
  });

  it('counts as resent only what the published range holds: a startFrom cursor and a forward reset start a new range, a rewind below it sends first, then joins it; kept across a reopen', async () => {
    const dir = tempDir();
    const store = new LogStore(storeOptions(dir));
    const cursors = new MirrorCursors(store, 'cloud', silentLogger);
    /** Publishes from..to as the engine does (reserve the chunk, then each record); which ones were resends. */
    const publish = (pos: ReturnType<MirrorCursors['position']>, from: number, to: number) => {
      cursors.reserve(pos, to);
      const resent: number[] = [];
      for (let o = from; o <= to; o++) if (cursors.published(pos, o)) resent.push(o);
      cursors.advance(pos, to + 1);
      return resent;
    };
    cursors.place(1, 0, 10);
    const pos = cursors.position(1, 0);
    expect(publish(pos, 10, 14)).toEqual([]);
    // Rewound to 5: 5..9 were never published (startFrom skipped them), 10..14 were.
    cursors.moveTo([{ pos, offset: 5 }]);
    expect(publish(pos, 5, 7)).toEqual([]);
    // Moved back to 6 (or a session that ends before its acks): 6, 7 were published in this catch-up.
    cursors.moveTo([{ pos, offset: 6 }]);
    expect(publish(pos, 6, 16)).toEqual([6, 7, 10, 11, 12, 13, 14]);
    // Skip ahead past a gap, publish there, then rewind over everything.
    cursors.moveTo([{ pos, offset: 30 }]);
    expect(publish(pos, 30, 31)).toEqual([]);
    cursors.close();
    await store.close();

    const reopened = new LogStore(storeOptions(dir));
    const again = new MirrorCursors(reopened, 'cloud', silentLogger);
    const back = again.position(1, 0);
    expect([back.cursor, back.low, back.high]).toEqual([32, 30, 31]);
    again.moveTo([{ pos: back, offset: 29 }]);
    const resent: number[] = [];
    again.reserve(back, 32);
    for (let o = 29; o <= 32; o++) if (again.published(back, o)) resent.push(o);
    expect(resent).toEqual([30, 31]);
    again.close();
    await reopened.close();
  });

  it('only moves forward, and keeps the paused flag across a reopen', async () => {
    const dir = tempDir();
    const store = new LogStore(storeOptions(dir));
    const cursors = new MirrorCursors(store, 'cloud', silentLogger);
    cursors.set(1, 0, 10);
    cursors.set(1, 0, 7);
    expect(cursors.get(1, 0)).toBe(10);
    expect(cursors.paused).toBe(false);
    cursors.setPaused(true);
    cursors.close();
    await store.close();
    const reopened = new LogStore(storeOptions(dir));
    const again = new MirrorCursors(reopened, 'cloud', silentLogger);
    expect([again.get(1, 0), again.paused, new MirrorCursors(reopened, 'other', silentLogger).paused]).toEqual([10, true, false]);
    again.setPaused(false);
    expect(again.paused).toBe(false);
    again.close();
    await reopened.close();
  });

  it('stops retrying writes once storage failed for good, keeping cursors in memory; a failed cursor write fails the store', async () => {
    const store = new LogStore(storeOptions(tempDir()));
    onCleanup(() => store.close());
    const errors: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => errors.push(JSON.parse(line).msg) });
    const cursors = new MirrorCursors(store, 'cloud', logger);
    cursors.set(1, 0, 5);
    vi.spyOn(store.lmdb.env, 'transactionSync').mockImplementationOnce(() => {
      throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
    });
    cursors.flush();
    // One fail-stop for every writer of the environment: the log refuses appends, /healthz reads this.
    expect(store.failed?.codeName).toBe('STORAGE_FAILED');
    cursors.set(1, 0, 9);
    expect(cursors.get(1, 0)).toBe(9);
    // A retry would come after 10 intervals.
    await sleep(CURSOR_FLUSH_INTERVAL_MS * 12);
    expect(errors).toEqual(['storage failed; mirror cursors are kept in memory only']);
  });

  it('takes a pause and a resume while the disk has less than minFreeDiskBytes free, and keeps retrying cursors', async () => {
    const store = new LogStore(storeOptions(tempDir(), { minFreeDiskBytes: Number.MAX_SAFE_INTEGER }));
    onCleanup(() => store.close());
    const cursors = new MirrorCursors(store, 'cloud', silentLogger);
    onCleanup(async () => cursors.close());
    // A paused mirror holds back retention: resuming is how a full disk gets room back.
    cursors.setPaused(true);
    expect(cursors.paused).toBe(true);
    cursors.setPaused(false);
    expect(cursors.paused).toBe(false);
    const attempts = vi.spyOn(store, 'sideTxn');
    cursors.set(1, 0, 5);
    cursors.flush();
    expect(cursors.txnCommits).toBe(0);
    expect(attempts).toHaveBeenCalledTimes(1);
    // Retried after 10 intervals, not given up.
    await sleep(CURSOR_FLUSH_INTERVAL_MS * 12);
    expect(attempts).toHaveBeenCalledTimes(2);
    expect(store.failed).toBeNull();
  });

  it('moves the cursors of a storage format 1 data dir into the offset store once, when it is opened', async () => {
    const dir = tempDir();
    // Format 1's layout: a database of its own, [mirror, topicId, partition] → [cursor, highest published].
    const env = open({ path: path.join(dir, 'tributary.lmdb'), maxDbs: 32 });
    const meta = env.openDB({ name: 'meta' });
    const old = env.openDB({ name: 'mirrorCursors', keyEncoding: 'ordered-binary' });
    env.transactionSync(() => {
      meta.putSync('formatVersion', 1);
      old.putSync(['cloud', 1, 0], [10, 12]);
      old.putSync(['cloud', 1, 1], [-1, 4]);
      old.putSync(['backup', 2, 0], [3, 2]);
    });
    await env.close();

    const store = new LogStore(storeOptions(dir));
    const cloud = new MirrorCursors(store, 'cloud', silentLogger);
    expect([cloud.get(1, 0), cloud.get(1, 1), cloud.position(1, 0).high, cloud.position(1, 1).high]).toEqual([10, undefined, 12, 4]);
    expect(new MirrorCursors(store, 'backup', silentLogger).get(2, 0)).toBe(3);
    expect(new OffsetStore(store, silentLogger).readers('m:')).toEqual(['m:backup', 'm:cloud']);
    expect(store.lmdb.meta.get('formatVersion')).toBe(3);
    cloud.set(1, 0, 11);
    cloud.close();
    await store.close();

    // Once: the old database is gone, and the cursors moved on from there stay.
    const check = open({ path: path.join(dir, 'tributary.lmdb'), maxDbs: 32 });
    expect([...check.openDB({ name: 'mirrorCursors', keyEncoding: 'ordered-binary' }).getKeys()]).toEqual([]);
    await check.close();
    const reopened = new LogStore(storeOptions(dir));
    const again = new MirrorCursors(reopened, 'cloud', silentLogger);
    expect([again.get(1, 0), again.position(1, 0).high]).toEqual([11, 12]);
    again.close();
    await reopened.close();
  });
});
