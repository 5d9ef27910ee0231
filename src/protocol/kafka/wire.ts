// Primitive types of the Kafka protocol: fixed-width big-endian integers, unsigned varints (lengths,
// counts and tags of flexible versions), UUIDs, and the bounds checks every read makes. A Reader
// never reads past its end and never trusts a length: it throws MalformedInput, which the public
// decoders (codec.ts) turn into a failure value. Record-level zigzag varints live inside RecordBatch
// bytes, which this codec passes through untouched (src/format/record-batch.ts reads them).

/** Thrown by readers on bytes that do not decode; never escapes the public decoders. */
export class MalformedInput extends Error {
  override readonly name = 'MalformedInput';
}

/** Unsigned varints of the Kafka protocol carry 32 bits: at most 5 bytes. */
const UVARINT_BYTES_MAX = 5;

export class Reader {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    public end: number,
  ) {}

  /** Throws unless n more bytes are left. */
  need(n: number, what: string): void {
    if (n > this.end - this.pos) throw new MalformedInput(`${what}: needs ${n} bytes, ${this.end - this.pos} left`);
  }

  int8(): number {
    this.need(1, 'int8');
    return this.buf.readInt8(this.pos++);
  }

  int16(): number {
    this.need(2, 'int16');
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  uint16(): number {
    this.need(2, 'uint16');
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4, 'int32');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    this.need(4, 'uint32');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  int64(): bigint {
    this.need(8, 'int64');
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  float64(): number {
    this.need(8, 'float64');
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Kafka reads any non-zero byte as true. */
  bool(): boolean {
    this.need(1, 'bool');
    return this.buf[this.pos++] !== 0;
  }

  /** Unsigned LEB128 of at most 5 bytes and 32 bits. */
  uvarint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < UVARINT_BYTES_MAX; i++) {
      this.need(1, 'unsigned varint');
      const b = this.buf[this.pos++];
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (value > 0xffffffff) throw new MalformedInput('unsigned varint: above 32 bits');
        return value;
      }
      scale *= 0x80;
    }
    throw new MalformedInput('unsigned varint: longer than 5 bytes');
  }

  uuid(): string {
    this.need(16, 'uuid');
    const hex = this.buf.toString('hex', this.pos, this.pos + 16);
    this.pos += 16;
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  utf8(length: number): string {
    this.need(length, 'string');
    const s = this.buf.toString('utf8', this.pos, this.pos + length);
    this.pos += length;
    return s;
  }

  /** A view of the next bytes, not a copy: record batches pass through untouched. */
  view(length: number): Buffer {
    this.need(length, 'bytes');
    const b = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return b;
  }
}

export function uvarintSize(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

/** Writes into a buffer sized beforehand by the codec's size pass. */
export class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  int8(v: number): void {
    this.pos = this.buf.writeInt8(v, this.pos);
  }

  int16(v: number): void {
    this.pos = this.buf.writeInt16BE(v, this.pos);
  }

  uint16(v: number): void {
    this.pos = this.buf.writeUInt16BE(v, this.pos);
  }

  int32(v: number): void {
    this.pos = this.buf.writeInt32BE(v, this.pos);
  }

  uint32(v: number): void {
    this.pos = this.buf.writeUInt32BE(v, this.pos);
  }

  int64(v: bigint): void {
    this.pos = this.buf.writeBigInt64BE(v, this.pos);
  }

  float64(v: number): void {
    this.pos = this.buf.writeDoubleBE(v, this.pos);
  }

  bool(v: boolean): void {
    this.buf[this.pos++] = v ? 1 : 0;
  }

  uvarint(v: number): void {
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  uuid(v: string): void {
    this.pos += this.buf.write(v.replaceAll('-', ''), this.pos, 16, 'hex');
  }

  utf8(v: string, byteLength: number): void {
    this.pos += this.buf.write(v, this.pos, byteLength, 'utf8');
  }

  bytes(v: Uint8Array): void {
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }
}

const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function isUuid(v: unknown): v is string {
  return typeof v === 'string' && UUID_PATTERN.test(v);
}

export const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
