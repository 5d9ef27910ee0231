import { describe, expect, it } from 'vitest';
import { decodeRecordBatch, encodeRecordBatch, readBatchInfo, splitBatches, stampBaseOffset, verifyBatch } from '../../src/format/record-batch.ts';

describe('RecordBatch v2', () => {
  const records = [
    { timestampMs: 1_700_000_000_000, key: Buffer.from('k1'), value: Buffer.from('hello'), headers: [{ key: 'h', value: Buffer.from('v') }] },
    { timestampMs: 1_700_000_000_005, key: null, value: null, headers: [] },
    { timestampMs: 1_699_999_999_999, key: Buffer.alloc(0), value: Buffer.alloc(300, 7), headers: [{ key: 'é', value: null }] },
  ];

  it('round-trips records and stamps offsets without touching the CRC', () => {
    const batch = encodeRecordBatch(records);
    expect(verifyBatch(batch)).toBe(true);
    stampBaseOffset(batch, 2 ** 40 + 5);
    expect(verifyBatch(batch)).toBe(true);
    const info = readBatchInfo(batch)!;
    expect(info).toMatchObject({ baseOffset: 2 ** 40 + 5, recordCount: 3, lastOffsetDelta: 2, baseTimestampMs: 1_699_999_999_999, maxTimestampMs: 1_700_000_000_005, totalBytes: batch.length });
    const decoded = decodeRecordBatch(batch);
    expect(decoded.map((r) => r.offset)).toEqual([2 ** 40 + 5, 2 ** 40 + 6, 2 ** 40 + 7]);
    expect(decoded.map((r) => r.timestampMs)).toEqual(records.map((r) => r.timestampMs));
    expect(decoded[0].key?.toString()).toBe('k1');
    expect(decoded[0].headers).toEqual([{ key: 'h', value: Buffer.from('v') }]);
    expect(decoded[1].key).toBeNull();
    expect(decoded[1].value).toBeNull();
    expect(decoded[2].key).toEqual(Buffer.alloc(0));
    expect(decoded[2].value).toEqual(Buffer.alloc(300, 7));
    expect(decoded[2].headers).toEqual([{ key: 'é', value: null }]);
  });

  it('has the fixed 61-byte header with magic 2 and Kafka defaults for producer fields', () => {
    const batch = encodeRecordBatch([records[0]]);
    expect(batch.readInt8(16)).toBe(2);
    expect(batch.readInt32BE(8)).toBe(batch.length - 12);
    expect(batch.readBigInt64BE(43)).toBe(-1n);
    expect(batch.readInt16BE(51)).toBe(-1);
    expect(batch.readInt32BE(53)).toBe(-1);
  });

  // Kafka's CRC leaves out baseOffset and partitionLeaderEpoch (bytes 0-7, 12-15); the length and
  // everything from the magic byte on are checked.
  it('detects a flipped bit in the length, magic, CRC, header fields and records', () => {
    const batch = encodeRecordBatch(records);
    for (let pos = 8; pos < batch.length; pos += pos === 11 ? 5 : 1) {
      const copy = Buffer.from(batch);
      copy[pos] ^= 0x10;
      expect(verifyBatch(copy), `bit flip at ${pos}`).toBe(false);
    }
  });

  it('splits concatenated batches', () => {
    const a = encodeRecordBatch([records[0]]);
    const b = encodeRecordBatch(records);
    const parts = splitBatches(Buffer.concat([a, b, Buffer.from([1, 2, 3])]));
    expect(parts.map((p) => p.length)).toEqual([a.length, b.length]);
  });
});
