import { describe, expect, it } from 'vitest';
import { partitionForKey } from '../../src/broker/partitioner.ts';
import { admin, byPartition, consumer, createTopic, producer, readAll, startTestBroker } from '../helpers/broker.ts';

describe('Producer → Consumer over a real broker', () => {
  it('round-trips keys, headers, null values and timestamps', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'rt', 3);
    const p = await producer(broker);
    const sent = [
      { topic: 'rt', key: 'k1', value: 'v1', headers: { h: 'x', empty: null, bin: new Uint8Array([0, 255]) }, timestampMs: 1_700_000_000_000 },
      { topic: 'rt', key: new Uint8Array([1, 2, 3]), value: null, timestampMs: 1_600_000_000_000 },
      { topic: 'rt', value: 'no key', timestampMs: 5 },
      { topic: 'rt', key: null, value: new Uint8Array(0), partition: 2, timestampMs: 0 },
    ];
    const metas = await Promise.all(sent.map((r) => p.send(r)));
    expect(metas.map((m) => m.duplicate)).toEqual([false, false, false, false]);
    expect(metas[3].partition).toBe(2);

    const records = await readAll(broker, 'rt', 3, sent.length);
    expect(records).toHaveLength(sent.length);
    const at = (i: number) => records.find((r) => r.partition === metas[i].partition && r.offset === metas[i].offset)!;
    expect(at(0).key!.toString()).toBe('k1');
    expect(at(0).value!.toString()).toBe('v1');
    expect(at(0).timestampMs).toBe(1_700_000_000_000);
    expect(at(0).headers).toEqual([
      { key: 'h', value: Buffer.from('x') },
      { key: 'empty', value: null },
      { key: 'bin', value: Buffer.from([0, 255]) },
    ]);
    expect(at(1).key).toEqual(Buffer.from([1, 2, 3]));
    expect(at(1).value).toBeNull();
    expect(at(1).timestampMs).toBe(1_600_000_000_000);
    expect(at(2).key).toBeNull();
    expect(at(2).timestampMs).toBe(5);
    expect(at(3).value).toEqual(Buffer.alloc(0));
    expect(at(3).timestampMs).toBe(0);
    expect(at(3).headers).toEqual([]);
  });

  it('keeps send order within each partition over many batches (20,000 records, 4 partitions)', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'order', 4);
    const p = await producer(broker, { batchRecordsMax: 200, inflightFramesMax: 8 });
    const n = 20_000;
    // Not awaited one by one: the burst goes through the backpressure queue.
    const metas = await Promise.all(Array.from({ length: n }, (_, i) => p.send({ topic: 'order', key: `k${i % 37}`, value: String(i) })));
    for (const [partition, list] of byPartition(await readAll(broker, 'order', 4, n))) {
      for (let i = 1; i < list.length; i++) {
        expect(list[i].offset).toBe(list[i - 1].offset + 1);
        expect(Number(list[i].value)).toBeGreaterThan(Number(list[i - 1].value));
      }
      expect(list.length).toBe(metas.filter((m) => m.partition === partition).length);
    }
    const offsets = new Set(metas.map((m) => `${m.partition}:${m.offset}`));
    expect(offsets.size).toBe(n);
  });

  it('puts keyed records on partitionForKey(key) and spreads unkeyed ones', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'keys', 6);
    const p = await producer(broker, { lingerMs: 0, batchRecordsMax: 10 });
    const keys = ['sensor-1', 'sensor-2', 'foobar', 'a', 'b', 'c', 'd', 'ünïcode'];
    for (const key of keys) {
      const expected = partitionForKey(Buffer.from(key), 6);
      for (let i = 0; i < 3; i++) expect((await p.send({ topic: 'keys', key, value: 'v' })).partition).toBe(expected);
    }
    const unkeyed = await p.sendBatch(Array.from({ length: 200 }, (_, i) => ({ topic: 'keys', value: String(i) })));
    expect(new Set(unkeyed.map((m) => m.partition)).size).toBeGreaterThan(1);
  });

  it('acks 0, 1 and all: offsets known for 1 and all, every record stored', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'acks', 1);
    const results = [];
    for (const acks of [0, 1, 'all'] as const) {
      const p = await producer(broker, { acks });
      results.push(await p.sendBatch(Array.from({ length: 10 }, (_, i) => ({ topic: 'acks', value: `${acks}-${i}` }))));
      await p.flush();
    }
    expect(results[0].every((m) => m.offset === -1 && !m.duplicate)).toBe(true);
    expect(results[1].map((m) => m.offset)).toEqual(Array.from({ length: 10 }, (_, i) => 10 + i));
    expect(results[2].map((m) => m.offset)).toEqual(Array.from({ length: 10 }, (_, i) => 20 + i));
    const values = (await readAll(broker, 'acks', 1, 30)).map((r) => r.value!.toString());
    expect(values.slice(0, 10)).toEqual(Array.from({ length: 10 }, (_, i) => `0-${i}`));
    expect(values).toHaveLength(30);
  });

  it('rejects invalid records with typed errors and auto-creates topics on first send', async () => {
    const broker = await startTestBroker({ topics: { defaultPartitions: 2 } });
    const p = await producer(broker, { batchBytesMax: 1024 });
    expect((await p.send({ topic: 'auto', value: 'x' })).partition).toBeLessThan(2);
    await expect(p.send({ topic: 'auto', value: 'x', partition: 2 })).rejects.toMatchObject({ codeName: 'INVALID_PARTITION' });
    await expect(p.send({ topic: 'auto', value: 'x'.repeat(2000) })).rejects.toMatchObject({ codeName: 'RECORD_TOO_LARGE' });
    await expect(p.send({ topic: 'bad name!', value: 'x' })).rejects.toMatchObject({ codeName: 'INVALID_TOPIC' });
    await expect(p.sendBatch([{ topic: 'auto', value: 'ok' }, { topic: 'no/such', value: 'x' }])).rejects.toMatchObject({ codeName: 'INVALID_TOPIC' });
    const last = await p.send({ topic: 'auto', value: 'still fine' });
    const auto = await (await admin(broker)).describeTopic('auto');
    expect(auto.partitions).toHaveLength(2);
    expect(last.offset).toBe(auto.partitions[last.partition].nextOffset - 1);
  });

  it('refuses unknown topics when auto-creation is off', async () => {
    const broker = await startTestBroker({ topics: { autoCreate: false } });
    const p = await producer(broker);
    await expect(p.send({ topic: 'missing', value: 'x' })).rejects.toMatchObject({ codeName: 'UNKNOWN_TOPIC' });
    const c = await consumer(broker);
    await expect(c.assign([{ topic: 'missing', partition: 0 }])).rejects.toMatchObject({ codeName: 'UNKNOWN_TOPIC' });
  });

  it('resolves earliest, latest and explicit offsets, and seeks', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'offsets', 1);
    const p = await producer(broker);
    await p.sendBatch(Array.from({ length: 10 }, (_, i) => ({ topic: 'offsets', value: String(i) })));
    const c = await consumer(broker);

    await c.assign([{ topic: 'offsets', partition: 0, offset: 'earliest' }]);
    expect(c.position('offsets', 0)).toBe(0);
    await c.assign([{ topic: 'offsets', partition: 0, offset: 'latest' }]);
    expect(c.position('offsets', 0)).toBe(10);
    expect(await c.poll()).toEqual([]);

    await c.seek('offsets', 0, 7);
    expect((await c.poll()).map((r) => r.offset)).toEqual([7, 8, 9]);
    expect(c.position('offsets', 0)).toBe(10);
    await p.send({ topic: 'offsets', value: '10' });
    expect((await c.poll()).map((r) => r.value!.toString())).toEqual(['10']);

    // Default offset: autoOffsetReset ('latest').
    await c.assign([{ topic: 'offsets', partition: 0 }]);
    expect(c.position('offsets', 0)).toBe(11);
    expect(() => c.position('offsets', 1)).toThrow(expect.objectContaining({ codeName: 'INVALID_REQUEST' }));
    await expect(c.assign([{ topic: 'offsets', partition: 1 }])).rejects.toMatchObject({ codeName: 'INVALID_PARTITION' });
  });

  it('OFFSET_OUT_OF_RANGE throws with autoOffsetReset none and resets otherwise', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'oor', 1);
    const p = await producer(broker);
    await p.sendBatch(Array.from({ length: 5 }, (_, i) => ({ topic: 'oor', value: String(i) })));

    const strict = await consumer(broker, { autoOffsetReset: 'none' });
    await strict.assign([{ topic: 'oor', partition: 0, offset: 100 }]);
    await expect(strict.poll()).rejects.toMatchObject({ codeName: 'OFFSET_OUT_OF_RANGE' });
    await strict.seek('oor', 0, 'earliest');
    expect(await strict.poll()).toHaveLength(5);

    const early = await consumer(broker, { autoOffsetReset: 'earliest' });
    await early.assign([{ topic: 'oor', partition: 0, offset: 100 }]);
    const got = [];
    for (let i = 0; i < 5 && got.length < 5; i++) got.push(...(await early.poll()));
    expect(got.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4]);

    const late = await consumer(broker, { autoOffsetReset: 'latest' });
    await late.assign([{ topic: 'oor', partition: 0, offset: 100 }]);
    expect(await late.poll()).toEqual([]);
    await late.poll();
    expect(late.position('oor', 0)).toBe(5);
  });

  it('long-polls: an idle poll waits about maxWaitMs, a record wakes it', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'idle', 2);
    const c = await consumer(broker, { maxWaitMs: 300 });
    await c.assign([0, 1].map((partition) => ({ topic: 'idle', partition, offset: 'latest' as const })));
    let start = Date.now();
    expect(await c.poll()).toEqual([]);
    expect(Date.now() - start).toBeGreaterThanOrEqual(250);

    const p = await producer(broker, { lingerMs: 0 });
    start = Date.now();
    const polled = c.poll();
    setTimeout(() => void p.send({ topic: 'idle', value: 'wake', partition: 1 }), 50);
    const records = await polled;
    expect(records.map((r) => r.value!.toString())).toEqual(['wake']);
    expect(Date.now() - start).toBeLessThan(280);
  });

  it('a seek during a waiting poll ends that poll instead of leaving it hanging', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'seek', 1);
    const p = await producer(broker);
    await p.sendBatch(Array.from({ length: 4 }, (_, i) => ({ topic: 'seek', value: String(i) })));
    const c = await consumer(broker, { maxWaitMs: 5_000 });
    await c.assign([{ topic: 'seek', partition: 0, offset: 'latest' }]);
    const start = Date.now();
    const polled = c.poll();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await c.seek('seek', 0, 1);
    expect(await polled).toEqual([]);
    expect(Date.now() - start).toBeLessThan(1_000);
    expect((await c.poll()).map((r) => r.offset)).toEqual([1, 2, 3]);
  });

  it('waits maxWaitMs in a poll without assignments rather than spinning', async () => {
    const broker = await startTestBroker();
    const c = await consumer(broker, { maxWaitMs: 200 });
    const start = Date.now();
    expect(await c.poll()).toEqual([]);
    expect(Date.now() - start).toBeGreaterThanOrEqual(190);
  });

  it('iterates records until close()', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'iter', 1);
    const p = await producer(broker);
    await p.sendBatch(Array.from({ length: 3 }, (_, i) => ({ topic: 'iter', value: String(i) })));
    const c = await consumer(broker);
    await c.assign([{ topic: 'iter', partition: 0, offset: 'earliest' }]);
    const seen: string[] = [];
    for await (const r of c) {
      seen.push(r.value!.toString());
      if (seen.length === 3) await c.close();
    }
    expect(seen).toEqual(['0', '1', '2']);
  });

  it('flush() sends lingering batches at once and close() rejects later sends', async () => {
    const broker = await startTestBroker();
    const p = await producer(broker, { lingerMs: 60_000 });
    const sent = p.send({ topic: 'flush', value: 'x' });
    await p.flush();
    expect((await sent).offset).toBe(0);
    await p.close();
    await expect(p.send({ topic: 'flush', value: 'y' })).rejects.toMatchObject({ codeName: 'INVALID_REQUEST' });
  });
});
