// SubscriberQueues against a stand-in for an aedes Client whose writes never finish (a subscriber
// that stopped reading): what the wrapper hands to aedes' deliver functions, and in what order.
import { EventEmitter } from 'node:events';
import type { AedesPublishPacket, Client } from 'aedes';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MqttMetrics } from '../../../src/listeners/mqtt/metrics.ts';
import { SubscriberQueues } from '../../../src/listeners/mqtt/subscriber-queue.ts';

type Deliver = (packet: AedesPublishPacket, cb: () => void) => void;

/** A persistent subscriber: aedes' deliverQoS records what it was handed and never calls back. */
function stalledClient(): { client: Client & { deliver0: Deliver; deliverQoS: Deliver }; handed: string[] } {
  const handed: string[] = [];
  const client = {
    id: 'durable',
    clean: false,
    closed: false,
    conn: new EventEmitter(),
    close() {
      this.closed = true;
    },
    deliver0: (p: AedesPublishPacket) => void handed.push(p.topic),
    deliverQoS: (p: AedesPublishPacket) => void handed.push(p.topic),
  };
  return { client: client as unknown as Client & { deliver0: Deliver; deliverQoS: Deliver }, handed };
}

function message(topic: string, payloadBytes: number): AedesPublishPacket {
  return { cmd: 'publish', topic, payload: Buffer.alloc(payloadBytes), qos: 1, retain: false, dup: false, messageId: 1, brokerId: 'b', brokerCounter: 1 } as AedesPublishPacket;
}

describe('subscriber queue', () => {
  it('hands aedes nothing for a persistent QoS 1 subscriber after closing it at a full queue, so no later message overtakes the one its session keeps', async () => {
    const metrics = new MqttMetrics();
    const queues = new SubscriberQueues({ queueBytesMax: 16 * 1024, queueBytesTotalMax: 1 << 20, stallMs: 60_000, metrics, logger: pino({ level: 'silent' }) });
    const { client, handed } = stalledClient();
    queues.install(client);
    queues.connacked(client);
    const done: string[] = [];
    const deliver = (topic: string, bytes: number) => new Promise<void>((resolve) => client.deliverQoS(message(topic, bytes), () => resolve(void done.push(topic))));
    // m1 fills most of the queue, m2 does not fit (the connection is closed for it), m3 would fit.
    await Promise.all([deliver('m1', 10_000), deliver('m2', 8_000), deliver('m3', 100)]);
    expect(client.closed).toBe(true);
    expect(metrics.closed.get('subscriber-stalled')).toBe(1);
    expect(done).toEqual(['m1', 'm2', 'm3']);
    expect(handed).toEqual(['m1']);
  });

  it('hands aedes nothing before the CONNACK was written, then what came, in order [MQTT-3.2.0-1]', async () => {
    const queues = new SubscriberQueues({ queueBytesMax: 16 * 1024, queueBytesTotalMax: 1 << 20, stallMs: 60_000, metrics: new MqttMetrics(), logger: pino({ level: 'silent' }) });
    const { client, handed } = stalledClient();
    queues.install(client);
    const done: string[] = [];
    // A restored session's subscriptions match live messages while aedes is still on its way to the CONNACK.
    await Promise.all(['m1', 'm2'].map((topic) => new Promise<void>((resolve) => client.deliverQoS(message(topic, 100), () => resolve(void done.push(topic))))));
    expect(done).toEqual(['m1', 'm2']);
    expect(handed).toEqual([]);
    expect(queues.queuedMessages).toBe(2);
    queues.connacked(client);
    client.deliverQoS(message('m3', 100), () => undefined);
    expect(handed).toEqual(['m1', 'm2', 'm3']);
  });

  it('gives back the room of held deliveries when the connection closes before its CONNACK', () => {
    const queues = new SubscriberQueues({ queueBytesMax: 16 * 1024, queueBytesTotalMax: 1 << 20, stallMs: 60_000, metrics: new MqttMetrics(), logger: pino({ level: 'silent' }) });
    const { client, handed } = stalledClient();
    queues.install(client);
    client.deliverQoS(message('m1', 100), () => undefined);
    expect(queues.queuedBytes).toBeGreaterThan(0);
    client.conn.emit('close');
    expect([queues.queuedMessages, queues.queuedBytes, handed]).toEqual([0, 0, []]);
  });
});
