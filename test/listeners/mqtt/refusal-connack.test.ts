import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { CONNACK_UNAVAILABLE_V4, CONNACK_UNAVAILABLE_V5, refusalConnack } from '../../../src/listeners/mqtt/refusal-connack.ts';

const connect = (protocolVersion: 3 | 4 | 5) =>
  mqttPacket.generate({ cmd: 'connect', protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT', protocolVersion, clean: true, clientId: 'c'.repeat(300), keepalive: 0 }, { protocolVersion });

describe('refusalConnack', () => {
  it('waits for the protocol level, byte by byte, then answers MQTT 5 with 0x88 and 3.1 / 3.1.1 with return code 3', () => {
    for (const [version, answer] of [[5, CONNACK_UNAVAILABLE_V5], [4, CONNACK_UNAVAILABLE_V4], [3, CONNACK_UNAVAILABLE_V4]] as const) {
      const bytes = connect(version);
      // A 300-byte client id: a two-byte remaining length.
      expect(bytes[1]! & 0x80).toBe(0x80);
      const levelAt = version === 3 ? 11 : 9;
      for (let n = 0; n <= levelAt; n++) expect(refusalConnack(bytes.subarray(0, n)), `${version}: ${n} bytes`).toBeNull();
      expect(refusalConnack(bytes.subarray(0, levelAt + 1))).toBe(answer);
    }
  });

  it('answers anything else in the 3.1.1 form at once: another packet type, a remaining length over 4 bytes, a long protocol name', () => {
    expect(refusalConnack(Buffer.from([0x30, 0x00]))).toBe(CONNACK_UNAVAILABLE_V4);
    expect(refusalConnack(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01]))).toBe(CONNACK_UNAVAILABLE_V4);
    expect(refusalConnack(Buffer.from([0x10, 0x20, 0x00, 0x40]))).toBe(CONNACK_UNAVAILABLE_V4);
  });
});
