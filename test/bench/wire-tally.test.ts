// The frame walkers of the wire benchmark: every frame counted once with its exact size, whatever
// the chunking, and a stream that cannot be walked reported instead of thrown from a socket handler.
import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/protocol/edge/codec.ts';
import { edgeTally, mqttTally, type WireTally } from '../../src/bench/wire-tally.ts';

function pushed(tally: WireTally, bytes: Buffer, chunkBytes: number): WireTally {
  for (let i = 0; i < bytes.length; i += chunkBytes) tally.push(bytes.subarray(i, i + chunkBytes));
  return tally;
}

describe('edge frame tally', () => {
  const hello = encodeFrame({ type: 'hello', version: 2, idempotent: true, keepaliveMs: 0, frameBytesMax: 65536, clientId: 'sensor-0001', token: null });
  // 200 records of 20 bytes: a length varint of two bytes.
  const records = Array.from({ length: 200 }, () => ({ timestampDeltaMs: 0, key: null, value: new Uint8Array(20), headers: [] }));
  const produce = encodeFrame({ type: 'produce', seq: 1, alias: 0, partition: -1, acks: 1, baseTimestampMs: 0, records });
  const ping = encodeFrame({ type: 'ping', corr: 7 });
  const stream = Buffer.concat([hello, produce, ping, produce]);

  it.each([1, 3, stream.length])('counts each frame and its bytes, length varint included (chunks of %i bytes)', (chunkBytes) => {
    const tally = pushed(edgeTally(), stream, chunkBytes);
    expect(tally.failure).toBeNull();
    expect(produce.length).toBeGreaterThan(130);
    expect(Object.fromEntries(tally.byType)).toEqual({
      HELLO: { frames: 1, bytes: hello.length },
      PRODUCE: { frames: 2, bytes: 2 * produce.length },
      PING: { frames: 1, bytes: ping.length },
    });
  });

  it('reports a frame of length 0 and a length varint of 9 bytes, and counts nothing after', () => {
    expect(pushed(edgeTally(), Buffer.concat([Buffer.from([0x00]), ping]), 1).failure).toMatch(/length 0/);
    const long = pushed(edgeTally(), Buffer.concat([Buffer.alloc(9, 0x80), ping]), 4);
    expect(long.failure).toMatch(/over 8 bytes/);
    expect(long.byType.size).toBe(0);
  });
});

describe('MQTT packet tally', () => {
  // CONNECT of client id "d" (MQTT 3.1.1), a QoS 1 PUBLISH with a Remaining Length of 2 bytes, PUBACK, PINGREQ.
  const connect = Buffer.from([0x10, 13, 0, 4, ...Buffer.from('MQTT'), 4, 0x02, 0, 60, 0, 1, 0x64]);
  const payload = Buffer.alloc(200, 0x61);
  const publish = Buffer.concat([Buffer.from([0x32, 0xcf, 0x01, 0, 3, ...Buffer.from('a/b'), 0, 1]), payload]); // 207 = 0xcf 0x01
  const puback = Buffer.from([0x40, 2, 0, 1]);
  const pingreq = Buffer.from([0xc0, 0]);
  const stream = Buffer.concat([connect, publish, puback, pingreq, publish]);

  it.each([1, 5, stream.length])('counts each packet and its bytes, fixed header included (chunks of %i bytes)', (chunkBytes) => {
    const tally = pushed(mqttTally(), stream, chunkBytes);
    expect(tally.failure).toBeNull();
    expect(Object.fromEntries(tally.byType)).toEqual({
      CONNECT: { frames: 1, bytes: connect.length },
      PUBLISH: { frames: 2, bytes: 2 * publish.length },
      PUBACK: { frames: 1, bytes: 4 },
      PINGREQ: { frames: 1, bytes: 2 },
    });
  });

  it('reports a Remaining Length of 5 bytes', () => {
    const tally = pushed(mqttTally(), Buffer.concat([Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]), pingreq]), 2);
    expect(tally.failure).toMatch(/over 4 bytes/);
    expect(tally.byType.size).toBe(0);
  });
});
