// Walks the fixed headers of an MQTT byte stream without decoding packets, to refuse an oversized
// packet as soon as its Remaining Length is read — before a parser buffers it — a Remaining Length
// that is not a valid variable byte integer, and a PUBLISH topic that is not well-formed UTF-8 (the
// parser would turn it into U+FFFD and carry on). It can stop at the end of a packet, so a caller can
// hand a parser one packet and keep the rest. Pure: no I/O, imports nothing else from src/.
// Section numbers cite MQTT 3.1.1.

import { isUtf8 } from 'node:buffer';

export type ScanResult =
  | { ok: true; scannedBytes: number; packetsEnded: number }
  | { ok: false; reason: 'too-large'; packetBytes: number; packetBytesMax: number }
  | { ok: false; reason: 'bad-length' }
  | { ok: false; reason: 'bad-topic' };

/** Bytes of a fixed header: the type byte and at most four Remaining Length bytes [MQTT-2.2.3]. */
export const FIXED_HEADER_BYTES_MAX = 5;

const PUBLISH = 3;

export class PacketScanner {
  private readonly packetBytesMax: number;
  /** Bytes of the current packet's body still to skip. */
  private skip = 0;
  /** 0: expecting a type byte; n > 0: reading the n-th Remaining Length byte. */
  private headerStep = 0;
  private type = 0;
  private length = 0;
  private multiplier = 1;
  /** Bytes of the current PUBLISH's body still to collect: its topic length, then its topic. */
  private topicWanted = 0;
  private topicParts: Uint8Array[] = [];
  private topicHave = 0;
  /** The topic's length, once its two length bytes are in; -1 before. */
  private topicLength = -1;
  private failed: ScanResult | null = null;

  /** packetBytesMax counts the whole packet: fixed header, variable header and payload. */
  constructor(packetBytesMax: number) {
    this.packetBytesMax = packetBytesMax;
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
        let n = Math.min(this.skip, chunk.length - i);
        if (this.topicWanted > 0) {
          n = Math.min(n, this.topicWanted);
          if (!this.collectTopic(chunk.subarray(i, i + n))) return (this.failed = { ok: false, reason: 'bad-topic' });
        }
        this.skip -= n;
        i += n;
        if (this.skip === 0) packets++;
        continue;
      }
      const byte = chunk[i++];
      if (this.headerStep === 0) {
        this.type = byte >> 4;
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
      // A PUBLISH body starts with its topic: two length bytes, then the name [MQTT-3.3.2.1].
      if (this.type === PUBLISH) this.startTopic(Math.min(2, this.length));
      if (this.skip === 0) packets++;
    }
    return { ok: true, scannedBytes: i, packetsEnded: packets };
  }

  private startTopic(wanted: number): void {
    this.topicWanted = wanted;
    this.topicParts = [];
    this.topicHave = 0;
    this.topicLength = -1;
  }

  /** Takes the next bytes of a PUBLISH's topic; false once the topic is in and not acceptable. */
  private collectTopic(bytes: Uint8Array): boolean {
    this.topicParts.push(bytes);
    this.topicHave += bytes.length;
    this.topicWanted -= bytes.length;
    if (this.topicWanted > 0) return true;
    const head = Buffer.concat(this.topicParts, this.topicHave);
    if (this.topicLength === -1) {
      if (head.length < 2) return true;
      this.topicLength = head.readUInt16BE(0);
      // A topic longer than the rest of its packet is the parser's to refuse.
      if (this.topicLength > this.skip - bytes.length) return true;
      this.topicWanted = this.topicLength;
      this.topicParts = [head];
      if (this.topicWanted > 0) return true;
    }
    this.topicParts = [];
    return topicAcceptable(head.subarray(2, 2 + this.topicLength));
  }
}

/**
 * [MQTT-1.5.3-1] a string must be well-formed UTF-8 (no overlong forms such as c0 80, no surrogates);
 * [MQTT-1.5.3-2] it must not contain U+0000. Either way the receiver closes the connection.
 */
function topicAcceptable(topic: Uint8Array): boolean {
  return isUtf8(topic) && !topic.includes(0);
}
