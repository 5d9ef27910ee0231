import zlib from 'node:zlib';
import { crc32c } from '@node-rs/crc32';
import { describe, expect, it } from 'vitest';
import { isTributaryError, TributaryError } from '../../src/errors.ts';
import { Codec, codecUnavailable, decompressRecords } from '../../src/format/compression.ts';
import { BATCH_HEADER_BYTES, batchCodec, checkBatchCompression, decodeRecordBatch, encodeRecordBatch, verifyBatch, type DecodedRecord, type RecordInput } from '../../src/format/record-batch.ts';
import { limits } from '../../src/limits.ts';
import { batchWithSection, fixtureFile, fixtureRecords, fixtureSection } from '../fixtures/compression/records.ts';

function expectRecords(decoded: DecodedRecord[], records: RecordInput[]): void {
  expect(decoded.length).toBe(records.length);
  decoded.forEach((r, i) => {
    expect(r.offset).toBe(i);
    expect(r.timestampMs).toBe(records[i].timestampMs);
    expect(r.key).toEqual(records[i].key);
    expect(r.value).toEqual(records[i].value);
    expect(r.headers).toEqual(records[i].headers);
  });
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('compressed record batches', () => {
  it('round-trips records through each codec Tributary can compress, and says zstd is read-only', () => {
    const records = fixtureRecords();
    for (const compression of ['gzip', 'snappy', 'lz4'] as const) {
      const batch = encodeRecordBatch(records, { compression });
      expect(batchCodec(batch), compression).toBe(Codec[compression]);
      expect(verifyBatch(batch), compression).toBe(true);
      expect(batch.length, compression).toBeLessThan(encodeRecordBatch(records).length / 4);
      expectRecords(decodeRecordBatch(batch), records);
      expect(checkBatchCompression(batch), compression).toBeNull();
    }
    const err = thrown(() => encodeRecordBatch(records, { compression: 'zstd' }));
    expect(isTributaryError(err, 'UNSUPPORTED_COMPRESSION')).toBe(true);
  });

  // Each fixture was written by an implementation independent of the packages Tributary reads
  // with (test/fixtures/compression/generate.sh): Kafka's Java client writes snappy through
  // snappy-java's SnappyOutputStream (xerial framing) and zstd through zstd-jni; lz4, zstd and gzip
  // by their reference tools, lz4 also with the 64 KiB independent blocks Kafka's Java client uses.
  it.each([
    ['section.gzip', Codec.gzip],
    ['section-java.snappy', Codec.snappy],
    ['section-64k.lz4', Codec.lz4],
    ['section-default.lz4', Codec.lz4],
    ['section-java.zstd', Codec.zstd],
    ['section-sized.zstd', Codec.zstd],
    ['section-streamed.zstd', Codec.zstd],
  ])('reads %s written by an independent implementation', (file, codec) => {
    const batch = batchWithSection(codec, fixtureFile(file));
    expect(verifyBatch(batch)).toBe(true);
    expect(decompressRecords(codec, fixtureFile(file), limits.batchDecompressedBytesMax)).toEqual(fixtureSection());
    expectRecords(decodeRecordBatch(batch), fixtureRecords());
    expect(checkBatchCompression(batch)).toBeNull();
  });

  it('reads raw snappy (as librdkafka and kafkajs write it) and xerial framing with one block', () => {
    const section = fixtureSection();
    const raw = encodeRecordBatch(fixtureRecords(), { compression: 'snappy' }).subarray(BATCH_HEADER_BYTES);
    expect(raw.subarray(0, 8).toString('latin1')).not.toContain('SNAPPY');
    expect(decompressRecords(Codec.snappy, raw, limits.batchDecompressedBytesMax)).toEqual(section);
    const header = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(raw.length);
    expect(decompressRecords(Codec.snappy, Buffer.concat([header, length, raw]), limits.batchDecompressedBytesMax)).toEqual(section);
  });

  it('refuses the unassigned codecs 5-7 with UNSUPPORTED_COMPRESSION naming the value', () => {
    for (const codec of [5, 6, 7]) {
      const batch = batchWithSection(codec, fixtureSection());
      const err = checkBatchCompression(batch);
      expect(err?.codeName).toBe('UNSUPPORTED_COMPRESSION');
      expect(err?.message).toContain(`codec ${codec}`);
      expect(codecUnavailable(codec)).toContain(`codec ${codec}`);
      expect((thrown(() => decodeRecordBatch(batch)) as TributaryError).codeName).toBe('UNSUPPORTED_COMPRESSION');
    }
    for (const codec of [0, 1, 2, 3, 4]) expect(codecUnavailable(codec)).toBeNull();
  });

  it('answers CORRUPT_MESSAGE for data that does not decompress, truncated streams and a wrong record count', () => {
    const garbage = Buffer.from('these bytes are no compressed stream of any kind, just text'.repeat(4));
    for (const codec of [Codec.gzip, Codec.snappy, Codec.lz4, Codec.zstd]) {
      expect(checkBatchCompression(batchWithSection(codec, garbage))?.codeName, `codec ${codec}`).toBe('CORRUPT_MESSAGE');
    }
    for (const [file, codec] of [['section.gzip', Codec.gzip], ['section-java.snappy', Codec.snappy], ['section-64k.lz4', Codec.lz4], ['section-java.zstd', Codec.zstd]] as const) {
      const whole = fixtureFile(file);
      for (const cut of [1, 7, whole.length >> 1]) {
        expect(checkBatchCompression(batchWithSection(codec, whole.subarray(0, whole.length - cut)))?.codeName, `${file} less ${cut}`).toBe('CORRUPT_MESSAGE');
      }
    }
    // Decompresses fine but holds fewer records than the header counts.
    const short = encodeRecordBatch(fixtureRecords().slice(0, 10), { compression: 'gzip' });
    short.writeInt32BE(11, 57);
    expect(checkBatchCompression(batchWithSection(Codec.gzip, short.subarray(BATCH_HEADER_BYTES), short))?.codeName).toBe('CORRUPT_MESSAGE');
  });

  it('decompresses up to the limit exactly and refuses one byte more, per codec', () => {
    const section = fixtureSection();
    // lz4 is bounded from its block headers, each compressed block counting as a full one: the
    // 64 KiB-block fixture's two blocks count 128 KiB.
    for (const [file, codec, bytesMax] of [
      ['section.gzip', Codec.gzip, section.length],
      ['section-java.snappy', Codec.snappy, section.length],
      ['section-sized.zstd', Codec.zstd, section.length],
      ['section-64k.lz4', Codec.lz4, 2 * 64 * 1024],
    ] as const) {
      const batch = batchWithSection(codec, fixtureFile(file));
      expect(decodeRecordBatch(batch, bytesMax)).toHaveLength(fixtureRecords().length);
      const err = thrown(() => decodeRecordBatch(batch, bytesMax - 1)) as TributaryError;
      expect(err.codeName, file).toBe('RECORD_TOO_LARGE');
    }
  });

  describe('decompression bombs are refused before the memory is taken', () => {
    const over = limits.batchDecompressedBytesMax + 1024 * 1024;
    const zeros = Buffer.alloc(over);

    it('gzip, raw snappy and lz4 of more than batchDecompressedBytesMax of zeros', () => {
      const bombs: [number, Buffer][] = [
        [Codec.gzip, zlib.gzipSync(zeros)],
        [Codec.snappy, encodeRecordBatch([{ timestampMs: 0, key: null, value: zeros, headers: [] }], { compression: 'snappy' }).subarray(BATCH_HEADER_BYTES)],
        [Codec.lz4, encodeRecordBatch([{ timestampMs: 0, key: null, value: zeros, headers: [] }], { compression: 'lz4' }).subarray(BATCH_HEADER_BYTES)],
      ];
      for (const [codec, bomb] of bombs) {
        expect(bomb.length, `codec ${codec}`).toBeLessThan(limits.appendBytesMax);
        const err = checkBatchCompression(batchWithSection(codec, bomb));
        expect(err?.codeName, `codec ${codec}`).toBe('RECORD_TOO_LARGE');
        expect(err?.message).toContain(`max ${limits.batchDecompressedBytesMax}`);
      }
    });

    it('snappy and lz4 streams that only declare a huge size, a zstd frame of RLE blocks and one declaring a 2 GiB window', () => {
      // Raw snappy whose preamble declares 2^31 bytes (then nothing).
      const snappyLie = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x08, 0x00]);
      // An LZ4 frame declaring 1 TiB of content, with an empty block list.
      const lz4Lie = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x68, 0x40, 0, 0, 0, 0, 0, 1, 0, 0, 0x00, 0, 0, 0, 0]);
      // A valid zstd frame (2 MiB window) of 300 RLE blocks of 128 KiB: 39 MB from 906 bytes.
      const rle = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58])];
      for (let i = 0; i < 300; i++) {
        const header = Buffer.alloc(4);
        header.writeUIntLE(((128 * 1024) << 3) | (1 << 1) | (i === 299 ? 1 : 0), 0, 3);
        header[3] = 0x61;
        rle.push(header);
      }
      // A zstd frame whose window descriptor says 2 GiB, holding one empty raw block.
      const window = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa8, 0x01, 0x00, 0x00]);
      for (const [codec, bomb] of [[Codec.snappy, snappyLie], [Codec.lz4, lz4Lie], [Codec.zstd, Buffer.concat(rle)], [Codec.zstd, window]] as const) {
        expect(checkBatchCompression(batchWithSection(codec, bomb))?.codeName, `codec ${codec}`).toBe('RECORD_TOO_LARGE');
      }
    });
  });

  it('a compressed batch whose header claims millions of records is refused without memory for them', () => {
    // Found by the Kafka fuzz (test/fuzz/kafka-mutated-requests.test.ts): a 110-byte snappy batch
    // whose record count said ~8 M cost the broker +64 MiB RSS, an array sized from that count.
    const batch = encodeRecordBatch([{ timestampMs: 0, key: null, value: Buffer.from('x'), headers: [] }], { compression: 'gzip' });
    batch.writeInt32BE(8_000_000, 57);
    batch.writeUInt32BE(crc32c(batch.subarray(21)), 17);
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    for (let i = 0; i < 20; i++) {
      expect(checkBatchCompression(batch)?.codeName).toBe('CORRUPT_MESSAGE');
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }
    expect(rssPeak - rssBefore).toBeLessThan(16 * 1024 * 1024);
  });

  it('1 GiB bombs within one append (gzip members, zstd RLE blocks, lz4 frames) are refused and RSS grows by less than 128 MiB', () => {
    const gzipMember = zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const lz4Frame = encodeRecordBatch([{ timestampMs: 0, key: null, value: Buffer.alloc(4 * 1024 * 1024), headers: [] }], { compression: 'lz4' }).subarray(BATCH_HEADER_BYTES);
    const rle: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58])];
    for (let i = 0; i < 8192; i++) {
      const header = Buffer.alloc(4);
      header.writeUIntLE(((128 * 1024) << 3) | (1 << 1) | (i === 8191 ? 1 : 0), 0, 3);
      rle.push(header);
    }
    const bombs: [string, number, Buffer][] = [
      ['gzip', Codec.gzip, Buffer.concat(Array<Buffer>(16).fill(gzipMember))],
      ['zstd', Codec.zstd, Buffer.concat(rle)],
      ['lz4', Codec.lz4, Buffer.concat(Array<Buffer>(200).fill(lz4Frame))],
    ];
    const header = encodeRecordBatch([{ timestampMs: 0, key: null, value: Buffer.from('x'), headers: [] }]);
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    for (const [name, codec, bomb] of bombs) {
      expect(bomb.length, name).toBeLessThan(limits.appendBytesMax);
      expect(checkBatchCompression(batchWithSection(codec, bomb, header))?.codeName, name).toBe('RECORD_TOO_LARGE');
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }
    expect(rssPeak - rssBefore).toBeLessThan(128 * 1024 * 1024);
  });

  it('a bounded fuzz of mutated compressed sections gets a typed error or records, never anything else', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const outcomes = new Map<string, number>();
    for (const [file, codec] of [['section.gzip', Codec.gzip], ['section-java.snappy', Codec.snappy], ['section-64k.lz4', Codec.lz4], ['section-default.lz4', Codec.lz4], ['section-java.zstd', Codec.zstd], ['section-streamed.zstd', Codec.zstd]] as const) {
      const whole = fixtureFile(file);
      for (let i = 0; i < 150; i++) {
        const mutated = Buffer.from(whole);
        const flips = 1 + Math.floor(random() * 4);
        for (let f = 0; f < flips; f++) mutated[Math.floor(random() * mutated.length)] ^= 1 << Math.floor(random() * 8);
        const err = checkBatchCompression(batchWithSection(codec, mutated));
        const outcome = err === null ? 'ok' : err.codeName;
        expect(['ok', 'CORRUPT_MESSAGE', 'RECORD_TOO_LARGE', 'UNSUPPORTED_COMPRESSION'], `${file} #${i}`).toContain(outcome);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
    }
    expect(outcomes.get('CORRUPT_MESSAGE')).toBeGreaterThan(0);
  });
});
