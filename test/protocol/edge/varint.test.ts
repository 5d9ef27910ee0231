import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  UVARINT_MAX,
  VARINT_MALFORMED,
  VARINT_NEED_MORE,
  ZIGZAG_MAX,
  ZIGZAG_MIN,
  readUvarint,
  readZigzag,
  uvarintSize,
  writeUvarint,
  writeZigzag,
  zigzagSize,
  type VarintSlot,
} from '../../../src/protocol/edge/varint.ts';

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function encodeU(n: number): Uint8Array {
  const buf = new Uint8Array(uvarintSize(n));
  expect(writeUvarint(buf, 0, n)).toBe(buf.length);
  return buf;
}

function encodeZ(n: number): Uint8Array {
  const buf = new Uint8Array(zigzagSize(n));
  expect(writeZigzag(buf, 0, n)).toBe(buf.length);
  return buf;
}

const slot: VarintSlot = { value: -1 };

describe('unsigned varint', () => {
  it.each([
    [0, '00'],
    [1, '01'],
    [127, '7f'],
    [128, '8001'],
    [300, 'ac02'],
    [16383, 'ff7f'],
    [16384, '808001'],
    [2 ** 31, '8080808008'],
    [2 ** 32 + 5, '8580808010'],
    [1_700_000_000_000, '80d095ffbc31'],
    [UVARINT_MAX, 'ffffffffffffff0f'],
  ])('encodes %d as %s and back', (n, expected) => {
    const bytes = encodeU(n);
    expect(hex(bytes)).toBe(expected);
    expect(readUvarint(bytes, 0, slot)).toBe(bytes.length);
    expect(slot.value).toBe(n);
  });

  it('round-trips every safe integer, at any position, with the size it announces', () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat(1 << 16), fc.maxSafeNat()), fc.nat(4), (n, at) => {
        const size = uvarintSize(n);
        const buf = new Uint8Array(at + size + 2).fill(0xee);
        expect(writeUvarint(buf, at, n)).toBe(at + size);
        expect(readUvarint(buf, at, slot)).toBe(at + size);
        expect(slot.value).toBe(n);
      }),
      { numRuns: 500 },
    );
  });

  it('asks for more bytes when the buffer or `end` stops inside the varint', () => {
    const bytes = encodeU(UVARINT_MAX);
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(readUvarint(bytes.subarray(0, cut), 0, slot)).toBe(VARINT_NEED_MORE);
      expect(readUvarint(bytes, 0, slot, cut)).toBe(VARINT_NEED_MORE);
    }
  });

  it('rejects a 9th byte without reading it, and an 8th byte above 53 bits', () => {
    const nine = new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    expect(readUvarint(nine.subarray(0, 8), 0, slot)).toBe(VARINT_MALFORMED);
    expect(readUvarint(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10]), 0, slot)).toBe(VARINT_MALFORMED);
  });

  it('accepts non-minimal encodings up to 8 bytes (padded length fields)', () => {
    expect(readUvarint(new Uint8Array([0x85, 0x80, 0x00]), 0, slot)).toBe(3);
    expect(slot.value).toBe(5);
    expect(readUvarint(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), 0, slot)).toBe(8);
    expect(slot.value).toBe(0);
  });

  it('refuses to measure values the wire cannot carry', () => {
    for (const bad of [-1, 0.5, UVARINT_MAX + 1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => uvarintSize(bad)).toThrow(RangeError);
    }
  });
});

describe('zigzag varint', () => {
  it.each([
    [0, '00'],
    [-1, '01'],
    [1, '02'],
    [3, '06'],
    [-64, '7f'],
    [64, '8001'],
    [250, 'f403'],
    [ZIGZAG_MIN, 'ffffffffffffff0f'],
    [ZIGZAG_MAX, 'feffffffffffff0f'],
  ])('encodes %d as %s and back', (n, expected) => {
    const bytes = encodeZ(n);
    expect(hex(bytes)).toBe(expected);
    expect(readZigzag(bytes, 0, slot)).toBe(bytes.length);
    expect(slot.value).toBe(n);
  });

  it('round-trips the whole signed range', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: -300, max: 300 }), fc.integer({ min: ZIGZAG_MIN, max: ZIGZAG_MAX })), (n) => {
        const bytes = encodeZ(n);
        expect(readZigzag(bytes, 0, slot)).toBe(bytes.length);
        expect(slot.value).toBe(n);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses to measure values outside -(2^52)..2^52-1', () => {
    for (const bad of [ZIGZAG_MIN - 1, ZIGZAG_MAX + 1, 1.5]) expect(() => zigzagSize(bad)).toThrow(RangeError);
  });
});
