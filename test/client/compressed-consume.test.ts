// Batches a Kafka producer compressed are stored as sent; the TS client's consumer and
// `tributary consume` (which runs on it) read their records. The batches are appended straight to
// the log, as the Kafka listener's produce will store them.
import { describe, expect, it } from 'vitest';
import type { ConsumedRecord } from '../../src/client/index.ts';
import { isTributaryError } from '../../src/errors.ts';
import { Codec } from '../../src/format/compression.ts';
import { encodeRecordBatch } from '../../src/format/record-batch.ts';
import { consumer, createTopic, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { fileURLToPath } from 'node:url';
import { bundlePath, cleanEnv } from '../helpers/child-broker.ts';
import { lines, run, runProcess } from '../helpers/cli.ts';
import { batchWithSection, fixtureFile, fixtureRecords } from '../fixtures/compression/records.ts';

/** One batch per way a Kafka client compresses, each holding fixtureRecords(). */
const compressed: [string, () => Buffer][] = [
  ['gzip', () => encodeRecordBatch(fixtureRecords(), { compression: 'gzip' })],
  ['snappy (raw)', () => encodeRecordBatch(fixtureRecords(), { compression: 'snappy' })],
  ['snappy (xerial, snappy-java)', () => batchWithSection(Codec.snappy, fixtureFile('section-java.snappy'))],
  ['lz4', () => encodeRecordBatch(fixtureRecords(), { compression: 'lz4' })],
  ['zstd (zstd-jni)', () => batchWithSection(Codec.zstd, fixtureFile('section-java.zstd'))],
];

async function appendBatches(broker: TestBroker, topic: string, batches: Buffer[]): Promise<void> {
  const b = broker.running.broker;
  for (const batch of batches) await b.store.append(b.findTopic(topic)!, 0, batch, undefined, true);
}

async function pollAll(c: Awaited<ReturnType<typeof consumer>>, count: number): Promise<ConsumedRecord[]> {
  const out: ConsumedRecord[] = [];
  while (out.length < count) out.push(...(await c.poll()));
  return out;
}

describe('reading compressed batches', () => {
  it('the consumer and `tributary consume` return every record of gzip, snappy, lz4 and zstd batches byte for byte', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'kafka-made', 1);
    await appendBatches(broker, 'kafka-made', compressed.map(([, make]) => make()));
    const expected = compressed.flatMap(() => fixtureRecords());

    const c = await consumer(broker);
    await c.assign([{ topic: 'kafka-made', partition: 0, offset: 'earliest' }]);
    const got = await pollAll(c, expected.length);
    expect(got.map((r) => r.offset)).toEqual(expected.map((_, i) => i));
    got.forEach((r, i) => {
      expect(r.timestampMs).toBe(expected[i].timestampMs);
      expect(r.key).toEqual(expected[i].key);
      expect(r.value).toEqual(expected[i].value);
      expect(r.headers).toEqual(expected[i].headers);
    });

    const cli = await run(['consume', 'kafka-made', '--offset', 'earliest', '--format', 'json'], { env: { TRIBUTARY_BROKER: `127.0.0.1:${broker.url.port}` } });
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const printed = lines(cli.stdout).map((l) => JSON.parse(l) as { offset: number; key: string | null; value: string });
    expect(printed.map((r) => r.offset)).toEqual(expected.map((_, i) => i));
    expect(printed.map((r) => r.value)).toEqual(expected.map((r) => r.value!.toString()));
    expect(printed.map((r) => r.key)).toEqual(expected.map((r) => r.key?.toString() ?? null));
  }, 60_000);

  it('a stored batch with a codec Tributary cannot read fails the read with UNSUPPORTED_COMPRESSION naming partition and offset', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'odd-codec', 1);
    // Produce refuses such a batch (checkBatchCompression); this one is put in the log directly, as
    // a data dir written elsewhere could hold it.
    await appendBatches(broker, 'odd-codec', [encodeRecordBatch(fixtureRecords().slice(0, 3)), batchWithSection(6, Buffer.from('?'), encodeRecordBatch(fixtureRecords().slice(0, 1)))]);

    const c = await consumer(broker);
    await c.assign([{ topic: 'odd-codec', partition: 0, offset: 3 }]);
    const err = await c.poll().then(
      () => null,
      (e: unknown) => e,
    );
    expect(isTributaryError(err, 'UNSUPPORTED_COMPRESSION')).toBe(true);
    expect((err as Error).message).toMatch(/^batch at offset 3 of odd-codec\/0: compression codec 6 is not one Kafka defines/);
    // The records before it came first (offset 3 was asked for, so none); it throws until a seek passes it.
    await expect(c.poll()).rejects.toMatchObject({ codeName: 'UNSUPPORTED_COMPRESSION' });
    await c.seek('odd-codec', 0, 4);
    expect(await c.poll()).toEqual([]);

    const cli = await run(['consume', 'odd-codec', '--offset', 'earliest'], { env: { TRIBUTARY_BROKER: `127.0.0.1:${broker.url.port}` } });
    expect(cli.code).toBe(1);
    expect(lines(cli.stderr)).toEqual([expect.stringMatching(/^tributary: UNSUPPORTED_COMPRESSION: batch at offset 3 of odd-codec\/0: compression codec 6/)]);
  }, 60_000);

  it('without lz4-napi, an lz4 batch fails the read with UNSUPPORTED_COMPRESSION saying lz4 is missing; the other codecs still read', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'lz4-less', 1);
    await appendBatches(broker, 'lz4-less', [encodeRecordBatch(fixtureRecords(), { compression: 'gzip' }), encodeRecordBatch(fixtureRecords(), { compression: 'lz4' })]);
    const shim = fileURLToPath(new URL('../fixtures/compression/no-lz4.cjs', import.meta.url));
    const env = { ...cleanEnv(), TRIBUTARY_BROKER: `127.0.0.1:${broker.url.port}` };
    const cli = (offset: string) => runProcess(process.execPath, ['--require', shim, bundlePath, 'consume', 'lz4-less', '--offset', offset, '--format', 'json'], { env });

    const gzipOnly = await cli('earliest').then((r) => r);
    // The gzip batch's records come out before the lz4 batch stops the read.
    expect(lines(gzipOnly.stdout)).toHaveLength(fixtureRecords().length);
    expect(gzipOnly.code).toBe(1);
    expect(lines(gzipOnly.stderr)).toEqual([
      expect.stringMatching(/^tributary: UNSUPPORTED_COMPRESSION: batch at offset 160 of lz4-less\/0: lz4 is not available on this machine \(lz4-napi did not load: Cannot find module 'lz4-napi'/),
    ]);
    // The same bundle without the shim reads it.
    const withLz4 = await run(['consume', 'lz4-less', '--offset', '160', '--format', 'json'], { env: { TRIBUTARY_BROKER: `127.0.0.1:${broker.url.port}` } });
    expect(withLz4.code).toBe(0);
    expect(lines(withLz4.stdout)).toHaveLength(fixtureRecords().length);
  }, 60_000);
});
