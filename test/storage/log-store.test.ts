import path from 'node:path';
import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { isTributaryError } from '../../src/errors.ts';
import { decodeRecordBatch, encodeRecordBatch } from '../../src/format/record-batch.ts';
import { LogStore } from '../../src/storage/log-store.ts';
import { onCleanup, rec, storeOptions, tempDir } from '../helpers/temp.ts';

function openStore(dir: string, over = {}) {
  const store = new LogStore(storeOptions(dir, over));
  onCleanup(() => store.close());
  return store;
}

function batchOf(n: number, prefix = 'v', ts = Date.now(), size = 0) {
  return encodeRecordBatch(Array.from({ length: n }, (_, i) => rec(size ? `${prefix}${i}`.padEnd(size, '.') : `${prefix}${i}`, null, ts)));
}

function values(store: LogStore, topic: string, partition = 0, offset = 0) {
  const t = store.getTopic(topic)!;
  const out: string[] = [];
  for (const b of store.read(t, partition, offset, 1 << 30).batches) for (const r of decodeRecordBatch(b)) if (r.offset >= offset) out.push(r.value!.toString());
  return out;
}

const spec = (name: string, partitions = 1, retentionMs = -1, retentionBytes = -1) => ({ name, partitions, retentionMs, retentionBytes });

describe('LogStore', () => {
  it('returns batches that later reads and appends leave intact, small, large and past lmdb-js read buffer', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('t', 1));
    // 100 B, 60 KiB and 600 KiB values: lmdb-js reads them through its shared buffer, a larger one,
    // or a buffer of their own.
    for (const [i, size] of [100, 60 * 1024, 600 * 1024].entries()) await store.append(t, 0, batchOf(1, `x${i}`, Date.now(), size), undefined, false);
    const first = [0, 1, 2].map((offset) => store.read(t, 0, offset, 1).batches[0]!);
    const copies = first.map((b) => Buffer.from(b));
    for (const [i, size] of [600 * 1024, 60 * 1024, 100].entries()) await store.append(t, 0, batchOf(1, `y${i}`, Date.now(), size), undefined, false);
    for (let offset = 5; offset >= 0; offset--) store.read(t, 0, offset, 1 << 30);
    expect(first.every((b) => Buffer.isBuffer(b))).toBe(true);
    expect(first).toEqual(copies);
    expect(first.map((b) => decodeRecordBatch(b)[0]!.value!.toString().slice(0, 2))).toEqual(['x0', 'x1', 'x2']);
  });

  it('assigns consecutive offsets per partition, from 0, and reads from any offset', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('t', 2));
    expect((await store.append(t, 0, batchOf(3, 'a'), undefined, false)).baseOffset).toBe(0);
    expect((await store.append(t, 0, batchOf(2, 'b'), undefined, false)).baseOffset).toBe(3);
    expect((await store.append(t, 1, batchOf(1, 'c'), undefined, false)).baseOffset).toBe(0);
    expect(values(store, 't', 0)).toEqual(['a0', 'a1', 'a2', 'b0', 'b1']);
    expect(values(store, 't', 0, 4)).toEqual(['b1']);
    expect(values(store, 't', 1)).toEqual(['c0']);
    // The batch holding offset 1 starts at 0: reads return whole batches.
    const r = store.read(t, 0, 1, 1);
    expect(r.batches).toHaveLength(1);
    expect(decodeRecordBatch(r.batches[0])[0].offset).toBe(0);
    expect(r).toMatchObject({ logStartOffset: 0, nextOffset: 5 });
  });

  it('shares one transaction among appends made in the same event-loop turn (group transaction)', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('g', 4));
    const before = store.stats().groupTxns;
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.append(t, i % 4, batchOf(5), undefined, i % 2 === 0)));
    expect(store.stats().groupTxns - before).toBe(1);
    for (let p = 0; p < 4; p++) expect(results.filter((_, i) => i % 4 === p).map((r) => r.baseOffset)).toEqual(Array.from({ length: 50 }, (_, i) => i * 5));
  });

  it('keeps offsets, topics and data across a restart and never reuses an offset', async () => {
    const dir = tempDir();
    const s1 = new LogStore(storeOptions(dir));
    const t = s1.createTopic(spec('r', 1));
    await s1.append(t, 0, batchOf(4, 'x'), undefined, true);
    await s1.close();
    const s2 = openStore(dir);
    const t2 = s2.getTopic('r')!;
    expect(t2).toMatchObject({ name: 'r', partitions: 1 });
    expect(values(s2, 'r')).toEqual(['x0', 'x1', 'x2', 'x3']);
    expect((await s2.append(t2, 0, batchOf(1, 'y'), undefined, false)).baseOffset).toBe(4);
  });

  it('rejects reads outside [logStartOffset, nextOffset] with OFFSET_OUT_OF_RANGE and returns nothing at nextOffset', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('o'));
    await store.append(t, 0, batchOf(2), undefined, false);
    expect(store.read(t, 0, 2, 1000).batches).toEqual([]);
    expect(() => store.read(t, 0, 3, 1000)).toThrowError(expect.objectContaining({ codeName: 'OFFSET_OUT_OF_RANGE' }));
    expect(() => store.read(t, 0, -1, 1000)).toThrowError(expect.objectContaining({ codeName: 'OFFSET_OUT_OF_RANGE' }));
  });

  it('deletes batches past retention by age while offsets keep growing, also after everything is gone', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('age', 1, 60_000));
    const old = Date.now() - 120_000;
    await store.append(t, 0, batchOf(3, 'old', old), undefined, false);
    await store.append(t, 0, batchOf(2, 'new'), undefined, false);
    expect(store.maintenanceStep(Date.now(), 100)).toBe(1);
    expect(store.partitionState(t.id, 0)).toMatchObject({ logStartOffset: 3, nextOffset: 5 });
    expect(values(store, 'age', 0, 3)).toEqual(['new0', 'new1']);
    expect(() => store.read(t, 0, 0, 100)).toThrowError(expect.objectContaining({ codeName: 'OFFSET_OUT_OF_RANGE' }));
    expect(store.maintenanceStep(Date.now() + 120_000, 100)).toBe(1);
    expect(store.partitionState(t.id, 0)).toMatchObject({ logStartOffset: 5, nextOffset: 5, bytes: 0 });
    expect((await store.append(t, 0, batchOf(1), undefined, false)).baseOffset).toBe(5);
  });

  it('deletes the oldest batches while what remains still meets retention.bytes', async () => {
    const store = openStore(tempDir());
    const one = batchOf(1, 'v', Date.now(), 100).length;
    const t = store.createTopic(spec('size', 1, -1, 3 * one));
    for (let i = 0; i < 10; i++) await store.append(t, 0, batchOf(1, `b${i}-`, Date.now(), 100), undefined, false);
    expect(store.maintenanceStep(Date.now(), 100)).toBe(7);
    expect(store.partitionState(t.id, 0)).toMatchObject({ logStartOffset: 7, nextOffset: 10, bytes: 3 * one });
  });

  it('refuses new writes over the disk budget with STORAGE_FULL (reject-new) and keeps the log intact', async () => {
    const size = batchOf(10, 'v', Date.now(), 100).length;
    const store = openStore(tempDir(), { diskBudgetBytes: 3 * size, diskBudgetPolicy: 'reject-new' });
    const t = store.createTopic(spec('b'));
    for (let i = 0; i < 3; i++) await store.append(t, 0, batchOf(10, 'v', Date.now(), 100), undefined, false);
    await expect(store.append(t, 0, batchOf(10, 'v', Date.now(), 100), undefined, false)).rejects.toMatchObject({ codeName: 'STORAGE_FULL' });
    expect(values(store, 'b')).toHaveLength(30);
  });

  it('drops the oldest batches across partitions to fit the disk budget (drop-oldest)', async () => {
    const size = batchOf(10, 'v', Date.now(), 100).length;
    const store = openStore(tempDir(), { diskBudgetBytes: 3 * size, diskBudgetPolicy: 'drop-oldest' });
    const t = store.createTopic(spec('d', 2));
    const base = Date.now() - 10_000;
    for (let i = 0; i < 6; i++) await store.append(t, i % 2, batchOf(10, `r${i}-`, base + i, 100), undefined, false);
    expect(store.stats().logBytes).toBeLessThanOrEqual(3 * size);
    // The three newest batches (i = 3, 4, 5) survive: p0 keeps i=4, p1 keeps i=3 and i=5.
    expect(store.partitionState(t.id, 0)).toMatchObject({ logStartOffset: 20, nextOffset: 30 });
    expect(store.partitionState(t.id, 1)).toMatchObject({ logStartOffset: 10, nextOffset: 30 });
    expect(store.stats().evictedRecords).toBe(30);
  });

  it('reports a corrupted stored batch as CORRUPT_MESSAGE naming topic, partition and offset', async () => {
    const dir = tempDir();
    const s1 = new LogStore(storeOptions(dir));
    const t = s1.createTopic(spec('c'));
    await s1.append(t, 0, batchOf(2, 'ok'), undefined, false);
    await s1.append(t, 0, batchOf(2, 'bad'), undefined, false);
    await s1.close();

    // Flip bits in the stored value of the second batch (offsets 2-3), as an SD card might.
    const env = open({ path: path.join(dir, 'tributary.lmdb'), maxDbs: 32 });
    const log = env.openDB({ name: 'log', keyEncoding: 'ordered-binary', encoding: 'binary' });
    const stored = Buffer.from(log.get([1, 0, 3]) as Buffer);
    stored[stored.length - 3] ^= 0xff;
    log.putSync([1, 0, 3], stored);
    await env.close();

    const s2 = openStore(dir);
    const t2 = s2.getTopic('c')!;
    expect(values(s2, 'c', 0, 0)).toEqual(['ok0', 'ok1']);
    let error: unknown;
    try {
      s2.read(t2, 0, 2, 1000);
    } catch (e) {
      error = e;
    }
    expect(isTributaryError(error, 'CORRUPT_MESSAGE')).toBe(true);
    expect((error as Error).message).toMatch(/c\/0.*offset 2/);
  });

  it('stores each idempotent producer sequence once, also across a restart', async () => {
    const dir = tempDir();
    const s1 = new LogStore(storeOptions(dir));
    const t = s1.createTopic(spec('idem'));
    const p = (seq: number) => ({ clientId: 'dev-1', seq });
    expect(await s1.append(t, 0, batchOf(1, 'a'), p(1), false)).toEqual({ baseOffset: 0, duplicate: false });
    const [first, retry] = await Promise.all([s1.append(t, 0, batchOf(1, 'b'), p(2), false), s1.append(t, 0, batchOf(1, 'b'), p(2), false)]);
    expect(first).toEqual({ baseOffset: 1, duplicate: false });
    expect(retry.duplicate).toBe(true);
    await s1.close();
    const s2 = openStore(dir);
    expect(s2.lastProducerSeq('dev-1')).toBe(2);
    expect((await s2.append(s2.getTopic('idem')!, 0, batchOf(1, 'b'), p(2), false)).duplicate).toBe(true);
    expect(values(s2, 'idem')).toEqual(['a0', 'b0']);
  });

  it('purges a deleted topic in bounded steps and gives a recreated topic fresh offsets', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('del'));
    for (let i = 0; i < 5; i++) await store.append(t, 0, batchOf(1), undefined, false);
    store.deleteTopic('del');
    expect(store.getTopic('del')).toBeUndefined();
    expect(store.maintenanceStep(Date.now(), 2)).toBe(2);
    while (store.maintenanceStep(Date.now(), 2) > 0);
    expect(store.stats().logBytes).toBe(0);
    const again = store.createTopic(spec('del'));
    expect(again.id).not.toBe(t.id);
    expect((await store.append(again, 0, batchOf(1), undefined, false)).baseOffset).toBe(0);
  });

  it('rejects a batch whose record count and offset deltas disagree', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('bad'));
    const batch = batchOf(3);
    batch.writeInt32BE(5, 23); // lastOffsetDelta claims 6 records
    await expect(store.append(t, 0, batch, undefined, false)).rejects.toMatchObject({ codeName: 'INVALID_REQUEST' });
    expect(store.partitionState(t.id, 0)!.nextOffset).toBe(0);
  });

  it('rejects appends to a partition the topic does not have', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('p', 2));
    await expect(store.append(t, 2, batchOf(1), undefined, false)).rejects.toMatchObject({ codeName: 'INVALID_PARTITION' });
  });
});

describe('idempotent producer state', () => {
  it('is forgotten after seven days without a produce', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('exp'));
    await store.append(t, 0, batchOf(1), { clientId: 'old-device', seq: 9 }, false);
    expect(store.lastProducerSeq('old-device')).toBe(9);
    expect(store.maintenanceStep(Date.now(), 100)).toBe(0);
    expect(store.maintenanceStep(Date.now() + 8 * 86_400_000, 100)).toBeGreaterThan(0);
    expect(store.lastProducerSeq('old-device')).toBe(0);
  });
});

describe('commit participants', () => {
  /** Stages one meta key per call; settle() records the outcome. */
  function participant(store: LogStore) {
    const outcomes: (string | null)[] = [];
    let staged: string | null = null;
    const p = {
      outcomes,
      stage(key: string) {
        staged = key;
        store.scheduleGroup();
      },
      get hasStaged() {
        return staged !== null;
      },
      take() {
        const key = staged!;
        staged = null;
        return {
          write: () => store.lmdb.meta.putSync(key, 'v'),
          settle: (err: { codeName: string } | null) => outcomes.push(err === null ? null : err.codeName),
        };
      },
    };
    store.addTxnParticipant(p);
    return p;
  }

  it('commits staged writes with the appends of the same turn, in one transaction', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('t'));
    const p = participant(store);
    const before = store.stats().groupTxns;
    p.stage('side-1');
    await store.append(t, 0, batchOf(1), undefined, false);
    expect(store.stats().groupTxns - before).toBe(1);
    expect(p.outcomes).toEqual([null]);
    expect(store.lmdb.meta.get('side-1')).toBe('v');
  });

  it('refuses a write that throws inside the group alone: the appends commit and the store keeps writing', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('t'));
    const p = participant(store);
    p.stage('k'.repeat(2100));
    await store.append(t, 0, batchOf(2), undefined, false);
    expect(p.outcomes).toEqual(['INVALID_REQUEST']);
    expect(store.failed).toBeNull();
    expect(values(store, 't')).toEqual(['v0', 'v1']);
    expect(() => store.sideTxn(() => store.lmdb.meta.putSync('m'.repeat(2100), 1))).toThrow(expect.objectContaining({ codeName: 'INVALID_REQUEST' }));
    expect(store.failed).toBeNull();
  });

  it('fail-stops the store when a participant\'s write fails for the disk\'s sake, not its input', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('t'));
    const outcomes: (string | null)[] = [];
    let staged = true;
    store.addTxnParticipant({
      get hasStaged() {
        return staged;
      },
      take() {
        staged = false;
        return {
          write: () => {
            throw Object.assign(new Error('MDB_PAGE_NOTFOUND: Requested page not found'), { code: -30797 });
          },
          settle: (err) => outcomes.push(err === null ? null : err.codeName),
        };
      },
    });
    await expect(store.append(t, 0, batchOf(1), undefined, false)).rejects.toSatisfy((e) => isTributaryError(e, 'STORAGE_FAILED'));
    expect(outcomes).toEqual(['STORAGE_FAILED']);
    expect(store.failed?.codeName).toBe('STORAGE_FAILED');
    // Nothing of the group was kept: the transaction lmdb-js's writer thread commits held none of its writes.
    expect([...store.lmdb.log.getKeys({})]).toEqual([]);
    expect(store.lmdb.partitions.get([t.id, 0])).toEqual([0, 0, 0]);
  });

  it('close() waits for the group in flight, commits what was queued behind it, refuses later appends, and closes once', async () => {
    const dir = tempDir();
    const store = new LogStore(storeOptions(dir));
    const t = store.createTopic(spec('t'));
    const first = store.append(t, 0, batchOf(1, 'a'), undefined, false);
    // The first group has started (its commit runs off this thread); the second append waits behind it.
    await new Promise((r) => setImmediate(r));
    const second = store.append(t, 0, batchOf(1, 'b'), undefined, true);
    const closing = store.close();
    await expect(store.append(t, 0, batchOf(1, 'c'), undefined, false)).rejects.toSatisfy((e) => isTributaryError(e, 'SHUTTING_DOWN'));
    await Promise.all([closing, store.close()]);
    expect((await first).baseOffset).toBe(0);
    expect((await second).baseOffset).toBe(1);
    expect(values(openStore(dir), 't')).toEqual(['a0', 'b0']);
  });

  it('takes writes again at maxMapSizeBytes once retention freed pages in the data file, which never shrinks', async () => {
    const dir = tempDir();
    const max = 2 * 1024 * 1024;
    const store = openStore(dir, { mapSizeBytes: 1024 * 1024, maxMapSizeBytes: max });
    const t = store.createTopic(spec('t'));
    let stored = 0;
    for (;;) {
      const refused = await store.append(t, 0, batchOf(1, `b${stored}-`, Date.now(), 50_000), undefined, false).then(
        () => null,
        (e: unknown) => e,
      );
      if (refused !== null) {
        expect(refused).toSatisfy((e) => isTributaryError(e, 'STORAGE_FULL'));
        break;
      }
      stored++;
    }
    expect(stored).toBeGreaterThan(10);
    const fullFile = store.stats().fileBytes;
    // Retention keeps the last ~200 KB; the file keeps its size, the freed pages take the next writes.
    store.alterTopic('t', { retentionBytes: 200_000 });
    while (store.maintenanceStep(Date.now(), 1000) > 0);
    for (let i = 0; i < stored - 6; i++) await store.append(t, 0, batchOf(1, `a${i}-`, Date.now(), 50_000), undefined, false);
    expect(store.stats().fileBytes).toBeLessThanOrEqual(Math.max(fullFile, max));
    expect(values(store, 't', 0, 2 * stored - 7)).toEqual([`a${stored - 7}-0`.padEnd(50_000, '.')]);
  });

  it('still commits the participants when only the appends are too big for the room left', async () => {
    const dir = tempDir();
    const probe = openStore(dir);
    // The data file may grow 64 MiB more: a 40 MB append (counted twice) does not fit, a few bytes do.
    const fileBytes = probe.stats().fileBytes;
    await probe.close();
    const store = openStore(dir, { maxMapSizeBytes: fileBytes + 64 * 1024 * 1024 });
    const t = store.createTopic(spec('t'));
    const p = participant(store);
    p.stage('small');
    const big = encodeRecordBatch([rec('x'.repeat(40 * 1024 * 1024))]);
    await expect(store.append(t, 0, big, undefined, false)).rejects.toSatisfy((e) => isTributaryError(e, 'STORAGE_FULL'));
    expect(p.outcomes).toEqual([null]);
    expect(store.lmdb.meta.get('small')).toBe('v');
  });
});

