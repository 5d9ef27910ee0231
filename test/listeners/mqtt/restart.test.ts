// MQTT state lives in the log's LMDB environment: retained messages, persistent sessions with their
// subscriptions, and QoS 1 messages queued for an offline subscriber all survive a restart.
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { connectMqtt, startMqttBroker } from '../../helpers/mqtt.ts';
import { onCleanup } from '../../helpers/temp.ts';

function nextMessage(client: Awaited<ReturnType<typeof connectMqtt>>, timeoutMs = 5000): Promise<{ topic: string; payload: string; retain: boolean }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message')), timeoutMs);
    client.once('message', (topic, payload, packet) => {
      clearTimeout(timer);
      resolve({ topic, payload: payload.toString(), retain: packet.retain });
    });
  });
}

/** Subscribes at QoS 1 in a persistent session, then disconnects: messages for it are queued. */
async function leaveSession(port: number, clientId: string, filter: string): Promise<void> {
  const sub = await connectMqtt(port, { clientId, clean: false });
  await sub.subscribeAsync(filter, { qos: 1 });
  await sub.endAsync();
}

describe('MQTT state across a restart', () => {
  it('keeps retained messages, persistent sessions, their subscriptions and queued QoS 1 messages', async () => {
    const broker = await startMqttBroker();
    const port = () => broker.running.mqtt!.port;

    await leaveSession(port(), 'dashboard', 'alerts/#');

    const pub = await connectMqtt(port(), { clientId: 'sensor' });
    await pub.publishAsync('config/site', 'v42', { qos: 1, retain: true });
    await pub.publishAsync('alerts/door', 'open', { qos: 1 });
    await pub.endAsync();

    await broker.stop();
    await broker.start();

    const late = await connectMqtt(port(), { clientId: 'late-reader' });
    const retained = nextMessage(late);
    await late.subscribeAsync('config/#', { qos: 1 });
    expect(await retained).toEqual({ topic: 'config/site', payload: 'v42', retain: true });

    // The session resumes without subscribing again: the queued message arrives, then live ones.
    const dashboard = mqtt.connect({ host: '127.0.0.1', port: port(), clientId: 'dashboard', clean: false, reconnectPeriod: 0 });
    onCleanup(() => dashboard.endAsync(true));
    const queued = new Promise<string[]>((resolve) => {
      const got: string[] = [];
      dashboard.on('message', (topic, payload) => {
        got.push(`${topic}=${payload}`);
        if (got.length === 2) resolve(got);
      });
    });
    await new Promise((resolve) => dashboard.once('connect', resolve));
    const again = await connectMqtt(port(), { clientId: 'sensor-2' });
    await again.publishAsync('alerts/window', 'closed', { qos: 1 });
    expect(await queued).toEqual(['alerts/door=open', 'alerts/window=closed']);
  });

  it('drains a long offline queue in order, and a graceful restart keeps what the subscriber acknowledged', async () => {
    const broker = await startMqttBroker();
    const port = () => broker.running.mqtt!.port;
    await leaveSession(port(), 'fleet', 'q/#');

    const total = 3000;
    const pub = await connectMqtt(port(), { clientId: 'sensor' });
    for (let i = 0; i < total; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => pub.publishAsync('q/x', `m${i + j}`, { qos: 1 })));
    await pub.endAsync();

    const back = mqtt.connect({ host: '127.0.0.1', port: port(), clientId: 'fleet', clean: false, reconnectPeriod: 0 });
    const got: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${total} queued messages arrived`)), 30_000);
      back.on('message', (_topic, payload) => {
        got.push(payload.toString());
        if (got.length === total) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    expect(got).toEqual(Array.from({ length: total }, (_, i) => `m${i}`));
    // endAsync sends what MQTT.js still holds (the last PUBACKs) before DISCONNECT.
    await back.endAsync();

    await broker.stop();
    await broker.start();
    // Every acknowledged message left the queue: the first message after reconnecting is a new one.
    const again = mqtt.connect({ host: '127.0.0.1', port: port(), clientId: 'fleet', clean: false, reconnectPeriod: 0 });
    onCleanup(() => again.endAsync(true));
    const first = new Promise<string>((resolve) => again.once('message', (_topic, payload) => resolve(payload.toString())));
    await new Promise((resolve) => again.once('connect', resolve));
    const pub2 = await connectMqtt(port(), { clientId: 'sensor-2' });
    await pub2.publishAsync('q/x', 'after-restart', { qos: 1 });
    expect(await first).toBe('after-restart');
  });
});
