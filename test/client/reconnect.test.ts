import net from 'node:net';
import { describe, expect, it } from 'vitest';
import type { RecordMetadata } from '../../src/client/index.ts';
import { onCleanup } from '../helpers/temp.ts';
import { byPartition, consumer, createTopic, producer, readAll, startTestBroker, type TestBroker } from '../helpers/broker.ts';

/** Every value 0..n-1 stored exactly once, and in send order within each partition. */
async function expectExactlyOnce(broker: TestBroker, topic: string, partitions: number, n: number): Promise<void> {
  const records = await readAll(broker, topic, partitions, n);
  const values = records.map((r) => Number(r.value!.toString()));
  expect(values.length).toBe(n);
  expect(new Set(values).size).toBe(n);
  for (const list of byPartition(records).values()) {
    const inPartition = list.map((r) => Number(r.value!.toString()));
    expect(inPartition).toEqual([...inPartition].sort((a, b) => a - b));
  }
}

describe('Producer reconnection and idempotent retransmission', () => {
  it('survives dropped sockets mid-stream with no duplicates and no losses', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'idem', 3);
    const p = await producer(broker, { batchRecordsMax: 50, lingerMs: 1, inflightFramesMax: 16 });
    const n = 6000;
    const sends: Promise<RecordMetadata>[] = [];
    for (let i = 0; i < n; i++) {
      sends.push(p.send({ topic: 'idem', key: `k${i % 7}`, value: String(i) }));
      // Drop the link while frames are in flight, after some were acknowledged.
      if (i % 2000 === 1999) {
        await sends[i - 1500];
        p.connection!.destroy();
      }
    }
    const metas = await Promise.all(sends);
    // Only a duplicate may lack its location [EDGE-7.5]; every location given holds the value sent.
    expect(metas.filter((m) => m.topic !== 'idem' || (m.offset < 0 && !m.duplicate) || m.offset < -1)).toEqual([]);
    const stored = new Map((await readAll(broker, 'idem', 3, n)).map((r) => [`${r.partition}/${r.offset}`, r.value!.toString()]));
    const misplaced = metas.flatMap((m, i) => (m.offset >= 0 && stored.get(`${m.partition}/${m.offset}`) !== String(i) ? [{ i, ...m }] : []));
    expect(misplaced).toEqual([]);
    await expectExactlyOnce(broker, 'idem', 3, n);
  });

  it('retransmits across a broker restart on the same port and data dir', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'restart', 2);
    const p = await producer(broker, { batchRecordsMax: 100, lingerMs: 1, acks: 'all' });
    const n = 4000;
    const sends: Promise<RecordMetadata>[] = [];
    for (let i = 0; i < n / 2; i++) sends.push(p.send({ topic: 'restart', value: String(i), partition: i % 2 }));
    await sends[500];
    await broker.stop();
    await broker.start();
    for (let i = n / 2; i < n; i++) sends.push(p.send({ topic: 'restart', value: String(i), partition: i % 2 }));
    await Promise.all(sends);
    await expectExactlyOnce(broker, 'restart', 2, n);
  });

  it('reconnects lazily when the link dropped while idle', async () => {
    const broker = await startTestBroker();
    const p = await producer(broker);
    expect((await p.send({ topic: 'lazy', value: 'a' })).offset).toBe(0);
    await broker.stop();
    await broker.start();
    expect((await p.send({ topic: 'lazy', value: 'b' })).offset).toBe(1);
  });

  it('gives up after `retries` failed reconnects and rejects what is pending', async () => {
    const broker = await startTestBroker();
    const p = await producer(broker, { retries: 2, lingerMs: 0 });
    await p.send({ topic: 'gone', value: 'stored' });
    const start = Date.now();
    await broker.stop();
    // Something still listens on the port and hangs up at once: each reconnect attempt is counted.
    let attempts = 0;
    const hangUp = net.createServer((socket) => {
      attempts++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => hangUp.listen(broker.url.port, '127.0.0.1', resolve));
    onCleanup(() => new Promise<void>((resolve) => hangUp.close(() => resolve())));
    const err = await p.send({ topic: 'gone', value: 'lost' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'TributaryError' });
    expect(attempts).toBe(2);
    expect(Date.now() - start).toBeLessThan(3_000);
    await p.flush();
  });

  it('continues the sequence of a stable clientId across producer instances', async () => {
    const broker = await startTestBroker();
    for (let run = 0; run < 3; run++) {
      const p = await producer(broker, { clientId: 'gateway-7' });
      const metas = await p.sendBatch(Array.from({ length: 5 }, (_, i) => ({ topic: 'stable', value: String(run * 5 + i) })));
      expect(metas.map((m) => [m.offset, m.duplicate])).toEqual(Array.from({ length: 5 }, (_, i) => [run * 5 + i, false]));
      await p.close();
    }
    await expectExactlyOnce(broker, 'stable', 1, 15);
  });

  it('fails for good when another producer takes over its clientId, instead of evicting it back', async () => {
    const broker = await startTestBroker();
    const first = await producer(broker, { clientId: 'twin', lingerMs: 0 });
    await first.send({ topic: 'twin', value: 'a' });
    const second = await producer(broker, { clientId: 'twin', lingerMs: 0 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await expect(first.send({ topic: 'twin', value: 'b' })).rejects.toMatchObject({ codeName: 'INVALID_REQUEST' });
    expect((await second.send({ topic: 'twin', value: 'c' })).offset).toBe(1);
  });
});

describe('Consumer reconnection', () => {
  it('reports a lost broker from poll() and resumes at its position once it is back', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'resume', 1);
    const p = await producer(broker, { lingerMs: 0 });
    await p.sendBatch(Array.from({ length: 3 }, (_, i) => ({ topic: 'resume', value: String(i) })));
    const c = await consumer(broker);
    await c.assign([{ topic: 'resume', partition: 0, offset: 'earliest' }]);
    expect(await c.poll()).toHaveLength(3);

    await broker.stop();
    await expect(c.poll()).rejects.toMatchObject({ name: 'TributaryError' });
    await broker.start();
    await p.send({ topic: 'resume', value: '3' });
    let got: string[] = [];
    for (let i = 0; i < 10 && got.length === 0; i++) got = (await c.poll()).map((r) => r.value!.toString());
    expect(got).toEqual(['3']);
  });
});
