import { describe, expect, it } from 'vitest';
import { TributaryError } from '../../src/errors.ts';
import { encodeRecordBatch } from '../../src/format/record-batch.ts';
import { limits } from '../../src/limits.ts';
import { LogStore } from '../../src/storage/log-store.ts';
import { OffsetStore } from '../../src/storage/offset-store.ts';
import { onCleanup, rec, silentLogger, storeOptions, tempDir } from '../helpers/temp.ts';

function open(dir = tempDir(), over = {}) {
  const store = new LogStore(storeOptions(dir, over));
  onCleanup(() => store.close());
  return { store, offsets: new OffsetStore(store, silentLogger) };
}

const ok = () => null;
const entry = (topicId: number, partition: number, offset: number, metadata = '') => ({ topicId, partition, offset, metadata });

describe('OffsetStore', () => {
  it('commits in the group transaction of the appends of the same turn, and reads back by reader, key and prefix', async () => {
    const dir = tempDir();
    const { store, offsets } = open(dir);
    const t = store.createTopic({ name: 't', partitions: 2, retentionMs: -1, retentionBytes: -1 });
    const before = store.stats().groupTxns;
    const t0 = Date.now();
    await Promise.all([
      store.append(t, 0, encodeRecordBatch([rec('a')]), undefined, false),
      offsets.commit('g:b', [entry(t.id, 1, 7, 'meta')], ok),
      offsets.commit('g:a', [entry(t.id, 0, 3), entry(t.id, 1, 4)], ok),
      offsets.commit('g:ab', [entry(t.id, 0, 1)], ok),
      offsets.commit('m:cloud', [entry(t.id, 0, 9)], ok),
    ]);
    expect(store.stats().groupTxns - before).toBe(1);
    expect(offsets.get('g:b', t.id, 1)).toMatchObject({ offset: 7, metadata: 'meta', high: -1 });
    expect(offsets.get('g:b', t.id, 1)!.commitMs).toBeGreaterThanOrEqual(t0);
    expect(offsets.get('g:b', t.id, 0)).toBeUndefined();
    expect(offsets.list('g:a').map((o) => [o.partition, o.offset])).toEqual([[0, 3], [1, 4]]);
    expect(offsets.readers('g:')).toEqual(['g:a', 'g:ab', 'g:b']);
    expect(offsets.readers('g:a')).toEqual(['g:a', 'g:ab']);
    expect(offsets.readers('x:')).toEqual([]);
    await store.close();

    const again = open(dir);
    expect(again.offsets.list('g:a').map((o) => o.offset)).toEqual([3, 4]);
    expect(again.offsets.readers('')).toEqual(['g:a', 'g:ab', 'g:b', 'm:cloud']);
  });

  it('writes nothing of a call whose check fails inside the transaction; the other calls of the turn are kept', async () => {
    const { offsets } = open();
    let fenced = false;
    const failing = offsets.commit('g:x', [entry(1, 0, 5)], () => (fenced ? new TributaryError('ILLEGAL_GENERATION', 'stale') : null));
    const passing = offsets.commit('g:y', [entry(1, 0, 6)], ok);
    // The check is evaluated in the transaction, not when the commit is called.
    fenced = true;
    await expect(failing).rejects.toMatchObject({ codeName: 'ILLEGAL_GENERATION' });
    await passing;
    expect([offsets.get('g:x', 1, 0), offsets.get('g:y', 1, 0)?.offset]).toEqual([undefined, 6]);
    // A check that throws (a caller's bug) refuses its call only, and storage stays writable.
    await expect(offsets.commit('g:x', [entry(1, 0, 5)], () => { throw new Error('bug'); })).rejects.toMatchObject({ codeName: 'UNKNOWN' });
    await offsets.commit('g:x', [entry(1, 0, 8)], ok);
    expect(offsets.get('g:x', 1, 0)?.offset).toBe(8);
  });

  it('refuses metadata over offset.metadata.max.bytes and a long reader name with INVALID_REQUEST, and too much staged with THROTTLED', async () => {
    const { offsets } = open();
    await expect(offsets.commit('g:x', [entry(1, 0, 1, 'm'.repeat(limits.offsetMetadataBytesMax + 1))], ok)).rejects.toMatchObject({ codeName: 'INVALID_REQUEST' });
    await expect(offsets.commit('g:' + 'n'.repeat(limits.offsetReaderBytesMax), [entry(1, 0, 1)], ok)).rejects.toMatchObject({ codeName: 'INVALID_REQUEST' });
    await expect(offsets.commit('g:x', [entry(1, -1, 1)], ok)).rejects.toMatchObject({ codeName: 'INVALID_REQUEST' });
    // Full-size metadata: a few thousand commits in one turn fill the queue; the rest are THROTTLED.
    const big = 'm'.repeat(limits.offsetMetadataBytesMax);
    const calls = Array.from({ length: Math.ceil(limits.offsetCommitQueueBytesMax / limits.offsetMetadataBytesMax) + 10 }, (_, i) =>
      offsets.commit('g:flood', [entry(1, i, i, big)], ok).then(() => 'ok', (e: TributaryError) => e.codeName),
    );
    const outcomes = await Promise.all(calls);
    expect(outcomes.filter((o) => o === 'THROTTLED').length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o === 'ok').length).toBeGreaterThan(0);
    expect(new Set(outcomes)).toEqual(new Set(['ok', 'THROTTLED']));
    // The queue is free again after the transaction.
    await offsets.commit('g:flood', [entry(1, 0, 1, big)], ok);
  });

  it('deletes a reader (and its group record), and a deleted topic loses its offsets with its batches', async () => {
    const { store, offsets } = open();
    const a = store.createTopic({ name: 'a', partitions: 2, retentionMs: -1, retentionBytes: -1 });
    const b = store.createTopic({ name: 'b', partitions: 1, retentionMs: -1, retentionBytes: -1 });
    await Promise.all([
      offsets.commit('g:one', [entry(a.id, 0, 1), entry(a.id, 1, 1), entry(b.id, 0, 1)], ok),
      offsets.commit('g:two', [entry(a.id, 0, 2)], ok),
      offsets.commit('m:cloud', [entry(a.id, 1, 3)], ok),
      offsets.setEmptySince('two', 5),
    ]);
    await offsets.deleteReader('g:two');
    expect([offsets.list('g:two'), offsets.emptySince('two')]).toEqual([[], undefined]);
    store.deleteTopic('a');
    while (store.maintenanceStep(Date.now(), 1) > 0);
    expect(offsets.list('g:one').map((o) => o.topicId)).toEqual([b.id]);
    expect(offsets.readers('')).toEqual(['g:one']);
  });

  it('expires the offsets of groups empty for longer than the retention, in bounded steps, keeping groups with members', async () => {
    const dir = tempDir();
    const { store, offsets } = open(dir);
    const now = Date.now();
    const day = 86_400_000;
    await Promise.all([
      // Empty for 8 days by its record.
      offsets.commit('g:old', [entry(1, 0, 1), entry(1, 1, 1), entry(1, 2, 1)], ok),
      offsets.setEmptySince('old', now - 8 * day),
      // Empty for 1 day.
      offsets.commit('g:recent', [entry(1, 0, 1)], ok),
      offsets.setEmptySince('recent', now - day),
      // Old record but members now.
      offsets.commit('g:busy', [entry(1, 0, 1)], ok),
      offsets.setEmptySince('busy', now - 8 * day),
      // A record and no offsets.
      offsets.setEmptySince('bare', now - 8 * day),
      // No record (after a restart): empty since its newest commit, which is now.
      offsets.commit('g:norecord', [entry(1, 0, 1)], ok),
    ]);
    const isEmpty = (g: string) => g !== 'busy';
    const retention = 7 * day;
    // Bounded: 2 records per step.
    const steps: number[] = [];
    for (let n = offsets.expire(now, retention, isEmpty, 2); n > 0; n = offsets.expire(now, retention, isEmpty, 2)) steps.push(n);
    expect(steps.every((n) => n <= 2)).toBe(true);
    // 3 offsets + the record of 'old', and the record of 'bare'.
    expect(steps.reduce((a, b) => a + b, 0)).toBe(5);
    expect(offsets.readers('g:')).toEqual(['g:busy', 'g:norecord', 'g:recent']);
    expect([offsets.emptySince('old'), offsets.emptySince('bare'), offsets.emptySince('busy')]).toEqual([undefined, undefined, now - 8 * day]);
    // Eight days later (no record: counted from its newest commit) 'norecord' and 'recent' go too.
    expect(offsets.expire(now + 8 * day + 1, retention, isEmpty, 100)).toBe(3);
    expect(offsets.readers('g:')).toEqual(['g:busy']);
    await store.close();
    const again = open(dir);
    expect(again.offsets.readers('g:')).toEqual(['g:busy']);
  });

  it('refuses commits with STORAGE_FULL while the disk is short of room, and commits what is staged when the store closes', async () => {
    const full = open(tempDir(), { minFreeDiskBytes: Number.MAX_SAFE_INTEGER });
    await expect(full.offsets.commit('g:x', [entry(1, 0, 1)], ok)).rejects.toMatchObject({ codeName: 'STORAGE_FULL' });
    expect(full.offsets.get('g:x', 1, 0)).toBeUndefined();
    expect(full.store.failed).toBeNull();

    const dir = tempDir();
    const { store, offsets } = open(dir);
    const committed = offsets.commit('g:x', [entry(1, 0, 12)], ok);
    await store.close();
    await committed;
    expect(open(dir).offsets.get('g:x', 1, 0)?.offset).toBe(12);
  });
});
