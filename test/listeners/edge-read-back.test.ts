// [EDGE-8.4] the largest record a device can read back on its own connection: the SPEC's table,
// sent for real. The largest value per negotiated frame limit is fetched back whole; one byte more
// is stored but its FETCH on that connection is answered RECORD_TOO_LARGE.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.ts';
import { decodeRecordBatch } from '../../src/format/record-batch.ts';
import type { AckFrame, RecordsFrame } from '../../src/protocol/edge/frames.ts';
import { produceFrame, RawPeer, startEdgeBroker } from '../helpers/raw-edge.ts';

const spec = readFileSync(new URL('../../src/protocol/edge/SPEC.md', import.meta.url), 'utf8');

/** [F, largest value] rows of the table in [EDGE-8.4], for the limits a test can send quickly. */
function tableRows(): [number, number][] {
  const rows = [...spec.matchAll(/^\s*\| (\d+)(?: \(\w+\))?\s*\| (\d+)\s*\| \d+\s*\|$/gm)].map((m) => [Number(m[1]), Number(m[2])] as [number, number]);
  expect(rows.length).toBeGreaterThanOrEqual(6);
  return rows.filter(([f]) => f <= 65536);
}

describe('largest record read back on the same connection [EDGE-8.4]', () => {
  it.each(tableRows())('frameBytesMax %d: a %d-byte value comes back, one byte more is RECORD_TOO_LARGE', async (frameBytesMax, valueBytes) => {
    const { edge } = await startEdgeBroker();
    const peer = await RawPeer.hello(edge!.port, { version: 3, frameBytesMax });
    expect(peer.frames[0]).toMatchObject({ type: 'welcome', frameBytesMax });
    peer.send({ type: 'register', corr: 1, alias: 1, topic: 'big', create: true });
    await peer.waitFor((f) => f.type === 'registered');
    const fits = 'a'.repeat(valueBytes);
    peer.send(produceFrame(1, [fits]), produceFrame(2, [fits + 'b']));
    await peer.waitFor<AckFrame>((f) => f.type === 'ack' && f.entries.some((e) => e.seq === 2));
    expect(peer.frames.some((f) => f.type === 'error')).toBe(false);

    peer.send({ type: 'fetch', corr: 3, alias: 1, partition: 0, offset: 0, maxBytes: frameBytesMax, maxWaitMs: 0 });
    const records = await peer.waitFor<RecordsFrame>((f) => f.type === 'records' && f.corr === 3);
    expect(decodeRecordBatch(records.batches).map((r) => r.value!.toString())).toEqual([fits]);
    expect(records.batches.length).toBe(frameBytesMax - 64);

    peer.send({ type: 'fetch', corr: 4, alias: 1, partition: 0, offset: 1, maxBytes: frameBytesMax, maxWaitMs: 0 });
    const refused = await peer.waitFor((f) => f.type === 'error' && f.ref === 4);
    expect(refused).toMatchObject({ refKind: 'request', code: ErrorCode.RECORD_TOO_LARGE });
  });
});
