// The Kafka sink's compression against a second Tributary as the central cluster: every codec the
// client has on this Node.js arrives intact, kcat reads it, and the central stores the batches as
// the sink compressed them. zstd needs node:zlib's zstd (Node.js 22.15+): on Node 20 the broker
// refuses to start.
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { batchCodec, readBatchInfo, type RecordInput } from '../../../src/format/record-batch.ts';
import { run, lines } from '../../helpers/cli.ts';
import { startTestBroker } from '../../helpers/broker.ts';
import { tempDir } from '../../helpers/temp.ts';
import { until } from '../../helpers/upstream.ts';
import { hasKcat, kcat, produceThenResume, REMOTE, setup, storedBatches } from './central-fixtures.ts';

const hasZstd = typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function';
const COUNT = 40;

/** Keyed and unkeyed text records with headers; the values repeat, so a codec has something to gain. */
function record(i: number): RecordInput {
  return {
    timestampMs: 1_700_000_000_000 + i,
    key: i % 4 === 0 ? null : Buffer.from(`dev-${i % 3}`),
    value: Buffer.from(`{"seq":${i},"temperature":21.5,"unit":"C","site":"nord","note":"${'steady '.repeat(20)}"}`),
    headers: [{ key: 'h', value: Buffer.from(`x${i}`) }],
  };
}

describe.runIf(hasKcat || process.env.CI)('kafka sink compression', () => {
  for (const [compression, codec] of [['none', 0], ['gzip', 1], ['snappy', 2], ['lz4', 3]] as const)
    it(`compression ${compression}: records arrive intact, kcat reads them, the central stores the batches with codec ${codec}`, async () => {
      const { central, edge } = await setup({ compression });
      const sent = Array.from({ length: COUNT }, (_, i) => record(i));
      await produceThenResume(edge, sent);
      await until(async () => (await edge.running.mirrors!.status('central')).backlogRecords === 0, 'the backlog to drain');

      const out = await kcat(central, ['-C', '-t', REMOTE, '-p', '0', '-e', '-q', '-f', '%o|%k|%T|%h|%s\n']);
      expect(lines(out)).toEqual(sent.map((r, i) => `${i}|${r.key?.toString() ?? ''}|${r.timestampMs}|h=x${i},origin=gw-1/t/0/${i}|${r.value!.toString()}`));

      const batches = storedBatches(central);
      expect(batches.map(batchCodec)).toEqual(batches.map(() => codec));
      expect(batches.reduce((n, b) => n + readBatchInfo(b)!.recordCount, 0)).toBe(COUNT);
      // Packed: fewer batches than records (they reached the sink together).
      expect(batches.length).toBeLessThan(COUNT);
      const stored = batches.reduce((n, b) => n + b.length, 0);
      const values = sent.reduce((n, r) => n + r.value!.length, 0);
      if (compression === 'none') expect(stored).toBeGreaterThan(values);
      else expect(stored).toBeLessThan(values / 2);
    });

  it.runIf(!hasZstd)('compression zstd on Node.js without zstd in node:zlib: the broker refuses to start with INVALID_CONFIG naming zstd', async () => {
    const mirror = { name: 'central', sink: 'kafka', brokers: ['127.0.0.1:9092'], topics: ['t'], compression: 'zstd' };
    const message = `mirror central: compression zstd needs Node.js 22.15 or later (this is ${process.version}); use lz4, snappy or gzip`;
    await expect(startTestBroker({ edgeId: 'gw-1', mirrors: [mirror] })).rejects.toMatchObject({ codeName: 'INVALID_CONFIG', message });
    // The command line: one line, and the exit code of a bad configuration.
    const r = await run(['start'], {
      env: { TRIBUTARY_DATA_DIR: tempDir(), TRIBUTARY_EDGE_ID: 'gw-1', TRIBUTARY_LISTENERS__EDGE__PORT: '0', TRIBUTARY_LISTENERS__HTTP__ENABLED: 'false', TRIBUTARY_MIRRORS: JSON.stringify([mirror]) },
    });
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual([`tributary: INVALID_CONFIG: ${message}`]);
  });
});
