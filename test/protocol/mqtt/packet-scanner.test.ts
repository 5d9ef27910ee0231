import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { PacketScanner } from '../../../src/protocol/mqtt/packet-scanner.ts';

const publish = (bytes: number) =>
  mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(bytes), qos: 1, messageId: 1, dup: false, retain: false });

describe('PacketScanner', () => {
  it('walks a stream of packets split at every byte', () => {
    const stream = Buffer.concat([publish(10), publish(200), publish(20_000), mqttPacket.generate({ cmd: 'pingreq' })]);
    const scanner = new PacketScanner(20_010);
    for (const byte of stream) expect(scanner.push(Buffer.from([byte]))).toEqual({ ok: true });
  });

  it('counts the whole packet, header included, against the maximum', () => {
    const packet = publish(300);
    expect(new PacketScanner(packet.length).push(packet)).toEqual({ ok: true });
    expect(new PacketScanner(packet.length - 1).push(packet)).toEqual({ ok: false, reason: 'too-large', packetBytes: packet.length, packetBytesMax: packet.length - 1 });
  });

  it('refuses an oversized packet from its fixed header alone', () => {
    // PUBLISH with Remaining Length 100,000,000 and no body yet.
    expect(new PacketScanner(1 << 20).push(Buffer.from([0x30, 0x80, 0xc2, 0xd7, 0x2f]))).toMatchObject({ ok: false, reason: 'too-large', packetBytes: 100_000_005 });
  });

  it('refuses a Remaining Length longer than four bytes, and stays failed', () => {
    const scanner = new PacketScanner(1 << 30);
    expect(scanner.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff]))).toEqual({ ok: false, reason: 'bad-length' });
    expect(scanner.push(publish(1))).toEqual({ ok: false, reason: 'bad-length' });
  });
});
