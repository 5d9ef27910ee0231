// Every storage hook takes several subscribers: a second one must not replace the first (the mirror
// and the coming consumer-group coordinator both subscribe), and each can unsubscribe.

import { describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../src/format/record-batch.ts';
import { LogStore, type TxnParticipant } from '../../src/storage/log-store.ts';
import { onCleanup, rec, storeOptions, tempDir } from '../helpers/temp.ts';

function openStore() {
  const store = new LogStore(storeOptions(tempDir()));
  onCleanup(() => store.close());
  return store;
}

const batchOf = (n: number, ts = Date.now()) => encodeRecordBatch(Array.from({ length: n }, (_, i) => rec(`v${i}`, null, ts)));
const spec = (name: string, retentionMs = -1) => ({ name, partitions: 1, retentionMs, retentionBytes: -1 });

describe('storage hooks with several subscribers', () => {
  it('append listeners: both fire after the records are visible; an unsubscribed one no longer does', async () => {
    const store = openStore();
    const t = store.createTopic(spec('a'));
    const first: number[] = [];
    const second: number[] = [];
    const offFirst = store.addAppendListener((topicId, partition) => first.push(store.partitionState(topicId, partition)!.nextOffset));
    store.addAppendListener((topicId, partition) => second.push(store.partitionState(topicId, partition)!.nextOffset));
    await store.append(t, 0, batchOf(2), undefined, false);
    expect(first).toEqual([2]);
    expect(second).toEqual([2]);
    offFirst();
    offFirst();
    await store.append(t, 0, batchOf(1), undefined, false);
    expect(first).toEqual([2]);
    expect(second).toEqual([2, 3]);
  });

  it('before-group listeners: both run once per group transaction, and their appends join it', async () => {
    const store = openStore();
    const t = store.createTopic(spec('b'));
    const calls = { first: 0, second: 0 };
    const offFirst = store.addBeforeGroupListener(() => calls.first++);
    let late: Promise<unknown> | null = null;
    store.addBeforeGroupListener(() => {
      calls.second++;
      late ??= store.append(t, 0, batchOf(1), undefined, false);
    });
    const before = store.stats().groupTxns;
    await store.append(t, 0, batchOf(1), undefined, false);
    await late;
    expect(store.stats().groupTxns - before).toBe(1);
    expect(calls).toEqual({ first: 1, second: 1 });
    offFirst();
    await store.append(t, 0, batchOf(1), undefined, false);
    expect(calls).toEqual({ first: 1, second: 2 });
  });

  it('topics listeners: both fire on create, grow and delete; an unsubscribed one no longer does', () => {
    const store = openStore();
    const first: string[] = [];
    const second: string[] = [];
    const offFirst = store.addTopicsListener(() => first.push(store.listTopics().map((t) => `${t.name}/${t.partitions}`).join()));
    store.addTopicsListener(() => second.push(store.listTopics().map((t) => `${t.name}/${t.partitions}`).join()));
    store.createTopic(spec('c'));
    store.growTopic('c', 2);
    offFirst();
    store.deleteTopic('c');
    expect(first).toEqual(['c/1', 'c/2']);
    expect(second).toEqual(['c/1', 'c/2', '']);
  });

  it('log start listeners: both hear the move; an unsubscribed one no longer does', async () => {
    const store = openStore();
    const t = store.createTopic(spec('d', 60_000));
    const old = Date.now() - 120_000;
    const first: number[][] = [];
    const second: number[][] = [];
    const offFirst = store.addLogStartListener((_topicId, _partition, from, to) => first.push([from, to]));
    store.addLogStartListener((_topicId, _partition, from, to) => second.push([from, to]));
    await store.append(t, 0, batchOf(2, old), undefined, false);
    expect(store.maintenanceStep(Date.now(), 100)).toBe(1);
    offFirst();
    await store.append(t, 0, batchOf(2, old), undefined, false);
    expect(store.maintenanceStep(Date.now(), 100)).toBe(1);
    expect(first).toEqual([[0, 2]]);
    expect(second).toEqual([
      [0, 2],
      [2, 4],
    ]);
  });

  it('retention floors combine as the lowest; unsubscribing one lifts it', async () => {
    const store = openStore();
    const t = store.createTopic(spec('e', 60_000));
    const old = Date.now() - 120_000;
    // Batches of two records, all past retention: offsets 0-1, 2-3, 4-5, 6-7.
    for (let i = 0; i < 4; i++) await store.append(t, 0, batchOf(2, old), undefined, false);
    const offLow = store.addRetentionFloor(() => 2);
    const offHigh = store.addRetentionFloor(() => 6);
    store.addRetentionFloor(() => undefined);
    expect(store.maintenanceStep(Date.now(), 100)).toBe(1);
    expect(store.partitionState(t.id, 0)!.logStartOffset).toBe(2);
    offLow();
    expect(store.maintenanceStep(Date.now(), 100)).toBe(2);
    expect(store.partitionState(t.id, 0)!.logStartOffset).toBe(6);
    offHigh();
    expect(store.maintenanceStep(Date.now(), 100)).toBe(1);
    expect(store.partitionState(t.id, 0)!.logStartOffset).toBe(8);
  });

  it('transaction participants: both are taken into the group; an unsubscribed one is not', async () => {
    const store = openStore();
    const t = store.createTopic(spec('f'));
    const taken = { first: 0, second: 0 };
    const participant = (name: keyof typeof taken): TxnParticipant => ({
      hasStaged: true,
      take: () => {
        taken[name]++;
        return { write: () => undefined, settle: () => undefined };
      },
    });
    const offFirst = store.addTxnParticipant(participant('first'));
    store.addTxnParticipant(participant('second'));
    await store.append(t, 0, batchOf(1), undefined, false);
    expect(taken).toEqual({ first: 1, second: 1 });
    offFirst();
    await store.append(t, 0, batchOf(1), undefined, false);
    expect(taken).toEqual({ first: 1, second: 2 });
  });
});
