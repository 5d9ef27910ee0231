// Subscribers that stop reading cost only themselves (src/listeners/mqtt/subscriber-queue.ts): the
// publisher keeps its PUBACKs and its records reach the log; QoS 0 past the subscriber's queue is
// dropped, counted and logged once; QoS 1/2 past it closes the connection and a persistent session
// keeps the messages; a socket that does not drain within subscriberStallMs is closed.
import type { MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { parseConfig } from '../../../src/config/load.ts';
import { startTributary, type RunningTributary } from '../../../src/main.ts';
import { merge } from '../../helpers/broker.ts';
import { connectMqtt, RawMqtt } from '../../helpers/mqtt.ts';
import { onCleanup, tempDir } from '../../helpers/temp.ts';

interface LogLine {
  level: number;
  msg: string;
  clientId?: string;
  dropped?: number;
}

/** A broker with MQTT on an ephemeral port whose info-and-above log lines the test reads. */
async function start(mqtt: Record<string, unknown> = {}): Promise<{ running: RunningTributary; port: number; logs: LogLine[] }> {
  const logs: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const config = parseConfig(
    merge({ dataDir: tempDir(), listeners: { edge: { enabled: false }, http: { enabled: false }, mqtt: { host: '127.0.0.1', port: 0, ws: { enabled: false } }, kafka: { enabled: false } } }, { listeners: { mqtt } }),
    'test',
  );
  const running = await startTributary(config, logger);
  onCleanup(() => running.close());
  return { running, port: running.mqtt!.port, logs };
}

/** A subscriber that completes SUBSCRIBE and then stops reading its socket. */
async function neverReading(port: number, clientId: string, qos: 0 | 1, clean = true): Promise<RawMqtt> {
  const peer = await RawMqtt.session(port, clientId, clean);
  peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos }] });
  await peer.waitFor((p) => p.cmd === 'suback');
  peer.socket.pause();
  return peer;
}

/** Publishes `count` messages (payload = 4-byte index + padding) with `window` in flight; resolves when all are acknowledged. */
async function flood(pub: MqttClient, count: number, payloadBytes: number, qos: 0 | 1, window = 100): Promise<void> {
  let next = 0;
  const one = async (): Promise<void> => {
    while (next < count) {
      const payload = Buffer.alloc(payloadBytes, 'p');
      payload.writeUInt32BE(next++);
      await pub.publishAsync('flood/x', payload, { qos });
    }
  };
  await Promise.all(Array.from({ length: window }, one));
}

function nextOffset(running: RunningTributary, topic = 'mqtt'): number {
  return running.broker.describeTopic(topic).partitions[0].nextOffset;
}

// Loopback sockets take several MiB in kernel buffers before the broker's own queue for a
// subscriber grows: the floods below publish well past that.
const PAYLOAD = 1024;
const COUNT = 20_000;

describe('MQTT subscribers that stop reading', () => {
  it('do not hold a QoS 1 publisher: every PUBACK comes and every record is in the log; QoS 0 past the queue is dropped, counted and logged (not per message)', async () => {
    // The stall timeout is out of the way: only the queue bound may keep the publisher going.
    const { running, port, logs } = await start({ subscriberStallMs: '1d' });
    const stalled = await neverReading(port, 'never-reads', 0);
    const pub = await connectMqtt(port, { clientId: 'publisher' });
    await flood(pub, COUNT, PAYLOAD, 1);
    expect(nextOffset(running)).toBe(COUNT);
    const m = running.mqtt!.metrics;
    expect(m.subscriberDropped[0]).toBeGreaterThan(0);
    const warnings = logs.filter((l) => l.msg.startsWith('MQTT subscriber not reading'));
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings.every((l) => l.level === 40 && l.clientId === 'never-reads')).toBe(true);
    // Reading again: its queue empties, and new messages arrive.
    stalled.socket.resume();
    await expect.poll(() => running.mqtt!.subscriberQueued, { timeout: 30_000 }).toEqual({ messages: 0, bytes: 0 });
    await pub.publishAsync('flood/marker', 'after', { qos: 1 });
    await stalled.waitFor((p) => p.cmd === 'publish' && p.topic === 'flood/marker', 30_000);
    // The warnings (at most one per 10 s) and the line at its close account for every drop.
    stalled.socket.destroy();
    const reported = () => logs.filter((l) => l.clientId === 'never-reads' && l.dropped !== undefined).reduce((n, l) => n + l.dropped!, 0);
    await expect.poll(reported).toBe(m.subscriberDropped[0]);
  });

  it('over WebSocket do not hold a QoS 1 publisher either', async () => {
    const { running } = await start({ ws: { enabled: true, port: 0 }, subscriberStallMs: '1d' });
    const ws = new WebSocket(`ws://127.0.0.1:${running.mqtt!.wsPort}/mqtt`, 'mqtt');
    onCleanup(async () => ws.terminate());
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const subacked = new Promise<void>((resolve) => {
      const parser = mqttPacket.parser();
      parser.on('packet', (p: Packet) => p.cmd === 'suback' && resolve());
      ws.on('message', (data: Buffer) => parser.parse(data));
    });
    ws.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'ws-never-reads', keepalive: 0 }));
    ws.send(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 0 }] }));
    await subacked;
    ws.pause();
    const pub = await connectMqtt(running.mqtt!.port, { clientId: 'publisher' });
    await flood(pub, COUNT, PAYLOAD, 1);
    expect(nextOffset(running)).toBe(COUNT);
    expect(running.mqtt!.metrics.subscriberDropped[0]).toBeGreaterThan(0);
  });

  it('close a persistent QoS 1 subscriber whose queue is full; its session keeps the messages and hands every one over on reconnect', async () => {
    const { running, port, logs } = await start({ subscriberQueueBytesMax: '64KiB', subscriberStallMs: '1d' });
    await neverReading(port, 'durable-sub', 1, false);
    const pub = await connectMqtt(port, { clientId: 'publisher' });
    const count = 5_000;
    const payloadBytes = 4096;
    await flood(pub, count, payloadBytes, 1);
    expect(nextOffset(running)).toBe(count);
    expect(running.mqtt!.metrics.closed.get('subscriber-stalled')).toBe(1);
    expect(running.mqtt!.clientCount).toBe(1);
    expect(running.mqtt!.metrics.subscriberDropped).toEqual([0, 0, 0]);
    expect(logs.filter((l) => l.clientId === 'durable-sub' && l.level === 40).map((l) => l.msg)).toEqual([
      'MQTT subscriber not reading: closing its connection; its session keeps this QoS > 0 message and those after it for its reconnect',
    ]);
    const seen = new Set<number>();
    const back = await connectMqtt(port, { clientId: 'durable-sub', clean: false });
    back.on('message', (_topic, payload) => seen.add(payload.readUInt32BE(0)));
    await expect.poll(() => seen.size, { timeout: 60_000, interval: 100 }).toBe(count);
  });

  it('close a clean QoS 1 subscriber whose queue is full, counting the message it lost', async () => {
    const { running, port } = await start({ subscriberQueueBytesMax: '64KiB', subscriberStallMs: '1d' });
    await neverReading(port, 'clean-sub', 1, true);
    const pub = await connectMqtt(port, { clientId: 'publisher' });
    await flood(pub, 5_000, 4096, 1);
    expect(nextOffset(running)).toBe(5_000);
    expect(running.mqtt!.metrics.closed.get('subscriber-stalled')).toBe(1);
    expect(running.mqtt!.metrics.subscriberDropped[1]).toBeGreaterThan(0);
  });

  it('deliver a retained QoS 1 message on SUBSCRIBE at the subscription\'s QoS 1, not QoS 0', async () => {
    const { port } = await start();
    const pub = await connectMqtt(port, { clientId: 'retainer' });
    await pub.publishAsync('state/r', 'kept', { qos: 1, retain: true });
    const sub = await RawMqtt.session(port, 'retained-sub');
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'state/#', qos: 1 }] });
    const got = await sub.waitFor((p) => p.cmd === 'publish' && p.topic === 'state/r');
    expect(got).toMatchObject({ retain: true, qos: 1 });
  });

  it('close a subscriber whose socket does not drain within subscriberStallMs, once counted and logged', async () => {
    const { running, port, logs } = await start({ subscriberStallMs: '500ms' });
    await neverReading(port, 'stuck', 0);
    const pub = await connectMqtt(port, { clientId: 'publisher' });
    await flood(pub, COUNT, PAYLOAD, 1);
    expect(nextOffset(running)).toBe(COUNT);
    // The subscriber does not read, so it cannot see its socket close (a FIN behind unread bytes): the broker's count says it.
    await expect.poll(() => running.mqtt!.metrics.closed.get('subscriber-stalled'), { timeout: 60_000 }).toBe(1);
    expect(running.mqtt!.clientCount).toBe(1);
    expect(running.mqtt!.metrics.closed.get('protocol-error')).toBeUndefined();
    expect(logs.filter((l) => l.msg === 'MQTT connection closed: its socket did not drain within subscriberStallMs')).toEqual([
      expect.objectContaining({ level: 40, clientId: 'stuck' }),
    ]);
  });
});
