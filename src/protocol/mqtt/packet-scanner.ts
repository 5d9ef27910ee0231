// Walks the fixed headers of an MQTT byte stream without decoding packets, to refuse an oversized
// packet as soon as its Remaining Length is read — before a parser buffers it — a Remaining Length
// that is not a valid variable byte integer, and a string that is not well-formed UTF-8 (a PUBLISH
// topic, a SUBSCRIBE or UNSUBSCRIBE filter, a CONNECT's client id, will topic or username, an MQTT 5
// string property: string-fields.ts; the parser would turn it into U+FFFD and carry on). It can stop
// at the end of a packet, so a caller can hand a parser one packet and keep the rest. The strings' places depend on
// the protocol version (MQTT 5 puts properties before some of them): the connection's CONNECT tells
// it (`protocolLevel`). Pure: no I/O, imports nothing else from src/. Section numbers cite MQTT 3.1.1.

import { hasStrings, StringFields, type BadString } from './string-fields.ts';

export type ScanResult =
  | { ok: true; scannedBytes: number; packetsEnded: number }
  | { ok: false; reason: 'too-large'; packetBytes: number; packetBytesMax: number }
  | { ok: false; reason: 'bad-length' }
  | ({ ok: false; reason: 'bad-string'; packetType: number } & BadString);

/** Bytes of a fixed header: the type byte and at most four Remaining Length bytes [MQTT-2.2.3]. */
export const FIXED_HEADER_BYTES_MAX = 5;

/** Bytes of the variable byte integer holding `n`, as a Remaining Length or a properties length [MQTT-1.5.5]. */
export function remainingLengthBytes(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

export class PacketScanner {
  private readonly packetBytesMax: number;
  /** Bytes of the current packet's body still to skip. */
  private skip = 0;
  /** 0: expecting a type byte; n > 0: reading the n-th Remaining Length byte. */
  private headerStep = 0;
  private type = 0;
  private flags = 0;
  private length = 0;
  private multiplier = 1;
  /** The strings of the current packet's body still to check; null when there are none (left). */
  private strings: StringFields | null = null;
  /** What `strings` points at when it is not null: one per connection, not one per packet. */
  private readonly fields = new StringFields(0, 0);
  private failed: ScanResult | null = null;
  /**
   * The protocol level the connection's CONNECT announced (3: MQTT 3.1, 4: 3.1.1, 5: MQTT 5); null
   * until a CONNECT was read, when packets are scanned as MQTT 3.1.1. A later CONNECT is a protocol error the parser closes on, so only the
   * first counts.
   */
  private level: number | null = null;

  /** packetBytesMax counts the whole packet: fixed header, variable header and payload. */
  constructor(packetBytesMax: number) {
    this.packetBytesMax = packetBytesMax;
  }

  /** The protocol level of the connection's CONNECT, or null before its bytes were read. */
  get protocolLevel(): number | null {
    return this.level;
  }

  /**
   * Scans `chunk`, stopping early once `packetsMax` packets have ended in it; `scannedBytes` says
   * where, and the caller pushes the rest later. `packetsEnded` counts the packets whose last byte
   * was in the scanned part.
   */
  push(chunk: Uint8Array, packetsMax = Infinity): ScanResult {
    if (this.failed) return this.failed;
    let i = 0;
    let packets = 0;
    while (i < chunk.length && packets < packetsMax) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        if (this.strings !== null) {
          const strings = this.strings;
          if (!strings.push(chunk.subarray(i, i + n))) return (this.failed = { ok: false, reason: 'bad-string', packetType: this.type, ...strings.bad! });
          if (this.level === null && strings.connectLevel !== null) this.level = strings.connectLevel;
          if (strings.done) this.strings = null;
        }
        this.skip -= n;
        i += n;
        if (this.skip === 0) {
          packets++;
          this.strings = null;
        }
        continue;
      }
      const byte = chunk[i++];
      if (this.headerStep === 0) {
        this.type = byte >> 4;
        this.flags = byte & 0x0f;
        this.headerStep = 1;
        this.length = 0;
        this.multiplier = 1;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      if (byte & 0x80) {
        // [MQTT-2.2.3] at most four bytes encode the Remaining Length.
        if (++this.headerStep > 4) return (this.failed = { ok: false, reason: 'bad-length' });
        continue;
      }
      // The type byte, headerStep length bytes, then the body.
      const packetBytes = 1 + this.headerStep + this.length;
      if (packetBytes > this.packetBytesMax) return (this.failed = { ok: false, reason: 'too-large', packetBytes, packetBytesMax: this.packetBytesMax });
      this.skip = this.length;
      this.headerStep = 0;
      this.strings = hasStrings(this.type) && this.length > 0 ? this.fields.reset(this.type, this.length, this.level ?? 4, this.flags) : null;
      if (this.skip === 0) packets++;
    }
    return { ok: true, scannedBytes: i, packetsEnded: packets };
  }
}
