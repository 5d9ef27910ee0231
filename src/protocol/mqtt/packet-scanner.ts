// Walks the fixed headers of an MQTT byte stream without decoding packets, to refuse an oversized
// packet as soon as its Remaining Length is read — before a parser buffers it — and a Remaining
// Length that is not a valid variable byte integer. Pure: no I/O, imports nothing else from src/.
// Section numbers cite MQTT 3.1.1.

export type ScanResult =
  | { ok: true }
  | { ok: false; reason: 'too-large'; packetBytes: number; packetBytesMax: number }
  | { ok: false; reason: 'bad-length' };

/** Bytes of a fixed header: the type byte and at most four Remaining Length bytes [MQTT-2.2.3]. */
export const FIXED_HEADER_BYTES_MAX = 5;

export class PacketScanner {
  private readonly packetBytesMax: number;
  /** Bytes of the current packet's body still to skip. */
  private skip = 0;
  /** 0: expecting a type byte; n > 0: reading the n-th Remaining Length byte. */
  private headerStep = 0;
  private length = 0;
  private multiplier = 1;
  private failed: ScanResult | null = null;

  /** packetBytesMax counts the whole packet: fixed header, variable header and payload. */
  constructor(packetBytesMax: number) {
    this.packetBytesMax = packetBytesMax;
  }

  push(chunk: Uint8Array): ScanResult {
    if (this.failed) return this.failed;
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const byte = chunk[i++];
      if (this.headerStep === 0) {
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
    }
    return { ok: true };
  }
}
