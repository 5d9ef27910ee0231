// Idempotent producer state of both protocols in one shape (src/storage/producer-state.ts): Kafka
// producers' per-partition sequences checked as Kafka's broker checks them, written in the transaction
// of the batches, kept across a restart; edge clients' sequences migrated from storage format 2.
import path from 'node:path';
import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { decodeRecordBatch, encodeRecordBatch } from '../../src/format/record-batch.ts';
import { LogStore } from '../../src/storage/log-store.ts';
import type { KafkaProducerRef } from '../../src/storage/producer-state.ts';
import { onCleanup, rec, storeOptions, tempDir } from '../helpers/temp.ts';

function openStore(dir: string) {
  const store = new LogStore(storeOptions(dir));
  onCleanup(() => store.close());
  return store;
}

const batchOf = (value: string) => encodeRecordBatch([rec(value)]);
const spec = (name: string, partitions = 1) => ({ name, partitions, retentionMs: -1, retentionBytes: -1 });
const kafka = (firstSeq: number, epoch = 0, producerId = '7', records = 1): KafkaProducerRef => ({ producerId, epoch, firstSeq, lastSeq: firstSeq + records - 1 });

function values(store: LogStore, topic: string, partition = 0): string[] {
  const out: string[] = [];
  for (const b of store.read(store.getTopic(topic)!, partition, 0, 1 << 30).batches) for (const r of decodeRecordBatch(b)) out.push(r.value!.toString());
  return out;
}

describe('Kafka producer state', () => {
  it('appends the next sequence, answers a retry of one of the last 5 batches with its original offset, and refuses gaps and old epochs', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('k', 2));
    for (let seq = 0; seq < 6; seq++) expect(await store.append(t, 0, batchOf(`a${seq}`), kafka(seq), false)).toEqual({ baseOffset: seq, duplicate: false });
    // Batches 1..5 are kept; batch 0 is not: its retry is neither kept nor the next sequence.
    expect(await store.append(t, 0, batchOf('a2'), kafka(2), false)).toEqual({ baseOffset: 2, duplicate: true });
    expect(await store.append(t, 0, batchOf('a5'), kafka(5), false)).toEqual({ baseOffset: 5, duplicate: true });
    await expect(store.append(t, 0, batchOf('a0'), kafka(0), false)).rejects.toMatchObject({ codeName: 'OUT_OF_ORDER_SEQUENCE' });
    await expect(store.append(t, 0, batchOf('gap'), kafka(7), false)).rejects.toMatchObject({ codeName: 'OUT_OF_ORDER_SEQUENCE' });
    // Each partition has its own sequence: partition 1 starts anywhere (no state yet).
    expect((await store.append(t, 1, batchOf('p1'), kafka(0), false)).duplicate).toBe(false);
    // A new epoch starts at 0; after it the old epoch is fenced.
    await expect(store.append(t, 0, batchOf('e1'), kafka(6, 1), false)).rejects.toMatchObject({ codeName: 'OUT_OF_ORDER_SEQUENCE' });
    expect(await store.append(t, 0, batchOf('e1'), kafka(0, 1), false)).toEqual({ baseOffset: 6, duplicate: false });
    await expect(store.append(t, 0, batchOf('old'), kafka(6, 0), false)).rejects.toMatchObject({ codeName: 'INVALID_PRODUCER_EPOCH' });
    expect(values(store, 'k')).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'e1']);
  });

  it('checks a batch against the ones before it in the same transaction, and wraps after sequence 2^31-1', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('same'));
    const max = 2 ** 31 - 1;
    const results = await Promise.all([
      store.append(t, 0, batchOf('x'), kafka(max - 1, 0, '9', 2), false),
      store.append(t, 0, batchOf('x'), kafka(max - 1, 0, '9', 2), false),
      store.append(t, 0, batchOf('y'), kafka(0, 0, '9'), false),
    ]);
    expect(results).toEqual([
      { baseOffset: 0, duplicate: false },
      { baseOffset: 0, duplicate: true },
      { baseOffset: 1, duplicate: false },
    ]);
  });

  it('is kept across a restart, with the offsets of the kept batches', async () => {
    const dir = tempDir();
    const s1 = new LogStore(storeOptions(dir));
    const t = s1.createTopic(spec('persist'));
    for (let seq = 0; seq < 3; seq++) await s1.append(t, 0, batchOf(`r${seq}`), kafka(seq, 2, '123456789012345678'), false);
    await s1.close();
    const s2 = openStore(dir);
    const t2 = s2.getTopic('persist')!;
    expect(await s2.append(t2, 0, batchOf('r1'), kafka(1, 2, '123456789012345678'), false)).toEqual({ baseOffset: 1, duplicate: true });
    await expect(s2.append(t2, 0, batchOf('r9'), kafka(9, 2, '123456789012345678'), false)).rejects.toMatchObject({ codeName: 'OUT_OF_ORDER_SEQUENCE' });
    expect((await s2.append(t2, 0, batchOf('r3'), kafka(3, 2, '123456789012345678'), false)).baseOffset).toBe(3);
    // The row is written in the transaction of the batch: its newest batch is the log's last one.
    const rows = [...s2.lmdb.producerState.getRange()];
    expect(rows.map((r) => [r.key, r.value[0], r.value[2]])).toEqual([[['k:123456789012345678', t2.id, 0], 2, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]]]);
    expect(values(s2, 'persist')).toEqual(['r0', 'r1', 'r2', 'r3']);
  });

  it('is forgotten after seven days without a produce, and the producer may then start at any sequence', async () => {
    const store = openStore(tempDir());
    const t = store.createTopic(spec('exp'));
    await store.append(t, 0, batchOf('a'), kafka(0), false);
    expect(store.maintenanceStep(Date.now(), 100)).toBe(0);
    expect(store.maintenanceStep(Date.now() + 8 * 86_400_000, 100)).toBeGreaterThan(0);
    expect([...store.lmdb.producerState.getKeys()]).toEqual([]);
    expect((await store.append(t, 0, batchOf('b'), kafka(40), false)).duplicate).toBe(false);
  });

  it('hands out producer ids never handed out before, also across a restart', async () => {
    const dir = tempDir();
    const s1 = new LogStore(storeOptions(dir));
    const first = await Promise.all([s1.newProducerId(), s1.newProducerId(), s1.newProducerId()]);
    expect(new Set(first).size).toBe(3);
    await s1.close();
    const s2 = openStore(dir);
    const after = await s2.newProducerId();
    expect(after).toBeGreaterThan(Math.max(...first));
  });
});

describe('storage format 2 → 3', () => {
  it("moves every edge client's stored sequence into the shared producer state once, when the data dir is opened", async () => {
    const dir = tempDir();
    const now = Date.now();
    // Format 2's layout: client id → [lastSeq, lastSeenMs] in a database of its own.
    const env = open({ path: path.join(dir, 'tributary.lmdb'), maxDbs: 32 });
    const meta = env.openDB({ name: 'meta' });
    const old = env.openDB({ name: 'producers' });
    env.transactionSync(() => {
      meta.putSync('formatVersion', 2);
      old.putSync('dev-1', [7, now]);
      old.putSync('dev-2', [1, now - 8 * 86_400_000]);
    });
    await env.close();

    const store = new LogStore(storeOptions(dir));
    expect(store.lmdb.meta.get('formatVersion')).toBe(3);
    expect([store.lastProducerSeq('dev-1'), store.lastProducerSeq('dev-2'), store.lastProducerSeq('dev-3')]).toEqual([7, 1, 0]);
    const t = store.createTopic(spec('edge'));
    expect((await store.append(t, 0, batchOf('again'), { clientId: 'dev-1', seq: 7 }, false)).duplicate).toBe(true);
    expect((await store.append(t, 0, batchOf('next'), { clientId: 'dev-1', seq: 8 }, false)).duplicate).toBe(false);
    // Its last-seen time came along: the idle one still expires.
    store.maintenanceStep(now, 100);
    expect([store.lastProducerSeq('dev-1'), store.lastProducerSeq('dev-2')]).toEqual([8, 0]);
    await store.close();

    // Once: the old database is gone, and the sequences moved on from there stay.
    const check = open({ path: path.join(dir, 'tributary.lmdb'), maxDbs: 32 });
    expect([...check.openDB({ name: 'producers' }).getKeys()]).toEqual([]);
    await check.close();
    const reopened = openStore(dir);
    expect(reopened.lastProducerSeq('dev-1')).toBe(8);
    expect(values(reopened, 'edge')).toEqual(['next']);
  });
});
