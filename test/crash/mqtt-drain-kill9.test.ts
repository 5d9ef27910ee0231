// kill -9 while a persistent session's stored queue drains through its window (aedes-patches.mjs):
// after a restart the session gets every message its publisher had a PUBACK for and it had not
// acknowledged yet, in queue order; redelivery of a few is allowed (QoS 1 is at-least-once).
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { freePort, mqttListenerEnv, startChildBroker, waitForPort } from '../helpers/child-broker.ts';
import { tempDir } from '../helpers/temp.ts';

async function startWithMqtt(dataDir: string, edgePort: number, mqttPort: number) {
  const broker = await startChildBroker(dataDir, edgePort, mqttListenerEnv(mqttPort));
  await waitForPort(broker, mqttPort);
  return broker;
}

function session(mqttPort: number): MqttClient {
  const client = mqtt.connect({ host: '127.0.0.1', port: mqttPort, clientId: 'keeper', clean: false, reconnectPeriod: 0 });
  client.on('error', () => undefined);
  return client;
}

describe('kill -9 during a stored-queue drain', () => {
  it('loses no message the publisher had acknowledged, and the rest comes in order', async () => {
    const dataDir = tempDir();
    const edgePort = await freePort();
    const mqttPort = await freePort();
    const total = 5000;
    const killAfter = 1500;
    let broker = await startWithMqtt(dataDir, edgePort, mqttPort);

    const leaving = await mqtt.connectAsync({ host: '127.0.0.1', port: mqttPort, clientId: 'keeper', clean: false, reconnectPeriod: 0 });
    await leaving.subscribeAsync('kq/#', { qos: 1 });
    await leaving.endAsync();
    const pub = await mqtt.connectAsync({ host: '127.0.0.1', port: mqttPort, clientId: 'pub', reconnectPeriod: 0 });
    for (let i = 0; i < total; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => pub.publishAsync('kq/x', `m${i + j}`, { qos: 1 })));
    }
    await pub.endAsync();

    const crashed = broker;
    const before: string[] = [];
    const first = session(mqttPort);
    const firstClosed = new Promise<void>((resolve) => first.once('close', () => resolve()));
    first.on('message', (_topic, payload) => {
      before.push(payload.toString());
      if (before.length === killAfter) crashed.child.kill('SIGKILL');
    });
    await crashed.exited;
    await firstClosed;
    first.end(true);

    broker = await startWithMqtt(dataDir, edgePort, mqttPort);
    const after: string[] = [];
    const second = session(mqttPort);
    await new Promise<void>((resolve) =>
      second.on('message', (_topic, payload) => {
        after.push(payload.toString());
        if (payload.toString() === `m${total - 1}`) resolve();
      }),
    );
    await second.endAsync();

    // The kill came mid-drain.
    expect(new Set(before).size).toBeLessThan(total);
    // Each drain in queue order; together every published message, none lost.
    const order = (got: string[]) => [...new Set(got)].map((p) => Number(p.slice(1)));
    expect(order(before)).toEqual([...order(before)].sort((a, b) => a - b));
    expect(order(after)).toEqual([...order(after)].sort((a, b) => a - b));
    const received = new Set([...before, ...after]);
    expect(Array.from({ length: total }, (_, i) => `m${i}`).filter((m) => !received.has(m))).toEqual([]);
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
  }, 120_000);
});
