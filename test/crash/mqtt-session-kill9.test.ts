// kill -9 in the middle of a QoS 1 MQTT stream while a persistent session is offline: after a
// restart the session gets every message its publisher had a PUBACK for. A PUBACK used to leave
// before the message was queued for offline sessions (aedes' QoS 1 order, aedes-patches.mjs), so the
// last few acknowledged messages reached the log but not the session's queue.
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { freePort, mqttListenerEnv, startChildBroker, waitForPort } from '../helpers/child-broker.ts';
import { tempDir } from '../helpers/temp.ts';

async function startWithMqtt(dataDir: string, edgePort: number, mqttPort: number) {
  const broker = await startChildBroker(dataDir, edgePort, mqttListenerEnv(mqttPort));
  await waitForPort(broker, mqttPort);
  return broker;
}

describe('kill -9 during a QoS 1 stream to an offline persistent session', () => {
  it.each([1, 2, 3])('run %i: the session gets every message the publisher had a PUBACK for', async () => {
    const dataDir = tempDir();
    const edgePort = await freePort();
    const mqttPort = await freePort();
    let broker = await startWithMqtt(dataDir, edgePort, mqttPort);
    const away = await mqtt.connectAsync({ host: '127.0.0.1', port: mqttPort, clientId: 'away', clean: false, reconnectPeriod: 0 });
    await away.subscribeAsync('ks/#', { qos: 1 });
    await away.endAsync();

    const pub = await mqtt.connectAsync({ host: '127.0.0.1', port: mqttPort, clientId: 'pub', reconnectPeriod: 0 });
    pub.on('error', () => undefined);
    const pubClosed = new Promise<void>((resolve) => pub.once('close', () => resolve()));
    const acked = new Set<string>();
    let sent = 0;
    const killAfter = 1000;
    const pump = () => {
      while (pub.connected && sent - acked.size < 64 && sent < 50_000) {
        const payload = `m${++sent}`;
        pub.publish('ks/t', payload, { qos: 1 }, (err) => {
          if (err) return;
          acked.add(payload);
          // On a PUBACK: the messages acknowledged just before it may still be on their way to the session's queue.
          if (acked.size >= killAfter && broker.child.exitCode === null) broker.child.kill('SIGKILL');
          pump();
        });
      }
    };
    pump();
    await broker.exited;
    await pubClosed;
    pub.end(true);

    broker = await startWithMqtt(dataDir, edgePort, mqttPort);
    const received = new Set<string>();
    const back = mqtt.connect({ host: '127.0.0.1', port: mqttPort, clientId: 'away', clean: false, reconnectPeriod: 0 });
    back.on('error', () => undefined);
    // A marker published after the restart queues behind everything stored: once it arrives, the queue is drained.
    const drained = new Promise<void>((resolve) =>
      back.on('message', (_topic, payload) => {
        if (payload.toString() === 'end') resolve();
        else received.add(payload.toString());
      }),
    );
    await new Promise<void>((resolve) => back.once('connect', () => resolve()));
    const marker = await mqtt.connectAsync({ host: '127.0.0.1', port: mqttPort, clientId: 'marker', reconnectPeriod: 0 });
    await marker.publishAsync('ks/t', 'end', { qos: 1 });
    await marker.endAsync();
    await drained;
    await back.endAsync();

    expect(acked.size).toBeGreaterThanOrEqual(killAfter);
    expect([...acked].filter((m) => !received.has(m))).toEqual([]);
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
  }, 120_000);
});
