// The mirror ships the records of batches a Kafka producer compressed, one by one, against a real
// MQTT 5 upstream over TCP on 127.0.0.1; a stored batch it cannot read is left to onRejected.
import { describe, expect, it } from 'vitest';
import { Codec } from '../../src/format/compression.ts';
import { encodeRecordBatch } from '../../src/format/record-batch.ts';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { rec } from '../helpers/temp.ts';
import { startUpstream, until } from '../helpers/upstream.ts';
import { batchWithSection, fixtureFile, fixtureRecords } from '../fixtures/compression/records.ts';

async function edgeWith(port: number, mirror: Record<string, unknown> = {}): Promise<TestBroker> {
  const edge = await startTestBroker({
    edgeId: 'gw-1',
    mirrors: [{ name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${port}`, topics: ['telemetry'], backoff: { initialMs: 20, maxMs: 100 }, ...mirror }],
  });
  edge.running.broker.createTopic({ name: 'telemetry', partitions: 1 });
  return edge;
}

async function append(edge: TestBroker, batches: Buffer[]): Promise<void> {
  const b = edge.running.broker;
  for (const batch of batches) await b.store.append(b.findTopic('telemetry')!, 0, batch, undefined, true);
}

describe('mirroring compressed batches', () => {
  it('ships every record of gzip, snappy (raw and xerial), lz4 and zstd batches in offset order with its key', async () => {
    const up = await startUpstream();
    const edge = await edgeWith(up.port);
    await append(edge, [
      encodeRecordBatch(fixtureRecords(), { compression: 'gzip' }),
      encodeRecordBatch(fixtureRecords(), { compression: 'snappy' }),
      batchWithSection(Codec.snappy, fixtureFile('section-java.snappy')),
      encodeRecordBatch(fixtureRecords(), { compression: 'lz4' }),
      batchWithSection(Codec.zstd, fixtureFile('section-java.zstd')),
    ]);
    const expected = Array.from({ length: 5 }, () => fixtureRecords()).flat();
    await until(() => up.received.length >= expected.length, `${expected.length} records upstream`, 20_000);
    expect(up.received.map((r) => r.origin.offset)).toEqual(expected.map((_, i) => i));
    expect(up.received.map((r) => r.payload)).toEqual(expected.map((r) => r.value!.toString()));
    expect(up.received.map((r) => r.userProperties.key)).toEqual(expected.map((r) => r.key?.toString()));
  }, 60_000);

  it('onRejected skip: passes over a stored batch it cannot read, counts it and ships what follows', async () => {
    const up = await startUpstream();
    const edge = await edgeWith(up.port, { onRejected: 'skip' });
    const odd = batchWithSection(7, Buffer.from('not readable'), encodeRecordBatch([rec('x'), rec('y')]));
    await append(edge, [encodeRecordBatch([rec('a0'), rec('a1')]), odd, encodeRecordBatch([rec('b0')], { compression: 'gzip' })]);
    await until(() => up.received.length >= 3, '3 records upstream');
    expect(up.received.map((r) => [r.origin.offset, r.payload])).toEqual([
      [0, 'a0'],
      [1, 'a1'],
      [4, 'b0'],
    ]);
    const status = (await edge.running.mirrors!.status('cloud'));
    expect(status.rejectedRecords).toBe(1);
    expect(status.lastError?.code).toBe('UNSUPPORTED_COMPRESSION');
    expect(status.lastError?.message).toMatch(/^batch at offset 2: compression codec 7/);
  }, 60_000);

  it('onRejected stop: fails the mirror with its cursor on the unreadable batch', async () => {
    const up = await startUpstream();
    const edge = await edgeWith(up.port, { onRejected: 'stop' });
    const cursor = async () => (await edge.running.mirrors!.status('cloud')).partitions[0]?.cursor;
    // a0 acknowledged first: a stop aborts the session, and an ack still in flight would not count.
    await append(edge, [encodeRecordBatch([rec('a0')])]);
    await until(async () => (await cursor()) === 1, 'a0 acknowledged');
    const odd = batchWithSection(5, Buffer.from('?'), encodeRecordBatch([rec('x')]));
    await append(edge, [odd, encodeRecordBatch([rec('b0')])]);
    await until(async () => (await edge.running.mirrors!.status('cloud')).state === 'failed', 'mirror failed');
    expect((await cursor())).toBe(1);
    expect(up.received.map((r) => r.payload)).toEqual(['a0']);
    expect((await edge.running.mirrors!.status('cloud')).lastError?.code).toBe('UNSUPPORTED_COMPRESSION');
  }, 60_000);
});
