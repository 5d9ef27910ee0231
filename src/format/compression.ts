// The records section of a RecordBatch v2 may be compressed: attributes bits 0–2 name the codec
// (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd; 5–7 are unassigned). Kafka producers send compressed
// batches, storage keeps them as they came and Kafka consumers get them back unchanged; this module
// is for the places where Tributary itself must read the records (edge consumer, mirror, CLI).
//
// A few compressed bytes can stand for gigabytes, and a batch passes its CRC however much it
// expands (the CRC covers the compressed bytes), so no codec may produce more than the caller's
// bytesMax (limits.batchDecompressedBytesMax): checked before decompressing against the size the
// stream declares (snappy) or what its block headers can yield at most (lz4, zstd: walked without
// decompressing), or enforced by the decompressor itself (gzip: zlib's maxOutputLength).
//
// Codecs: gzip by node:zlib. snappy by snappyjs (pure JS), reading both the raw format (librdkafka's
// producer writes it, reading both) and the xerial framing of Kafka's Java client (snappy-java's
// SnappyOutputStream) and kafka-python (its default).
// lz4 by lz4-napi (LZ4 frame format, which Kafka uses since magic 1; prebuilt native binary, loaded
// on first use so a platform without one only loses lz4). zstd by fzstd (pure JS, decompression
// only: Tributary compresses no zstd). Imports nothing from src/ but the error table.

import { createRequire } from 'node:module';
import zlib from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import snappy from 'snappyjs';
import { TributaryError } from '../errors.ts';

export const Codec = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export type CodecName = keyof typeof Codec;

const CODEC_NAMES: readonly CodecName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
/** Attributes bits 0–2. */
export const CODEC_MASK = 0x07;

/** The codec's name, or null for the unassigned values 5–7. */
export function codecName(codec: number): CodecName | null {
  return CODEC_NAMES[codec] ?? null;
}

interface Lz4Napi {
  compressFrameSync(data: Buffer): Buffer;
  decompressFrameSync(data: Buffer): Buffer;
}

let lz4: Lz4Napi | Error | undefined;

/** lz4-napi, loaded once; the Error says why it could not be (no prebuilt binary for this platform). */
function lz4Module(): Lz4Napi | Error {
  if (lz4 === undefined) {
    try {
      lz4 = createRequire(import.meta.url)('lz4-napi') as Lz4Napi;
    } catch (err) {
      lz4 = err instanceof Error ? err : new Error(String(err));
    }
  }
  return lz4;
}

/**
 * Why this build cannot read `codec`, or null when it can: the value is unassigned, or the package
 * for it does not load on this machine.
 */
export function codecUnavailable(codec: number): string | null {
  const name = codecName(codec);
  if (name === null) return `compression codec ${codec} is not one Kafka defines (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)`;
  if (name === 'lz4') {
    const m = lz4Module();
    if (m instanceof Error) return `lz4 is not available on this machine (lz4-napi did not load: ${m.message})`;
  }
  return null;
}

function unsupported(codec: number): TributaryError | null {
  const why = codecUnavailable(codec);
  return why === null ? null : new TributaryError('UNSUPPORTED_COMPRESSION', why, { codec });
}

function tooLarge(name: CodecName, bytes: number | string, bytesMax: number): TributaryError {
  return new TributaryError('RECORD_TOO_LARGE', `${name} records section would decompress to ${bytes} bytes (max ${bytesMax})`, { codec: name, bytesMax });
}

function corrupt(name: CodecName, detail: string): TributaryError {
  return new TributaryError('CORRUPT_MESSAGE', `${name} records section does not decompress: ${detail}`, { codec: name });
}

/**
 * The records section of a batch compressed with `codec`, decompressed. Throws TributaryError:
 * UNSUPPORTED_COMPRESSION (codec 5–7, or its package missing), RECORD_TOO_LARGE (more than
 * bytesMax once decompressed), CORRUPT_MESSAGE (not a valid stream of that codec).
 */
export function decompressRecords(codec: number, data: Buffer, bytesMax: number): Buffer {
  const refused = unsupported(codec);
  if (refused !== null) throw refused;
  let out: Buffer;
  switch (codec) {
    case Codec.none:
      out = data;
      break;
    case Codec.gzip:
      out = gunzip(data, bytesMax);
      break;
    case Codec.snappy:
      out = unsnappy(data, bytesMax);
      break;
    case Codec.lz4:
      out = unlz4(data, bytesMax);
      break;
    default:
      out = unzstd(data, bytesMax);
  }
  // Each codec bounded its output before allocating it; this only guards that reasoning.
  if (out.length > bytesMax) throw tooLarge(codecName(codec)!, out.length, bytesMax);
  return out;
}

/**
 * `data` compressed with `codec` as Kafka clients read it (gzip, raw snappy, an LZ4 frame). zstd
 * throws UNSUPPORTED_COMPRESSION: Tributary has a zstd decompressor only.
 */
export function compressRecords(codec: number, data: Buffer): Buffer {
  const refused = unsupported(codec);
  if (refused !== null) throw refused;
  switch (codec) {
    case Codec.none:
      return data;
    case Codec.gzip:
      return zlib.gzipSync(data);
    case Codec.snappy:
      return asBuffer(snappy.compress(data));
    case Codec.lz4:
      return (lz4Module() as Lz4Napi).compressFrameSync(data);
    default:
      throw new TributaryError('UNSUPPORTED_COMPRESSION', 'zstd compression is not available: Tributary only decompresses zstd', { codec });
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

function gunzip(data: Buffer, bytesMax: number): Buffer {
  try {
    return zlib.gunzipSync(data, { maxOutputLength: bytesMax });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge('gzip', `more than ${bytesMax}`, bytesMax);
    throw corrupt('gzip', (err as Error).message);
  }
}

// snappy-java's SnappyOutputStream: magic, version and compatible version, then blocks of
// [u32 BE length][raw snappy]. snappy-java reads input without the magic as one raw block, and so
// do we (librdkafka and kafkajs write raw snappy).
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;

function unsnappy(data: Buffer, bytesMax: number): Buffer {
  if (data.length < XERIAL_HEADER_BYTES || !data.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC)) return snappyBlock(data, bytesMax, bytesMax);
  const blocks: Buffer[] = [];
  let total = 0;
  let pos = XERIAL_HEADER_BYTES;
  while (pos < data.length) {
    if (data.length - pos < 4) throw corrupt('snappy', 'xerial block length truncated');
    const length = data.readUInt32BE(pos);
    pos += 4;
    if (length > data.length - pos) throw corrupt('snappy', 'xerial block truncated');
    const block = snappyBlock(data.subarray(pos, pos + length), bytesMax - total, bytesMax);
    pos += length;
    total += block.length;
    blocks.push(block);
  }
  return blocks.length === 1 ? blocks[0] : Buffer.concat(blocks, total);
}

/** One raw snappy stream; its varint preamble declares the length, checked before allocating. */
function snappyBlock(data: Buffer, budget: number, bytesMax: number): Buffer {
  let length = 0;
  let scale = 1;
  let pos = 0;
  for (;;) {
    if (pos >= data.length || pos >= 5) throw corrupt('snappy', 'bad length preamble');
    const b = data[pos++];
    length += (b & 0x7f) * scale;
    if (b < 0x80) break;
    scale *= 128;
  }
  if (length > budget) throw tooLarge('snappy', `at least ${bytesMax - budget + length}`, bytesMax);
  try {
    return asBuffer(snappy.uncompress(data, budget));
  } catch (err) {
    throw corrupt('snappy', (err as Error).message);
  }
}

const LZ4_MAGIC = 0x184d2204;
const LZ4_BLOCK_BYTES_MAX = [0, 0, 0, 0, 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024];

/**
 * The most the LZ4 frame(s) in `data` can decompress to, from block headers alone (a compressed
 * block yields at most the frame's block maximum, a stored block its own size), and the largest
 * content size a frame declares (what a decoder may allocate up front). Throws
 * CORRUPT_MESSAGE when the frame layout is broken. Spec: lz4's doc/lz4_Frame_format.md.
 */
function lz4Bound(data: Buffer): { bound: number; allocMax: number } {
  let bound = 0;
  let allocMax = 0;
  let pos = 0;
  while (pos < data.length) {
    if (data.length - pos < 8) throw corrupt('lz4', 'frame header truncated');
    const magic = data.readUInt32LE(pos);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      // A skippable frame: 4-byte length, then that much to ignore.
      pos += 8 + data.readUInt32LE(pos + 4);
      continue;
    }
    if (magic !== LZ4_MAGIC) throw corrupt('lz4', 'not an LZ4 frame (bad magic)');
    const flg = data[pos + 4];
    const bd = data[pos + 5];
    if (flg >> 6 !== 1) throw corrupt('lz4', 'unknown LZ4 frame version');
    const blockMax = LZ4_BLOCK_BYTES_MAX[(bd >> 4) & 7];
    if (blockMax === 0) throw corrupt('lz4', 'bad block maximum size');
    const blockChecksum = (flg & 0x10) !== 0;
    pos += 6;
    if ((flg & 0x08) !== 0) {
      // A declared content size is what a decoder may allocate up front: bound it too.
      if (data.length - pos < 8) throw corrupt('lz4', 'frame header truncated');
      const contentBytes = data.readUInt32LE(pos) + data.readUInt32LE(pos + 4) * 0x1_0000_0000;
      allocMax = Math.max(allocMax, contentBytes);
      pos += 8;
    }
    pos += ((flg & 0x01) !== 0 ? 4 : 0) + 1;
    for (;;) {
      if (data.length - pos < 4) throw corrupt('lz4', 'block header truncated');
      const word = data.readUInt32LE(pos);
      pos += 4;
      if (word === 0) break;
      const stored = (word & 0x80000000) !== 0;
      const size = word & 0x7fffffff;
      if (size > blockMax) throw corrupt('lz4', 'block larger than the frame allows');
      bound += stored ? size : blockMax;
      pos += size + (blockChecksum ? 4 : 0);
    }
    if ((flg & 0x04) !== 0) pos += 4;
  }
  if (pos > data.length) throw corrupt('lz4', 'frame truncated');
  return { bound, allocMax };
}

function unlz4(data: Buffer, bytesMax: number): Buffer {
  const { bound, allocMax } = lz4Bound(data);
  if (bound > bytesMax) throw tooLarge('lz4', `up to ${bound}`, bytesMax);
  if (allocMax > bytesMax) throw tooLarge('lz4', `a declared ${allocMax}`, bytesMax);
  try {
    return (lz4Module() as Lz4Napi).decompressFrameSync(data);
  } catch (err) {
    throw corrupt('lz4', (err as Error).message);
  }
}

const ZSTD_MAGIC = 0xfd2fb528;
const ZSTD_BLOCK_BYTES_MAX = 128 * 1024;

/**
 * The most the zstd frame(s) in `data` can decompress to, and the largest buffer fzstd allocates
 * for one of them (the frame content size, or the window when the size is not declared), from
 * frame and block headers alone. Throws CORRUPT_MESSAGE on a broken layout, UNSUPPORTED_COMPRESSION
 * for a frame that needs a dictionary (Kafka uses none). Spec: RFC 8878 section 3.1.
 */
function zstdBound(data: Buffer): { bound: number; allocMax: number } {
  let bound = 0;
  let allocMax = 0;
  let pos = 0;
  while (pos < data.length) {
    if (data.length - pos < 5) throw corrupt('zstd', 'frame header truncated');
    const magic = data.readUInt32LE(pos);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      if (data.length - pos < 8) throw corrupt('zstd', 'skippable frame truncated');
      pos += 8 + data.readUInt32LE(pos + 4);
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw corrupt('zstd', 'not a zstd frame (bad magic)');
    const fhd = data[pos + 4];
    pos += 5;
    if ((fhd & 0x08) !== 0) throw corrupt('zstd', 'reserved frame header bit set');
    const singleSegment = (fhd & 0x20) !== 0;
    const fcsFlag = fhd >> 6;
    const dictBytes = [0, 1, 2, 4][fhd & 3];
    const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag];
    if (data.length - pos < (singleSegment ? 0 : 1) + dictBytes + fcsBytes) throw corrupt('zstd', 'frame header truncated');
    let windowBytes = 0;
    if (!singleSegment) {
      const wd = data[pos++];
      const base = 2 ** (10 + (wd >> 3));
      windowBytes = base + (base / 8) * (wd & 7);
    }
    if (dictBytes > 0 && data.readUIntLE(pos, dictBytes) !== 0) throw new TributaryError('UNSUPPORTED_COMPRESSION', 'zstd frame needs a dictionary, which Kafka never uses', { codec: 'zstd' });
    pos += dictBytes;
    let contentBytes = 0;
    if (fcsBytes === 8) contentBytes = data.readUInt32LE(pos) + data.readUInt32LE(pos + 4) * 0x1_0000_0000;
    else if (fcsBytes > 0) contentBytes = data.readUIntLE(pos, fcsBytes) + (fcsBytes === 2 ? 256 : 0);
    pos += fcsBytes;
    if (singleSegment) windowBytes = contentBytes;
    allocMax = Math.max(allocMax, contentBytes || windowBytes);
    const blockMax = Math.min(ZSTD_BLOCK_BYTES_MAX, windowBytes);
    for (;;) {
      if (data.length - pos < 3) throw corrupt('zstd', 'block header truncated');
      const header = data.readUIntLE(pos, 3);
      pos += 3;
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      if (type === 3) throw corrupt('zstd', 'reserved block type');
      if (type === 1) {
        bound += size;
        pos += 1;
      } else {
        bound += type === 0 ? size : blockMax;
        pos += size;
      }
      if ((header & 1) !== 0) break;
    }
    if ((fhd & 0x04) !== 0) pos += 4;
  }
  if (pos > data.length) throw corrupt('zstd', 'frame truncated');
  return { bound, allocMax };
}

function unzstd(data: Buffer, bytesMax: number): Buffer {
  const { bound, allocMax } = zstdBound(data);
  if (bound > bytesMax) throw tooLarge('zstd', `up to ${bound}`, bytesMax);
  if (allocMax > bytesMax) throw tooLarge('zstd', `a window of ${allocMax}`, bytesMax);
  try {
    return asBuffer(zstdDecompress(data));
  } catch (err) {
    throw corrupt('zstd', (err as Error).message);
  }
}
