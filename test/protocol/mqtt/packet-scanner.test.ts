import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { PacketScanner } from '../../../src/protocol/mqtt/packet-scanner.ts';

const publish = (bytes: number) =>
  mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(bytes), qos: 1, messageId: 1, dup: false, retain: false });

describe('PacketScanner', () => {
  it('walks a stream of packets split at every byte', () => {
    const stream = Buffer.concat([publish(10), publish(200), publish(20_000), mqttPacket.generate({ cmd: 'pingreq' })]);
    const scanner = new PacketScanner(20_010);
    for (const byte of stream) expect(scanner.push(Buffer.from([byte]))).toMatchObject({ ok: true, scannedBytes: 1 });
  });

  it('counts the whole packet, header included, against the maximum', () => {
    const packet = publish(300);
    expect(new PacketScanner(packet.length).push(packet)).toEqual({ ok: true, scannedBytes: packet.length, packetsEnded: 1 });
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

  it('stops at the end of the first packet when asked, and scans the rest later', () => {
    const first = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'c', keepalive: 0 });
    const stream = Buffer.concat([first, publish(100), mqttPacket.generate({ cmd: 'pingreq' })]);
    const scanner = new PacketScanner(1 << 20);
    expect(scanner.push(stream.subarray(0, 5), 1)).toEqual({ ok: true, scannedBytes: 5, packetsEnded: 0 });
    expect(scanner.push(stream.subarray(5), 1)).toEqual({ ok: true, scannedBytes: first.length - 5, packetsEnded: 1 });
    expect(scanner.push(stream.subarray(first.length))).toEqual({ ok: true, scannedBytes: stream.length - first.length, packetsEnded: 2 });
  });

  // Topic length 2, then the topic, packet id 1, payload "x".
  const rawPublish = (topic: number[]) => Buffer.from([0x32, 5 + topic.length, 0x00, topic.length, ...topic, 0x00, 0x01, 0x78]);

  it.each([
    ['an overlong NUL (c0 80)', [0xc0, 0x80]],
    ['a lone continuation byte', [0x61, 0x80]],
    ['a UTF-16 surrogate (ed a0 80)', [0xed, 0xa0, 0x80]],
    ['U+0000', [0x61, 0x00]],
  ])('refuses a PUBLISH topic holding %s, also split at every byte', (_what, topic) => {
    const packet = rawPublish(topic);
    expect(new PacketScanner(1024).push(packet)).toEqual({ ok: false, reason: 'bad-string', packetType: 3, field: 'topic' });
    const scanner = new PacketScanner(1024);
    const results = [...packet].map((byte) => scanner.push(Buffer.from([byte])));
    expect(results.at(-1)).toEqual({ ok: false, reason: 'bad-string', packetType: 3, field: 'topic' });
  });

  it('takes UTF-8 topics, U+FFFD written out included, and leaves a topic longer than its packet to the parser', () => {
    const scanner = new PacketScanner(1024);
    expect(scanner.push(rawPublish([...Buffer.from('caf\u00e9/\ufffd/\u{1f600}')]))).toMatchObject({ ok: true, packetsEnded: 1 });
    expect(scanner.push(Buffer.from([0x30, 0x03, 0x00, 0x09, 0xc0]))).toMatchObject({ ok: true, packetsEnded: 1 });
  });
});
