import { describe, expect, it } from 'vitest';
import { decodeRecordBatch, encodeRecordBatch } from '../../src/format/record-batch.ts';
import { partitionForKey } from '../../src/broker/partitioner.ts';
import { openBroker, rec, tempDir } from '../helpers/temp.ts';

describe('Broker', () => {
  it('auto-creates topics with the defaults, or refuses with UNKNOWN_TOPIC when off', async () => {
    const b = openBroker(undefined, {}, { defaultPartitions: 3 });
    await b.produce({ topic: 'auto', records: [rec('x')], acks: 1 });
    expect(b.describeTopic('auto').partitions).toHaveLength(3);
    const strict = openBroker(undefined, {}, { autoCreate: false });
    await expect(strict.produce({ topic: 'nope', records: [rec('x')], acks: 1 })).rejects.toMatchObject({ codeName: 'UNKNOWN_TOPIC' });
    await expect(strict.produce({ topic: 'bad name!', records: [rec('x')], acks: 1 })).rejects.toMatchObject({ codeName: 'INVALID_TOPIC' });
  });

  it('sends a key to partition toPositive(murmur2(key)) % n, stable across calls and restarts', async () => {
    const dir = tempDir();
    const b = openBroker(dir);
    b.createTopic({ name: 'keys', partitions: 6 });
    const keys = ['sensor-1', 'sensor-2', 'foobar', 'a', 'b', 'c', 'd'];
    for (const k of keys) {
      const r = await b.produce({ topic: 'keys', records: [rec('v', k)], acks: 1 });
      expect(r.partition).toBe(partitionForKey(Buffer.from(k), 6));
      const again = await b.produce({ topic: 'keys', records: [rec('v', k)], acks: 'all' });
      expect(again.partition).toBe(r.partition);
    }
  });

  it('spreads unkeyed records round robin and honours an explicit partition', async () => {
    const b = openBroker();
    b.createTopic({ name: 'rr', partitions: 3 });
    const parts = [];
    for (let i = 0; i < 6; i++) parts.push((await b.produce({ topic: 'rr', records: [rec('v')], acks: 1 })).partition);
    expect(parts).toEqual([0, 1, 2, 0, 1, 2]);
    expect((await b.produce({ topic: 'rr', partition: 2, records: [rec('v', 'k')], acks: 0 })).partition).toBe(2);
    await expect(b.produce({ topic: 'rr', partition: 3, records: [rec('v')], acks: 1 })).rejects.toMatchObject({ codeName: 'INVALID_PARTITION' });
  });

  it('parks a fetch at the end of the log and wakes it with the next append, not a timer', async () => {
    const b = openBroker();
    b.createTopic({ name: 'lp' });
    const started = Date.now();
    const pending = b.fetch('lp', 0, 0, 1 << 20, 30_000);
    expect(b.parkedFetches).toBe(1);
    setTimeout(() => void b.produce({ topic: 'lp', records: [rec('wake')], acks: 1 }), 50);
    const r = await pending;
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(decodeRecordBatch(r.batches[0])[0].value!.toString()).toBe('wake');
    expect(b.parkedFetches).toBe(0);
  });

  it('does not park a fetch whose signal is already aborted', async () => {
    const b = openBroker();
    b.createTopic({ name: 'gone' });
    const started = Date.now();
    const r = await b.fetch('gone', 0, 0, 1000, 20_000, AbortSignal.abort());
    expect(r.batches).toEqual([]);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(b.parkedFetches).toBe(0);
  });

  it('returns an empty result when maxWait passes with no data', async () => {
    const b = openBroker();
    b.createTopic({ name: 'empty' });
    const r = await b.fetch('empty', 0, 0, 1000, 30);
    expect(r.batches).toEqual([]);
    expect(r.nextOffset).toBe(0);
  });

  it('grows the partition count, never shrinks it, and deletes topics', () => {
    const b = openBroker();
    b.createTopic({ name: 'grow', partitions: 2 });
    expect(b.growTopic('grow', 5).partitions).toHaveLength(5);
    expect(() => b.growTopic('grow', 3)).toThrowError(expect.objectContaining({ codeName: 'INVALID_REQUEST' }));
    expect(() => b.createTopic({ name: 'grow' })).toThrowError(expect.objectContaining({ codeName: 'TOPIC_EXISTS' }));
    b.deleteTopic('grow');
    expect(b.listTopics().map((t) => t.name)).toEqual([]);
    expect(() => b.describeTopic('grow')).toThrowError(expect.objectContaining({ codeName: 'UNKNOWN_TOPIC' }));
  });

  it('runs retention in the background on its schedule', async () => {
    const b = openBroker(undefined, {}, { retentionCheckIntervalMs: 20, defaultRetentionMs: 1000 });
    b.createTopic({ name: 'ret' });
    await b.produce({ topic: 'ret', records: [rec('old', null, Date.now() - 5000)], acks: 1 });
    await b.produce({ topic: 'ret', records: [rec('new')], acks: 1 });
    b.start();
    const deadline = Date.now() + 5000;
    while (b.describeTopic('ret').partitions[0].logStartOffset === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(b.describeTopic('ret').partitions[0]).toMatchObject({ logStartOffset: 1, nextOffset: 2 });
  });

  it('lets small shareBatch requests of one turn share a batch, each with its own offsets, in call order', async () => {
    const b = openBroker();
    b.createTopic({ name: 'share', partitions: 2 });
    const before = b.store.stats().appends;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => b.produce({ topic: 'share', partition: i % 2, records: [rec(`a${i}`), rec(`b${i}`)], acks: 1, shareBatch: true })),
    );
    expect(b.store.stats().appends - before).toBe(2);
    expect(results.filter((r) => r.partition === 0).map((r) => r.baseOffset)).toEqual([0, 2, 4, 6, 8]);
    const batch = (await b.fetch('share', 1, 0, 1 << 20, 0)).batches;
    expect(batch).toHaveLength(1);
    expect(decodeRecordBatch(batch[0]).map((r) => r.value!.toString())).toEqual(['a1', 'b1', 'a3', 'b3', 'a5', 'b5', 'a7', 'b7', 'a9', 'b9']);
  });

  it('commits a shared batch in the group transaction of the turn it was produced in', async () => {
    const b = openBroker();
    b.createTopic({ name: 'turn' });
    const before = b.store.stats().groupTxns;
    const shared = b.produce({ topic: 'turn', records: [rec('s')], acks: 1, shareBatch: true });
    // A produce of its own in the same turn starts the store's group transaction, which takes the
    // shared batch too (its commit runs off the loop, so the test waits for the acks, not a turn).
    const own = b.produce({ topic: 'turn', records: [rec('o')], acks: 1 });
    await Promise.all([shared, own]);
    expect(b.store.stats().groupTxns - before).toBe(1);
    expect(b.describeTopic('turn').partitions[0].nextOffset).toBe(2);
  });

  it('fails every request of a shared batch that storage refuses', async () => {
    // Room for one of the records in a batch of its own, not for the three sharing one.
    const alone = encodeRecordBatch([rec('x'.repeat(40))]).length;
    const b = openBroker(undefined, { diskBudgetBytes: alone + 20, diskBudgetPolicy: 'reject-new' });
    b.createTopic({ name: 'full' });
    const all = Array.from({ length: 3 }, () => b.produce({ topic: 'full', records: [rec('x'.repeat(40))], acks: 1, shareBatch: true }));
    for (const p of all) await expect(p).rejects.toMatchObject({ codeName: 'STORAGE_FULL' });
    // One error returned per request, though the three share one error object.
    expect(b.counters.errors.get('STORAGE_FULL')).toBe(3);
  });

  it('keeps arrival order across shared batches with different acks', async () => {
    const b = openBroker();
    b.createTopic({ name: 'mixed' });
    const acks = [1, 'all', 0, 'all', 1] as const;
    const results = await Promise.all(acks.map((a, i) => b.produce({ topic: 'mixed', records: [rec(`m${i}`)], acks: a, shareBatch: true })));
    expect(results.map((r) => r.baseOffset)).toEqual([0, 1, 2, 3, 4]);
    const records = (await b.fetch('mixed', 0, 0, 1 << 20, 0)).batches.flatMap((batch) => decodeRecordBatch(batch));
    expect(records.map((r) => r.value!.toString())).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  it('appends the shared batches still waiting when it closes', async () => {
    const dir = tempDir();
    const b = openBroker(dir);
    b.createTopic({ name: 'late' });
    const produced = b.produce({ topic: 'late', records: [rec('last')], acks: 1, shareBatch: true });
    await b.close();
    await expect(produced).resolves.toMatchObject({ baseOffset: 0 });
    const again = openBroker(dir);
    expect(again.describeTopic('late').partitions[0]).toMatchObject({ nextOffset: 1 });
  });
});
