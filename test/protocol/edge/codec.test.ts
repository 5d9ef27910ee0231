import { describe, expect, it } from 'vitest';
import {
  FrameDecoder,
  decodeFrame,
  encodeFrame,
  frameLength,
  isDecodeFailure,
  recordSize,
} from '../../../src/protocol/edge/codec.ts';
import { FrameType, type DecodeFailure, type EdgeRecord, type Frame } from '../../../src/protocol/edge/frames.ts';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The body of an encoded frame whose length fits in one byte. */
function bodyOf(frame: Frame): Buffer {
  const encoded = encodeFrame(frame);
  expect(encoded[0]).toBeLessThan(0x80);
  return encoded.subarray(2);
}

function decodeBody(type: number, bytes: number[] | Uint8Array): Frame | DecodeFailure {
  return decodeFrame(Uint8Array.from(bytes), type);
}

function malformed(result: Frame | DecodeFailure): string {
  if (!isDecodeFailure(result) || result.reason !== 'malformed') throw new Error(`expected malformed, got ${JSON.stringify(result)}`);
  return result.detail;
}

const fetch: Frame = { type: 'fetch', corr: 300, alias: 2, partition: 1, offset: 99, maxBytes: 65536, maxWaitMs: 500 };
const unkeyed = (value: Uint8Array): EdgeRecord => ({ timestampDeltaMs: 0, key: null, value, headers: [] });

describe('decode failures', () => {
  it('truncated body', () => {
    const body = bodyOf(fetch);
    for (let cut = 0; cut < body.length; cut++) {
      expect(malformed(decodeFrame(body.subarray(0, cut), FrameType.FETCH))).toMatch(/^fetch frame: truncated in \w+/);
    }
  });

  it('truncated inside a byte field', () => {
    const body = bodyOf({ type: 'records', corr: 1, partition: 0, logStartOffset: 0, nextOffset: 0, batches: new Uint8Array(10) });
    expect(malformed(decodeFrame(body.subarray(0, body.length - 1), FrameType.RECORDS))).toContain('truncated in batches');
  });

  it('trailing bytes', () => {
    const body = Buffer.concat([bodyOf(fetch), Buffer.from([0])]);
    expect(malformed(decodeFrame(body, FrameType.FETCH))).toBe('fetch frame: 1 trailing bytes after the last field');
  });

  it('reserved flag bits', () => {
    expect(malformed(decodeBody(FrameType.HELLO, [1, 0x02, 0, 0, 0, 0]))).toContain('reserved bits set in flags 0x02');
    expect(malformed(decodeBody(FrameType.REGISTER, [1, 0, 0x81, 0]))).toContain('reserved bits set in flags');
    expect(malformed(decodeBody(FrameType.CREATE_TOPIC, [1, 0x02, 0, 0, 0, 0]))).toContain('reserved bits set in flags');
    expect(malformed(decodeBody(FrameType.ACK, [1, 1, 0, 0, 0x02]))).toContain('reserved bits set in entry flags');
    // seq 1, alias 0, partition 0, acks 1, base 0, one record with flag 0x10
    expect(malformed(decodeBody(FrameType.PRODUCE, [1, 0, 0, 1, 0, 1, 0x10, 0]))).toContain('reserved bits set in record flags 0x10');
  });

  it('acks other than 0, 1, 2', () => {
    expect(malformed(decodeBody(FrameType.PRODUCE, [1, 0, 0, 3, 0, 0]))).toContain('acks 3 is not 0, 1 or 2');
  });

  it('refKind other than 0, 1, 2', () => {
    expect(malformed(decodeBody(FrameType.ERROR, [3, 0, 1, 0]))).toContain('refKind 3');
  });

  it('invalid UTF-8', () => {
    for (const bad of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
      const body = [1, 0, 0, 0, bad.length, ...bad, 0];
      expect(malformed(decodeBody(FrameType.HELLO, body))).toContain('clientId is not valid UTF-8');
    }
  });

  it('keeps a leading byte-order mark', () => {
    const frame: Frame = { type: 'delete-topic', corr: 1, name: '\uFEFFx' };
    expect(decodeFrame(bodyOf(frame), FrameType.DELETE_TOPIC)).toEqual(frame);
  });

  it('unknown type', () => {
    for (const type of [0x00, 0x22, 0x7e, 0x80, 0xff]) {
      expect(decodeBody(type, [])).toEqual({ ok: false, reason: 'unknown-type', frameType: type });
      expect(new FrameDecoder(100).push(Uint8Array.of(1, type)).failure).toEqual({ ok: false, reason: 'unknown-type', frameType: type });
    }
  });

  it('zero length', () => {
    const result = new FrameDecoder(100).push(Uint8Array.of(0x00, 0x0e, 0x00));
    expect(result.frames).toEqual([]);
    expect(result.failure).toMatchObject({ reason: 'malformed', detail: expect.stringContaining('frame length 0') });
  });

  it('overlong varint in the length and in a field', () => {
    const nine = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
    expect(new FrameDecoder(100).push(Uint8Array.from(nine)).failure).toMatchObject({ reason: 'malformed' });
    expect(malformed(decodeBody(FrameType.PING, nine))).toContain('corr varint is longer than 8 bytes');
    expect(malformed(decodeBody(FrameType.PING, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10]))).toContain('above 2^53-1');
  });

  it('ACK entries that do not ascend, or none at all', () => {
    expect(malformed(decodeBody(FrameType.ACK, [2, 5, 0, 0, 0, 0, 0, 0, 0]))).toContain('seqDelta 0');
    expect(malformed(decodeBody(FrameType.ACK, [0, 1]))).toContain('at least one entry');
  });

  it('a PRODUCE claiming 1,000,000 records in 10 bytes fails fast', () => {
    const count = [0xc0, 0x84, 0x3d]; // 1_000_000
    const body = Uint8Array.from([1, 0, 0, 1, 0, ...count, 0, 0]);
    expect(body.length).toBe(10);
    const started = performance.now();
    expect(malformed(decodeFrame(body, FrameType.PRODUCE))).toBe('produce frame: record count 1000000 exceeds the 2 bytes left (body byte 8)');
    expect(performance.now() - started).toBeLessThan(50);
  });

  it('element counts beyond the remaining bytes in every list', () => {
    expect(malformed(decodeBody(FrameType.METADATA, [1, 5, 0]))).toContain('topic count 5 exceeds');
    expect(malformed(decodeBody(FrameType.ACK, [9, 1, 0, 0, 0]))).toContain('entry count 9 exceeds');
    expect(malformed(decodeBody(FrameType.PRODUCE, [1, 0, 0, 1, 0, 1, 0x02, 0, 7, 0]))).toContain('header count 7 exceeds');
  });
});

describe('decode failures of the group frames [EDGE-12]', () => {
  const g = [1, 0x67]; // str "g"

  it('element counts beyond the remaining bytes in every list', () => {
    // JOIN_GROUP: corr 1, group "g", memberId '', instanceId '', timeouts 0 0, strategy 0, pattern '', 9 topics
    expect(malformed(decodeBody(FrameType.JOIN_GROUP, [1, ...g, 0, 0, 0, 0, 0, 0, 9, 0]))).toContain('topic count 9 exceeds');
    // JOINED: corr 1, generation 1, memberId '', timeouts 0 0, 1 topic "g" with 5 partitions
    expect(malformed(decodeBody(FrameType.JOINED, [1, 1, 0, 0, 0, 1, ...g, 5, 0]))).toContain('partition count 5 exceeds');
    expect(malformed(decodeBody(FrameType.JOINED, [1, 1, 0, 0, 0, 4, 0]))).toContain('topic count 4 exceeds');
    expect(malformed(decodeBody(FrameType.COMMIT_OFFSETS, [1, ...g, 0, 1, 8, 0]))).toContain('offset count 8 exceeds');
    expect(malformed(decodeBody(FrameType.FETCH_OFFSETS, [1, ...g, 3, 0]))).toContain('partition count 3 exceeds');
    expect(malformed(decodeBody(FrameType.OFFSETS, [1, 3, 0]))).toContain('offset count 3 exceeds');
    expect(malformed(decodeBody(FrameType.PRODUCE_COMMIT, [1, 0, ...g, 0, 1, 6, 0]))).toContain('batch count 6 exceeds');
    // one batch: alias 0, partition -1, base 0, 1,000,000 records
    const million = [0xc0, 0x84, 0x3d];
    expect(malformed(decodeBody(FrameType.PRODUCE_COMMIT, [1, 0, ...g, 0, 1, 1, 0, 1, 0, ...million, 0, 0]))).toContain(
      'record count 1000000 exceeds',
    );
    expect(malformed(decodeBody(FrameType.PRODUCE_COMMIT, [1, 0, ...g, 0, 1, 0, 4, 0]))).toContain('offset count 4 exceeds');
    expect(malformed(decodeBody(FrameType.PRODUCED, [1, 3, 0]))).toContain('batch count 3 exceeds');
    expect(malformed(decodeBody(FrameType.GROUPS, [1, 3, 0]))).toContain('group count 3 exceeds');
    expect(malformed(decodeBody(FrameType.GROUP_DESCRIPTION, [1, ...g, 0, 0, 0, 5, 0]))).toContain('member count 5 exceeds');
    expect(malformed(decodeBody(FrameType.GROUP_DESCRIPTION, [1, ...g, 0, 0, 0, 0, 5, 0]))).toContain('partition count 5 exceeds');
    expect(malformed(decodeBody(FrameType.OFFSETS_RESET, [1, 3, 0]))).toContain('entry count 3 exceeds');
  });

  it('enum values out of range', () => {
    expect(malformed(decodeBody(FrameType.JOIN_GROUP, [1, ...g, 0, 0, 0, 0, 4, 0, 0]))).toContain('strategy 4 is not 0..3');
    expect(malformed(decodeBody(FrameType.GROUPS, [1, 1, ...g, 4, 0]))).toContain('state 4 is not 0..3');
    expect(malformed(decodeBody(FrameType.GROUP_DESCRIPTION, [1, ...g, 4, 0, 0, 0, 0]))).toContain('state 4 is not 0..3');
    expect(malformed(decodeBody(FrameType.GROUP_DESCRIPTION, [1, ...g, 0, 4, 0, 0, 0]))).toContain('strategy 4 is not 0..3');
    expect(malformed(decodeBody(FrameType.RESET_OFFSETS, [1, ...g, ...g, 1, 5, 0, 0]))).toContain('mode 5 is not 0..4');
  });

  it('reserved flag bits', () => {
    expect(malformed(decodeBody(FrameType.PRODUCE_COMMIT, [1, 0x02, ...g, 0, 1, 0, 0]))).toContain('reserved bits set in flags 0x02');
    expect(malformed(decodeBody(FrameType.RESET_OFFSETS, [1, ...g, ...g, 1, 0, 0, 0x80]))).toContain('reserved bits set in flags 0x80');
  });

  it('the encoder refuses enum values the wire cannot carry', () => {
    const join = { type: 'join-group', corr: 1, group: 'g', memberId: '', instanceId: '', sessionTimeoutMs: 0, rebalanceTimeoutMs: 0, pattern: '', topics: [] };
    expect(() => encodeFrame({ ...join, strategy: 4 } as unknown as Frame)).toThrow(RangeError);
    expect(() => encodeFrame({ type: 'reset-offsets', corr: 1, group: 'g', topic: 't', partition: -1, mode: 5, value: 0, execute: false } as unknown as Frame)).toThrow(
      RangeError,
    );
  });

  it('PRODUCE_COMMIT records are byte for byte the PRODUCE record layout [EDGE-5.5.1]', () => {
    const records: EdgeRecord[] = [unkeyed(text('a')), { timestampDeltaMs: -5, key: text('k'), value: null, headers: [{ key: 'h', value: null }] }];
    const produce = bodyOf({ type: 'produce', seq: 1, alias: 2, partition: -1, acks: 1, baseTimestampMs: 9, records });
    const commit = bodyOf({
      type: 'produce-commit',
      corr: 1,
      flush: false,
      group: 'g',
      memberId: '',
      generation: -1,
      batches: [{ alias: 2, partition: -1, baseTimestampMs: 9, records }],
      offsets: [],
    });
    // PRODUCE: seq alias partition acks base count records...; the batch: alias partition base count records...
    const produceTail = produce.subarray(5);
    const batch = commit.subarray(commit.length - 1 - (produceTail.length + 3), commit.length - 1);
    expect(Buffer.from(batch.subarray(3))).toEqual(Buffer.from(produceTail));
  });
});

describe('FrameDecoder', () => {
  it('returns frames before a failure, then the same failure forever', () => {
    const ping = encodeFrame({ type: 'ping', corr: 7 });
    const decoder = new FrameDecoder(100);
    const first = decoder.push(Buffer.concat([ping, Buffer.from([0x01, 0x55]), ping]));
    expect(first.frames).toEqual([{ type: 'ping', corr: 7 }]);
    expect(first.failure).toEqual({ ok: false, reason: 'unknown-type', frameType: 0x55 });
    expect(decoder.push(ping)).toEqual({ frames: [], failure: first.failure });
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('rejects a length claiming 2^40 bytes without buffering anything', () => {
    const decoder = new FrameDecoder(4096);
    const claim = Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x05); // 2^40, then a type byte
    expect(decoder.push(claim).failure).toEqual({ ok: false, reason: 'frame-too-large', frameBytes: 2 ** 40, frameBytesMax: 4096 });
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('applies a new frame limit to the frames that follow (handshake, then negotiated)', () => {
    const big = encodeFrame({ type: 'records', corr: 1, partition: 0, logStartOffset: 0, nextOffset: 0, batches: new Uint8Array(5000) });
    const decoder = new FrameDecoder(4096);
    expect(decoder.push(encodeFrame({ type: 'ping', corr: 1 })).frames).toHaveLength(1);
    decoder.setFrameBytesMax(65536);
    expect(decoder.push(big).frames).toHaveLength(1);
    decoder.setFrameBytesMax(4096);
    expect(decoder.push(big).failure).toMatchObject({ reason: 'frame-too-large', frameBytes: big.length - 2 });
  });

  it('checks the limit against type + body, not the length varint', () => {
    const ping = encodeFrame({ type: 'ping', corr: 1 }); // length 2
    expect(new FrameDecoder(2).push(ping).frames).toHaveLength(1);
    expect(new FrameDecoder(1).push(ping).failure).toMatchObject({ reason: 'frame-too-large', frameBytes: 2 });
  });

  it('refuses a non-positive frame limit', () => {
    expect(() => new FrameDecoder(0)).toThrow(RangeError);
    expect(() => new FrameDecoder(1).setFrameBytesMax(1.5)).toThrow(RangeError);
  });

  it('hands out views, never copies, of a chunk holding whole frames', () => {
    const chunk = encodeFrame({ type: 'produce', seq: 1, alias: 0, partition: 0, acks: 1, baseTimestampMs: 0, records: [unkeyed(text('abc'))] });
    const [frame] = new FrameDecoder(100).push(chunk).frames;
    const value = (frame as Extract<Frame, { type: 'produce' }>).records[0].value as Uint8Array;
    expect(value.buffer).toBe(chunk.buffer);
  });

  it('never mutates a buffer it handed out while assembling later frames', () => {
    const a = encodeFrame({ type: 'records', corr: 1, partition: 0, logStartOffset: 0, nextOffset: 0, batches: new Uint8Array(700).fill(1) });
    const b = encodeFrame({ type: 'records', corr: 2, partition: 0, logStartOffset: 0, nextOffset: 0, batches: new Uint8Array(700).fill(2) });
    const stream = Buffer.concat([a, b]);
    const decoder = new FrameDecoder(4096);
    const frames: Frame[] = [];
    for (let pos = 0; pos < stream.length; pos += 100) frames.push(...decoder.push(stream.subarray(pos, pos + 100)).frames);
    const batches = frames.map((f) => (f as Extract<Frame, { type: 'records' }>).batches);
    expect(batches.map((x) => [x.length, new Set(x).size, x[0]])).toEqual([
      [700, 1, 1],
      [700, 1, 2],
    ]);
  });
});

describe('encoding', () => {
  it('writes the canonical record form: flags only for non-default fields', () => {
    const frame: Frame = { type: 'produce', seq: 1, alias: 0, partition: 0, acks: 0, baseTimestampMs: 0, records: [unkeyed(text('x'))] };
    expect(bodyOf(frame).subarray(-3)).toEqual(Buffer.from([0x00, 0x01, 0x78]));
    const nullValue: EdgeRecord = { timestampDeltaMs: 0, key: null, value: null, headers: [] };
    expect(recordSize(nullValue)).toBe(1);
  });

  it('decodes a flag set for a default value (non-canonical but valid)', () => {
    // record flags 0x06: delta present (0) and headers present (count 0)
    const frame = decodeBody(FrameType.PRODUCE, [1, 0, 0, 1, 0, 1, 0x06, 0x00, 0x01, 0x61, 0x00]);
    expect(frame).toMatchObject({ records: [{ timestampDeltaMs: 0, key: null, headers: [] }] });
  });

  it('frameLength is the length field of the encoded frame', () => {
    const frame: Frame = { type: 'produce', seq: 1, alias: 0, partition: -1, acks: 1, baseTimestampMs: 0, records: [unkeyed(new Uint8Array(300))] };
    const encoded = encodeFrame(frame);
    expect(encoded.length).toBe(frameLength(frame) + 2);
  });

  it('throws RangeError on values the wire cannot carry', () => {
    const ack = (seqs: number[]): Frame => ({ type: 'ack', entries: seqs.map((seq) => ({ seq, partition: 0, baseOffset: 0, duplicate: false })) });
    expect(() => encodeFrame(ack([]))).toThrow(RangeError);
    expect(() => encodeFrame(ack([3, 3]))).toThrow(RangeError);
    expect(() => encodeFrame(ack([3, 2]))).toThrow(RangeError);
    expect(() => encodeFrame({ type: 'ping', corr: -1 })).toThrow(RangeError);
    expect(() => encodeFrame({ type: 'ping', corr: 2 ** 53 })).toThrow(RangeError);
    expect(() => encodeFrame({ type: 'welcome', version: 256, keepaliveMs: 0, frameBytesMax: 0, lastSeq: 0 })).toThrow(RangeError);
    expect(() =>
      encodeFrame({ type: 'produce', seq: 1, alias: 0, partition: 2 ** 52, acks: 1, baseTimestampMs: 0, records: [] }),
    ).toThrow(RangeError);
  });

  it('replaces a lone surrogate (not representable in UTF-8) by U+FFFD', () => {
    const encoded = encodeFrame({ type: 'delete-topic', corr: 1, name: 'a\uD800' });
    expect(decodeFrame(encoded.subarray(2), FrameType.DELETE_TOPIC)).toEqual({ type: 'delete-topic', corr: 1, name: 'a\uFFFD' });
  });
});

describe('per-record overhead [EDGE-7.6]', () => {
  it('is 2 bytes per unkeyed record plus the frame header: 2.14 bytes for 100 × 100 bytes', () => {
    const n = 100;
    const records = Array.from({ length: n }, () => unkeyed(new Uint8Array(100).fill(0x41)));
    const encoded = encodeFrame({ type: 'produce', seq: 1, alias: 0, partition: -1, acks: 1, baseTimestampMs: 1_700_000_000_000, records });
    const overhead = (encoded.length - n * 100) / n;
    expect(encoded.length).toBe(10_214);
    expect(overhead).toBe(2.14);
    expect(overhead).toBeLessThanOrEqual(3);
    expect(recordSize(records[0]) - 100).toBe(2);
  });
});
