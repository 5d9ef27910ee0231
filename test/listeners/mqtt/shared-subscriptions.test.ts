// Shared subscriptions ($share/GROUP/filter, shared-subscriptions.ts): each message to one member
// of a group, round robin over the connected members, for MQTT 5 and MQTT 3.1.1 clients; queued for
// a persistent member when none is connected; ACL on the filter part; unsubscribe; a member that
// goes away with a message unacknowledged. MQTT.js clients and raw packets on a real broker.
import net from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { connectMqtt, RawMqtt, startMqttBroker, type MqttTestBroker } from '../../helpers/mqtt.ts';
import { onCleanup } from '../../helpers/temp.ts';

/** Payloads a client receives, as they arrive. */
function collect(client: MqttClient): string[] {
  const got: string[] = [];
  client.on('message', (_topic, payload) => got.push(payload.toString()));
  return got;
}

/** Connects a persistent session and waits for its CONNACK, without subscribing (its session resumes). */
async function resume(port: number, opts: IClientOptions): Promise<{ client: MqttClient; got: string[] }> {
  const client = mqtt.connect({ host: '127.0.0.1', port, reconnectPeriod: 0, ...opts });
  onCleanup(() => client.endAsync(true));
  const got = collect(client);
  await new Promise((resolve, reject) => client.once('connect', resolve).once('error', reject));
  return { client, got };
}

/** A raw client of `protocolVersion` that sends one SUBSCRIBE: its SUBACK's codes, then the payloads it gets. */
async function rawSubscribe(port: number, protocolVersion: 4 | 5, filters: string[]): Promise<{ granted: number[]; payloads: string[]; socket: net.Socket }> {
  const socket = net.connect(port, '127.0.0.1');
  onCleanup(async () => void socket.destroy());
  const parser = mqttPacket.parser({ protocolVersion });
  const payloads: string[] = [];
  const suback = new Promise<number[]>((resolve) =>
    parser.on('packet', (p) => {
      if (p.cmd === 'suback') resolve(p.granted as number[]);
      if (p.cmd === 'publish') payloads.push(p.payload.toString());
    }),
  );
  socket.on('data', (d) => parser.parse(d));
  const write = (p: mqttPacket.Packet) => socket.write(mqttPacket.generate(p, { protocolVersion }));
  write({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clean: true, clientId: `raw-v${protocolVersion}`, keepalive: 0 });
  write({ cmd: 'subscribe', messageId: 1, subscriptions: filters.map((topic) => ({ topic, qos: 1 as const })) });
  return { granted: await suback, payloads, socket };
}

const range = (n: number, prefix = 'm') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

async function publishAll(broker: MqttTestBroker | number, topic: string, payloads: string[], qos: 0 | 1 | 2 = 1): Promise<void> {
  const pub = await connectMqtt(broker, { clientId: 'publisher', protocolVersion: 5 });
  for (const p of payloads) await pub.publishAsync(topic, p, { qos });
  await pub.endAsync();
}

describe('MQTT shared subscriptions', () => {
  it('splits a stream over a group of MQTT 5 and MQTT 3.1.1 members, each message once; a plain subscriber still gets all', async () => {
    const broker = await startMqttBroker();
    const members = [
      await connectMqtt(broker, { clientId: 'v5-a', protocolVersion: 5 }),
      await connectMqtt(broker, { clientId: 'v5-b', protocolVersion: 5 }),
      await connectMqtt(broker, { clientId: 'v311-c', protocolVersion: 4 }),
    ];
    // [MQTT-3.2.2-13] no Shared Subscription Available = 0 in the CONNACK: absent means available.
    const connack = await new Promise<{ properties?: Record<string, unknown> }>((resolve) => {
      const c = mqtt.connect({ host: '127.0.0.1', port: broker.mqttPort, protocolVersion: 5, reconnectPeriod: 0 });
      onCleanup(() => c.endAsync(true));
      c.once('connect', resolve);
    });
    expect(connack.properties?.sharedSubscriptionAvailable).toBeUndefined();
    const got = members.map(collect);
    for (const m of members) expect((await m.subscribeAsync('$share/workers/jobs/#', { qos: 1 }))[0].qos).toBe(1);
    const plain = await connectMqtt(broker, { clientId: 'plain', protocolVersion: 5 });
    const all = collect(plain);
    await plain.subscribeAsync('jobs/#', { qos: 1 });

    const sent = range(30);
    await publishAll(broker, 'jobs/resize', sent);
    await expect.poll(() => got.flat().length + all.length).toBe(60);
    expect(got.flat().sort()).toEqual([...sent].sort());
    // Round robin over the connected members: each gets its third.
    expect(got.map((g) => g.length)).toEqual([10, 10, 10]);
    expect(all).toEqual(sent);
  });

  it('gives each group its own copy; a client in a group that also has a plain subscription, or in two groups, gets both', async () => {
    const broker = await startMqttBroker();
    const a = await connectMqtt(broker, { clientId: 'a', protocolVersion: 5 });
    const b = await connectMqtt(broker, { clientId: 'b', protocolVersion: 4 });
    const gotA = collect(a);
    const gotB = collect(b);
    await a.subscribeAsync('$share/one/t', { qos: 1 });
    await a.subscribeAsync('t', { qos: 1 });
    await b.subscribeAsync('$share/two/t', { qos: 1 });
    // Alone in two groups, a persistent session: a copy from each.
    const c = await connectMqtt(broker, { clientId: 'c', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } });
    const gotC = collect(c);
    await c.subscribeAsync('$share/three/t', { qos: 1 });
    await c.subscribeAsync('$share/four/t', { qos: 0 });
    await publishAll(broker, 't', ['x', 'y']);
    await expect.poll(() => gotA.length + gotB.length + gotC.length).toBe(10);
    expect(gotA.sort()).toEqual(['x', 'x', 'y', 'y']);
    expect(gotB).toEqual(['x', 'y']);
    expect(gotC.sort()).toEqual(['x', 'x', 'y', 'y']);
  });

  it('checks the ACL against the filter part; a malformed share name is refused; the connection stays open', async () => {
    const broker = await startMqttBroker({ auth: { acls: [{ subscribe: ['ok/#'], publish: ['#'] }] } });
    // Raw packets: MQTT.js refuses to send some of these filters.
    const filters = ['$share/g/ok/#', '$share/g/secret/#', '$share/g', '$share//ok/x', '$share/g+/ok/x', '$share/g/'];
    const v5 = await rawSubscribe(broker.mqttPort, 5, filters);
    const v4 = await rawSubscribe(broker.mqttPort, 4, filters);
    // MQTT 5: 0x87 not authorized, 0x8F topic filter invalid [MQTT-4.8.2-1, MQTT-4.8.2-2]; MQTT 3.1.1: 0x80.
    expect(v5.granted).toEqual([1, 0x87, 0x8f, 0x8f, 0x8f, 0x8f]);
    expect(v4.granted).toEqual([1, 0x80, 0x80, 0x80, 0x80, 0x80]);
    await publishAll(broker, 'ok/a', ['1', '2']);
    await publishAll(broker, 'secret/a', ['s']);
    await expect.poll(() => [...v5.payloads, ...v4.payloads].sort()).toEqual(['1', '2']);
    expect(v5.socket.destroyed || v4.socket.destroyed).toBe(false);
  });

  it('sends each member the lower of the message QoS and its own, and loses none of a persistent member’s QoS 0 and 1 messages', async () => {
    const broker = await startMqttBroker();
    // Alone in its group, a persistent member gets every message: its QoS 1 copies wait for their
    // place in its session queue, and a QoS 0 copy made meanwhile must not overtake them (aedes
    // would then take the QoS 1 copy for a duplicate and drop it).
    const durable = await connectMqtt(broker, { clientId: 'durable', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } });
    const got: string[] = [];
    durable.on('message', (topic, payload, packet) => got.push(`${topic}:${payload}@${packet.qos}`));
    await durable.subscribeAsync('$share/d/o/#', { qos: 1 });
    const low = await connectMqtt(broker, { clientId: 'low', protocolVersion: 4 });
    const gotLow: string[] = [];
    low.on('message', (topic, payload, packet) => gotLow.push(`${topic}:${payload}@${packet.qos}`));
    await low.subscribeAsync('$share/l/o/#', { qos: 0 });
    const publishers = [await connectMqtt(broker, { clientId: 'pub-q1', protocolVersion: 5 }), await connectMqtt(broker, { clientId: 'pub-q0', protocolVersion: 5 })];
    // A QoS 0 stream from one publisher, a message per loop turn, while another publisher's QoS 1
    // messages go one at a time: QoS 0 copies are made while a QoS 1 copy waits for its place in the
    // member's session queue.
    const n = 100;
    const q0: string[] = [];
    let q1Done = false;
    const q0Stream = (async () => {
      while (!q1Done && q0.length < 50 * n) {
        q0.push(`o/0:${q0.length}@0`);
        publishers[1].publish('o/0', String(q0.length - 1), { qos: 0 });
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const q1 = Array.from({ length: n }, (_, i) => `o/1:${i}@1`);
    for (let i = 0; i < n; i++) await publishers[0].publishAsync('o/1', String(i), { qos: 1 });
    q1Done = true;
    await q0Stream;
    await expect.poll(() => got.length + gotLow.length).toBe(2 * (n + q0.length));
    // In order per publisher [MQTT-4.6.0-6]; the two publishers' streams interleave as they arrive.
    expect(got.filter((x) => x.startsWith('o/1:'))).toEqual(q1);
    expect(got.filter((x) => x.startsWith('o/0:'))).toEqual(q0);
    expect(gotLow.filter((x) => x.startsWith('o/1:'))).toEqual(q1.map((x) => x.replace(/@\d$/, '@0')));
    expect(gotLow.filter((x) => x.startsWith('o/0:'))).toEqual(q0);
  });

  it('closes the connection of an MQTT 5 client that sets No Local on a shared subscription [MQTT-3.8.3-4]', async () => {
    const broker = await startMqttBroker();
    const socket = net.connect(broker.mqttPort, '127.0.0.1');
    onCleanup(async () => void socket.destroy());
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    const cmds: string[] = [];
    parser.on('packet', (p) => cmds.push(p.cmd));
    socket.on('data', (d) => parser.parse(d));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    const write = (p: mqttPacket.Packet) => socket.write(mqttPacket.generate(p, { protocolVersion: 5 }));
    write({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'no-local', keepalive: 0 });
    write({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/n', qos: 1, nl: true }] });
    await closed;
    expect(cmds).toEqual(['connack']);
  });

  it('delivers a topic named $share/... only to a group whose filter names it', async () => {
    const broker = await startMqttBroker();
    const member = await connectMqtt(broker, { clientId: 'literal', protocolVersion: 4 });
    const got = collect(member);
    await member.subscribeAsync('$share/g/$share/x', { qos: 1 });
    const all = await connectMqtt(broker, { clientId: 'everything', protocolVersion: 5 });
    const gotAll = collect(all);
    await all.subscribeAsync('#', { qos: 1 });
    await publishAll(broker, '$share/x', ['literal']);
    await publishAll(broker, 'after', ['marker']);
    await expect.poll(() => gotAll).toEqual(['marker']);
    await expect.poll(() => got).toEqual(['literal']);
  });

  it('sends no retained message for a new shared subscription (MQTT 5 §3.3.1.3: non-shared ones only)', async () => {
    const broker = await startMqttBroker();
    const pub = await connectMqtt(broker, { clientId: 'retainer' });
    await pub.publishAsync('state/x', 'kept', { qos: 1, retain: true });
    const member = await connectMqtt(broker, { clientId: 'member', protocolVersion: 5 });
    const got = collect(member);
    await member.subscribeAsync('$share/g/state/#', { qos: 1 });
    // A plain subscription on the same connection after it: its retained message marks that the
    // shared one, handled first, sent nothing.
    await member.subscribeAsync('state/#', { qos: 1 });
    await expect.poll(() => got).toEqual(['kept']);
  });

  it('stops sending to a member that unsubscribes; the others get the rest', async () => {
    const broker = await startMqttBroker();
    const a = await connectMqtt(broker, { clientId: 'a', protocolVersion: 5 });
    const b = await connectMqtt(broker, { clientId: 'b', protocolVersion: 4 });
    const [gotA, gotB] = [collect(a), collect(b)];
    await a.subscribeAsync('$share/g/u', { qos: 1 });
    await b.subscribeAsync('$share/g/u', { qos: 1 });
    await publishAll(broker, 'u', ['1', '2']);
    await expect.poll(() => [gotA, gotB]).toEqual([['1'], ['2']]);
    await a.unsubscribeAsync('$share/g/u');
    await publishAll(broker, 'u', ['3', '4', '5']);
    await expect.poll(() => gotB).toEqual(['2', '3', '4', '5']);
    expect(gotA).toEqual(['1']);
  });

  it('queues for the persistent members when none is connected, round robin, and sends on their return', async () => {
    const broker = await startMqttBroker();
    const port = broker.mqttPort;
    // MQTT 5 with a Session Expiry Interval, and MQTT 3.1.1 with clean session 0.
    const p5: IClientOptions = { clientId: 'p5', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 300 } };
    const p4: IClientOptions = { clientId: 'p4', protocolVersion: 4, clean: false };
    for (const opts of [p5, p4]) {
      const c = await connectMqtt(port, opts);
      await c.subscribeAsync('$share/g/q/#', { qos: 1 });
      await c.endAsync();
    }
    // A clean member that left is no member any more.
    const clean = await connectMqtt(port, { clientId: 'gone', protocolVersion: 5 });
    await clean.subscribeAsync('$share/g/q/#', { qos: 1 });
    await clean.endAsync();

    const sent = range(6);
    await publishAll(broker, 'q/a', sent);
    await publishAll(broker, 'q/a', ['zero'], 0);
    const back = [await resume(port, p5), await resume(port, p4)];
    await expect.poll(() => back.flatMap((b) => b.got).length).toBe(6);
    expect(back.flatMap((b) => b.got).sort()).toEqual([...sent].sort());
    expect(back.map((b) => b.got.length)).toEqual([3, 3]);
    // Back online, they share live traffic again.
    await publishAll(broker, 'q/a', ['live1', 'live2']);
    await expect.poll(() => back.flatMap((b) => b.got).length).toBe(8);
    expect(back.map((b) => b.got.slice(3))).toEqual([['live1'], ['live2']]);
  });

  it('delivers QoS 2 to a persistent member exactly once, live and from its queue', async () => {
    const broker = await startMqttBroker();
    const opts: IClientOptions = { clientId: 'q2-member', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 300 } };
    const first = await resume(broker.mqttPort, opts);
    const qos: number[] = [];
    first.client.on('message', (_t, _p, packet) => qos.push(packet.qos));
    await first.client.subscribeAsync('$share/g/two', { qos: 2 });
    await publishAll(broker, 'two', ['x0', 'x1', 'x2'], 2);
    await expect.poll(() => first.got).toEqual(['x0', 'x1', 'x2']);
    expect(qos).toEqual([2, 2, 2]);
    await first.client.endAsync();
    await publishAll(broker, 'two', ['y0', 'y1'], 2);
    const back = await resume(broker.mqttPort, opts);
    await expect.poll(() => back.got).toEqual(['y0', 'y1']);
    // A live message after the queue: nothing of the queue comes again.
    await publishAll(broker, 'two', ['z0'], 2);
    await expect.poll(() => back.got).toEqual(['y0', 'y1', 'z0']);
  });

  it('keeps the persistent members and their queue across a broker restart', async () => {
    const broker = await startMqttBroker();
    const port = () => broker.running.mqtt!.port;
    const opts: IClientOptions = { clientId: 'durable', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } };
    const c = await connectMqtt(port(), opts);
    await c.subscribeAsync('$share/g/r', { qos: 1 });
    await c.endAsync();
    await publishAll(port(), 'r', ['before']);
    await broker.stop();
    await broker.start();
    // The group is rebuilt from the session store: a message published before the member returns is queued for it.
    await publishAll(port(), 'r', ['after']);
    const back = await resume(port(), opts);
    await expect.poll(() => back.got).toEqual(['before', 'after']);
  });

  it('ends membership with the session: unsubscribe while away, or a clean start', async () => {
    const broker = await startMqttBroker();
    const port = broker.mqttPort;
    const opts: IClientOptions = { clientId: 'leaver', protocolVersion: 4, clean: false };
    const c = await connectMqtt(port, opts);
    await c.subscribeAsync('$share/g/e', { qos: 1 });
    await c.endAsync();
    // Clean session: the stored session and its membership end.
    const cleanStart = await connectMqtt(port, { ...opts, clean: true });
    await cleanStart.endAsync();
    await publishAll(broker, 'e', ['lost']);
    const back = await resume(port, opts);
    const other = await connectMqtt(port, { clientId: 'other', protocolVersion: 5 });
    const got = collect(other);
    await other.subscribeAsync('$share/g/e', { qos: 1 });
    await publishAll(broker, 'e', ['for-other']);
    await expect.poll(() => got).toEqual(['for-other']);
    expect(back.got).toEqual([]);
  });

  it('sends a QoS 1 message a persistent member left unacknowledged to it again when it returns [MQTT-4.8.2]', async () => {
    const broker = await startMqttBroker();
    const peer = await RawMqtt.session(broker.mqttPort, 'raw-member', false);
    peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/w', qos: 1 }] });
    await peer.waitFor((p) => p.cmd === 'suback');
    await publishAll(broker, 'w', ['unacked']);
    await peer.waitFor((p) => p.cmd === 'publish');
    peer.socket.destroy();
    await peer.waitClosed();
    const again = await RawMqtt.session(broker.mqttPort, 'raw-member', false);
    const resent = await again.waitFor((p) => p.cmd === 'publish');
    // (aedes does not set DUP on a resend: test/conformance/mqtt-3.1.1/README.md lists it.)
    expect(resent.cmd === 'publish' && resent.payload.toString()).toBe('unacked');
  });

  it('stores only the granted filters of a SUBSCRIBE: an away session gets nothing for a denied one', async () => {
    const broker = await startMqttBroker({ auth: { acls: [{ subscribe: ['ok/#'], publish: ['#'] }] } });
    const opts: IClientOptions = { clientId: 'mixed', protocolVersion: 4, clean: false };
    const raw = await RawMqtt.session(broker.mqttPort, 'mixed', false);
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: ['secret/#', '$share/g/secret/#', 'ok/#'].map((topic) => ({ topic, qos: 1 as const })) });
    const suback = await raw.waitFor((p) => p.cmd === 'suback');
    expect(suback.cmd === 'suback' && suback.granted).toEqual([0x80, 0x80, 1]);
    raw.send({ cmd: 'disconnect' });
    await raw.waitClosed();
    await publishAll(broker, 'secret/x', ['leak']);
    await publishAll(broker, 'ok/x', ['fine']);
    const back = await resume(broker.mqttPort, opts);
    await expect.poll(() => back.got).toEqual(['fine']);
  });
});
