// MQTT 5 on the way out: a message's properties reach MQTT 5 subscribers live, from a persistent
// session's stored queue (also after a restart) and as retained messages; message expiry on queued
// and retained messages; the subscriber's Receive Maximum [MQTT-3.3.4-9] and Maximum Packet Size
// [MQTT-3.1.2-25]; inbound topic aliases. Over real sockets: MQTT.js v5, and a raw MQTT 5 peer
// (mqtt-packet) where a test must withhold acknowledgements or see every packet.
import net from 'node:net';
import mqtt from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { connectMqtt, headers, logRecords, RawMqttPeer, startMqttBroker, type MqttTestBroker } from '../../helpers/mqtt.ts';
import { clockPast, RawMqtt5 } from '../../helpers/mqtt5-raw.ts';
import { onCleanup } from '../../helpers/temp.ts';

/** A raw MQTT 5 peer that acknowledges nothing unless told. */
class Raw5 extends RawMqtt5 {
  /** Connects as MQTT 5 with the given CONNECT properties, and waits for a successful CONNACK. */
  static async start(port: number, clientId: string, properties: Record<string, unknown>, clean = true): Promise<Raw5> {
    const peer = new Raw5(await RawMqttPeer.open(port));
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean, clientId, keepalive: 0, properties });
    const connack = (await peer.waitFor((p) => p.cmd === 'connack')) as mqttPacket.IConnackPacket;
    expect(connack.reasonCode).toBe(0);
    return peer;
  }

  async subscribe(topic: string, qos: 0 | 1 | 2, options: { rap?: boolean } = {}): Promise<void> {
    this.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos, ...options }] });
    await this.waitFor((p) => p.cmd === 'suback');
  }

  publishes(): mqttPacket.IPublishPacket[] {
    return this.received('publish');
  }

  /** Payloads of the PUBLISHes received so far at QoS > 0. */
  qosPayloads(): string[] {
    return this.publishes()
      .filter((p) => p.qos > 0)
      .map((p) => p.payload.toString());
  }

  ack(payload: string): void {
    const p = this.publishes().find((x) => x.payload.toString() === payload)!;
    this.send(p.qos === 1 ? { cmd: 'puback', messageId: p.messageId } : { cmd: 'pubrec', messageId: p.messageId });
  }

  /** Waits until the PUBLISH with this payload arrived (a stored queue drains slowly on a busy machine: up to 20 s). */
  async arrived(payload: string): Promise<mqttPacket.IPublishPacket> {
    return (await this.waitFor((p) => p.cmd === 'publish' && p.payload.toString() === payload, 20_000)) as mqttPacket.IPublishPacket;
  }
}

const PROPERTIES = {
  userProperties: { site: 'north', tag: ['a', 'b'] },
  contentType: 'application/json',
  payloadFormatIndicator: true,
  responseTopic: 'replies/r1',
  correlationData: Buffer.from([0xca, 0xfe, 0x00, 0x01]),
};

/** The MQTT 5 properties a subscriber sees, without the Message Expiry Interval (checked apart). */
function messageProperties(properties: mqttPacket.IPublishPacket['properties']): Record<string, unknown> {
  const { messageExpiryInterval: _expiry, ...rest } = properties ?? {};
  return { ...rest, userProperties: rest.userProperties === undefined ? undefined : { ...rest.userProperties } };
}

type Message = { topic: string; payload: string; retain: boolean; properties: mqttPacket.IPublishPacket['properties'] };

function collect(client: mqtt.MqttClient): Message[] {
  const got: Message[] = [];
  client.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain, properties: packet.properties }));
  return got;
}

function resume(broker: MqttTestBroker, clientId: string): mqtt.MqttClient {
  const client = mqtt.connect({ host: '127.0.0.1', port: broker.running.mqtt!.port, protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0 });
  onCleanup(() => client.endAsync(true));
  return client;
}

function queueDepth(broker: MqttTestBroker, clientId: string): number {
  return new Map(broker.running.mqtt!.sessionStats!.queueDepths()).get(clientId) ?? 0;
}

describe('MQTT 5 properties on the way to subscribers', () => {
  it('reach a v5 subscriber live, from a stored queue across a restart, and on retained messages; a 3.1.1 subscriber gets the message without them', async () => {
    const broker = await startMqttBroker();
    const port = () => broker.running.mqtt!.port;
    const live5 = await connectMqtt(port(), { protocolVersion: 5, clientId: 'live5' });
    await live5.subscribeAsync('props/#', { qos: 1 });
    const live4 = await connectMqtt(port(), { protocolVersion: 4, clientId: 'live4' });
    await live4.subscribeAsync('props/#', { qos: 1 });
    const away = await connectMqtt(port(), { protocolVersion: 5, clientId: 'away', clean: false, properties: { sessionExpiryInterval: 3600 } });
    await away.subscribeAsync('props/#', { qos: 1 });
    await away.endAsync();
    const got5 = collect(live5);
    const got4 = collect(live4);

    const pub = await connectMqtt(port(), { protocolVersion: 5, clientId: 'pub' });
    await pub.publishAsync('props/live', 'v1', { qos: 1, properties: { ...PROPERTIES, messageExpiryInterval: 3600 } });
    await pub.publishAsync('props/kept', 'v2', { qos: 1, retain: true, properties: PROPERTIES });
    await expect.poll(() => got5.length).toBe(2);
    await expect.poll(() => got4.length).toBe(2);
    for (const m of got5) expect(messageProperties(m.properties)).toEqual(PROPERTIES);
    expect(got5[0]!.properties?.messageExpiryInterval).toBe(3600);
    expect(got4.map((m) => [m.topic, m.payload, m.properties])).toEqual([
      ['props/live', 'v1', undefined],
      ['props/kept', 'v2', undefined],
    ]);
    await pub.endAsync();

    await broker.stop();
    await broker.start();

    // The stored queue of the persistent session: both messages, with their properties.
    const back = resume(broker, 'away');
    const queued = collect(back);
    await expect.poll(() => queued.length).toBe(2);
    expect(queued.map((m) => m.payload)).toEqual(['v1', 'v2']);
    for (const m of queued) expect(messageProperties(m.properties)).toEqual(PROPERTIES);
    const left = queued[0]!.properties?.messageExpiryInterval;
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(3600);
    expect(queued[1]!.properties?.messageExpiryInterval).toBeUndefined();

    // The retained message, on SUBSCRIBE after the restart.
    const late = await connectMqtt(port(), { protocolVersion: 5, clientId: 'late' });
    const retained = collect(late);
    await late.subscribeAsync('props/kept', { qos: 1 });
    await expect.poll(() => retained.length).toBe(1);
    expect(retained[0]!.retain).toBe(true);
    expect(messageProperties(retained[0]!.properties)).toEqual(PROPERTIES);
  });
});

describe('MQTT 5 Subscription Identifiers on a persistent session’s stored messages [MQTT-3.3.4-3]', () => {
  it('come from the subscriptions each message matches, also after a restart', async () => {
    const broker = await startMqttBroker();
    const away = await connectMqtt(broker, { protocolVersion: 5, clientId: 'ids', clean: false, properties: { sessionExpiryInterval: 3600 } });
    await away.subscribeAsync('si/#', { qos: 1, properties: { subscriptionIdentifier: 42 } });
    await away.subscribeAsync('si/x/+', { qos: 1, properties: { subscriptionIdentifier: 7 } });
    await away.subscribeAsync('other/#', { qos: 1 });
    await away.endAsync();
    const pub = await connectMqtt(broker, { protocolVersion: 5, clientId: 'pub' });
    await pub.publishAsync('si/x/1', 'both', { qos: 1, properties: { userProperties: { k: 'v' } } });
    await pub.publishAsync('si/y', 'one', { qos: 1 });
    await pub.publishAsync('other/z', 'none', { qos: 1 });
    await pub.endAsync();
    await broker.stop();
    await broker.start();

    const back = resume(broker, 'ids');
    const got = collect(back);
    // A message two subscriptions match is stored once for each (aedes' enqueue; MQTT allows a copy
    // per matching subscription [MQTT-3.3.4-2]); each copy names both subscriptions.
    await expect.poll(() => got.length).toBe(4);
    const ids = (m: Message) => {
      const id = m.properties?.subscriptionIdentifier;
      return id === undefined ? [] : [id].flat().sort((a, b) => a - b);
    };
    expect(got.map((m) => [m.payload, ids(m)])).toEqual([
      ['both', [7, 42]],
      ['both', [7, 42]],
      ['one', [42]],
      ['none', []],
    ]);
    expect(got[0]!.properties?.userProperties).toEqual({ k: 'v' });

    // Live, aedes sends one copy with one of the two identifiers (a known aedes deviation, [MQTT-3.3.4-4]).
    const live = await connectMqtt(broker.running.mqtt!.port, { protocolVersion: 5, clientId: 'pub-2' });
    await live.publishAsync('si/x/2', 'live', { qos: 1 });
    await live.publishAsync('si/y', 'marker', { qos: 1 });
    await expect.poll(() => got.map((m) => m.payload).slice(4)).toEqual(['live', 'marker']);
    expect(ids(got[4]!)).toHaveLength(1);
  });
});

describe('MQTT 5 Retain As Published in a persistent session', () => {
  it('a live retained message leaves the session’s stored queue once acknowledged, and does not come again on reconnect', async () => {
    const broker = await startMqttBroker();
    const sub = await connectMqtt(broker, { protocolVersion: 5, clientId: 'rap', clean: false, properties: { sessionExpiryInterval: 3600 } });
    await sub.subscribeAsync('rap/#', { qos: 1, rap: true });
    const got = collect(sub);
    const pub = await connectMqtt(broker, { protocolVersion: 5, clientId: 'pub' });
    await pub.publishAsync('rap/x', 'kept', { qos: 1, retain: true });
    await expect.poll(() => got.map((m) => [m.payload, m.retain])).toEqual([['kept', true]]);
    // MQTT.js acknowledges it as it arrives.
    await expect.poll(() => queueDepth(broker, 'rap')).toBe(0);
    await sub.endAsync();

    const back = resume(broker, 'rap');
    const again = collect(back);
    await new Promise((resolve) => back.once('connect', resolve));
    await pub.publishAsync('rap/x', 'next', { qos: 1 });
    await expect.poll(() => again.map((m) => m.payload)).toEqual(['next']);
  });
});

describe('MQTT 5 message expiry', () => {
  it('drops a queued message whose interval ran out, across a restart, and sends the others with the time they have left [MQTT-3.3.2-5, MQTT-3.3.2-6]', async () => {
    const broker = await startMqttBroker();
    const port = () => broker.running.mqtt!.port;
    const away = await connectMqtt(port(), { protocolVersion: 5, clientId: 'away', clean: false, properties: { sessionExpiryInterval: 3600 } });
    await away.subscribeAsync('exp/#', { qos: 1 });
    await away.endAsync();

    const pub = await connectMqtt(port(), { protocolVersion: 5, clientId: 'pub' });
    await pub.publishAsync('exp/short', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync('exp/long', 'long', { qos: 1, properties: { messageExpiryInterval: 600 } });
    await pub.publishAsync('exp/never', 'never', { qos: 1 });
    await pub.publishAsync('exp/retained', 'gone', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync('exp/marker', 'marker', { qos: 1, retain: true });
    // aedes stamps a message's expiry when it publishes it, after its PUBACK left; a client's packets
    // are taken one after the other, so the marker's PUBACK comes after every stamp before it.
    const publishedAt = Date.now();
    await pub.endAsync();
    expect(queueDepth(broker, 'away')).toBe(5);

    await broker.stop();
    await clockPast(publishedAt + 1_000);
    await broker.start();
    const retainedBefore = broker.running.mqtt!.sessionStats!.retainedCount;

    const back = resume(broker, 'away');
    const got = collect(back);
    // The retained message went to the session's queue too, as a live message.
    await expect.poll(() => got.map((m) => m.payload)).toEqual(['long', 'never', 'marker']);
    const left = got[0]!.properties?.messageExpiryInterval;
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(600);
    expect(got[1]!.properties?.messageExpiryInterval).toBeUndefined();
    // Expired or acknowledged: nothing is left in the session's stored queue.
    await expect.poll(() => queueDepth(broker, 'away')).toBe(0);

    // An expired retained message is not sent on SUBSCRIBE, and is removed.
    const late = await connectMqtt(port(), { protocolVersion: 5, clientId: 'late' });
    const retained = collect(late);
    await late.subscribeAsync('exp/#', { qos: 1 });
    await expect.poll(() => broker.running.mqtt!.sessionStats!.retainedCount).toBe(retainedBefore - 1);
    await expect.poll(() => retained.map((m) => m.payload)).toEqual(['marker']);
  });
});

describe('MQTT 5 Receive Maximum of a subscriber [MQTT-3.3.4-9]', () => {
  /** A QoS 0 message on the subscriber's topic overtakes nothing the broker took in before it. */
  async function sentinel(pub: mqtt.MqttClient, sub: Raw5, n: number, topic = 'rm/sentinel'): Promise<void> {
    await pub.publishAsync(topic, `s${n}`, { qos: 0 });
    await sub.arrived(`s${n}`);
  }

  it('QoS 1: never more unacknowledged PUBLISHes than the client allows; the rest follow in order as PUBACKs free places', async () => {
    const broker = await startMqttBroker();
    const sub = await Raw5.start(broker.mqttPort, 'slow', { receiveMaximum: 2 });
    await sub.subscribe('rm/#', 1);
    const pub = await connectMqtt(broker, { protocolVersion: 5, clientId: 'pub' });
    for (let i = 1; i <= 5; i++) await pub.publishAsync('rm/x', `m${i}`, { qos: 1 });
    await sentinel(pub, sub, 1);
    expect(sub.qosPayloads()).toEqual(['m1', 'm2']);

    sub.ack('m2');
    await sub.arrived('m3');
    await sentinel(pub, sub, 2);
    expect(sub.qosPayloads()).toEqual(['m1', 'm2', 'm3']);

    sub.ack('m1');
    sub.ack('m3');
    await sub.arrived('m5');
    expect(sub.qosPayloads()).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    // Distinct packet identifiers for the messages in flight.
    expect(new Set(sub.publishes().filter((p) => p.qos > 0).map((p) => p.messageId)).size).toBe(5);
  });

  it('a window of hundreds: exactly that many in flight, each acknowledgement frees one place', async () => {
    const broker = await startMqttBroker({ defaultRoute: { enabled: false } });
    const sub = await Raw5.start(broker.mqttPort, 'wide', { receiveMaximum: 300 });
    await sub.subscribe('rm/#', 1);
    const pub = await connectMqtt(broker, { protocolVersion: 5, clientId: 'pub' });
    await Promise.all(Array.from({ length: 305 }, (_, i) => pub.publishAsync('rm/x', `m${i}`, { qos: 1 })));
    await sentinel(pub, sub, 1);
    expect(sub.qosPayloads()).toEqual(Array.from({ length: 300 }, (_, i) => `m${i}`));
    sub.ack('m0');
    sub.ack('m299');
    sub.ack('m299');
    await sub.arrived('m301');
    await sentinel(pub, sub, 2);
    expect(sub.qosPayloads()).toHaveLength(302);
  });

  it('QoS 2: a message holds its place until PUBCOMP; a PUBREC with a failure reason code frees it [MQTT-4.9.0-2]', async () => {
    const broker = await startMqttBroker();
    const sub = await Raw5.start(broker.mqttPort, 'slow2', { receiveMaximum: 1 });
    await sub.subscribe('rm/#', 2);
    const pub = await connectMqtt(broker, { protocolVersion: 5, clientId: 'pub' });
    for (let i = 1; i <= 3; i++) await pub.publishAsync('rm/x', `m${i}`, { qos: 2 });
    await sentinel(pub, sub, 1);
    expect(sub.qosPayloads()).toEqual(['m1']);

    const first = sub.publishes()[0]!;
    sub.send({ cmd: 'pubrec', messageId: first.messageId });
    await sub.waitFor((p) => p.cmd === 'pubrel' && p.messageId === first.messageId);
    await sentinel(pub, sub, 2);
    expect(sub.qosPayloads()).toEqual(['m1']);

    sub.send({ cmd: 'pubcomp', messageId: first.messageId });
    const second = await sub.arrived('m2');
    sub.send({ cmd: 'pubrec', messageId: second.messageId, reasonCode: 0x80 });
    await sub.arrived('m3');
    expect(sub.qosPayloads()).toEqual(['m1', 'm2', 'm3']);
  });

  it('holds a persistent session’s stored queue to the window on reconnect, and drops a message that expired while it waited', async () => {
    const broker = await startMqttBroker();
    const first = await Raw5.start(broker.mqttPort, 'fleet', { sessionExpiryInterval: 3600 });
    await first.subscribe('rm/#', 1);
    first.socket.destroy();
    const pub = await connectMqtt(broker, { protocolVersion: 5, clientId: 'pub' });
    await pub.publishAsync('rm/x', 'q1', { qos: 1 });
    await pub.publishAsync('rm/x', 'q2', { qos: 1 });
    await pub.publishAsync('rm/x', 'q3', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync('rm/x', 'q4', { qos: 1, properties: { messageExpiryInterval: 600 } });
    // After q3's expiry was stamped (at its publish, before q4 was taken).
    const publishedAt = Date.now();
    await expect.poll(() => queueDepth(broker, 'fleet')).toBe(4);

    const sub = await Raw5.start(broker.mqttPort, 'fleet', { sessionExpiryInterval: 3600, receiveMaximum: 2 }, false);
    await sub.arrived('q2');
    await sentinel(pub, sub, 1);
    expect(sub.qosPayloads()).toEqual(['q1', 'q2']);

    // q3 waits for a place until its interval ran out: it is not sent; q4 goes with what it has left.
    await clockPast(publishedAt + 1_000);
    sub.ack('q1');
    const q4 = await sub.arrived('q4');
    expect(sub.qosPayloads()).toEqual(['q1', 'q2', 'q4']);
    expect(q4.properties?.messageExpiryInterval).toBeLessThan(600);
    sub.ack('q2');
    sub.ack('q4');
    await expect.poll(() => queueDepth(broker, 'fleet')).toBe(0);
  });

  it('retained messages sent on SUBSCRIBE wait for the window too, and expire while they wait', async () => {
    const broker = await startMqttBroker();
    const pub = await connectMqtt(broker, { protocolVersion: 5, clientId: 'pub' });
    await pub.publishAsync('ret/a', 'a', { qos: 1, retain: true });
    await pub.publishAsync('ret/b', 'b', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync('ret/c', 'c', { qos: 1, retain: true, properties: { messageExpiryInterval: 600 } });
    const sub = await Raw5.start(broker.mqttPort, 'late', { receiveMaximum: 1 });
    await sub.subscribe('ret/#', 1);
    await sub.arrived('a');
    // b waits behind a since a was written, with at most 1 s left (its interval, rounded up, when it
    // was taken from the retained store): the sentinel, published after that, bounds the moment.
    await sentinel(pub, sub, 1, 'ret/sentinel');
    expect(sub.qosPayloads()).toEqual(['a']);
    await clockPast(Date.now() + 1_000);
    sub.ack('a');
    const c = await sub.arrived('c');
    expect(sub.qosPayloads()).toEqual(['a', 'c']);
    expect(c.retain).toBe(true);
    expect(c.properties?.messageExpiryInterval).toBeLessThan(600);
  });

  it('a subscriber that acknowledges nothing holds no publisher, also for retained messages it takes Retain As Published', async () => {
    const broker = await startMqttBroker();
    const sub = await Raw5.start(broker.mqttPort, 'stuck', { receiveMaximum: 1 });
    await sub.subscribe('rap/#', 1, { rap: true });
    // More than aedes hands over at once (mqemitter's concurrency, 100): each waits for its write.
    // Three publishers, each within the broker's Receive Maximum (inflightMax, 100): MQTT.js does not
    // keep to it by itself, and one publisher bursting 300 would be disconnected with 0x93.
    const pubs = await Promise.all([0, 1, 2].map((p) => connectMqtt(broker, { protocolVersion: 5, clientId: `pub${p}` })));
    const perPublisher = 100;
    await Promise.all(
      pubs.flatMap((pub, p) =>
        Array.from({ length: perPublisher }, (_, j) => {
          const i = p * perPublisher + j;
          return pub.publishAsync(`rap/${i}`, `r${i}`, { qos: 1, retain: true });
        }),
      ),
    );
    const pub = pubs[0]!;
    await sentinel(pub, sub, 1, 'rap/sentinel');
    expect(sub.qosPayloads()).toEqual(['r0']);
    expect(sub.publishes()[0]!.retain).toBe(true);
    sub.ack('r0');
    await sub.arrived('r1');
  });

  it('what waits for the window counts in the subscriber queue: past its bound the connection closes, the queue is given back, a persistent session loses nothing', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { subscriberQueueBytesMax: 16 * 1024 } } });
    const sub = await Raw5.start(broker.mqttPort, 'never-acks', { receiveMaximum: 1, sessionExpiryInterval: 3600 });
    await sub.subscribe('rm/#', 1);
    const pub = await connectMqtt(broker, { protocolVersion: 5, clientId: 'pub' });
    const total = 100;
    const payload = (i: number) => `${i}:${'x'.repeat(1024)}`;
    // Every PUBACK comes: the publisher is not held by the subscriber.
    for (let i = 0; i < total; i++) await pub.publishAsync('rm/x', payload(i), { qos: 1 });
    await sub.waitClosed();
    expect(sub.qosPayloads()).toEqual([payload(0)]);
    expect(broker.running.mqtt!.metrics.closed.get('subscriber-stalled')).toBe(1);
    await expect.poll(() => broker.running.mqtt!.subscriberQueued).toEqual({ messages: 0, bytes: 0 });

    const back = await Raw5.start(broker.mqttPort, 'never-acks', { sessionExpiryInterval: 3600 }, false);
    await back.arrived(payload(total - 1));
    expect(back.qosPayloads()).toEqual(Array.from({ length: total }, (_, i) => payload(i)));
  });

  it('leaves MQTT 3.1.1 subscribers as they were: no window', async () => {
    const broker = await startMqttBroker();
    const socket = net.connect(broker.mqttPort, '127.0.0.1');
    onCleanup(async () => void socket.destroy());
    const parser = mqttPacket.parser();
    const got: Packet[] = [];
    parser.on('packet', (p: Packet) => got.push(p));
    socket.on('data', (d) => parser.parse(d));
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'v4', keepalive: 0 }));
    socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rm/#', qos: 1 }] }));
    await expect.poll(() => got.some((p) => p.cmd === 'suback')).toBe(true);
    const pub = await connectMqtt(broker, { protocolVersion: 5, clientId: 'pub' });
    for (let i = 1; i <= 30; i++) await pub.publishAsync('rm/x', `m${i}`, { qos: 1 });
    await expect.poll(() => got.filter((p) => p.cmd === 'publish').length).toBe(30);
  });
});

describe('MQTT 5 Maximum Packet Size of a subscriber [MQTT-3.1.2-25]', () => {
  it('does not send it a message larger than it accepts, at any QoS, counts and skips it; a persistent session forgets it', async () => {
    const broker = await startMqttBroker();
    const sub = await Raw5.start(broker.mqttPort, 'tiny', { maximumPacketSize: 200, sessionExpiryInterval: 3600 });
    await sub.subscribe('mps/#', 1);
    const pub = await connectMqtt(broker, { protocolVersion: 5, clientId: 'pub' });
    const big = 'x'.repeat(300);
    await pub.publishAsync('mps/a', 'small-1', { qos: 1 });
    await pub.publishAsync('mps/a', big, { qos: 0 });
    await pub.publishAsync('mps/a', big, { qos: 1 });
    // Fits by its payload, not with its user properties: measured as encoded.
    await pub.publishAsync('mps/a', 'small-but-props', { qos: 1, properties: { userProperties: { pad: 'p'.repeat(250) } } });
    await pub.publishAsync('mps/a', 'small-2', { qos: 1 });
    await sub.arrived('small-2');
    expect(sub.publishes().map((p) => p.payload.toString())).toEqual(['small-1', 'small-2']);
    for (const p of sub.publishes()) expect(mqttPacket.generate(p, { protocolVersion: 5 }).length).toBeLessThanOrEqual(200);
    expect(broker.running.mqtt!.metrics.oversizeDropped).toEqual([1, 2, 0]);

    // As if sent and acknowledged: only the two it got stay in its stored queue until PUBACKed.
    expect(queueDepth(broker, 'tiny')).toBe(2);
    sub.ack('small-1');
    sub.ack('small-2');
    await expect.poll(() => queueDepth(broker, 'tiny')).toBe(0);

    // Queued while it is away, then skipped on its return.
    sub.socket.destroy();
    await expect.poll(() => broker.running.mqtt!.clientCount).toBe(1);
    await pub.publishAsync('mps/a', big, { qos: 1 });
    await pub.publishAsync('mps/a', 'small-3', { qos: 1 });
    const back = await Raw5.start(broker.mqttPort, 'tiny', { maximumPacketSize: 200, sessionExpiryInterval: 3600 }, false);
    await back.arrived('small-3');
    expect(back.publishes().map((p) => p.payload.toString())).toEqual(['small-3']);
    back.ack('small-3');
    await expect.poll(() => queueDepth(broker, 'tiny')).toBe(0);

    // A subscriber without a Maximum Packet Size gets it.
    const other = await connectMqtt(broker, { protocolVersion: 5, clientId: 'other' });
    const got = collect(other);
    await other.subscribeAsync('mps/#', { qos: 1 });
    await pub.publishAsync('mps/a', big, { qos: 1 });
    await expect.poll(() => got.map((m) => m.payload.length)).toEqual([300]);
    // Counted as delivered: the PUBLISHes written, not those skipped.
    expect(broker.running.mqtt!.metrics.delivered).toBe(4);

    // Retained messages sent on SUBSCRIBE: the one too large is skipped, the next one comes.
    await pub.publishAsync('mps/retained', big, { qos: 1, retain: true });
    await pub.publishAsync('mps/retained-small', 'small-r', { qos: 1, retain: true });
    const fresh = await Raw5.start(broker.mqttPort, 'tiny-2', { maximumPacketSize: 200 });
    await fresh.subscribe('mps/#', 1);
    await fresh.arrived('small-r');
    expect(fresh.publishes().map((p) => [p.payload.toString(), p.retain])).toEqual([['small-r', true]]);
  });
});

describe('MQTT 5 topic aliases from a publisher', () => {
  it('resolves an alias to its topic for the log and for subscribers, who never see the alias', async () => {
    const broker = await startMqttBroker();
    const sub = await connectMqtt(broker, { protocolVersion: 5, clientId: 'sub' });
    const got = collect(sub);
    await sub.subscribeAsync('alias/#', { qos: 1 });
    const pub = await connectMqtt(broker, { protocolVersion: 5, clientId: 'pub' });
    await pub.publishAsync('alias/long/topic/name', 'first', { qos: 1, properties: { topicAlias: 1 } });
    await pub.publishAsync('', 'second', { qos: 1, properties: { topicAlias: 1 } });
    await expect.poll(() => got.length).toBe(2);
    expect(got.map((m) => [m.topic, m.payload, m.properties?.topicAlias])).toEqual([
      ['alias/long/topic/name', 'first', undefined],
      ['alias/long/topic/name', 'second', undefined],
    ]);
    const log = await logRecords(broker.running, 'mqtt');
    expect(log.map((r) => [headers(r)['mqtt.topic'], r.value!.toString()])).toEqual([
      ['alias/long/topic/name', 'first'],
      ['alias/long/topic/name', 'second'],
    ]);
  });

  it('advertises the alias maximum in CONNACK and answers an alias of 0, above it, or never set with DISCONNECT 0x94', async () => {
    const broker = await startMqttBroker();
    const bad: { topic: string; topicAlias: number }[] = [
      { topic: 'alias/x', topicAlias: 65 },
      { topic: 'alias/x', topicAlias: 0 },
      { topic: '', topicAlias: 3 },
    ];
    for (const [i, { topic, topicAlias }] of bad.entries()) {
      const peer = await Raw5.start(broker.mqttPort, `aliaser-${i}`, {});
      const connack = peer.packets[0] as mqttPacket.IConnackPacket;
      expect(connack.properties?.topicAliasMaximum).toBe(64);
      peer.send({ cmd: 'publish', topic, payload: Buffer.from('bad'), qos: 1, messageId: 7, retain: false, dup: false, properties: { topicAlias } });
      const disconnect = (await peer.waitFor((p) => p.cmd === 'disconnect')) as mqttPacket.IDisconnectPacket;
      expect(disconnect.reasonCode, `alias ${topicAlias}`).toBe(0x94);
      await peer.waitClosed();
    }
    expect(await logRecords(broker.running, 'mqtt')).toEqual([]);
  });
});
