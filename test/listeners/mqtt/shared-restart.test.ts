// Shared subscriptions in the bundle (dist/tributary.mjs, whose aedes is patched by build.mjs) run
// as a child process: a group splits live traffic, queues for its persistent members while they are
// away, and keeps doing so across a graceful restart of the process on the same data dir.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { type ChildBroker, freePort, mqttListenerEnv, startChildBroker, waitForPort } from '../../helpers/child-broker.ts';
import { connectMqtt } from '../../helpers/mqtt.ts';
import { onCleanup, tempDir } from '../../helpers/temp.ts';

async function start(dataDir: string, edgePort: number, mqttPort: number): Promise<ChildBroker> {
  const broker = await startChildBroker(dataDir, edgePort, mqttListenerEnv(mqttPort));
  await waitForPort(broker, mqttPort);
  return broker;
}

/** Connects (a persistent session resumes without subscribing) and collects what arrives. */
async function member(port: number, opts: IClientOptions): Promise<{ client: MqttClient; got: string[] }> {
  const client = mqtt.connect({ host: '127.0.0.1', port, reconnectPeriod: 0, ...opts });
  onCleanup(() => client.endAsync(true));
  const got: string[] = [];
  client.on('message', (_topic, payload) => got.push(payload.toString()));
  await new Promise((resolve, reject) => client.once('connect', resolve).once('error', reject));
  return { client, got };
}

async function publish(port: number, payloads: string[]): Promise<void> {
  const pub = await connectMqtt(port, { clientId: 'publisher', protocolVersion: 5 });
  for (const p of payloads) await pub.publishAsync('work/item', p, { qos: 1 });
  await pub.endAsync();
}

describe('shared subscriptions in the bundle', () => {
  it('splits live traffic, queues for away persistent members, and keeps the group across a restart', async () => {
    const dataDir = tempDir();
    const edgePort = await freePort();
    const mqttPort = await freePort();
    let broker = await start(dataDir, edgePort, mqttPort);
    const p5: IClientOptions = { clientId: 'p5', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } };
    const p4: IClientOptions = { clientId: 'p4', protocolVersion: 4, clean: false };
    const members = [await member(mqttPort, p5), await member(mqttPort, p4), await member(mqttPort, { clientId: 'c5', protocolVersion: 5 })];
    for (const m of members) await m.client.subscribeAsync('$share/g/work/#', { qos: 1 });
    await publish(mqttPort, ['l0', 'l1', 'l2', 'l3', 'l4', 'l5']);
    await expect.poll(() => members.map((m) => m.got.length)).toEqual([2, 2, 2]);
    for (const m of members) await m.client.endAsync();

    await publish(mqttPort, ['a0', 'a1', 'a2', 'a3']);
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
    broker = await start(dataDir, edgePort, mqttPort);
    await publish(mqttPort, ['b0', 'b1']);

    const back = [await member(mqttPort, p5), await member(mqttPort, p4)];
    const queued = ['a0', 'a1', 'a2', 'a3', 'b0', 'b1'];
    await expect.poll(() => back.flatMap((m) => m.got).length).toBe(queued.length);
    expect(back.flatMap((m) => m.got).sort()).toEqual(queued);
    expect(back.map((m) => m.got.length)).toEqual([3, 3]);
    expect(broker.child.exitCode).toBeNull();
  });
});
