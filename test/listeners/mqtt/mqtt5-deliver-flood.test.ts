// A bounded flood against the built broker in a child process, with MQTT 5 subscribers that abuse
// what their CONNECT may ask of the server: a Receive Maximum of 1 and no acknowledgement, the default
// window of 65,535 and no acknowledgement, a Maximum Packet Size smaller than every flood message.
// The broker stays up, a well-behaved client keeps its PUBACKs and its messages, every flood record
// is logged, the oversized ones are counted, oversize warnings stay rare, and RSS stays bounded.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { freePort, mqttListenerEnv, startChildBroker, startedPorts } from '../../helpers/child-broker.ts';
import { canaryLoop, mqttClients } from '../../helpers/mqtt.ts';
import { onCleanup, tempDir } from '../../helpers/temp.ts';

const PER_KIND = 20;
const FLOOD = 2_000;
const PAYLOAD = 1024;

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

/** An MQTT 5 subscriber that reads everything, keeps only counts, and acknowledges nothing. */
class Hoarder {
  publishes = 0;
  closed = false;
  private readonly parser = mqttPacket.parser({ protocolVersion: 5 });
  private subacked = false;

  private constructor(readonly socket: net.Socket) {
    this.parser.on('packet', (p: Packet) => {
      if (p.cmd === 'publish') this.publishes++;
      if (p.cmd === 'suback') this.subacked = true;
    });
    socket.on('data', (d) => this.parser.parse(d));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static async subscribe(port: number, clientId: string, properties: Record<string, unknown>): Promise<Hoarder> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    onCleanup(async () => void socket.destroy());
    const h = new Hoarder(socket);
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId, keepalive: 0, properties }, { protocolVersion: 5 }));
    socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 1 }] }, { protocolVersion: 5 }));
    await expect.poll(() => h.subacked).toBe(true);
    return h;
  }
}

describe('MQTT 5 flood with subscribers that hold their acknowledgements or accept only small packets', () => {
  it('keeps the broker up, a canary acknowledged and delivered, every record logged, oversized ones counted, RSS bounded', async () => {
    const dir = tempDir();
    const [mqttPort, httpPort] = [await freePort(), await freePort()];
    const broker = await startChildBroker(path.join(dir, 'data'), await freePort(), {
      ...mqttListenerEnv(mqttPort),
      TRIBUTARY_LISTENERS__HTTP__ENABLED: 'true',
      TRIBUTARY_LISTENERS__HTTP__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__HTTP__PORT: String(httpPort),
    });
    expect(await startedPorts(broker)).toMatchObject({ mqttPort, httpPort });
    const pid = broker.child.pid!;
    const connect = mqttClients(mqttPort, { protocolVersion: 5 });

    const canary = await connect('canary');
    await canary.subscribeAsync('canary/#', { qos: 1 });
    let canaryDelivered = 0;
    canary.on('message', () => canaryDelivered++);
    await canary.publishAsync('canary/warm-up', 'x', { qos: 1 });
    const rssBefore = rssBytes(pid);

    const windowOfOne: Hoarder[] = [];
    const wideOpen: Hoarder[] = [];
    const small: Hoarder[] = [];
    for (let i = 0; i < PER_KIND; i++) {
      windowOfOne.push(await Hoarder.subscribe(mqttPort, `rm1-${i}`, { receiveMaximum: 1 }));
      wideOpen.push(await Hoarder.subscribe(mqttPort, `wide-${i}`, {}));
      small.push(await Hoarder.subscribe(mqttPort, `small-${i}`, { maximumPacketSize: 512 }));
    }

    const pinging = canaryLoop(canary);
    const floodStarted = performance.now();
    const publisher = await connect('flood-publisher');
    let next = 0;
    const payload = Buffer.alloc(PAYLOAD, 'f');
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next++ < FLOOD) await publisher.publishAsync('flood/x', payload, { qos: 1 });
      }),
    );
    const canaryAckedDuringFlood = pinging.acked();
    const canaryAcked = await pinging.stop();

    expect(broker.child.exitCode).toBeNull();
    expect(canaryAckedDuringFlood).toBeGreaterThan(0);
    await expect.poll(() => canaryDelivered, { timeout: 30_000 }).toBe(canaryAcked + 1);

    // Window of one: never more than one message, then the waiting ones fill its queue and it is
    // closed (when that happens in the turn of its first write, the write goes with the connection).
    await expect.poll(() => windowOfOne.every((h) => h.closed), { timeout: 30_000 }).toBe(true);
    expect(windowOfOne.filter((h) => h.publishes > 1)).toEqual([]);
    // No acknowledgement needed below 65,535 in flight: every message.
    await expect.poll(() => wideOpen.map((h) => h.publishes), { timeout: 30_000 }).toEqual(wideOpen.map(() => FLOOD));
    // Too large for them: none, and they stay connected.
    expect(small.map((h) => [h.publishes, h.closed])).toEqual(small.map(() => [0, false]));

    const metrics = await scrape(httpPort);
    expect(sample(metrics, 'tributary_partition_next_offset{topic="mqtt",partition="0"}')).toBe(1 + FLOOD + canaryAcked);
    expect(sample(metrics, 'tributary_mqtt_subscriber_oversize_dropped_total{qos="1"}')).toBe(PER_KIND * FLOOD);
    expect(sample(metrics, 'tributary_mqtt_connections_closed_total{reason="subscriber-stalled"}')).toBe(PER_KIND);
    await expect.poll(async () => sample(await scrape(httpPort), 'tributary_mqtt_subscriber_queued_bytes')).toBe(0);
    const rssGrowth = rssBytes(pid) - rssBefore;
    // 60 connections (~44 KiB each), their queues at most 1 MiB each (subscriberQueueBytesMax), 8 KiB of in-flight ids each.
    expect(rssGrowth).toBeLessThan(128 * 1024 * 1024);

    const warnings = broker
      .output()
      .split('\n')
      .filter((l) => l.includes('Maximum Packet Size: not sent'))
      .map((l) => JSON.parse(l) as { clientId: string });
    expect(new Set(warnings.map((w) => w.clientId))).toEqual(new Set(small.map((_, i) => `small-${i}`)));
    const counts = new Map<string, number>();
    for (const w of warnings) counts.set(w.clientId, (counts.get(w.clientId) ?? 0) + 1);
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(1 + Math.ceil((performance.now() - floodStarted) / 10_000));

    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
  }, 120_000);
});
