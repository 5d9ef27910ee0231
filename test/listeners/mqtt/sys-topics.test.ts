// $SYS/broker/... as Mosquitto publishes it (mosquitto(8), BROKER STATUS), read by mosquitto_sub and
// MQTT.js over real sockets; and a client's PUBLISH to $SYS/... acknowledged and dropped, as
// Mosquitto 2.0 does (PUBACK for QoS 1, PUBREC then PUBCOMP for QoS 2, delivered to no one).
import { spawnSync } from 'node:child_process';
import type { MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import packageJson from '../../../package.json' with { type: 'json' };
import { parseConfig } from '../../../src/config/load.ts';
import { startTributary } from '../../../src/main.ts';
import { runProcess } from '../../helpers/cli.ts';
import { connectMqtt, logRecords, RawMqtt, startMqttBroker } from '../../helpers/mqtt.ts';
import { onCleanup, silentLogger } from '../../helpers/temp.ts';
import { until } from '../../helpers/upstream.ts';

const hasMosquittoSub = spawnSync('mosquitto_sub', ['--help']).error === undefined;

/** Mosquitto's topics that Tributary publishes, all retained. */
const TOPICS = [
  'version', 'uptime', 'clients/connected', 'clients/disconnected', 'clients/total', 'clients/maximum',
  'messages/received', 'messages/sent', 'bytes/received', 'bytes/sent',
  'publish/messages/received', 'publish/messages/sent', 'publish/messages/dropped',
  'retained messages/count', 'subscriptions/count', 'store/messages/count', 'store/messages/bytes', 'heap/current',
  ...['messages/received', 'messages/sent', 'publish/received', 'publish/sent', 'publish/dropped', 'bytes/received', 'bytes/sent', 'connections'].flatMap((l) =>
    ['1min', '5min', '15min'].map((w) => `load/${l}/${w}`),
  ),
].map((t) => `$SYS/broker/${t}`);

/** The latest payload per topic a client got, and a way to wait for one that passes a test. */
function latest(client: MqttClient): { values: Map<string, string>; when: (topic: string, ok: (v: string) => boolean) => Promise<string> } {
  const values = new Map<string, string>();
  client.on('message', (topic, payload) => values.set(topic, payload.toString()));
  return {
    values,
    async when(topic, ok) {
      await until(() => values.has(topic) && ok(values.get(topic)!), `${topic} to pass (now ${values.get(topic)})`, 15_000);
      return values.get(topic)!;
    },
  };
}

describe('$SYS/broker/...', () => {
  it.runIf(hasMosquittoSub)('mosquitto_sub -t $SYS/broker/# gets every topic, retained, with sane values that change', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { sysIntervalS: 1 } } });
    /** The retained $SYS/broker/ messages as mosquitto_sub prints them ("topic payload"; some topics hold a space). */
    const snapshot = async (): Promise<Map<string, string>> => {
      const run = await runProcess('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker.mqttPort), '-v', '-t', '$SYS/broker/#', '-C', String(TOPICS.length), '--retained-only']);
      expect(run.code).toBe(0);
      return new Map(run.stdout.trim().split('\n').map((l) => {
        const topic = TOPICS.find((t) => l.startsWith(`${t} `));
        expect(topic, l).toBeDefined();
        return [topic!, l.slice(topic!.length + 1)] as const;
      }));
    };
    const values = await snapshot();
    expect([...values.keys()].sort()).toEqual([...TOPICS].sort());
    expect(values.get('$SYS/broker/version')).toBe(`tributary version ${packageJson.version}`);
    expect(values.get('$SYS/broker/uptime')).toMatch(/^\d+ seconds$/);
    for (const [topic, v] of values) if (!/version|uptime|load/.test(topic)) expect(v, topic).toMatch(/^\d+$/);
    for (const [topic, v] of values) if (topic.includes('/load/')) expect(v, topic).toMatch(/^\d+\.\d\d$/);
    expect(Number(values.get('$SYS/broker/heap/current'))).toBeGreaterThan(0);

    const publisher = await connectMqtt(broker, { clientId: 'publisher' });
    const sys = latest(publisher);
    await publisher.subscribeAsync('$SYS/broker/publish/messages/received');
    for (let i = 0; i < 3; i++) await publisher.publishAsync('t/x', String(i), { qos: 1, retain: i === 0 });
    const before = Number(values.get('$SYS/broker/publish/messages/received'));
    // Waits for the tick that counted them, then reads the tree again as mosquitto_sub sees it.
    await sys.when('$SYS/broker/publish/messages/received', (v) => Number(v) >= before + 3);
    const after = await snapshot();
    expect(Number(after.get('$SYS/broker/publish/messages/received'))).toBeGreaterThanOrEqual(before + 3);
    expect(Number(after.get('$SYS/broker/messages/received'))).toBeGreaterThan(Number(values.get('$SYS/broker/messages/received')));
    expect(Number(after.get('$SYS/broker/bytes/received'))).toBeGreaterThan(Number(values.get('$SYS/broker/bytes/received')));
    expect(Number(after.get('$SYS/broker/clients/connected'))).toBeGreaterThanOrEqual(1);
    // The $SYS/broker/ topics and t/x; counted at the tick, so the first tick (before any was stored) said 0.
    expect(Number(after.get('$SYS/broker/retained messages/count'))).toBe(TOPICS.length + 1);
  });

  it('updates the values every sysIntervalS: messages received grow after publishes, clients connected follows the clients', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { sysIntervalS: 1 } } });
    const watcher = await connectMqtt(broker, { clientId: 'watcher' });
    const sys = latest(watcher);
    await watcher.subscribeAsync('$SYS/broker/#');
    const received0 = Number(await sys.when('$SYS/broker/publish/messages/received', () => true));
    const packets0 = Number(await sys.when('$SYS/broker/messages/received', () => true));
    await sys.when('$SYS/broker/clients/connected', (v) => v === '1');
    const publisher = await connectMqtt(broker, { clientId: 'publisher' });
    for (let i = 0; i < 5; i++) await publisher.publishAsync('t/x', String(i), { qos: 1 });
    await sys.when('$SYS/broker/clients/connected', (v) => v === '2');
    await sys.when('$SYS/broker/publish/messages/received', (v) => Number(v) >= received0 + 5);
    // CONNECT, 5 PUBLISH, SUBSCRIBE and PINGREQs: at least 6 more packets of any type.
    await sys.when('$SYS/broker/messages/received', (v) => Number(v) >= packets0 + 6);
    await sys.when('$SYS/broker/load/publish/received/1min', (v) => Number(v) > 0);
    await sys.when('$SYS/broker/clients/maximum', (v) => Number(v) >= 2);
    await sys.when('$SYS/broker/store/messages/count', (v) => Number(v) >= 5);
    // Uptime is republished every tick; the watcher got it at least twice.
    const first = Number((await sys.when('$SYS/broker/uptime', () => true)).split(' ')[0]);
    await sys.when('$SYS/broker/uptime', (v) => Number(v.split(' ')[0]) > first);
    await publisher.endAsync();
    await sys.when('$SYS/broker/clients/connected', (v) => v === '1');
    // aedes' own $SYS/<random id>/... (heartbeat, new/clients, ...) reaches no subscriber.
    expect([...sys.values.keys()].filter((t) => !t.startsWith('$SYS/broker/'))).toEqual([]);
  });

  it('counts persistent sessions that are away, their subscriptions and publishes sent to subscribers', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { sysIntervalS: 1 } } });
    const away = await connectMqtt(broker, { clientId: 'away', clean: false });
    await away.subscribeAsync(['q/1', 'q/2'], { qos: 1 });
    await away.endAsync();
    const watcher = await connectMqtt(broker, { clientId: 'watcher2' });
    const sys = latest(watcher);
    await watcher.subscribeAsync(['$SYS/broker/#', 'q/1']);
    await sys.when('$SYS/broker/clients/disconnected', (v) => v === '1');
    await sys.when('$SYS/broker/clients/total', (v) => v === '2');
    await sys.when('$SYS/broker/subscriptions/count', (v) => v === '4'); // away's 2, the watcher's 2
    const sent0 = Number(await sys.when('$SYS/broker/publish/messages/sent', () => true));
    await watcher.publishAsync('q/1', 'hello', { qos: 1 });
    await sys.when('$SYS/broker/publish/messages/sent', (v) => Number(v) > sent0);
    const m = broker.running.mqtt!;
    expect(m.subscriptionCount).toBe(4);
    expect([...m.sessionStats!.queueDepths()]).toEqual([['away', 1]]);
  });

  it('sysIntervalS 0 publishes nothing; the default is 10', async () => {
    const off = await startMqttBroker({ listeners: { mqtt: { sysIntervalS: 0 } } });
    expect(off.running.mqtt!.sessionStats!.retainedCount).toBe(0);
    const on = await startMqttBroker();
    // The first update is published at start, retained: every topic is there at once.
    expect(on.running.mqtt!.sessionStats!.retainedCount).toBe(TOPICS.length);
    const c = await connectMqtt(on);
    const sys = latest(c);
    await c.subscribeAsync('$SYS/broker/version');
    expect(await sys.when('$SYS/broker/version', () => true)).toBe(`tributary version ${packageJson.version}`);
  });

  it('sends none of its retained topics to a # or +/... subscriber [MQTT-4.7.2-1]', async () => {
    const broker = await startMqttBroker();
    const c = await connectMqtt(broker);
    await c.publishAsync('probe', 'kept', { qos: 1, retain: true });
    await c.publishAsync('$other/x', 'dollar', { qos: 1, retain: true });
    const got: string[] = [];
    c.on('message', (topic) => got.push(topic));
    await c.subscribeAsync(['#', '+/broker/version']);
    // One stream answers a SUBSCRIBE's filters, $SYS/ ones first: once probe is here, none is coming.
    await until(() => got.includes('probe'), 'the retained probe');
    expect(got).toEqual(['probe']);
    await c.subscribeAsync('$other/+');
    await until(() => got.includes('$other/x'), 'the retained $other/x');
    expect(got).toEqual(['probe', '$other/x']);
  });

  it('is not kept across a restart: a broker started with sysIntervalS 0 serves no $SYS/broker/ value of its previous run', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { sysIntervalS: 1 } } });
    const c = await connectMqtt(broker);
    await c.publishAsync('probe', 'kept', { qos: 1, retain: true });
    await c.endAsync();
    await broker.stop();
    const config = parseConfig(
      { dataDir: broker.dataDir, listeners: { edge: { host: '127.0.0.1', port: 0 }, http: { enabled: false }, kafka: { enabled: false }, mqtt: { host: '127.0.0.1', port: 0, ws: { enabled: false }, sysIntervalS: 0 } } },
      'test',
    );
    const running = await startTributary(config, silentLogger);
    onCleanup(() => running.close());
    // Only the client's retained message is left: $SYS/ retained messages live in memory only.
    expect(running.mqtt!.sessionStats!.retainedCount).toBe(1);
    const late = await connectMqtt(running.mqtt!.port);
    const got: string[] = [];
    late.on('message', (topic) => got.push(topic));
    await late.subscribeAsync(['$SYS/broker/#', 'probe']);
    await until(() => got.includes('probe'), 'the retained probe');
    expect(got).toEqual(['probe']);
  });
});

describe('a PUBLISH to $SYS/... from a client', () => {
  it('is acknowledged at QoS 0, 1 and 2, the connection stays open, and it reaches no subscriber, no log and no retained store', async () => {
    const broker = await startMqttBroker();
    const sub = await connectMqtt(broker, { clientId: 'sub' });
    const got: string[] = [];
    sub.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`));
    await sub.subscribeAsync(['$SYS/#', '#'], { qos: 2 });
    const pub = await connectMqtt(broker, { clientId: 'pub' });
    await pub.publishAsync('$SYS/forged/0', 'f0', { qos: 0 });
    await pub.publishAsync('$SYS/forged/1', 'f1', { qos: 1 });
    await pub.publishAsync('$SYS/forged/2', 'f2', { qos: 2 });
    await pub.publishAsync('$SYS/broker/version', 'forged', { qos: 1, retain: true });
    await pub.publishAsync('after', 'ok', { qos: 2 });
    // Delivered in order from one publisher: once 'after' is here, anything forged would have been too.
    await until(() => got.includes('after ok'), 'the publish after the forged ones');
    expect(got.filter((g) => !g.startsWith('$SYS/broker/'))).toEqual(['after ok']);
    expect(got.filter((g) => g.includes('forged') || g.includes(' f'))).toEqual([]);
    expect(pub.connected).toBe(true);
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.key!.toString())).toEqual(['after']);
    const m = broker.running.mqtt!.metrics;
    expect(m.sysPublishesDropped).toBe(4);
    expect(m.closed.get('publish-denied')).toBeUndefined();
    expect(m.unrouted).toBe(0);
    // The retained $SYS/broker/version is still the broker's.
    const late = await connectMqtt(broker, { clientId: 'late' });
    const version = new Promise<string>((resolve) => late.once('message', (_t, p) => resolve(p.toString())));
    await late.subscribeAsync('$SYS/broker/version');
    expect(await version).toBe(`tributary version ${packageJson.version}`);
  });

  it('is acknowledged in its place: PUBACKs leave in order around it, the others are logged', async () => {
    const broker = await startMqttBroker();
    const peer = await RawMqtt.session(broker.mqttPort, 'mixed');
    // One write: aedes handles the three in the same turn, the $SYS one before the first append committed.
    const burst: Packet[] = [
      { cmd: 'publish', topic: 'a/1', payload: Buffer.from('1'), qos: 1, messageId: 1, retain: false, dup: false },
      { cmd: 'publish', topic: '$SYS/forged', payload: Buffer.from('2'), qos: 1, messageId: 2, retain: false, dup: false },
      { cmd: 'publish', topic: 'a/2', payload: Buffer.from('3'), qos: 1, messageId: 3, retain: false, dup: false },
    ];
    peer.write(Buffer.concat(burst.map((p) => mqttPacket.generate(p))));
    await peer.waitFor((p) => p.cmd === 'puback' && p.messageId === 3);
    expect(peer.packets.filter((p) => p.cmd === 'puback').map((p) => (p as { messageId: number }).messageId)).toEqual([1, 2, 3]);
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.key!.toString())).toEqual(['a/1', 'a/2']);
    expect(peer.closed).toBe(false);
    // QoS 2: PUBREC, then PUBCOMP for the PUBREL, as Mosquitto answers.
    peer.send({ cmd: 'publish', topic: '$SYS/forged', payload: Buffer.from('4'), qos: 2, messageId: 4, retain: false, dup: false });
    await peer.waitFor((p) => p.cmd === 'pubrec' && p.messageId === 4);
    peer.send({ cmd: 'pubrel', messageId: 4 });
    await peer.waitFor((p) => p.cmd === 'pubcomp' && p.messageId === 4);
  });

  it('drops a will to $SYS/... when its client goes away (accepted at CONNECT, as Mosquitto)', async () => {
    const broker = await startMqttBroker();
    const sub = await connectMqtt(broker, { clientId: 'sub' });
    const got: string[] = [];
    sub.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`));
    await sub.subscribeAsync(['$SYS/will/#', 'after'], { qos: 1 });
    const dying = await connectMqtt(broker, { clientId: 'dying', will: { topic: '$SYS/will/x', payload: Buffer.from('forged'), qos: 1, retain: false } });
    dying.stream.destroy();
    await until(() => broker.running.mqtt!.metrics.sysPublishesDropped === 1, 'the will to be dropped');
    await sub.publishAsync('after', 'ok', { qos: 1 });
    await until(() => got.includes('after ok'), 'the publish after the will');
    expect(got).toEqual(['after ok']);
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.key!.toString())).toEqual(['after']);
  });
});
