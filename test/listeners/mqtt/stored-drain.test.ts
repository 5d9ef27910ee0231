// A returning persistent session's stored queue drains pipelined (aedes-patches.mjs, the stored-drain
// window): many packets per loop turn and socket write instead of one, and still in queue order, QoS 2
// exactly once, each message removed only on its acknowledgement, live messages alongside.
import mqtt, { type MqttClient } from 'mqtt';
import type { Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { connectMqtt, RawMqtt, startMqttBroker, type MqttTestBroker } from '../../helpers/mqtt.ts';
import { onCleanup } from '../../helpers/temp.ts';
import { limits } from '../../../src/limits.ts';

function queueDepth(broker: MqttTestBroker, clientId: string): number {
  return new Map(broker.running.mqtt!.sessionStats!.queueDepths()).get(clientId) ?? 0;
}

/** Subscribes in a persistent session and leaves: what is published on `filter` is queued for it. */
async function leaveSession(broker: MqttTestBroker, clientId: string, filter: string, qos: 1 | 2 = 1): Promise<void> {
  const sub = await connectMqtt(broker, { clientId, clean: false });
  await sub.subscribeAsync(filter, { qos });
  await sub.endAsync();
}

/** `count` QoS 1 messages `${prefix}0`.. on `topic`, published 100 at a time (one client: in order). */
async function publishMany(broker: MqttTestBroker, topic: string, count: number, prefix = 'm'): Promise<void> {
  const pub = await connectMqtt(broker, { clientId: `pub-${prefix}` });
  for (let i = 0; i < count; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, j) => pub.publishAsync(topic, `${prefix}${i + j}`, { qos: 1 })));
  }
  await pub.endAsync();
}

/** The session's client again, its messages listened to before its CONNACK (the queue follows it at once). */
function resume(broker: MqttTestBroker, clientId: string): MqttClient {
  const client = mqtt.connect({ host: '127.0.0.1', port: broker.mqttPort, clientId, clean: false, reconnectPeriod: 0 });
  onCleanup(() => client.endAsync(true));
  return client;
}

/** Resolves once `done()` holds after a message; rejects with what arrived when it did not in time. */
function collect(client: MqttClient, done: (got: string[]) => boolean, timeoutMs = 60_000): Promise<string[]> {
  const got: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${got.length} messages arrived`)), timeoutMs);
    client.on('message', (_topic, payload) => {
      got.push(payload.toString());
      if (done(got)) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}

/** First occurrences, in arrival order, of the payloads starting with `prefix`. */
function firstOccurrences(got: readonly string[], prefix: string): string[] {
  return [...new Set(got.filter((p) => p.startsWith(prefix)))];
}

const names = (prefix: string, from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

describe('a persistent session’s stored queue on reconnect', () => {
  it('goes out many packets per socket write, in queue order', async () => {
    const broker = await startMqttBroker();
    const total = 5000;
    await leaveSession(broker, 'fleet', 'q/#');
    await publishMany(broker, 'q/x', total);

    const back = await RawMqtt.session(broker.mqttPort, 'fleet', false);
    let reads = 0;
    const publishes = (): Packet[] => back.packets.filter((p) => p.cmd === 'publish');
    await new Promise<void>((resolve, reject) => {
      back.socket.on('data', () => {
        reads++;
        if (back.packets.length > total && publishes().length === total) resolve();
      });
      back.socket.once('close', () => reject(new Error(`closed after ${publishes().length} of ${total}`)));
    });
    expect(publishes().map((p) => (p.cmd === 'publish' ? p.payload.toString() : ''))).toEqual(names('m', 0, total));
    // aedes' own pace was one PUBLISH per loop turn, each its own write: about one read per message.
    expect(reads).toBeLessThan(total / 10);
  });

  it('keeps queue order across QoS 1 and QoS 2, delivers each once, and removes each on its acknowledgement', async () => {
    const broker = await startMqttBroker();
    const total = 600;
    await leaveSession(broker, 'mixed', 'mx/#', 2);
    const pub = await connectMqtt(broker, { clientId: 'pub-mixed' });
    // One at a time: a QoS 2 PUBLISH is queued when it arrives, so the queue's order is this loop's.
    for (let i = 0; i < total; i++) await pub.publishAsync('mx/x', `m${i}`, { qos: i % 3 === 0 ? 2 : 1 });
    await expect.poll(() => queueDepth(broker, 'mixed')).toBe(total);

    // A raw peer: MQTT.js hands a QoS 2 message on at its PUBREL, not in the order it arrived.
    const back = await RawMqtt.session(broker.mqttPort, 'mixed', false);
    const got: string[] = [];
    const ack = (p: Packet) => {
      if (p.cmd === 'publish') {
        got.push(p.payload.toString());
        back.send({ cmd: p.qos === 2 ? 'pubrec' : 'puback', messageId: p.messageId! });
      } else if (p.cmd === 'pubrel') back.send({ cmd: 'pubcomp', messageId: p.messageId! });
    };
    let handled = 0;
    const ackNew = () => {
      for (; handled < back.packets.length; handled++) ack(back.packets[handled]!);
    };
    ackNew();
    back.socket.on('data', ackNew);
    await expect.poll(() => got.length, { timeout: 30_000 }).toBe(total);
    expect(got).toEqual(names('m', 0, total));
    // QoS 1 on its PUBACK, QoS 2 on its PUBCOMP: nothing stays queued.
    await expect.poll(() => queueDepth(broker, 'mixed')).toBe(0);
  });

  it('a connection closed mid-drain leaves the unacknowledged rest for the next, in order; what was acknowledged does not come again', async () => {
    const broker = await startMqttBroker();
    const total = 4000;
    const acked = 1000;
    await leaveSession(broker, 'midway', 'mw/#');
    await publishMany(broker, 'mw/x', total);

    const first = await RawMqtt.session(broker.mqttPort, 'midway', false);
    await new Promise<void>((resolve) => {
      const check = () => {
        if (first.packets.filter((p) => p.cmd === 'publish').length >= acked) resolve();
      };
      first.socket.on('data', check);
      check();
    });
    const firstPublishes = first.packets.filter((p): p is Packet & { cmd: 'publish' } => p.cmd === 'publish').slice(0, acked);
    expect(firstPublishes.map((p) => p.payload.toString())).toEqual(names('m', 0, acked));
    first.send(...firstPublishes.map((p) => ({ cmd: 'puback' as const, messageId: p.messageId! })));
    first.socket.end();
    await first.waitClosed();
    await expect.poll(() => queueDepth(broker, 'midway')).toBe(total - acked);

    const got = await collect(resume(broker, 'midway'), (g) => g.includes(`m${total - 1}`));
    expect(firstOccurrences(got, 'm')).toEqual(names('m', acked, total));
    await expect.poll(() => queueDepth(broker, 'midway')).toBe(0);
  });

  it('live messages published during the drain arrive too, each stream in its own order', async () => {
    const broker = await startMqttBroker();
    const stored = 3000;
    const live = 300;
    await leaveSession(broker, 'busy', 'bz/#');
    await publishMany(broker, 'bz/x', stored, 's');

    const all = collect(resume(broker, 'busy'), (g) => g.includes(`s${stored - 1}`) && g.includes(`l${live - 1}`));
    await publishMany(broker, 'bz/x', live, 'l');
    const got = await all;
    expect(firstOccurrences(got, 's')).toEqual(names('s', 0, stored));
    expect(firstOccurrences(got, 'l')).toEqual(names('l', 0, live));
    await expect.poll(() => queueDepth(broker, 'busy')).toBe(0);
  });

  it('holds at most its window for a subscriber that stops reading, then goes on where it stopped', async () => {
    const broker = await startMqttBroker();
    const total = 600;
    const payload = 32 * 1024;
    await leaveSession(broker, 'hoard', 'h/#');
    const pub = await connectMqtt(broker, { clientId: 'pub-hoard' });
    for (let i = 0; i < total; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => pub.publishAsync('h/x', Buffer.alloc(payload, i + j), { qos: 1 })));
    }

    const back = await RawMqtt.session(broker.mqttPort, 'hoard', false);
    back.socket.pause();
    const aedes = (broker.running.mqtt as unknown as { aedes: { clients: Record<string, { conn: { writableLength: number } }> } }).aedes;
    const conn = aedes.clients['hoard']!.conn;
    let most = 0;
    const sample = setInterval(() => (most = Math.max(most, conn.writableLength)), 5);
    onCleanup(async () => clearInterval(sample));
    // The kernel's buffers are full and the window is: what the broker holds for the socket stops growing.
    await expect.poll(() => conn.writableLength, { timeout: 30_000 }).toBeGreaterThan(limits.mqttStoredDrainBytes / 2);
    const bound = limits.mqttStoredDrainBytes + 2 * (payload + 64) + 16 * 1024;
    expect(conn.writableLength).toBeLessThanOrEqual(bound);

    back.socket.resume();
    await expect.poll(() => back.packets.filter((p) => p.cmd === 'publish').length, { timeout: 60_000 }).toBe(total);
    clearInterval(sample);
    expect(most).toBeLessThanOrEqual(bound);
    const firstBytes = back.packets.filter((p) => p.cmd === 'publish').map((p) => (p.cmd === 'publish' ? (p.payload as Buffer)[0] : -1));
    expect(firstBytes).toEqual(Array.from({ length: total }, (_, i) => i & 0xff));
  });
});
