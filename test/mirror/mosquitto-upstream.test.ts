// The mirror against Eclipse Mosquitto (a full MQTT 5 broker) as a separate process, with an MQTT.js
// v5 subscriber reading what arrives upstream. .ci/run installs the mosquitto broker; under CI a
// missing binary fails the test instead of skipping it.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { startTestBroker } from '../helpers/broker.ts';
import { onCleanup, rec, tempDir } from '../helpers/temp.ts';
import { freePort } from '../helpers/child-broker.ts';
import { until } from '../helpers/upstream.ts';

const available = spawnSync('mosquitto', ['-h']).error === undefined;

async function startMosquitto(): Promise<number> {
  const port = await freePort();
  const dir = tempDir();
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  onCleanup(async () => {
    child.kill('SIGKILL');
    if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
  });
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      const probe = await mqtt.connectAsync({ host: '127.0.0.1', port, reconnectPeriod: 0, connectTimeout: 500 });
      await probe.endAsync(true);
      return port;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe.runIf(available || process.env.CI)('mirror to mosquitto', () => {
  it('delivers every record in order per partition with the origin user property', async () => {
    const port = await startMosquitto();
    const sub = await mqtt.connectAsync({ host: '127.0.0.1', port, protocolVersion: 5, reconnectPeriod: 0 });
    onCleanup(() => sub.endAsync(true));
    const got: { topic: string; payload: string; origin: string; key: unknown }[] = [];
    sub.on('message', (topic, payload, packet) => {
      const props = (packet.properties?.userProperties ?? {}) as Record<string, string>;
      got.push({ topic, payload: payload.toString(), origin: props.origin ?? '', key: props.key });
    });
    await sub.subscribeAsync('edge/#', { qos: 1 });

    const edge = await startTestBroker({
      edgeId: 'gw-1',
      mirrors: [{ name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${port}`, topics: ['telemetry'], remoteTopic: 'edge/{edgeId}/{topic}/{partition}' }],
    });
    edge.running.broker.createTopic({ name: 'telemetry', partitions: 2 });
    for (let i = 0; i < 100; i++)
      for (let partition = 0; partition < 2; partition++)
        await edge.running.broker.produce({ topic: 'telemetry', partition, records: [rec(`p${partition}-${i}`, `k${i}`)], acks: 1 });
    await until(() => got.length >= 200, '200 records at the subscriber', 10_000);

    for (let partition = 0; partition < 2; partition++) {
      const mine = got.filter((g) => g.topic === `edge/gw-1/telemetry/${partition}`);
      expect(mine.map((g) => g.payload)).toEqual(Array.from({ length: 100 }, (_, i) => `p${partition}-${i}`));
      expect(mine.map((g) => g.origin)).toEqual(Array.from({ length: 100 }, (_, i) => `gw-1/telemetry/${partition}/${i}`));
      expect(mine.map((g) => g.key)).toEqual(Array.from({ length: 100 }, (_, i) => `k${i}`));
    }
  });
});
