// A bounded flood against the built broker in a child process, with many MQTT subscribers that never
// read: the broker stays up, a well-behaved client on another topic keeps getting its PUBACKs and its
// messages while they exist, every flood record reaches the log, the drops are in /metrics and logged
// once per subscriber, and the broker's RSS stays bounded (subscriberQueueBytesTotalMax).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, mqttListenerEnv, startChildBroker, startedPorts } from '../../helpers/child-broker.ts';
import { canaryLoop, mqttClients, RawMqtt } from '../../helpers/mqtt.ts';
import { tempDir } from '../../helpers/temp.ts';

const STALLED = 100;
// Each stalled socket takes ~4 MiB in kernel buffers (loopback, Linux defaults) before the broker
// queues anything for it: the flood publishes 12 MiB, so every stalled subscriber's queue fills and
// drops. More subscribers would take more kernel memory than a shared CI machine should give.
const FLOOD = 1_500;
const PAYLOAD = 8 * 1024;
const TOTAL_MAX = 16 * 1024 * 1024;

function rssBytes(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
  return Number(kb) * 1024;
}

async function scrape(httpPort: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
}

function sample(metrics: string, name: string): number {
  const m = new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics);
  if (m === null) throw new Error(`${name} not in /metrics`);
  return Number(m[1]);
}

describe('MQTT flood with subscribers that never read', () => {
  it('keeps the broker up, a canary acknowledged and delivered, every record logged, drops counted, RSS bounded', async () => {
    const dir = tempDir();
    const [mqttPort, httpPort] = [await freePort(), await freePort()];
    const broker = await startChildBroker(path.join(dir, 'data'), await freePort(), {
      ...mqttListenerEnv(mqttPort),
      TRIBUTARY_LISTENERS__MQTT__SUBSCRIBER_QUEUE_BYTES_TOTAL_MAX: String(TOTAL_MAX),
      // The stalled subscribers must stay connected for the whole flood.
      TRIBUTARY_LISTENERS__MQTT__SUBSCRIBER_STALL_MS: '1d',
      TRIBUTARY_LISTENERS__HTTP__ENABLED: 'true',
      TRIBUTARY_LISTENERS__HTTP__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__HTTP__PORT: String(httpPort),
    });
    expect(await startedPorts(broker)).toMatchObject({ mqttPort, httpPort });
    const pid = broker.child.pid!;
    const connect = mqttClients(mqttPort);

    const canary = await connect('canary');
    await canary.subscribeAsync('canary/#', { qos: 1 });
    let canaryDelivered = 0;
    canary.on('message', () => canaryDelivered++);
    await canary.publishAsync('canary/warm-up', 'x', { qos: 1 });
    const rssBefore = rssBytes(pid);

    const stalled: RawMqtt[] = [];
    for (let i = 0; i < STALLED; i++) {
      const peer = await RawMqtt.session(mqttPort, `stalled-${i}`);
      peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 0 }] });
      await peer.waitFor((p) => p.cmd === 'suback');
      peer.socket.pause();
      stalled.push(peer);
    }

    // The canary publishes one QoS 1 message at a time for as long as the flood runs.
    const pinging = canaryLoop(canary);
    const floodStarted = performance.now();
    const publisher = await connect('flood-publisher');
    let next = 0;
    const payload = Buffer.alloc(PAYLOAD, 'f');
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        while (next++ < FLOOD) await publisher.publishAsync('flood/x', payload, { qos: 1 });
      }),
    );
    const canaryAckedDuringFlood = pinging.acked();
    const canaryAcked = await pinging.stop();

    // The stalled subscribers are all still there, their queues full.
    expect(broker.child.exitCode).toBeNull();
    expect(canaryAckedDuringFlood).toBeGreaterThan(0);
    await expect.poll(() => canaryDelivered, { timeout: 30_000 }).toBe(canaryAcked + 1);
    for (let i = 0; i < 20; i++) await canary.publishAsync('canary/after', 'x', { qos: 1 });
    await expect.poll(() => canaryDelivered, { timeout: 30_000 }).toBe(canaryAcked + 21);

    const metrics = await scrape(httpPort);
    expect(sample(metrics, 'tributary_partition_next_offset{topic="mqtt",partition="0"}')).toBe(1 + FLOOD + canaryAcked + 20);
    expect(sample(metrics, 'tributary_mqtt_subscriber_dropped_total{qos="0"}')).toBeGreaterThan(0);
    expect(sample(metrics, 'tributary_mqtt_clients')).toBe(STALLED + 2);
    // Past the total, each subscriber keeps at most its share: the total can pass the bound by a share each.
    expect(sample(metrics, 'tributary_mqtt_subscriber_queued_bytes')).toBeLessThanOrEqual(2 * TOTAL_MAX);
    const rssGrowth = rssBytes(pid) - rssBefore;
    // 100 connections cost ~4 MiB (README: ~44 KiB each); the queues at most 2 × 16 MiB of counted
    // bytes; without the total bound they could hold 100 × 1 MiB.
    expect(rssGrowth).toBeLessThan(128 * 1024 * 1024);

    const warnings = broker
      .output()
      .split('\n')
      .filter((l) => l.includes('MQTT subscriber not reading'))
      .map((l) => JSON.parse(l) as { clientId: string });
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings.every((w) => w.clientId.startsWith('stalled-'))).toBe(true);
    // At most one warning per subscriber per 10 s (limits.mqttSubscriberDropLogIntervalMs), never one per message.
    const counts = new Map<string, number>();
    for (const w of warnings) counts.set(w.clientId, (counts.get(w.clientId) ?? 0) + 1);
    const perSubscriber = Math.max(...counts.values());
    expect(perSubscriber).toBeLessThanOrEqual(1 + Math.ceil((performance.now() - floodStarted) / 10_000));

    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
  }, 120_000);
});
