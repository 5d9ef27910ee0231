// The outbound packet counter behind $SYS/broker/messages/sent and bytes/sent: packets written in
// any pieces (as mqtt-packet writes them: header, length, then topic and payload, strings too) are
// each counted once; and the top-N summary of session queues behind /metrics.
import { PassThrough } from 'node:stream';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { queueSummary } from '../../../src/observability/metrics.ts';
import { PacketCounter } from '../../../src/protocol/mqtt/packet-counter.ts';

const packets: Packet[] = [
  { cmd: 'connack', returnCode: 0, sessionPresent: false },
  { cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'.repeat(300)), qos: 1, messageId: 7, retain: false, dup: false },
  { cmd: 'publish', topic: 'é/ü', payload: 'a string payload', qos: 0, retain: false, dup: false },
  { cmd: 'puback', messageId: 7 },
  { cmd: 'pingresp' },
  { cmd: 'suback', messageId: 2, granted: [0, 1, 128] },
  { cmd: 'publish', topic: 'big', payload: Buffer.alloc(200_000), qos: 2, messageId: 9, retain: true, dup: false },
];

describe('PacketCounter', () => {
  it('counts each packet once, whatever pieces mqtt-packet writes it in', () => {
    const totals = { packets: 0, bytes: 0 };
    const counter = new PacketCounter(totals);
    const stream = new PassThrough();
    let bytes = 0;
    stream.write = ((chunk: Buffer | string) => {
      counter.push(chunk);
      bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      return true;
    }) as PassThrough['write'];
    for (const p of packets) mqttPacket.writeToStream(p, stream);
    expect(totals).toEqual({ packets: packets.length, bytes });
    expect(bytes).toBe(packets.reduce((n, p) => n + mqttPacket.generate(p).length, 0));
  });

  it('counts packets split at every byte and packets sharing one chunk', () => {
    const all = Buffer.concat(packets.map((p) => mqttPacket.generate(p)));
    const oneByOne = { packets: 0, bytes: 0 };
    const c1 = new PacketCounter(oneByOne);
    for (let i = 0; i < 2_000; i++) c1.push(all.subarray(i, i + 1));
    c1.push(all.subarray(2_000));
    const whole = { packets: 0, bytes: 0 };
    new PacketCounter(whole).push(all);
    expect(oneByOne).toEqual({ packets: packets.length, bytes: all.length });
    expect(whole).toEqual(oneByOne);
  });
});

describe('queueSummary', () => {
  it('keeps the N deepest queues, deepest first, and totals over all', () => {
    const depths = Array.from({ length: 25 }, (_, i) => [`c${i}`, (i * 7) % 25] as const);
    const s = queueSummary(depths, 10);
    expect(s.sessions).toBe(25);
    expect(s.messages).toBe(depths.reduce((n, [, d]) => n + d, 0));
    expect(s.top.map(([, d]) => d)).toEqual([24, 23, 22, 21, 20, 19, 18, 17, 16, 15]);
  });
});
