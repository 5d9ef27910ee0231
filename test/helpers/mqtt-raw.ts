// MQTT 3.1/3.1.1 packets built byte by byte, for what mqtt-packet cannot encode: it only writes JS
// strings, which are always well-formed UTF-8, and never a length that does not fit its field.
import { writeUvarint } from '../../src/protocol/edge/varint.ts';

/** A length-prefixed MQTT string [MQTT-1.5.3]: its bytes as given, or a JS string's UTF-8. */
export const mqttString = (bytes: number[] | string): number[] => {
  const b = typeof bytes === 'string' ? [...Buffer.from(bytes)] : bytes;
  return [b.length >> 8, b.length & 0xff, ...b];
};

/** A Remaining Length [MQTT-2.2.3]: base 128, low bits first, which is the edge protocol's uvarint. */
export function remainingLength(n: number): Buffer {
  const out = Buffer.alloc(4);
  return out.subarray(0, writeUvarint(out, 0, n));
}

/** A packet: the fixed header's first byte, its Remaining Length, then `body`. */
export const rawPacket = (first: number, body: number[]): Buffer => Buffer.concat([Buffer.from([first]), remainingLength(body.length), Buffer.from(body)]);

export interface RawConnectParts {
  id?: number[] | string;
  will?: { topic: number[] | string; message: number[] };
  username?: number[] | string;
  password?: number[];
  level?: number;
  /** Clean session; true unless false. */
  clean?: boolean;
  /** The protocol name; "MQIsdp" for level 3, else "MQTT", unless given. */
  name?: string;
  /** Bits ORed into the connect flags the other parts give (a reserved bit, a will QoS without a will...). */
  extraFlags?: number;
  keepalive?: number;
}

/** A CONNECT; keep alive 0, client id "dev-1" and clean session unless given. */
export function rawConnect(p: RawConnectParts): Buffer {
  const flags = (p.clean === false ? 0 : 0x02) | (p.will ? 0x04 : 0) | (p.username !== undefined ? 0x80 : 0) | (p.password ? 0x40 : 0) | (p.extraFlags ?? 0);
  const name = p.name ?? (p.level === 3 ? 'MQIsdp' : 'MQTT');
  const keepalive = p.keepalive ?? 0;
  const body = [...mqttString(name), p.level ?? 4, flags, keepalive >> 8, keepalive & 0xff, ...mqttString(p.id ?? 'dev-1')];
  if (p.will) body.push(...mqttString(p.will.topic), ...mqttString(p.will.message));
  if (p.username !== undefined) body.push(...mqttString(p.username));
  if (p.password) body.push(...mqttString(p.password));
  return rawPacket(0x10, body);
}
