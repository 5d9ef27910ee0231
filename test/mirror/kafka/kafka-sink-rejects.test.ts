// Records the central cluster refuses, against a second Tributary as the central Kafka endpoint: its
// Kafka listener refuses a record batch above limits.appendBytesMax with MESSAGE_TOO_LARGE, so a
// record that just fits one batch at the edge is too large upstream once it carries the `origin`
// header. What arrived is read from the outside with kcat.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { batchCodec, readBatchInfo, type RecordInput } from '../../../src/format/record-batch.ts';
import { until } from '../../helpers/upstream.ts';
import { arrived, hasKcat, largestRecord, produceThenResume, refusedAtCentral, setup, small, storedBatches } from './central-fixtures.ts';

describe.runIf(hasKcat || process.env.CI)('kafka sink: records the upstream refuses', () => {
  it('a record over the upstream limit (maxMessageBytes 64 MiB, so it is sent), onRejected skip: counted, the others arrive once, in order', async () => {
    const { central, edge } = await setup({ maxMessageBytes: '64MiB', onRejected: 'skip' });
    const big = largestRecord();
    await produceThenResume(edge, [small(0), small(1), big, small(3), small(4)]);
    await until(async () => (await edge.running.mirrors!.status('central')).backlogRecords === 0, 'the backlog to drain');
    const status = (await edge.running.mirrors!.status('central'));
    expect(status.rejectedRecords).toBe(1);
    expect(status.lastError?.code).toBe('UPSTREAM_REJECTED');
    expect(status.lastError?.message).toContain('MESSAGE_TOO_LARGE');
    expect(await arrived(central)).toEqual([0, 1, 3, 4].map((i, at) => `${at} origin=gw-1/t/0/${i} r${i}`));
  });

  it('onRejected stop: failed with UPSTREAM_REJECTED MESSAGE_TOO_LARGE, cursor on the record, nothing after it shipped; resume retries it', async () => {
    const { central, edge } = await setup({ maxMessageBytes: '64MiB', onRejected: 'stop' });
    const big = largestRecord();
    await produceThenResume(edge, [small(0), small(1), big, small(3), small(4)]);
    await until(async () => (await edge.running.mirrors!.status('central')).state === 'failed', 'the mirror to fail');
    const status = (await edge.running.mirrors!.status('central'));
    expect(status.lastError?.code).toBe('UPSTREAM_REJECTED');
    expect(status.lastError?.message).toContain('MESSAGE_TOO_LARGE');
    expect(status.partitions[0]!.cursor).toBe(2);
    expect(status.backlogRecords).toBe(3);
    expect(await arrived(central)).toEqual(['0 origin=gw-1/t/0/0 r0', '1 origin=gw-1/t/0/1 r1']);

    // Resume sends it again (in one batch with the records behind it, which the central refuses as a
    // whole, then alone); the central refuses it again, so the mirror fails again, on the same record.
    const refusals = refusedAtCentral(central);
    await edge.running.mirrors!.resume('central');
    expect((await edge.running.mirrors!.status('central')).state).not.toBe('failed');
    await until(async () => (await edge.running.mirrors!.status('central')).state === 'failed', 'the mirror to fail again');
    expect(refusedAtCentral(central)).toBeGreaterThan(refusals);
    const again = (await edge.running.mirrors!.status('central'));
    expect(again.partitions[0]!.cursor).toBe(2);
    expect(again.lastError?.message).toContain('MESSAGE_TOO_LARGE');
    expect(await arrived(central)).toEqual(['0 origin=gw-1/t/0/0 r0', '1 origin=gw-1/t/0/1 r1']);
  });

  for (const onRejected of ['skip', 'stop'] as const)
    it(`a record over maxMessageBytes (default 1048588, compression none) is refused unsent, onRejected ${onRejected}`, async () => {
      const { central, edge } = await setup({ onRejected });
      const big: RecordInput = { timestampMs: 1_700_000_000_000, key: null, value: randomBytes(2 * 1024 * 1024), headers: [] };
      await produceThenResume(edge, [small(0), small(1), big, small(3), small(4)]);
      if (onRejected === 'skip') {
        await until(async () => (await edge.running.mirrors!.status('central')).backlogRecords === 0, 'the backlog to drain');
        expect((await edge.running.mirrors!.status('central')).rejectedRecords).toBe(1);
        expect(await arrived(central)).toEqual([0, 1, 3, 4].map((i, at) => `${at} origin=gw-1/t/0/${i} r${i}`));
      } else {
        await until(async () => (await edge.running.mirrors!.status('central')).state === 'failed', 'the mirror to fail');
        const status = (await edge.running.mirrors!.status('central'));
        expect(status.partitions[0]!.cursor).toBe(2);
        expect(await arrived(central)).toEqual(['0 origin=gw-1/t/0/0 r0', '1 origin=gw-1/t/0/1 r1']);
      }
      const status = (await edge.running.mirrors!.status('central'));
      expect(status.lastError?.code).toBe('UPSTREAM_REJECTED');
      expect(status.lastError?.message).toMatch(/a record of about \d+ bytes in its batch exceeds maxMessageBytes \(1048588\)/);
      // Never sent: the central refused nothing.
      expect(refusedAtCentral(central)).toBe(0);
    });

  for (const [compression, codec] of [['gzip', 1], ['lz4', 3]] as const)
    it(`compression ${compression} (no pre-check): a batch holding a record too large for the central is resent one record per batch; only that record is refused, the others arrive once, in order`, async () => {
      const { central, edge, logs } = await setup({ maxMessageBytes: '64MiB', compression, onRejected: 'skip' });
      // Random bytes do not compress: the record's batch stays above the central's limit.
      await produceThenResume(edge, [small(0), small(1), small(2), largestRecord(), small(4), small(5), small(6)]);
      await until(async () => (await edge.running.mirrors!.status('central')).backlogRecords === 0, 'the backlog to drain');
      const status = (await edge.running.mirrors!.status('central'));
      expect(status.rejectedRecords).toBe(1);
      expect(status.lastError?.message).toContain('MESSAGE_TOO_LARGE');
      // The central refused a batch of several records, then the culprit alone.
      const splits = logs.filter((l) => l.msg === 'batch refused as a whole; sending its records one by one');
      expect(splits.length).toBeGreaterThanOrEqual(1);
      expect(splits[0]!.records).toBeGreaterThanOrEqual(2);
      expect(refusedAtCentral(central)).toBe(splits.length + 1);
      expect(await arrived(central)).toEqual([0, 1, 2, 4, 5, 6].map((i, at) => `${at} origin=gw-1/t/0/${i} r${i}`));
      // Stored as sent: the records before the culprit one per batch, every batch in the mirror's codec.
      const batches = storedBatches(central);
      expect(batches.map(batchCodec)).toEqual(batches.map(() => codec));
      expect(batches.slice(0, 3).map((b) => readBatchInfo(b)!.recordCount)).toEqual([1, 1, 1]);
    });
});
