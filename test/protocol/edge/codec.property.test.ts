import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, decodeFrame, encodeFrame, isDecodeFailure, type PushResult } from '../../../src/protocol/edge/codec.ts';
import { FrameType, type AckEntry, type DecodeFailure, type Frame } from '../../../src/protocol/edge/frames.ts';
import { ZIGZAG_MAX, ZIGZAG_MIN, uvarintSize, writeUvarint } from '../../../src/protocol/edge/varint.ts';

// ---- arbitraries: every frame type, with small and extreme values ----

const uv = fc.oneof(fc.nat(300), fc.maxSafeNat());
const zz = fc.oneof(fc.integer({ min: -300, max: 300 }), fc.integer({ min: ZIGZAG_MIN, max: ZIGZAG_MAX }));
const u8 = fc.integer({ min: 0, max: 255 });
const str = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 12 }));
const bytes = fc.uint8Array({ maxLength: 24 });
const nbytes = fc.option(bytes, { nil: null });

const header = fc.record({ key: str, value: nbytes });
const edgeRecord = fc.record({
  timestampDeltaMs: fc.oneof(fc.constant(0), zz),
  key: nbytes,
  value: nbytes,
  headers: fc.array(header, { maxLength: 3 }),
});

const ackEntries = fc
  .tuple(
    fc.nat(2 ** 40),
    fc.array(fc.record({ delta: fc.integer({ min: 1, max: 2 ** 20 }), partition: uv, baseOffset: uv, duplicate: fc.boolean() }), {
      minLength: 1,
      maxLength: 6,
    }),
  )
  .map(([first, raw]) => {
    let seq = first;
    return raw.map(({ delta, partition, baseOffset, duplicate }, i): AckEntry => {
      if (i > 0) seq += delta;
      return { seq, partition, baseOffset, duplicate };
    });
  });

const orMinus1 = fc.oneof(fc.constant(-1), zz);
const topicPartitions = fc.array(fc.record({ topic: str, partitions: fc.array(uv, { maxLength: 4 }) }), { maxLength: 3 });
const strategy = fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const);
const groupState = fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const);
const offsetCommits = fc.array(fc.record({ alias: uv, partition: uv, offset: uv, metadata: str }), { maxLength: 4 });

const frameArbs: Record<Frame['type'], fc.Arbitrary<Frame>> = {
  hello: fc.record({
    type: fc.constant('hello' as const),
    version: u8,
    idempotent: fc.boolean(),
    keepaliveMs: uv,
    frameBytesMax: uv,
    clientId: str,
    token: nbytes,
  }),
  welcome: fc.record({ type: fc.constant('welcome' as const), version: u8, keepaliveMs: uv, frameBytesMax: uv, lastSeq: uv }),
  register: fc.record({ type: fc.constant('register' as const), corr: uv, alias: uv, topic: str, create: fc.boolean() }),
  registered: fc.record({ type: fc.constant('registered' as const), corr: uv, alias: uv, partitions: uv }),
  produce: fc.record({
    type: fc.constant('produce' as const),
    seq: uv,
    alias: uv,
    partition: fc.oneof(fc.constant(-1), zz),
    acks: fc.constantFrom(0 as const, 1 as const, 'all' as const),
    baseTimestampMs: uv,
    records: fc.array(edgeRecord, { maxLength: 5 }),
  }),
  ack: fc.record({ type: fc.constant('ack' as const), entries: ackEntries }),
  fetch: fc.record({
    type: fc.constant('fetch' as const),
    corr: uv,
    alias: uv,
    partition: uv,
    offset: uv,
    maxBytes: uv,
    maxWaitMs: uv,
  }),
  records: fc.record({
    type: fc.constant('records' as const),
    corr: uv,
    partition: uv,
    logStartOffset: uv,
    nextOffset: uv,
    batches: fc.uint8Array({ maxLength: 200 }),
  }),
  metadata: fc.record({ type: fc.constant('metadata' as const), corr: uv, topics: fc.array(str, { maxLength: 4 }) }),
  'metadata-result': fc.record({
    type: fc.constant('metadata-result' as const),
    corr: uv,
    topics: fc.array(
      fc.record({
        name: str,
        retentionMs: zz,
        retentionBytes: zz,
        partitions: fc.array(fc.record({ partition: uv, logStartOffset: uv, nextOffset: uv }), { maxLength: 4 }),
      }),
      { maxLength: 3 },
    ),
  }),
  'create-topic': fc.record({
    type: fc.constant('create-topic' as const),
    corr: uv,
    name: str,
    partitions: uv,
    retentionMs: zz,
    retentionBytes: zz,
    grow: fc.boolean(),
  }),
  'alter-topic': fc.record({ type: fc.constant('alter-topic' as const), corr: uv, name: str, partitions: uv, retentionMs: zz, retentionBytes: zz }),
  'delete-topic': fc.record({ type: fc.constant('delete-topic' as const), corr: uv, name: str }),
  ok: fc.record({ type: fc.constant('ok' as const), corr: uv }),
  ping: fc.record({ type: fc.constant('ping' as const), corr: uv }),
  pong: fc.record({ type: fc.constant('pong' as const), corr: uv }),
  error: fc.record({
    type: fc.constant('error' as const),
    refKind: fc.constantFrom('connection' as const, 'request' as const, 'produce' as const),
    ref: uv,
    code: uv,
    message: str,
  }),
  'join-group': fc.record({
    type: fc.constant('join-group' as const),
    corr: uv,
    group: str,
    memberId: str,
    instanceId: str,
    sessionTimeoutMs: uv,
    rebalanceTimeoutMs: uv,
    strategy,
    pattern: str,
    topics: fc.array(str, { maxLength: 4 }),
  }),
  joined: fc.record({
    type: fc.constant('joined' as const),
    corr: uv,
    generation: uv,
    memberId: str,
    sessionTimeoutMs: uv,
    heartbeatMs: uv,
    assignment: topicPartitions,
  }),
  heartbeat: fc.record({ type: fc.constant('heartbeat' as const), corr: uv, group: str, memberId: str, generation: uv }),
  'leave-group': fc.record({ type: fc.constant('leave-group' as const), corr: uv, group: str, memberId: str }),
  'commit-offsets': fc.record({
    type: fc.constant('commit-offsets' as const),
    corr: uv,
    group: str,
    memberId: str,
    generation: orMinus1,
    offsets: offsetCommits,
  }),
  'fetch-offsets': fc.record({
    type: fc.constant('fetch-offsets' as const),
    corr: uv,
    group: str,
    partitions: fc.array(fc.record({ alias: uv, partition: uv }), { maxLength: 4 }),
  }),
  offsets: fc.record({
    type: fc.constant('offsets' as const),
    corr: uv,
    offsets: fc.array(fc.record({ alias: uv, partition: uv, offset: orMinus1, metadata: str }), { maxLength: 4 }),
  }),
  'produce-commit': fc.record({
    type: fc.constant('produce-commit' as const),
    corr: uv,
    flush: fc.boolean(),
    group: str,
    memberId: str,
    generation: orMinus1,
    batches: fc.array(
      fc.record({ alias: uv, partition: orMinus1, baseTimestampMs: uv, records: fc.array(edgeRecord, { maxLength: 3 }) }),
      { maxLength: 3 },
    ),
    offsets: offsetCommits,
  }),
  produced: fc.record({
    type: fc.constant('produced' as const),
    corr: uv,
    batches: fc.array(fc.record({ partition: uv, baseOffset: uv }), { maxLength: 4 }),
  }),
  'list-groups': fc.record({ type: fc.constant('list-groups' as const), corr: uv }),
  groups: fc.record({
    type: fc.constant('groups' as const),
    corr: uv,
    groups: fc.array(fc.record({ name: str, state: groupState, members: uv }), { maxLength: 4 }),
  }),
  'describe-group': fc.record({ type: fc.constant('describe-group' as const), corr: uv, group: str }),
  'group-description': fc.record({
    type: fc.constant('group-description' as const),
    corr: uv,
    group: str,
    state: groupState,
    strategy,
    generation: uv,
    members: fc.array(fc.record({ memberId: str, instanceId: str, clientId: str, host: str, assignment: topicPartitions }), {
      maxLength: 3,
    }),
    partitions: fc.array(
      fc.record({
        topic: str,
        partition: uv,
        committed: orMinus1,
        metadata: str,
        logStartOffset: uv,
        logEndOffset: uv,
        memberId: str,
      }),
      { maxLength: 3 },
    ),
  }),
  'reset-offsets': fc.record({
    type: fc.constant('reset-offsets' as const),
    corr: uv,
    group: str,
    topic: str,
    partition: orMinus1,
    mode: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const, 4 as const),
    value: zz,
    execute: fc.boolean(),
  }),
  'offsets-reset': fc.record({
    type: fc.constant('offsets-reset' as const),
    corr: uv,
    entries: fc.array(fc.record({ topic: str, partition: uv, previous: orMinus1, offset: uv }), { maxLength: 4 }),
  }),
  'delete-group': fc.record({ type: fc.constant('delete-group' as const), corr: uv, group: str }),
  'out-of-range': fc.record({
    type: fc.constant('out-of-range' as const),
    corr: uv,
    partition: uv,
    offset: uv,
    side: fc.constantFrom('below' as const, 'above' as const),
    logStartOffset: uv,
    nextOffset: uv,
  }),
};

const anyFrame = fc.oneof(...Object.values(frameArbs));

/** Byte fields compared by content, whatever their class (Buffer views vs Uint8Array). */
function plain(x: unknown): unknown {
  if (x instanceof Uint8Array) return { bytes: Buffer.from(x.buffer, x.byteOffset, x.length).toString('hex') };
  if (Array.isArray(x)) return x.map(plain);
  if (x !== null && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, plain(v)]));
  return x;
}

function expectTypedFailure(failure: DecodeFailure): void {
  expect(failure.ok).toBe(false);
  switch (failure.reason) {
    case 'frame-too-large':
      expect(failure.frameBytes).toBeGreaterThan(failure.frameBytesMax);
      break;
    case 'malformed':
      expect(typeof failure.detail).toBe('string');
      break;
    case 'unknown-type':
      expect(Number.isInteger(failure.frameType)).toBe(true);
      break;
    default:
      throw new Error(`untyped failure ${JSON.stringify(failure)}`);
  }
}

function pushAll(decoder: FrameDecoder, chunks: Uint8Array[]): PushResult {
  const frames: Frame[] = [];
  let failure: DecodeFailure | undefined;
  for (const chunk of chunks) {
    const result = decoder.push(chunk);
    frames.push(...result.frames);
    failure ??= result.failure;
  }
  return failure === undefined ? { frames } : { frames, failure };
}

function lengthPrefix(n: number): Uint8Array {
  const buf = new Uint8Array(uvarintSize(n));
  writeUvarint(buf, 0, n);
  return buf;
}

const frameTypes = Object.values(FrameType) as number[];

// ---- properties ----

describe('decoding arbitrary bytes never throws', () => {
  it('random streams yield frames and/or one typed failure', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 5000 }), (bytes, max) => {
        const decoder = new FrameDecoder(max);
        const result = decoder.push(bytes);
        if (result.failure !== undefined) {
          expectTypedFailure(result.failure);
          expect(decoder.push(new Uint8Array([1, 0x0e, 0]))).toEqual({ frames: [], failure: result.failure });
        }
        expect(decoder.bufferedBytes).toBeLessThanOrEqual(max + 16);
      }),
      { numRuns: 1000 },
    );
  });

  it('plausible headers (valid length and type) with random bodies', () => {
    const plausible = fc
      .tuple(fc.oneof(fc.constantFrom(...frameTypes), u8), fc.uint8Array({ maxLength: 120 }))
      .map(([type, body]) => Buffer.concat([lengthPrefix(body.length + 1), Buffer.from([type]), body]));
    fc.assert(
      fc.property(fc.array(plausible, { minLength: 1, maxLength: 4 }), (frames) => {
        const result = new FrameDecoder(4096).push(Buffer.concat(frames));
        if (result.failure !== undefined) expectTypedFailure(result.failure);
      }),
      { numRuns: 1000 },
    );
  });

  it('valid frames with bytes flipped, cut or appended', () => {
    fc.assert(
      fc.property(anyFrame, fc.array(fc.tuple(fc.nat(), u8), { maxLength: 3 }), fc.nat(), (frame, flips, cut) => {
        const encoded = Buffer.from(encodeFrame(frame));
        for (const [at, byte] of flips) encoded[at % encoded.length] = byte;
        const body = encoded.subarray(0, Math.max(1, encoded.length - (cut % 4)));
        const streamed = new FrameDecoder(1 << 20).push(body);
        if (streamed.failure !== undefined) expectTypedFailure(streamed.failure);
        const direct = decodeFrame(body.subarray(1), body[0]);
        if (isDecodeFailure(direct)) expectTypedFailure(direct);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('round trip', () => {
  for (const [type, arb] of Object.entries(frameArbs)) {
    it(`decode(encode(x)) equals x for ${type}`, () => {
      fc.assert(
        fc.property(arb, (frame) => {
          const encoded = encodeFrame(frame);
          const { frames, failure } = new FrameDecoder(1 << 20).push(encoded);
          expect(failure).toBeUndefined();
          expect(frames.map(plain)).toEqual([plain(frame)]);
        }),
        { numRuns: 200 },
      );
    });
  }
});

describe('stream splitting', () => {
  const stream = fc.array(anyFrame, { minLength: 1, maxLength: 12 }).map((frames) => ({
    frames,
    bytes: Buffer.concat(frames.map((f) => encodeFrame(f))),
  }));

  it('any split yields exactly the frames of the whole stream', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 20 }), ({ frames, bytes }, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...points].map((start, i) => bytes.subarray(start, points[i] ?? bytes.length));
        const whole = new FrameDecoder(1 << 20).push(bytes);
        const split = pushAll(new FrameDecoder(1 << 20), chunks);
        expect(split.failure).toBeUndefined();
        expect(split.frames.map(plain)).toEqual(whole.frames.map(plain));
        expect(split.frames.map(plain)).toEqual(frames.map(plain));
      }),
      { numRuns: 300 },
    );
  });

  it('1-byte chunks yield the same frames', () => {
    fc.assert(
      fc.property(stream, ({ frames, bytes }) => {
        const decoder = new FrameDecoder(1 << 20);
        const chunks = Array.from(bytes, (b) => Uint8Array.of(b));
        const result = pushAll(decoder, chunks);
        expect(result.failure).toBeUndefined();
        expect(result.frames.map(plain)).toEqual(frames.map(plain));
        expect(decoder.bufferedBytes).toBe(0);
      }),
      { numRuns: 100 },
    );
  });
});

describe('memory stays bounded whatever a length field claims', () => {
  it('a claim above the limit is refused as soon as the length is complete, even split byte by byte', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1025, max: Number.MAX_SAFE_INTEGER }), fc.boolean(), (claimed, byteByByte) => {
        const decoder = new FrameDecoder(1024);
        const header = lengthPrefix(claimed);
        const chunks = byteByByte ? Array.from(header, (b) => Uint8Array.of(b)) : [header];
        const result = pushAll(decoder, chunks);
        expect(result.failure).toEqual({ ok: false, reason: 'frame-too-large', frameBytes: claimed, frameBytesMax: 1024 });
        expect(decoder.bufferedBytes).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('a large allowed frame fed slowly buffers no more than it received (doubling) nor the limit', () => {
    const max = 64 * 1024;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: max - 64 }),
        fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 40 }),
        (batchBytes, sizes) => {
          const frame: Frame = { type: 'records', corr: 1, partition: 0, logStartOffset: 0, nextOffset: 9, batches: new Uint8Array(batchBytes).fill(7) };
          const encoded = encodeFrame(frame);
          const decoder = new FrameDecoder(max);
          const frames: Frame[] = [];
          let peak = 0;
          let overReceived = false;
          for (let pos = 0, i = 0; pos < encoded.length; i++) {
            const end = Math.min(encoded.length, pos + sizes[i % sizes.length]);
            const result = decoder.push(encoded.subarray(pos, end));
            expect(result.failure).toBeUndefined();
            frames.push(...result.frames);
            pos = end;
            peak = Math.max(peak, decoder.bufferedBytes);
            overReceived ||= decoder.bufferedBytes > Math.max(512, 2 * pos);
          }
          expect(peak).toBeLessThanOrEqual(max + 16);
          expect(overReceived).toBe(false);
          expect(frames.map(plain)).toEqual([plain(frame)]);
          expect(decoder.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: 50 },
    );
  });
});
