// Counts the frames (edge protocol) or packets (MQTT) in one direction of a byte stream, and their
// bytes, by type, for the wire benchmarks: which bytes carried readings, which acknowledged them,
// and which were the connection's own. Only the framing is walked, never the bodies: an edge frame is
// a length varint, then the type byte [EDGE-2.1]; an MQTT packet a type byte, then the Remaining
// Length [MQTT-2.2]. Pure: push() runs in a socket handler, so it records a failure, never throws.

import { FrameType } from '../protocol/edge/frames.ts';

export interface TypeCount {
  frames: number;
  /** Whole frames: length or fixed header included. */
  bytes: number;
}

export interface WireTally {
  push(chunk: Uint8Array): void;
  /** Complete frames or packets so far, by type name ('PRODUCE', 'ACK' / 'PUBLISH', 'PUBACK'). */
  readonly byType: ReadonlyMap<string, TypeCount>;
  /** Why the stream could not be walked; nothing is counted after it. */
  readonly failure: string | null;
}

const EDGE_FRAME_NAMES = new Map<number, string>(Object.entries(FrameType).map(([name, type]) => [type, name]));
const MQTT_PACKET_NAMES = ['reserved', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP', 'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'reserved'];
/** [EDGE-3.2] */
const EDGE_VARINT_BYTES_MAX = 8;
/** [MQTT-2.2.3] */
const MQTT_LENGTH_BYTES_MAX = 4;

type State = 'type' | 'length' | 'body';

/** One frame at a time: edge frames are length, type, body; MQTT packets type, length, body. */
class Walker implements WireTally {
  readonly byType = new Map<string, TypeCount>();
  failure: string | null = null;
  private readonly first: State;
  private state: State;
  private type = 0;
  private length = 0;
  private lengthBytes = 0;
  private multiplier = 1;
  /** Body bytes still to skip. */
  private bodyLeft = 0;

  constructor(private readonly protocol: 'edge' | 'mqtt') {
    this.first = protocol === 'edge' ? 'length' : 'type';
    this.state = this.first;
  }

  push(chunk: Uint8Array): void {
    let i = 0;
    while (this.failure === null && i < chunk.length) {
      if (this.state === 'body') {
        const n = Math.min(this.bodyLeft, chunk.length - i);
        this.bodyLeft -= n;
        i += n;
        if (this.bodyLeft === 0) this.ended();
        continue;
      }
      const byte = chunk[i++];
      if (this.state === 'type') {
        this.type = this.protocol === 'edge' ? byte : byte >> 4;
        if (this.protocol === 'mqtt') this.state = 'length';
        else this.toBody(this.length - 1);
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      const max = this.protocol === 'edge' ? EDGE_VARINT_BYTES_MAX : MQTT_LENGTH_BYTES_MAX;
      if (++this.lengthBytes > max) this.failure = `${this.protocol} stream not walkable: a length of over ${max} bytes`;
      else if (byte & 0x80) continue;
      else if (this.protocol === 'mqtt') this.toBody(this.length);
      else if (this.length === 0) this.failure = 'edge stream not walkable: a frame of length 0';
      else this.state = 'type';
    }
  }

  private toBody(bytes: number): void {
    this.bodyLeft = bytes;
    this.state = 'body';
    if (bytes === 0) this.ended();
  }

  private ended(): void {
    const name = (this.protocol === 'edge' ? EDGE_FRAME_NAMES.get(this.type) : MQTT_PACKET_NAMES[this.type]) ?? `type 0x${this.type.toString(16)}`;
    const entry = this.byType.get(name) ?? { frames: 0, bytes: 0 };
    entry.frames++;
    // Edge: the length counts the type byte; MQTT: the Remaining Length does not.
    entry.bytes += this.lengthBytes + (this.protocol === 'edge' ? this.length : 1 + this.length);
    this.byType.set(name, entry);
    this.state = this.first;
    this.length = 0;
    this.lengthBytes = 0;
    this.multiplier = 1;
  }
}

export function edgeTally(): WireTally {
  return new Walker('edge');
}

export function mqttTally(): WireTally {
  return new Walker('mqtt');
}
