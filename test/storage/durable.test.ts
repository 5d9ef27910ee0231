import { describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../src/format/record-batch.ts';
import { LogStore } from '../../src/storage/log-store.ts';
import { watchSyncs } from '../helpers/syncs.ts';
import { onCleanup, rec, storeOptions, tempDir } from '../helpers/temp.ts';

/** A store with one single-partition topic and its env.sync calls watched. */
function storeWithTopic() {
  const store = new LogStore(storeOptions(tempDir()));
  onCleanup(() => store.close());
  const syncs = watchSyncs(store);
  const t = store.createTopic({ name: 't', partitions: 1, retentionMs: -1, retentionBytes: -1 });
  return { store, syncs, t };
}

describe('LogStore.durable', () => {
  it('syncs once after acks=1 commits, and not again until the next commit', async () => {
    const { store, syncs, t } = storeWithTopic();
    // The first call syncs whatever a crashed predecessor may have left in the page cache.
    await store.durable();
    expect(syncs.calls).toBe(1);
    await store.durable();
    expect(syncs.calls).toBe(1);
    await store.append(t, 0, encodeRecordBatch([rec('a')]), undefined, false);
    syncs.hold = true;
    let done = false;
    const durable = store.durable().then(() => (done = true));
    await new Promise((r) => setTimeout(r, 50));
    expect([syncs.calls, done]).toEqual([2, false]);
    syncs.release();
    await durable;
    await store.durable();
    expect(syncs.calls).toBe(2);
  });
});

describe('LogStore.flushed', () => {
  it('does not let a commit ride on a sync that started before it', async () => {
    const { store, syncs, t } = storeWithTopic();
    syncs.hold = true;
    const early = store.flushed();
    await new Promise((r) => setTimeout(r, 20));
    expect(syncs.calls).toBe(1);
    let acked = false;
    const append = store.append(t, 0, encodeRecordBatch([rec('a')]), undefined, true).then(() => (acked = true));
    await new Promise((r) => setTimeout(r, 50));
    // The running sync began before this commit: releasing it must not acknowledge acks=all.
    syncs.release();
    await early;
    await append;
    expect(syncs.calls).toBe(2);
    expect(acked).toBe(true);
  });
});
