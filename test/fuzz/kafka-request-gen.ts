// Requests for the Kafka listener fuzz test, generated from the codec's own schema table: for any API
// and version, a body whose every field (nested structs and arrays included) gets a value of its type
// drawn from boundary values and from values the handlers mean something by (existing and unknown
// topics, partitions, offsets, acks, configs), and record batches that are valid, compressed, re-CRCed
// after a corruption (so the batch gate and the decompressors see garbage), or broken. Then, for most
// requests, byte-level mutations of the encoded body or header. Deterministic for a given seed.

import { crc32c } from '@node-rs/crc32';
import { encodeRecordBatch } from '../../src/format/record-batch.ts';
import { apiTable, decodeRequestHeader, encodeRequest, supportedApis, type ApiKeyNumber } from '../../src/protocol/kafka/index.ts';
import { inRange, parseVersions, type FieldSpec } from '../../src/protocol/kafka/schema.ts';
import { advertisedApis, servedApi } from '../../src/listeners/kafka/api-table.ts';

export type Rand = () => number;

export function prng(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const int = (rand: Rand, lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
export const pick = <T>(rand: Rand, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;

/**
 * Topic (and group, resource) names: existing, auto-created, unknown, invalid. Never the topic the
 * well-behaved producer writes to: a fuzzed DeleteTopics must not take it away.
 */
export const FUZZ_TOPICS = ['fz', 'fz-1', 'fz-2'] as const;
const NAMES = [...FUZZ_TOPICS, 'fz-auto', 'fz-new-1', 'fz-new-2', 'nope', '', '.', '..', 'bad/name', 'ü-topic', '__consumer_offsets', 'x'.repeat(249), 'y'.repeat(250), 'z'.repeat(4000)];
const CONFIG_NAMES = ['retention.ms', 'retention.bytes', 'cleanup.policy', 'min.insync.replicas', 'segment.bytes', 'nope', ''];
const CONFIG_VALUES = ['1000', '-1', '0', 'abc', '99999999999999999999999', '', 'delete', 'compact', '1e3'];

const INT_BOUNDS: Record<string, [number, number]> = { int8: [-128, 127], int16: [-32768, 32767], int32: [-(2 ** 31), 2 ** 31 - 1], uint16: [0, 65535], uint32: [0, 2 ** 32 - 1] };
const INT64S = [0n, 1n, -1n, -2n, -3n, 5n, 50n, 1_700_000_000_005n, 2n ** 62n, -(2n ** 63n), 2n ** 63n - 1n];

/** Values a handler gives a meaning to, by field name (Kafka's names, camelCased). */
function byName(rand: Rand, name: string, type: string): unknown {
  switch (name) {
    case 'acks':
      return pick(rand, [1, 1, -1, 0, 2, -2]);
    case 'timeoutMs':
    case 'maxWaitMs':
      // Mostly short: a long-poll that waits holds a fuzz connection until the case times out.
      return pick(rand, [0, 0, 1, 50, -1, 2 ** 31 - 1]);
    case 'minBytes':
    case 'maxBytes':
    case 'partitionMaxBytes':
      return pick(rand, [0, 1, 100, 1_000_000, -1, 2 ** 31 - 1]);
    case 'index':
    case 'partition':
    case 'partitionIndex':
    case 'partitionIndexes':
      return pick(rand, [0, 0, 1, 2, -1, 3, 1023, 1024, 2 ** 31 - 1]);
    case 'numPartitions':
    case 'count':
      return pick(rand, [-1, 0, 1, 2, 3, 4, 1024, 1025, 2 ** 31 - 1]);
    case 'replicationFactor':
      return pick(rand, [-1, 1, 1, 3, 0]);
    case 'resourceType':
      return pick(rand, [2, 2, 4, 0, 1, 3, 99, -1]);
    case 'keyType':
      return pick(rand, [0, 0, 1, 2, -1]);
    case 'isolationLevel':
      return pick(rand, [0, 1, 2, -1]);
    case 'replicaId':
      return pick(rand, [-1, -1, 0, 1]);
    case 'fetchOffset':
    case 'timestamp':
    case 'logStartOffset':
    case 'currentLeaderEpoch':
      return type === 'int64' ? pick(rand, INT64S) : undefined;
  }
  if (type === 'string' && /name|topic|key|groupId|resource/i.test(name)) return pick(rand, name === 'name' && rand() < 0.2 ? CONFIG_NAMES : NAMES);
  if (type === 'string' && name === 'value') return pick(rand, CONFIG_VALUES);
  return undefined;
}

function scalar(rand: Rand, type: string, name: string): unknown {
  const named = byName(rand, name, type);
  if (named !== undefined && rand() < 0.85) return named;
  switch (type) {
    case 'int8':
    case 'int16':
    case 'int32':
    case 'uint16':
    case 'uint32': {
      const [lo, hi] = INT_BOUNDS[type]!;
      return pick(rand, [0, 1, -1, lo, hi, int(rand, 0, 100)].filter((n) => n >= lo && n <= hi));
    }
    case 'int64':
      return pick(rand, INT64S);
    case 'float64':
      return pick(rand, [0, -1, 1.5, Number.MAX_VALUE, Number.NaN]);
    case 'bool':
      return rand() < 0.5;
    case 'uuid':
      return rand() < 0.5 ? '00000000-0000-0000-0000-000000000000' : Array.from({ length: 32 }, () => int(rand, 0, 15).toString(16)).join('').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
    case 'string':
      return pick(rand, NAMES);
    case 'bytes':
      return Buffer.alloc(int(rand, 0, 64), int(rand, 0, 255));
    case 'records':
      return records(rand);
    default:
      throw new Error(`no fuzz value for type ${type}`);
  }
}

/** A body for `version` of a request spec: every field of the spec, whether the version has it or not (the encoder skips those). */
function struct(rand: Rand, fields: readonly FieldSpec[], version: number, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    if (!inRange(parseVersions(f.versions), version)) continue;
    // Tagged fields mostly keep their default (clients rarely send them); sometimes set.
    if (f.taggedVersions !== undefined && inRange(parseVersions(f.taggedVersions), version) && rand() < 0.7) continue;
    const nullable = f.nullableVersions !== undefined && inRange(parseVersions(f.nullableVersions), version);
    if (nullable && rand() < 0.15) {
      out[f.name] = null;
      continue;
    }
    const isArray = f.type.startsWith('[]');
    const element = isArray ? f.type.slice(2) : f.type;
    const one = () => (f.fields !== undefined ? struct(rand, f.fields, version, depth + 1) : scalar(rand, element, f.name));
    out[f.name] = isArray ? Array.from({ length: arrayLength(rand, depth) }, one) : one();
  }
  return out;
}

function arrayLength(rand: Rand, depth: number): number {
  const r = rand();
  if (r < 0.1) return 0;
  if (r < 0.97 || depth > 1) return int(rand, 1, 3);
  return int(rand, 10, 40);
}

/** Record batches: valid, compressed, several back to back, or corrupted with the CRC fixed so the checks past it run. */
function records(rand: Rand): Buffer {
  const one = () => {
    const recs = Array.from({ length: int(rand, 1, 12) }, (_, i) => ({
      timestampMs: 1_700_000_000_000 + i,
      key: rand() < 0.5 ? null : Buffer.from(`k${i}`),
      value: rand() < 0.1 ? null : Buffer.alloc(int(rand, 0, 600), i),
      headers: rand() < 0.5 ? [] : [{ key: 'h', value: rand() < 0.2 ? null : Buffer.from('v') }],
    }));
    const compression = pick(rand, ['none', 'none', 'none', 'gzip', 'snappy', 'lz4', 'zstd'] as const);
    return compression === 'zstd' ? zstdBatch(encodeRecordBatch(recs)) : encodeRecordBatch(recs, { compression });
  };
  const how = rand();
  if (how < 0.5) return one();
  if (how < 0.6) return Buffer.concat([one(), one()]);
  if (how < 0.65) return Buffer.alloc(0);
  const batch = one();
  // Header fields (attributes, last offset delta, producer id/epoch, base sequence, count) or records.
  const edits = int(rand, 1, 4);
  for (let e = 0; e < edits; e++) {
    const at = rand() < 0.5 ? int(rand, 21, Math.min(batch.length - 1, 60)) : int(rand, 21, batch.length - 1);
    batch[at] = rand() < 0.5 ? batch[at]! ^ (1 << int(rand, 0, 7)) : pick(rand, [0x00, 0x7f, 0x80, 0xff, int(rand, 0, 255)]);
  }
  if (rand() < 0.8) batch.writeUInt32BE(crc32c(batch.subarray(21)), 17);
  return rand() < 0.15 ? batch.subarray(0, int(rand, 0, batch.length - 1)) : batch;
}

/**
 * The batch with its records section as a zstd frame of one raw (stored) block: Tributary only
 * decompresses zstd (fzstd), so the test writes the frame format itself (RFC 8878: magic, a
 * single-segment header with a 4-byte content size, one last raw block of at most 128 KiB).
 */
function zstdBatch(plain: Buffer): Buffer {
  const section = plain.subarray(61);
  const frame = Buffer.alloc(4 + 1 + 4 + 3 + section.length);
  frame.writeUInt32LE(0xfd2fb528, 0);
  frame[4] = 0xa0;
  frame.writeUInt32LE(section.length, 5);
  frame.writeUIntLE((section.length << 3) | 1, 9, 3);
  section.copy(frame, 12);
  const batch = Buffer.concat([plain.subarray(0, 61), frame]);
  batch.writeInt32BE(batch.length - 12, 8);
  batch.writeInt16BE(4, 21);
  batch.writeUInt32BE(crc32c(batch.subarray(21)), 17);
  return batch;
}

export interface FuzzRequest {
  /** Size-prefixed frame. */
  bytes: Buffer;
  /** What was generated, before any byte mutation. */
  apiKey: number;
  version: number;
  /** 'valid': encoded as generated; 'body' / 'header': bytes of that part mutated. */
  mutation: 'valid' | 'body' | 'header';
}

/** A request of `apiKey` at `version`, generated from the schema table, then perhaps mutated. */
export function fuzzRequest(rand: Rand, apiKey: number, version: number, correlationId: number): FuzzRequest {
  const spec = apiTable[apiKey as ApiKeyNumber].request;
  let bytes: Buffer | null = null;
  for (let attempt = 0; bytes === null; attempt++) {
    try {
      bytes = encodeRequest(apiKey as ApiKeyNumber, version, correlationId, rand() < 0.05 ? null : `fuzz-${correlationId}`, struct(rand, spec.fields, version, 0) as never);
    } catch (err) {
      // A value this version cannot carry (e.g. a name over 32767 bytes once compact): draw again.
      if (!(err instanceof RangeError) || attempt > 20) throw err;
    }
  }
  const r = rand();
  if (r < 0.45) return { bytes, apiKey, version, mutation: 'valid' };
  const header = decodeRequestHeader(bytes.subarray(4));
  const bodyStart = 4 + (header.ok ? header.value.headerBytes : 8);
  const inHeader = r > 0.9 || bytes.length <= bodyStart;
  return { bytes: mutateBytes(rand, bytes, inHeader ? 4 : bodyStart, inHeader ? bodyStart : bytes.length), apiKey, version, mutation: inHeader ? 'header' : 'body' };
}

/** Flips, sets, deletes, inserts or truncates bytes in [from, to); the size prefix matches the result. */
function mutateBytes(rand: Rand, frame: Buffer, from: number, to: number): Buffer {
  let out = Buffer.from(frame);
  let end = to;
  const edits = int(rand, 1, 6);
  for (let e = 0; e < edits && end > from; e++) {
    // Biased to the start of the range, where counts and lengths are.
    const at = from + Math.min(end - from - 1, Math.floor(rand() ** 2 * (end - from)));
    const how = int(rand, 0, 5);
    if (how === 0) out[at] = out[at]! ^ (1 << int(rand, 0, 7));
    else if (how === 1) out[at] = int(rand, 0, 255);
    else if (how === 2) out[at] = pick(rand, [0x00, 0x01, 0x7f, 0x80, 0xff]);
    else if (how === 3) {
      const n = Math.min(end - at, int(rand, 1, 16));
      out = Buffer.concat([out.subarray(0, at), out.subarray(at + n)]);
      end -= n;
    } else if (how === 4) {
      const n = int(rand, 1, 8);
      out = Buffer.concat([out.subarray(0, at), Buffer.alloc(n, pick(rand, [0x00, 0xff, int(rand, 0, 255)])), out.subarray(at)]);
      end += n;
    } else out = out.subarray(0, at);
  }
  out.writeInt32BE(out.length - 4, 0);
  return out;
}

/** API keys the codec does not know, and ones it knows that the listener does not serve. */
function unknownApiKey(rand: Rand): number {
  const notServed = supportedApis().map((a) => a.apiKey).filter((k) => servedApi(k) === undefined);
  return pick(rand, [...notServed, 4, 5, 6, 7, 21, 23, 38, 50, 74, 1000, 32767, -1]);
}

export interface FuzzCase {
  bytes: Buffer;
  /** A size prefix not matching the request: the connection is half-closed after it, no ping. */
  badSize: boolean;
  apiKey: number;
  version: number;
  mutation: 'valid' | 'body' | 'header' | 'unknown' | 'size';
}

/** Case i: mostly a served API's request (perhaps mutated), some unknown APIs or versions, some bad size prefixes. */
function servedPairs(): { api: ReturnType<typeof advertisedApis>[number]; version: number }[] {
  return advertisedApis().flatMap((api) => Array.from({ length: api.maxVersion - api.minVersion + 1 }, (_, k) => ({ api, version: api.minVersion + k })));
}

export function fuzzCase(rand: Rand, i: number, requestBytesMax: number): FuzzCase {
  const correlationId = i + 1;
  const r = rand();
  if (r < 0.04) {
    // An unknown API key with a plausible header and body, or a served API at a version not served.
    const served = pick(rand, advertisedApis());
    const known = rand() < 0.5;
    const apiKey = known ? served.apiKey : unknownApiKey(rand);
    const version = known ? pick(rand, [served.maxVersion + 1, served.maxVersion + 5, 127, -1, ...(served.minVersion > 0 ? [served.minVersion - 1] : [])]) : int(rand, 0, 12);
    const frame = Buffer.alloc(4 + 10 + 16);
    frame.writeInt32BE(frame.length - 4, 0);
    frame.writeInt16BE(apiKey, 4);
    frame.writeInt16BE(version, 6);
    frame.writeInt32BE(correlationId, 8);
    frame.writeInt16BE(4, 12);
    frame.write('fuzz', 14);
    return { bytes: frame, badSize: false, apiKey, version, mutation: 'unknown' };
  }
  // Uniform over (API, version) pairs, so an API with many versions (Fetch 4-17) still gets each one.
  const { api, version } = pick(rand, servedPairs());
  const req = fuzzRequest(rand, api.apiKey, version, correlationId);
  if (r < 0.07) {
    const bytes = Buffer.from(req.bytes);
    bytes.writeInt32BE(pick(rand, [bytes.length - 4 + int(rand, 1, 100), -1, requestBytesMax + 1, 0x7fffffff]), 0);
    return { bytes, badSize: true, apiKey: api.apiKey, version, mutation: 'size' };
  }
  return { ...req, badSize: false };
}
