// The inbound side of MQTT 5 on the listener: the connection gate scans v5 packets right, a refused
// PUBLISH (full budget, ACL) is answered alone with its reason code on a connection that stays open,
// PUBACK still waits for the commit, user properties and the other message properties become
// record headers, and the broker's limits end a v5 connection with the DISCONNECT reason code the
// spec names (0x93 past Receive Maximum, 0x95 past Maximum Packet Size). Raw v5 packets where the
// exact bytes and their order matter, MQTT.js v5 elsewhere.
import mqttPacket, { type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { TributaryError } from '../../../src/errors.ts';
import { Mqtt5Reason, publishRefusal } from '../../../src/listeners/mqtt/mqtt5-reasons.ts';
import { hashPassword } from '../../../src/auth/password.ts';
import { connectMqtt, headers, holdAppends, logRecords, RawMqttPeer, startMqttBroker } from '../../helpers/mqtt.ts';
import { RawMqtt5 } from '../../helpers/mqtt5-raw.ts';

const V5 = { protocolVersion: 5 } as const;

/** A raw MQTT 5 peer (test/helpers/mqtt5-raw.ts) that reads its answers in order. */
class Raw5 extends RawMqtt5 {
  /** Connects and completes CONNECT/CONNACK as MQTT 5. */
  static async start(port: number, clientId: string, extra: Partial<mqttPacket.IConnectPacket> = {}): Promise<Raw5> {
    const peer = new Raw5(await RawMqttPeer.open(port));
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId, keepalive: 0, ...extra });
    const connack = await peer.waitFor((p) => p.cmd === 'connack');
    expect((connack as mqttPacket.IConnackPacket).reasonCode).toBe(0);
    return peer;
  }

  /** PUBACK, PUBREC and DISCONNECT packets in arrival order: [cmd, messageId or -, reasonCode]. */
  answers(): [string, number | null, number][] {
    return this.packets
      .filter((p) => p.cmd === 'puback' || p.cmd === 'pubrec' || p.cmd === 'disconnect')
      .map((p) => [p.cmd, (p as { messageId?: number }).messageId ?? null, (p as { reasonCode?: number }).reasonCode ?? 0]);
  }
}

function publish(topic: string, qos: 0 | 1 | 2, messageId: number, payload: Buffer = Buffer.from(topic), properties?: mqttPacket.IPublishPacket['properties']): Packet {
  const p: mqttPacket.IPublishPacket = { cmd: 'publish', topic, payload, qos, retain: false, dup: false, properties };
  if (qos > 0) p.messageId = messageId;
  return p;
}

describe('MQTT 5 packets through the connection gate', () => {
  it('takes a SUBSCRIBE with a subscription identifier that a 3.1.1 reading refused as a filter holding U+0000', async () => {
    const broker = await startMqttBroker();
    const client = await connectMqtt(broker, V5);
    // Read as 3.1.1, the properties (0b 01) made a filter of 0x020b bytes holding "a"*100's length prefix 00 64.
    const granted = await client.subscribeAsync({ ['a'.repeat(100)]: { qos: 1 }, ['b'.repeat(500)]: { qos: 0 } }, { properties: { subscriptionIdentifier: 1 } });
    expect(granted.map((g) => g.qos)).toEqual([1, 0]);
    expect(client.connected).toBe(true);
    expect(broker.running.mqtt!.metrics.closed.get('malformed')).toBeUndefined();
  });

  it('refuses a malformed UTF-8 filter behind v5 properties with DISCONNECT 0x81', async () => {
    const broker = await startMqttBroker();
    const peer = await Raw5.start(broker.mqttPort, 'bad-filter');
    // SUBSCRIBE id 1, properties: subscription identifier 1, filter c0 80 (overlong NUL), options 1.
    peer.socket.write(Buffer.from([0x82, 0x0a, 0x00, 0x01, 0x02, 0x0b, 0x01, 0x00, 0x02, 0xc0, 0x80, 0x01]));
    await peer.waitClosed();
    expect(peer.answers()).toEqual([['disconnect', null, Mqtt5Reason.MALFORMED_PACKET]]);
    expect(broker.running.mqtt!.metrics.closed.get('malformed')).toBe(1);
  });

  it('refuses a PUBLISH whose user property is not well-formed UTF-8 with DISCONNECT 0x81, before it is logged', async () => {
    const broker = await startMqttBroker();
    const peer = await Raw5.start(broker.mqttPort, 'bad-property');
    peer.send(publish('ok/1', 1, 1));
    await peer.waitFor((p) => p.cmd === 'puback');
    // QoS 1 PUBLISH "t", id 2, properties: user property "a" = 61 c0 80 (an overlong NUL), payload "x".
    peer.socket.write(Buffer.from([0x32, 0x10, 0x00, 0x01, 0x74, 0x00, 0x02, 0x09, 0x26, 0x00, 0x01, 0x61, 0x00, 0x03, 0x61, 0xc0, 0x80, 0x78]));
    await peer.waitClosed();
    expect(peer.answers()).toEqual([
      ['puback', 1, 0],
      ['disconnect', null, Mqtt5Reason.MALFORMED_PACKET],
    ]);
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.key!.toString())).toEqual(['ok/1']);
  });

  it('ends a v5 connection sending a packet over messageBytesMax with DISCONNECT 0x95', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { messageBytesMax: 1024 } } });
    const peer = await Raw5.start(broker.mqttPort, 'too-big');
    peer.send(publish('big', 1, 1, Buffer.alloc(2048, 1)));
    await peer.waitClosed();
    expect(peer.answers()).toEqual([['disconnect', null, Mqtt5Reason.PACKET_TOO_LARGE]]);
    expect(broker.running.mqtt!.metrics.closed.get('packet-too-large')).toBe(1);
    expect(await logRecords(broker.running, 'mqtt')).toEqual([]);
  });
});

describe('MQTT 5 PUBLISH refused with a reason code, the connection kept', () => {
  it('answers the PUBLISH over a full budget alone with 0x97, in its place, and goes on', async () => {
    const broker = await startMqttBroker({ storage: { diskBudgetBytes: 2048, diskBudgetPolicy: 'reject-new' }, routes: [{ match: 'small/#', topic: 'small' }] });
    const peer = await Raw5.start(broker.mqttPort, 'budget');
    // One write: small/1 and small/2 fit the budget, big/1 (default route, its own batch) does not.
    peer.send(
      publish('small/1', 1, 1),
      publish('big/1', 1, 2, Buffer.alloc(4096, 1)),
      publish('small/2', 1, 3),
      publish('big/2', 2, 4, Buffer.alloc(4096, 2)),
      publish('big/3', 0, 0, Buffer.alloc(4096, 3)),
      publish('small/3', 2, 5),
    );
    await peer.waitFor((p) => p.cmd === 'pubrec' && p.messageId === 5);
    expect(peer.answers()).toEqual([
      ['puback', 1, 0],
      ['puback', 2, Mqtt5Reason.QUOTA_EXCEEDED],
      ['puback', 3, 0],
      ['pubrec', 4, Mqtt5Reason.QUOTA_EXCEEDED],
      ['pubrec', 5, 0],
    ]);
    const refusal = peer.packets.find((p) => p.cmd === 'puback' && p.messageId === 2) as mqttPacket.IPubackPacket;
    expect(refusal.properties?.reasonString).toBe('quota exceeded: the broker storage is full, nothing was stored; retry later');
    // The session goes on: PUBREL/PUBCOMP for the accepted QoS 2, a ping.
    peer.send({ cmd: 'pubrel', messageId: 5 }, { cmd: 'pingreq' });
    await peer.waitFor((p) => p.cmd === 'pingresp');
    await peer.waitFor((p) => p.cmd === 'pubcomp' && p.messageId === 5);
    expect(peer.closed).toBe(false);
    expect((await logRecords(broker.running, 'small')).map((r) => r.key!.toString())).toEqual(['small/1', 'small/2', 'small/3']);
    expect(await logRecords(broker.running, 'mqtt')).toEqual([]);
    const listener = broker.running.mqtt!;
    expect(Object.fromEntries(listener.metrics.publishesRefused)).toEqual({ STORAGE_FULL: 3 });
    expect(listener.metrics.closed.get('append-failed')).toBeUndefined();
  });

  it('leaves the Reason String out for a client that set Request Problem Information to 0', async () => {
    const broker = await startMqttBroker({ storage: { diskBudgetBytes: 2048, diskBudgetPolicy: 'reject-new' } });
    const peer = await Raw5.start(broker.mqttPort, 'terse', { properties: { requestProblemInformation: false } });
    peer.send(publish('big/1', 1, 1, Buffer.alloc(4096, 1)));
    const ack = (await peer.waitFor((p) => p.cmd === 'puback')) as mqttPacket.IPubackPacket;
    expect(ack.reasonCode).toBe(Mqtt5Reason.QUOTA_EXCEEDED);
    expect(ack.properties?.reasonString).toBeUndefined();
  });

  it('keeps a refused QoS 1/2 PUBLISH from subscribers, as it is not logged', async () => {
    const broker = await startMqttBroker({ storage: { diskBudgetBytes: 2048, diskBudgetPolicy: 'reject-new' } });
    const sub = await connectMqtt(broker, V5);
    const seen: string[] = [];
    sub.on('message', (topic) => seen.push(topic));
    await sub.subscribeAsync('#', { qos: 1 });
    const pub = await connectMqtt(broker, V5);
    // MQTT.js fails the publish with the PUBACK's reason code.
    await expect(pub.publishAsync('big/1', Buffer.alloc(4096, 1), { qos: 1 })).rejects.toMatchObject({ code: Mqtt5Reason.QUOTA_EXCEEDED });
    expect(pub.connected).toBe(true);
    await pub.publishAsync('$SYS/ping', 'x', { qos: 1 });
    await pub.publishAsync('small', 'ok', { qos: 1 });
    await expect.poll(() => seen).toEqual(['small']);
  });

  it('answers a PUBLISH denied by ACL with 0x87 in its place, drops a denied QoS 0, and appends the others', async () => {
    const broker = await startMqttBroker({
      listeners: { mqtt: { allowAnonymous: false } },
      auth: { users: [{ username: 'sensor', passwordHash: await hashPassword('right', { N: 1024, r: 8, p: 1 }) }], acls: [{ user: 'sensor', publish: ['sensors/%c/#'], subscribe: [] }] },
    });
    const peer = await Raw5.start(broker.mqttPort, 's-1', { username: 'sensor', password: Buffer.from('right') });
    peer.send(
      publish('sensors/s-1/a', 1, 1),
      publish('sensors/s-2/spoof', 1, 2),
      publish('sensors/s-2/spoof0', 0, 0),
      publish('sensors/s-2/spoof2', 2, 3),
      publish('sensors/s-1/b', 2, 4),
    );
    await peer.waitFor((p) => p.cmd === 'pubrec' && p.messageId === 4);
    expect(peer.answers()).toEqual([
      ['puback', 1, 0],
      ['puback', 2, Mqtt5Reason.NOT_AUTHORIZED],
      ['pubrec', 3, Mqtt5Reason.NOT_AUTHORIZED],
      ['pubrec', 4, 0],
    ]);
    const denied = peer.packets.find((p) => p.cmd === 'puback' && p.messageId === 2) as mqttPacket.IPubackPacket;
    // The Reason String reaches the client: no topic in it.
    expect(denied.properties?.reasonString).toBe('not authorized to publish to this topic');
    expect(peer.closed).toBe(false);
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.key!.toString())).toEqual(['sensors/s-1/a', 'sensors/s-1/b']);
    const listener = broker.running.mqtt!;
    expect(listener.metrics.denied.publish).toBe(3);
    expect(listener.metrics.closed.get('publish-denied')).toBeUndefined();
  });

  it('counts denied PUBLISHes against Receive Maximum too, until their PUBACK 0x87 is released', async () => {
    const broker = await startMqttBroker({
      listeners: { mqtt: { allowAnonymous: false, inflightMax: 2 } },
      auth: { users: [{ username: 'sensor', passwordHash: await hashPassword('right', { N: 1024, r: 8, p: 1 }) }], acls: [{ user: 'sensor', publish: ['sensors/%c/#'], subscribe: [] }] },
    });
    const release = holdAppends(broker.running);
    const peer = await Raw5.start(broker.mqttPort, 's-1', { username: 'sensor', password: Buffer.from('right') });
    // The denied ones wait behind the held append for their turn: three unanswered, one too many.
    peer.send(publish('sensors/s-1/a', 1, 1), publish('sensors/s-2/x', 1, 2), publish('sensors/s-2/y', 1, 3));
    await expect.poll(() => broker.running.mqtt!.metrics.denied.publish).toBe(2);
    release();
    await peer.waitClosed();
    expect(peer.answers()).toEqual([
      ['puback', 1, 0],
      ['puback', 2, Mqtt5Reason.NOT_AUTHORIZED],
      ['disconnect', null, Mqtt5Reason.RECEIVE_MAXIMUM_EXCEEDED],
    ]);
  });

  it('maps each append failure to its PUBACK reason code, with a Reason String free of detail', () => {
    const cases: [TributaryError, number][] = [
      [new TributaryError('STORAGE_FULL', 'disk budget of 2048 bytes reached at /var/lib/x'), 0x97],
      [new TributaryError('NOT_AUTHORIZED', 'publish to secret/topic denied by ACL'), 0x87],
      [new TributaryError('RECORD_TOO_LARGE', 'batch of 9999999 bytes'), 0x95],
      [new TributaryError('STORAGE_FAILED', 'fsync of /var/lib/data.mdb failed: EIO'), 0x83],
      [new TributaryError('UNKNOWN_TOPIC', 'topic telemetry does not exist'), 0x83],
    ];
    for (const [error, reasonCode] of cases) {
      const refusal = publishRefusal(error);
      expect(refusal.reasonCode).toBe(reasonCode);
      expect(refusal.codeName).toBe(error.codeName);
      expect(refusal.message).not.toMatch(/\/|topic |\d{3}/);
    }
    expect(publishRefusal(new TributaryError('STORAGE_FAILED', 'x')).message).toBe('the broker could not store the message (STORAGE_FAILED)');
  });
});

describe('MQTT 5 PUBACK after commit and Receive Maximum', () => {
  it('sends an MQTT 5 client its PUBACK and PUBREC only once the record is committed', async () => {
    const broker = await startMqttBroker();
    const release = holdAppends(broker.running);
    const peer = await Raw5.start(broker.mqttPort, 'held');
    peer.send(publish('a/1', 1, 1), publish('a/2', 2, 2), { cmd: 'pingreq' });
    // The ping is answered while both appends are held: nothing acknowledged, nothing in the log.
    await peer.waitFor((p) => p.cmd === 'pingresp');
    expect(peer.answers()).toEqual([]);
    expect(await logRecords(broker.running, 'mqtt')).toEqual([]);
    release();
    await peer.waitFor((p) => p.cmd === 'pubrec');
    expect(peer.answers()).toEqual([
      ['puback', 1, 0],
      ['pubrec', 2, 0],
    ]);
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.key!.toString())).toEqual(['a/1', 'a/2']);
  });

  it('advertises inflightMax as Receive Maximum and disconnects with 0x93 the client that exceeds it, after acknowledging what came before', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { inflightMax: 2 } } });
    const release = holdAppends(broker.running);
    const peer = await Raw5.start(broker.mqttPort, 'greedy');
    expect((peer.packets[0] as mqttPacket.IConnackPacket).properties?.receiveMaximum).toBe(2);
    peer.send(publish('r/1', 1, 1), publish('r/2', 1, 2), publish('r/3', 1, 3));
    // The third is past the window while the first two are held; released, those two are answered.
    await expect.poll(() => broker.running.mqtt!.metrics.closed.get('receive-maximum-exceeded')).toBe(1);
    release();
    await peer.waitClosed();
    expect(peer.answers()).toEqual([
      ['puback', 1, 0],
      ['puback', 2, 0],
      ['disconnect', null, Mqtt5Reason.RECEIVE_MAXIMUM_EXCEEDED],
    ]);
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.key!.toString())).toEqual(['r/1', 'r/2']);
    expect(broker.running.mqtt!.metrics.closed.get('receive-maximum-exceeded')).toBe(1);
  });

  it('disconnects MQTT.js v5, which does not keep to the server Receive Maximum, when it publishes past it (a documented interop caveat)', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { inflightMax: 2 } } });
    const release = holdAppends(broker.running);
    const client = await connectMqtt(broker, V5);
    const disconnect = new Promise<number | undefined>((resolve) => client.once('disconnect', (p) => resolve(p.reasonCode)));
    // MQTT.js 5.16 sends all three at once; its promises past the DISCONNECT never settle.
    for (let i = 0; i < 3; i++) void client.publishAsync(`burst/${i}`, 'x', { qos: 1 }).catch(() => undefined);
    await expect.poll(() => broker.running.mqtt!.metrics.closed.get('receive-maximum-exceeded')).toBe(1);
    release();
    expect(await disconnect).toBe(Mqtt5Reason.RECEIVE_MAXIMUM_EXCEEDED);
  });

  it('counts a QoS 2 PUBLISH against Receive Maximum until its PUBREL, and not its resend', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { inflightMax: 2 } } });
    const peer = await Raw5.start(broker.mqttPort, 'qos2');
    peer.send(publish('q/1', 2, 1), publish('q/2', 2, 2));
    await peer.waitFor((p) => p.cmd === 'pubrec' && p.messageId === 2);
    // A resend of an id awaiting PUBREL is answered again, not counted.
    peer.send({ ...publish('q/2', 2, 2), dup: true } as Packet);
    await expect.poll(() => peer.answers().length).toBe(3);
    // One PUBREL frees one slot: of two QoS 1 PUBLISHes sent together, the first fits, the second does not.
    peer.send({ cmd: 'pubrel', messageId: 1 });
    await peer.waitFor((p) => p.cmd === 'pubcomp' && p.messageId === 1);
    peer.send(publish('q/3', 1, 3), publish('q/4', 1, 4));
    await peer.waitClosed();
    expect(peer.answers()).toEqual([
      ['pubrec', 1, 0],
      ['pubrec', 2, 0],
      ['pubrec', 2, 0],
      ['puback', 3, 0],
      ['disconnect', null, Mqtt5Reason.RECEIVE_MAXIMUM_EXCEEDED],
    ]);
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.key!.toString())).toEqual(['q/1', 'q/2', 'q/3']);
  });
});

describe('MQTT 5 and a broker shutting down', () => {
  it('acknowledges the append in flight, then sends DISCONNECT 0x8B, and no PUBACK after it', async () => {
    const broker = await startMqttBroker();
    const listener = broker.running.mqtt!;
    const release = holdAppends(broker.running);
    const peer = await Raw5.start(broker.mqttPort, 'stopping');
    peer.send(publish('s/1', 1, 1));
    await expect.poll(() => listener.metrics.publishesIn[1]).toBe(1);
    const closing = listener.close();
    // Arrives while s/1 is still appending: refused, after s/1's PUBACK.
    peer.send(publish('s/2', 1, 2), publish('s/3', 0, 0));
    await expect.poll(() => listener.metrics.publishesIn[1]).toBe(2);
    release();
    await closing;
    await peer.waitClosed();
    expect(peer.answers()).toEqual([
      ['puback', 1, 0],
      ['disconnect', null, Mqtt5Reason.SERVER_SHUTTING_DOWN],
    ]);
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.key!.toString())).toEqual(['s/1']);
    expect(listener.metrics.closed.get('shutting-down')).toBe(1);
  });
});

describe('MQTT 5 properties as record headers', () => {
  it('keeps user properties, content type, payload format, response topic and correlation data; a user property cannot pass for a broker header', async () => {
    const broker = await startMqttBroker();
    const client = await connectMqtt(broker, { ...V5, clientId: 'props' });
    await client.publishAsync('dev/1/up', '{"t":21}', {
      qos: 1,
      properties: {
        userProperties: { site: 'plant-4', unit: ['C', 'F'], 'mqtt.topic': 'spoofed', 'mqtt.user.x': 'y' },
        contentType: 'application/json',
        payloadFormatIndicator: true,
        responseTopic: 'dev/1/reply',
        correlationData: Buffer.from([0xc0, 0x01]),
      },
    });
    const [record] = await logRecords(broker.running, 'mqtt');
    expect(record.headers.map((h) => [h.key, Buffer.from(h.value!).toString('latin1')])).toEqual([
      ['mqtt.topic', 'dev/1/up'],
      ['mqtt.clientId', 'props'],
      ['mqtt.qos', '1'],
      ['mqtt.retain', 'false'],
      ['mqtt.contentType', 'application/json'],
      ['mqtt.payloadFormat', '1'],
      ['mqtt.responseTopic', 'dev/1/reply'],
      ['mqtt.correlationData', '\u00c0\u0001'],
      ['site', 'plant-4'],
      ['unit', 'C'],
      ['unit', 'F'],
      ['mqtt.user.mqtt.topic', 'spoofed'],
      ['mqtt.user.mqtt.user.x', 'y'],
    ]);
    expect(headers(record)['mqtt.topic']).toBe('dev/1/up');
  });

  it('gives a message without properties, and any 3.1.1 message, only the broker headers', async () => {
    const broker = await startMqttBroker();
    const v5 = await connectMqtt(broker, { ...V5, clientId: 'plain5' });
    await v5.publishAsync('a', 'x', { qos: 1, properties: { payloadFormatIndicator: false } });
    await v5.publishAsync('b', 'y', { qos: 1 });
    const v4 = await connectMqtt(broker, { clientId: 'plain4' });
    await v4.publishAsync('c', 'z', { qos: 1 });
    const records = await logRecords(broker.running, 'mqtt');
    expect(records.map((r) => r.headers.map((h) => h.key))).toEqual([
      ['mqtt.topic', 'mqtt.clientId', 'mqtt.qos', 'mqtt.retain', 'mqtt.payloadFormat'],
      ['mqtt.topic', 'mqtt.clientId', 'mqtt.qos', 'mqtt.retain'],
      ['mqtt.topic', 'mqtt.clientId', 'mqtt.qos', 'mqtt.retain'],
    ]);
    expect(headers(records[0])['mqtt.payloadFormat']).toBe('0');
  });
});
