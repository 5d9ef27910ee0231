import { describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../src/format/record-batch.ts';
import { LogStore, type LogStoreOptions } from '../../src/storage/log-store.ts';
import { onCleanup, rec, storeOptions, tempDir } from '../helpers/temp.ts';

function openStore(dir: string, over: Partial<LogStoreOptions> = {}) {
  const store = new LogStore(storeOptions(dir, over));
  onCleanup(() => store.close());
  return store;
}

// Padded values give every batch of the same record count the same size, so byte budgets are exact.
function batchOf(n: number, ts: number) {
  return encodeRecordBatch(Array.from({ length: n }, (_, i) => rec(`v${i}`.padEnd(100, '.'), null, ts)));
}

const spec = (name: string, partitions = 1, retentionMs = -1, retentionBytes = -1) => ({ name, partitions, retentionMs, retentionBytes });

type Move = [topicId: number, partition: number, previousStart: number, newStart: number];

describe('retention floor', () => {
  it('stops age retention at the batch holding the floor, per partition', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('age', 2, 60_000));
    const old = Date.now() - 120_000;
    // Batches of two records: offsets 0-1, 2-3, 4-5, 6-7 in both partitions, all past retention.
    for (let i = 0; i < 4; i++) for (const p of [0, 1]) await store.append(t, p, batchOf(2, old), undefined, false);
    const floors = new Map([
      [0, 5],
      [1, 2],
    ]);
    store.addRetentionFloor((topicId, partition) => (topicId === t.id ? floors.get(partition) : undefined));

    expect(store.maintenanceStep(Date.now(), 100)).toBe(3);
    expect(store.partitionState(t.id, 0)).toMatchObject({ logStartOffset: 4, nextOffset: 8 });
    expect(store.partitionState(t.id, 1)).toMatchObject({ logStartOffset: 2, nextOffset: 8 });
    expect(store.maintenanceStep(Date.now(), 100)).toBe(0);

    floors.set(0, 6);
    expect(store.maintenanceStep(Date.now(), 100)).toBe(1);
    expect(store.partitionState(t.id, 0)!.logStartOffset).toBe(6);

    floors.delete(0);
    floors.delete(1);
    expect(store.maintenanceStep(Date.now(), 100)).toBe(4);
    expect(store.partitionState(t.id, 0)).toMatchObject({ logStartOffset: 8, bytes: 0 });
    expect(store.partitionState(t.id, 1)).toMatchObject({ logStartOffset: 8, bytes: 0 });
  });

  it('stops size retention at the batch holding the floor', async () => {
    const store = openStore(tempDir());
    const one = batchOf(1, Date.now()).length;
    const t = store.createTopic(spec('size', 1, -1, one));
    for (let i = 0; i < 5; i++) await store.append(t, 0, batchOf(1, Date.now()), undefined, false);
    let floor: number | undefined = 2;
    store.addRetentionFloor(() => floor);

    expect(store.maintenanceStep(Date.now(), 100)).toBe(2);
    expect(store.partitionState(t.id, 0)).toMatchObject({ logStartOffset: 2, nextOffset: 5, bytes: 3 * one });

    floor = undefined;
    expect(store.maintenanceStep(Date.now(), 100)).toBe(2);
    expect(store.partitionState(t.id, 0)).toMatchObject({ logStartOffset: 4, nextOffset: 5, bytes: one });
  });

  it('deletes as before when the floor is undefined', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('none', 1, 60_000));
    for (let i = 0; i < 3; i++) await store.append(t, 0, batchOf(2, Date.now() - 120_000), undefined, false);
    await store.append(t, 0, batchOf(2, Date.now()), undefined, false);
    const asked: [number, number][] = [];
    store.addRetentionFloor((topicId, partition) => {
      asked.push([topicId, partition]);
      return undefined;
    });
    expect(store.maintenanceStep(Date.now(), 100)).toBe(3);
    expect(asked).toEqual([[t.id, 0]]);
    expect(store.partitionState(t.id, 0)).toMatchObject({ logStartOffset: 6, nextOffset: 8 });
  });

  it('keeps a partition whole while its floor throws, and retains the others', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('throws', 2, 60_000));
    for (const p of [0, 1]) await store.append(t, p, batchOf(2, Date.now() - 120_000), undefined, false);
    store.addRetentionFloor((_topicId, partition) => {
      if (partition === 0) throw new Error('cursor unavailable');
      return undefined;
    });
    expect(store.maintenanceStep(Date.now(), 100)).toBe(1);
    expect(store.partitionState(t.id, 0)!.logStartOffset).toBe(0);
    expect(store.partitionState(t.id, 1)!.logStartOffset).toBe(2);
  });
});

describe('disk budget past the floor', () => {
  it('drops the oldest batches beyond the floor in maintenanceStep and reports each partition once', async () => {
    const dir = tempDir();
    const size = batchOf(2, Date.now()).length;
    const base = Date.now() - 10_000;
    const unbounded = new LogStore(storeOptions(dir));
    const created = unbounded.createTopic(spec('budget', 2));
    // i = 0..5 alternate partitions with rising timestamps: p0 holds i = 0, 2, 4 and p1 holds i = 1, 3, 5.
    for (let i = 0; i < 6; i++) await unbounded.append(created, i % 2, batchOf(2, base + i), undefined, false);
    await unbounded.close();

    const store = openStore(dir, { diskBudgetBytes: 2 * size, diskBudgetPolicy: 'drop-oldest' });
    const t = store.getTopic('budget')!;
    store.addRetentionFloor(() => 2);
    const moves: Move[] = [];
    const seen: { logStartOffset: number; logBytes: number }[] = [];
    store.addLogStartListener((topicId, partition, previousStart, newStart) => {
      moves.push([topicId, partition, previousStart, newStart]);
      seen.push({ logStartOffset: store.partitionState(topicId, partition)!.logStartOffset, logBytes: store.stats().logBytes });
    });

    expect(store.maintenanceStep(Date.now(), 100)).toBe(4);
    expect(moves.sort((a, b) => a[1] - b[1])).toEqual([
      [t.id, 0, 0, 4],
      [t.id, 1, 0, 4],
    ]);
    expect(seen).toEqual([
      { logStartOffset: 4, logBytes: 2 * size },
      { logStartOffset: 4, logBytes: 2 * size },
    ]);
    expect(store.maintenanceStep(Date.now(), 100)).toBe(0);
    expect(moves).toHaveLength(2);
  });

  it('drops the oldest batches beyond the floor when an append needs room, after the append is visible', async () => {
    const size = batchOf(10, Date.now()).length;
    const store = openStore(tempDir(), { diskBudgetBytes: 3 * size, diskBudgetPolicy: 'drop-oldest' });
    const t = store.createTopic(spec('append'));
    store.addRetentionFloor(() => 0);
    const moves: Move[] = [];
    const nextOffsets: number[] = [];
    store.addLogStartListener((topicId, partition, previousStart, newStart) => {
      moves.push([topicId, partition, previousStart, newStart]);
      nextOffsets.push(store.partitionState(topicId, partition)!.nextOffset);
    });

    for (let i = 0; i < 3; i++) await store.append(t, 0, batchOf(10, Date.now()), undefined, false);
    expect(moves).toEqual([]);
    await store.append(t, 0, batchOf(10, Date.now()), undefined, false);
    await store.append(t, 0, batchOf(10, Date.now()), undefined, false);
    expect(moves).toEqual([
      [t.id, 0, 0, 10],
      [t.id, 0, 10, 20],
    ]);
    expect(nextOffsets).toEqual([40, 50]);
    expect(store.partitionState(t.id, 0)).toMatchObject({ logStartOffset: 20, nextOffset: 50, bytes: 3 * size });
  });

  it('commits the appends and deletions whatever a throwing listener does', async () => {
    const dir = tempDir();
    const size = batchOf(10, Date.now()).length;
    const store = openStore(dir, { diskBudgetBytes: 2 * size, diskBudgetPolicy: 'drop-oldest' });
    let calls = 0;
    store.addLogStartListener(() => {
      calls++;
      throw new Error('listener failed');
    });
    const t = store.createTopic(spec('throwing'));
    for (let i = 0; i < 3; i++) expect((await store.append(t, 0, batchOf(10, Date.now()), undefined, false)).baseOffset).toBe(i * 10);
    expect(calls).toBe(1);
    expect(store.partitionState(t.id, 0)).toMatchObject({ logStartOffset: 10, nextOffset: 30 });
    await store.close();

    const reopened = openStore(dir);
    expect(reopened.partitionState(t.id, 0)).toMatchObject({ logStartOffset: 10, nextOffset: 30, bytes: 2 * size });
  });
});

describe('topics listeners', () => {
  it('fires after a topic is created, grown and deleted, with the change visible', () => {
    const store = openStore(tempDir());
    const seen: [string, number][][] = [];
    store.addTopicsListener(() => seen.push(store.listTopics().map((t) => [t.name, store.partitionStates(t.id).length])));

    store.createTopic(spec('a'));
    store.growTopic('a', 3);
    store.growTopic('a', 3);
    store.deleteTopic('a');
    expect(seen).toEqual([[['a', 1]], [['a', 3]], []]);
  });

  it('keeps the change when the listener throws', () => {
    const store = openStore(tempDir());
    store.addTopicsListener(() => {
      throw new Error('listener failed');
    });
    expect(store.createTopic(spec('b')).name).toBe('b');
    expect(store.growTopic('b', 2).partitions).toBe(2);
    store.deleteTopic('b');
    expect(store.getTopic('b')).toBeUndefined();
  });
});
