// Counts the MQTT packets and bytes of one direction of one connection, from the bytes as they are
// written (in any pieces): a fixed header's type byte and Remaining Length are read, the rest of the
// packet is skipped by arithmetic, so the cost is per write, not per byte. Pure: no sockets.
// Used on what the broker writes (mqtt-packet writes one packet in several pieces), for
// $SYS/broker/messages/sent and bytes/sent. It trusts its input: the broker's own encoder.

/** Totals over many connections; each connection's PacketCounter adds to one. */
export interface PacketTotals {
  packets: number;
  bytes: number;
}

const TYPE = 0;
const LENGTH = 1;
const BODY = 2;

export class PacketCounter {
  private readonly totals: PacketTotals;
  private state = TYPE;
  /** Remaining Length read so far, its next digit's weight, and the body bytes still to come. */
  private length = 0;
  private weight = 1;
  private remaining = 0;

  constructor(totals: PacketTotals) {
    this.totals = totals;
  }

  push(chunk: Uint8Array | string): void {
    // A string is only ever a topic or payload written by mqtt-packet: inside a packet's body.
    if (typeof chunk === 'string' && this.state === BODY) return this.skip(Buffer.byteLength(chunk));
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.totals.bytes += bytes.length;
    let i = 0;
    while (i < bytes.length) {
      if (this.state === BODY) {
        const n = Math.min(this.remaining, bytes.length - i);
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) this.ended();
      } else if (this.state === TYPE) {
        i++;
        this.state = LENGTH;
        this.length = 0;
        this.weight = 1;
      } else {
        const digit = bytes[i++]!;
        this.length += (digit & 0x7f) * this.weight;
        this.weight *= 128;
        // [MQTT-2.2.3] at most four length bytes; the continuation bit clear ends the length.
        if ((digit & 0x80) !== 0 && this.weight <= 128 ** 3) continue;
        this.remaining = this.length;
        if (this.remaining === 0) this.ended();
        else this.state = BODY;
      }
    }
  }

  private skip(n: number): void {
    this.totals.bytes += n;
    const taken = Math.min(n, this.remaining);
    this.remaining -= taken;
    if (this.remaining === 0) this.ended();
    // More than the body announced cannot come from the encoder; the excess is counted as bytes only.
  }

  private ended(): void {
    this.totals.packets++;
    this.state = TYPE;
  }
}
