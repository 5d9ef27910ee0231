// Varints of the edge protocol [EDGE-3.2], [EDGE-3.3]: unsigned LEB128 for 0..2^53-1 and zigzag on
// top of it for -(2^52)..2^52-1. JavaScript numbers are doubles, so everything above 2^31 uses
// arithmetic: 32-bit bitwise operators would silently truncate.
//
// Readers never throw and allocate nothing: they return the position after the varint, or a negative
// status, and leave the value in a caller-owned slot that can be reused for every read.

/** Largest unsigned value: 53 bits, the integers a double holds exactly. */
export const UVARINT_MAX = Number.MAX_SAFE_INTEGER;
/** Signed range: exactly the values whose zigzag form fits in UVARINT_MAX. */
export const ZIGZAG_MIN = -(2 ** 52);
export const ZIGZAG_MAX = 2 ** 52 - 1;
/** 53 bits need 8 groups of 7 bits; a 9th byte is never valid [EDGE-3.2]. */
export const VARINT_BYTES_MAX = 8;

/** Returned by readers when the buffer ends inside the varint. */
export const VARINT_NEED_MORE = -1;
/** Returned by readers when the varint is longer than 8 bytes or its value exceeds 2^53-1. */
export const VARINT_MALFORMED = -2;

/** Receives the value of a successful read. */
export interface VarintSlot {
  value: number;
}

// The 8th byte carries bits 49..55; only bits 49..52 fit in 53 bits, so it must be below 16.
const LAST_BYTE_LIMIT = 16;

/**
 * Reads an unsigned varint from buf[pos..end). Returns the position after it, VARINT_NEED_MORE or
 * VARINT_MALFORMED; on success the value is in out.value. Non-minimal encodings (e.g. `80 00` for 0)
 * are accepted as long as they fit in 8 bytes, so firmware may reserve fixed-width fields [EDGE-3.2].
 */
export function readUvarint(buf: Uint8Array, pos: number, out: VarintSlot, end: number = buf.length): number {
  if (pos >= end) return VARINT_NEED_MORE;
  let b = buf[pos];
  if (b < 0x80) {
    out.value = b;
    return pos + 1;
  }
  let value = b & 0x7f;
  let scale = 0x80;
  for (let i = 1; ; i++) {
    if (pos + i >= end) return VARINT_NEED_MORE;
    b = buf[pos + i];
    if (i === VARINT_BYTES_MAX - 1 && b >= LAST_BYTE_LIMIT) return VARINT_MALFORMED;
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      out.value = value;
      return pos + i + 1;
    }
    scale *= 0x80;
  }
}

/** Reads a zigzag varint; same contract as readUvarint. */
export function readZigzag(buf: Uint8Array, pos: number, out: VarintSlot, end: number = buf.length): number {
  const next = readUvarint(buf, pos, out, end);
  if (next >= 0) out.value = zigzagDecode(out.value);
  return next;
}

/** Bytes needed for n. Throws RangeError unless n is an integer in 0..UVARINT_MAX. */
export function uvarintSize(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${n} is not an unsigned varint (0..2^53-1)`);
  if (n < 2 ** 7) return 1;
  if (n < 2 ** 14) return 2;
  if (n < 2 ** 21) return 3;
  if (n < 2 ** 28) return 4;
  if (n < 2 ** 35) return 5;
  if (n < 2 ** 42) return 6;
  if (n < 2 ** 49) return 7;
  return 8;
}

/** Bytes needed for n as a zigzag varint. Throws RangeError outside ZIGZAG_MIN..ZIGZAG_MAX. */
export function zigzagSize(n: number): number {
  if (!Number.isSafeInteger(n) || n < ZIGZAG_MIN || n > ZIGZAG_MAX) {
    throw new RangeError(`${n} is not a zigzag varint (-(2^52)..2^52-1)`);
  }
  return uvarintSize(zigzagEncode(n));
}

/**
 * Writes n (already validated by uvarintSize) at pos and returns the position after it. The caller
 * sized the buffer, so there is no bounds check here.
 */
export function writeUvarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 0x80) + 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[pos++] = n;
  return pos;
}

/** Writes n (already validated by zigzagSize) as a zigzag varint; returns the position after it. */
export function writeZigzag(buf: Uint8Array, pos: number, n: number): number {
  return writeUvarint(buf, pos, zigzagEncode(n));
}

/** 0, -1, 1, -2, 2, ... → 0, 1, 2, 3, 4, ... so small magnitudes of either sign stay short [EDGE-3.3]. */
export function zigzagEncode(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

export function zigzagDecode(u: number): number {
  return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
}
