// Kafka RecordBatch v2 (magic 2): the one on-disk and on-wire format of a batch of records.
// Storage keeps batches byte for byte in this format, fetches return them unchanged, and a later Kafka
// listener can serve them as they are. Pure module: no I/O; imports from src/ only the compression
// codecs beside it, the error table and the limits.
//
// Layout (big-endian), see https://kafka.apache.org/documentation/#recordbatch:
//   0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 | 16 magic i8 | 17 crc u32 |
//   21 attributes i16 | 23 lastOffsetDelta i32 | 27 baseTimestamp i64 | 35 maxTimestamp i64 |
//   43 producerId i64 | 51 producerEpoch i16 | 53 baseSequence i32 | 57 recordCount i32 | 61 records
// The CRC-32C covers attributes..end, not baseOffset: stamping the offset on append needs no recompute.
// attributes bits 0–2 name the codec of the records section (compression.ts); Kafka producers'
// batches may be compressed, Tributary's own encoder writes uncompressed ones unless asked.

import { crc32c } from '@node-rs/crc32';
import { TributaryError } from '../errors.ts';
import { limits } from '../limits.ts';
import { CODEC_MASK, Codec, compressRecords, decompressRecords, type CodecName } from './compression.ts';

export const BATCH_HEADER_BYTES = 61;
export const BATCH_MAGIC = 2;
const LENGTH_PREFIX_BYTES = 12;
const CRC_POS = 17;
const CRC_START = 21;
const ATTRIBUTES_POS = 21;

export interface RecordHeader {
  key: string;
  value: Uint8Array | null;
}

export interface RecordInput {
  timestampMs: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: readonly RecordHeader[];
}

export interface DecodedRecord {
  offset: number;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface BatchInfo {
  baseOffset: number;
  /** Total bytes of the batch including the 12-byte offset/length prefix. */
  totalBytes: number;
  recordCount: number;
  lastOffsetDelta: number;
  baseTimestampMs: number;
  maxTimestampMs: number;
}

const textEncoder = new TextEncoder();
/** Header keys repeat on every record (mqtt.topic, …): encode each once. */
const headerKeyCache = new Map<string, Uint8Array>();
const HEADER_KEY_CACHE_MAX = 1024;

function headerKeyUtf8(key: string): Uint8Array {
  let bytes = headerKeyCache.get(key);
  if (bytes === undefined) {
    bytes = textEncoder.encode(key);
    if (headerKeyCache.size < HEADER_KEY_CACHE_MAX) headerKeyCache.set(key, bytes);
  }
  return bytes;
}

function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

function varintBytes(u: number): number {
  let size = 1;
  while (u >= 128) {
    u = Math.floor(u / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, pos: number, u: number): number {
  while (u >= 128) {
    buf[pos++] = (u % 128) | 128;
    u = Math.floor(u / 128);
  }
  buf[pos++] = u;
  return pos;
}

function headerKeyBytes(headers: readonly RecordHeader[], keyBytes: Uint8Array[]): number {
  let size = varintBytes(zigzag(headers.length));
  for (const h of headers) {
    const k = headerKeyUtf8(h.key);
    keyBytes.push(k);
    size += varintBytes(zigzag(k.length)) + k.length;
    const vLen = h.value === null ? -1 : h.value.length;
    size += varintBytes(zigzag(vLen)) + Math.max(vLen, 0);
  }
  return size;
}

export interface EncodeOptions {
  /** Codec of the records section; none by default. zstd is refused (no zstd compressor). */
  compression?: CodecName;
}

/**
 * Encodes records as one batch with baseOffset 0 (storage stamps the real one) and a valid CRC.
 * Throws RangeError on an empty list: a batch holds at least one record.
 */
export function encodeRecordBatch(records: readonly RecordInput[], options?: EncodeOptions): Buffer {
  const codec = Codec[options?.compression ?? 'none'];
  if (codec === Codec.none) return encodeUncompressed(records);
  const plain = encodeUncompressed(records);
  const section = compressRecords(codec, plain.subarray(BATCH_HEADER_BYTES));
  const buf = Buffer.allocUnsafe(BATCH_HEADER_BYTES + section.length);
  plain.copy(buf, 0, 0, BATCH_HEADER_BYTES);
  section.copy(buf, BATCH_HEADER_BYTES);
  buf.writeInt32BE(buf.length - LENGTH_PREFIX_BYTES, 8);
  buf.writeInt16BE(codec, ATTRIBUTES_POS);
  buf.writeUInt32BE(crc32c(buf.subarray(CRC_START)), CRC_POS);
  return buf;
}

function encodeUncompressed(records: readonly RecordInput[]): Buffer {
  const count = records.length;
  if (count === 0) throw new RangeError('a record batch needs at least one record');
  let baseTs = records[0].timestampMs;
  let maxTs = baseTs;
  for (let i = 1; i < count; i++) {
    const ts = records[i].timestampMs;
    if (ts < baseTs) baseTs = ts;
    if (ts > maxTs) maxTs = ts;
  }
  const bodySizes = new Array<number>(count);
  const headerKeys: Uint8Array[] = [];
  let total = BATCH_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const r = records[i];
    const keyLen = r.key === null ? -1 : r.key.length;
    const valueLen = r.value === null ? -1 : r.value.length;
    const body =
      1 +
      varintBytes(zigzag(r.timestampMs - baseTs)) +
      varintBytes(zigzag(i)) +
      varintBytes(zigzag(keyLen)) +
      Math.max(keyLen, 0) +
      varintBytes(zigzag(valueLen)) +
      Math.max(valueLen, 0) +
      (r.headers.length === 0 ? 1 : headerKeyBytes(r.headers, headerKeys));
    bodySizes[i] = body;
    total += varintBytes(zigzag(body)) + body;
  }

  const buf = Buffer.allocUnsafe(total);
  buf.writeUInt32BE(0, 0);
  buf.writeUInt32BE(0, 4);
  buf.writeInt32BE(total - LENGTH_PREFIX_BYTES, 8);
  buf.writeInt32BE(0, 12);
  buf.writeInt8(BATCH_MAGIC, 16);
  buf.writeInt16BE(0, 21);
  buf.writeInt32BE(count - 1, 23);
  writeInt64(buf, 27, baseTs);
  writeInt64(buf, 35, maxTs);
  writeInt64(buf, 43, -1);
  buf.writeInt16BE(-1, 51);
  buf.writeInt32BE(-1, 53);
  buf.writeInt32BE(count, 57);

  let pos = BATCH_HEADER_BYTES;
  let headerKeyIndex = 0;
  for (let i = 0; i < count; i++) {
    const r = records[i];
    pos = writeVarint(buf, pos, zigzag(bodySizes[i]));
    buf[pos++] = 0;
    pos = writeVarint(buf, pos, zigzag(r.timestampMs - baseTs));
    pos = writeVarint(buf, pos, zigzag(i));
    pos = writeBytes(buf, pos, r.key);
    pos = writeBytes(buf, pos, r.value);
    pos = writeVarint(buf, pos, zigzag(r.headers.length));
    for (const h of r.headers) {
      pos = writeBytes(buf, pos, headerKeys[headerKeyIndex++]);
      pos = writeBytes(buf, pos, h.value);
    }
  }
  buf.writeUInt32BE(crc32c(buf.subarray(CRC_START)), CRC_POS);
  return buf;
}

function writeBytes(buf: Buffer, pos: number, bytes: Uint8Array | null): number {
  if (bytes === null) return writeVarint(buf, pos, 1);
  pos = writeVarint(buf, pos, zigzag(bytes.length));
  buf.set(bytes, pos);
  return pos + bytes.length;
}

function writeInt64(buf: Buffer, pos: number, n: number): void {
  const high = Math.floor(n / 0x1_0000_0000);
  buf.writeInt32BE(high, pos);
  buf.writeUInt32BE(n - high * 0x1_0000_0000, pos + 4);
}

function readInt64(buf: Uint8Array, pos: number): number {
  const view = new DataView(buf.buffer, buf.byteOffset + pos, 8);
  return view.getInt32(0) * 0x1_0000_0000 + view.getUint32(4);
}

/** Writes the base offset into a batch in place. The CRC does not cover it. */
export function stampBaseOffset(batch: Buffer, baseOffset: number): void {
  writeInt64(batch, 0, baseOffset);
}

/** Reads the fixed header. Returns null when the bytes cannot be a v2 batch header. */
export function readBatchInfo(buf: Uint8Array, pos = 0): BatchInfo | null {
  if (buf.length - pos < BATCH_HEADER_BYTES) return null;
  const view = new DataView(buf.buffer, buf.byteOffset + pos, BATCH_HEADER_BYTES);
  const batchLength = view.getInt32(8);
  const totalBytes = batchLength + LENGTH_PREFIX_BYTES;
  if (view.getInt8(16) !== BATCH_MAGIC || totalBytes < BATCH_HEADER_BYTES || totalBytes > buf.length - pos) return null;
  return {
    baseOffset: readInt64(buf, pos),
    totalBytes,
    recordCount: view.getInt32(57),
    lastOffsetDelta: view.getInt32(23),
    baseTimestampMs: readInt64(buf, pos + 27),
    maxTimestampMs: readInt64(buf, pos + 35),
  };
}

/** True when the batch's CRC-32C matches its content (attributes..end). */
export function verifyBatch(batch: Uint8Array): boolean {
  const info = readBatchInfo(batch);
  if (info === null || info.totalBytes !== batch.length) return false;
  const stored = new DataView(batch.buffer, batch.byteOffset + CRC_POS, 4).getUint32(0);
  return crc32c(toBuffer(batch).subarray(CRC_START)) === stored;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** Splits concatenated batches (a fetch response). Stops at the first incomplete or invalid header. */
export function splitBatches(bytes: Uint8Array): Buffer[] {
  const buf = toBuffer(bytes);
  const out: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const info = readBatchInfo(buf, pos);
    if (info === null) return out;
    out.push(buf.subarray(pos, pos + info.totalBytes));
    pos += info.totalBytes;
  }
}

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    pos: number,
  ) {
    this.pos = pos;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new RangeError('record truncated');
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * scale;
      if (b < 128) return result;
      scale *= 128;
    }
    throw new RangeError('varint too long');
  }

  zigzag(): number {
    const u = this.varint();
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }

  bytes(): Buffer | null {
    const len = this.zigzag();
    if (len < 0) return null;
    if (this.pos + len > this.buf.length) throw new RangeError('record truncated');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
}

/** The codec number in a batch's attributes (bits 0–2): 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd. */
export function batchCodec(batch: Uint8Array): number {
  return batch[ATTRIBUTES_POS + 1] & CODEC_MASK;
}

/**
 * Decodes a verified batch into records. Keys and values are views into `batch`, or into its
 * decompressed records section. Throws RangeError on a malformed record section (callers verify the
 * CRC first), and TributaryError for a compressed section that cannot be read: UNSUPPORTED_COMPRESSION,
 * CORRUPT_MESSAGE, or RECORD_TOO_LARGE past `decompressedBytesMax`.
 */
export function decodeRecordBatch(batch: Uint8Array, decompressedBytesMax = limits.batchDecompressedBytesMax): DecodedRecord[] {
  const buf = toBuffer(batch);
  const info = readBatchInfo(buf);
  if (info === null) throw new RangeError('not a RecordBatch v2');
  const codec = batchCodec(buf);
  const r =
    codec === Codec.none
      ? new Reader(buf, BATCH_HEADER_BYTES)
      : new Reader(decompressRecords(codec, buf.subarray(BATCH_HEADER_BYTES, info.totalBytes), decompressedBytesMax), 0);
  // Not sized from the header's count: a client's batch may claim millions of records in a few bytes.
  const records: DecodedRecord[] = [];
  for (let i = 0; i < info.recordCount; i++) {
    const length = r.zigzag();
    const end = r.pos + length;
    r.pos++;
    const timestampMs = info.baseTimestampMs + r.zigzag();
    const offset = info.baseOffset + r.zigzag();
    const key = r.bytes();
    const value = r.bytes();
    const headerCount = r.zigzag();
    const headers: RecordHeader[] = [];
    for (let h = 0; h < headerCount; h++) {
      const hk = r.bytes();
      headers.push({ key: hk === null ? '' : hk.toString('utf8'), value: r.bytes() });
    }
    if (r.pos !== end) throw new RangeError(`record ${i} length mismatch`);
    records.push({ offset, timestampMs, key, value, headers });
  }
  return records;
}

/**
 * Whether a batch arriving at produce can be read back later, for produce paths that take a
 * client's encoded batch (the Kafka listener): null when it can, else the error to answer with.
 * An uncompressed batch is not looked into. A compressed one is decompressed (within
 * limits.batchDecompressedBytesMax) and its records parsed, as Kafka's own broker does on produce,
 * so nothing is stored that the edge consumer, the mirror or the CLI could not read:
 * UNSUPPORTED_COMPRESSION (Kafka's UNSUPPORTED_COMPRESSION_TYPE) for a codec of 5–7 or one whose
 * package is missing, CORRUPT_MESSAGE for data that does not decompress or parse, RECORD_TOO_LARGE
 * past the decompressed limit. Call it after the CRC check.
 */
export function checkBatchCompression(batch: Uint8Array): TributaryError | null {
  if (batchCodec(batch) === Codec.none) return null;
  try {
    decodeRecordBatch(batch);
    return null;
  } catch (err) {
    if (err instanceof TributaryError) return err;
    return new TributaryError('CORRUPT_MESSAGE', `compressed records section is malformed: ${(err as Error).message}`);
  }
}
