// Limits and bad input on the MQTT listener: each violation gets MQTT 3.1.1's answer (a CONNACK code
// or a closed connection) and only the offending client is affected.
import { PassThrough } from 'node:stream';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { ConnectionGate } from '../../../src/listeners/mqtt/connection-gate.ts';
import { closed, connectMqtt, connectRefusal, logRecords, RawMqtt, startMqttBroker } from '../../helpers/mqtt.ts';
import { onCleanup } from '../../helpers/temp.ts';

describe('MQTT limits', () => {
  it('accepts MQTT 5 and advertises its limits in the CONNACK', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { messageBytesMax: '64KiB', inflightMax: 7 } } });
    const client = await connectMqtt(broker, { protocolVersion: 5, clientId: 'five' });
    const connack = (client as unknown as { connackPacket: { properties?: Record<string, unknown> } }).connackPacket;
    expect(connack.properties).toMatchObject({ maximumPacketSize: 64 * 1024, receiveMaximum: 7, topicAliasMaximum: 64 });
    await client.publishAsync('v/5', 'c', { qos: 1 });
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.value!.toString())).toEqual(['c']);
  });

  it('accepts MQTT 3.1 and 3.1.1', async () => {
    const broker = await startMqttBroker();
    const v31 = await connectMqtt(broker, { protocolVersion: 3, protocolId: 'MQIsdp', clientId: 'old' });
    await v31.publishAsync('v/3', 'a', { qos: 1 });
    const v311 = await connectMqtt(broker, { protocolVersion: 4 });
    await v311.publishAsync('v/4', 'b', { qos: 1 });
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.key!.toString())).toEqual(['v/3', 'v/4']);
  });

  it('closes a client whose packet exceeds messageBytesMax as soon as its header arrives; others go on', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { messageBytesMax: '4KiB' } } });
    const other = await connectMqtt(broker);
    const peer = await RawMqtt.session(broker.mqttPort, 'huge');
    // A PUBLISH announcing 100 MB: only the fixed header is sent, nothing may be buffered waiting for the rest.
    peer.write(Buffer.from([0x30, 0x80, 0xc2, 0xd7, 0x2f]));
    await peer.waitClosed();
    const big = await connectMqtt(broker);
    const gone = closed(big);
    big.publish('big', Buffer.alloc(5000), { qos: 1 });
    await gone;
    await other.publishAsync('still/here', Buffer.alloc(3000), { qos: 1 });
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.key!.toString())).toEqual(['still/here']);
    expect(broker.running.mqtt!.metrics.closed.get('packet-too-large')).toBe(2);
  });

  it.each([
    ['a Remaining Length of five bytes', [0x30, 0xff, 0xff, 0xff, 0xff, 0x01]],
    ['reserved flag bits in SUBSCRIBE', [0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00]],
    ['a packet type of 0', [0x00, 0x00]],
    ['a PUBLISH with QoS 3', [0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]],
    ['a second CONNECT', [0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00]],
  ])('closes a client that sends %s; others go on', async (_what, bytes) => {
    const broker = await startMqttBroker();
    const other = await connectMqtt(broker);
    const peer = await RawMqtt.session(broker.mqttPort, 'garbage');
    peer.write(Buffer.from(bytes));
    await peer.waitClosed();
    await other.publishAsync('fine', 'x', { qos: 1 });
    expect(await logRecords(broker.running, 'mqtt')).toHaveLength(1);
  });

  it('closes a client that publishes or subscribes deeper than topicLevelsMax', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { topicLevelsMax: 3 } } });
    const client = await connectMqtt(broker);
    await client.publishAsync('a/b/c', 'ok', { qos: 1 });
    const gone = closed(client);
    client.publish('a/b/c/d', 'deep', { qos: 1 });
    await gone;
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.key!.toString())).toEqual(['a/b/c']);
    const subscriber = await connectMqtt(broker);
    const subscriberGone = closed(subscriber);
    subscriber.subscribe('a/b/+/#', { qos: 0 }, () => undefined);
    await subscriberGone;
  });

  it('refuses a client id over 1024 bytes with CONNACK 2 (identifier rejected), and takes one of 1024', async () => {
    const broker = await startMqttBroker();
    expect((await connectRefusal(broker.mqttPort, { clientId: 'é'.repeat(513), clean: false })).code).toBe(2);
    const longest = await connectMqtt(broker, { clientId: 'c'.repeat(1024), clean: false });
    await longest.subscribeAsync('#', { qos: 1 });
    await longest.endAsync();
    // Its session queues messages like any other's, and hands them over when it comes back.
    const sensor = await connectMqtt(broker, { clientId: 'sensor' });
    await sensor.publishAsync('a/b', 'queued', { qos: 1 });
    const back = mqtt.connect({ host: '127.0.0.1', port: broker.mqttPort, clientId: 'c'.repeat(1024), clean: false, reconnectPeriod: 0 });
    onCleanup(() => back.endAsync(true));
    expect(await new Promise<string>((resolve) => back.once('message', (_topic, payload) => resolve(payload.toString())))).toBe('queued');
    expect(broker.running.mqtt!.metrics.refused.get('identifier-rejected')).toBe(1);
    expect(broker.running.broker.store.failed).toBeNull();
  });

  it('refuses a persistent subscription whose filter is too long to store, and goes on logging for everyone', async () => {
    const broker = await startMqttBroker();
    const long = await connectMqtt(broker, { clientId: 'long-filter', clean: false });
    const gone = closed(long);
    long.subscribe(`a/${'x'.repeat(2100)}`, { qos: 1 });
    await gone;
    expect(broker.running.broker.store.failed).toBeNull();
    const sensor = await connectMqtt(broker, { clientId: 'sensor' });
    await sensor.publishAsync('after/1', 'still logged', { qos: 1 });
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.key!.toString())).toEqual(['after/1']);
  });

  it('answers connections past connectionsMax with CONNACK 3 (MQTT 5: 0x88) and serves those it holds', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { connectionsMax: 2 } } });
    const a = await connectMqtt(broker);
    await connectMqtt(broker);
    const err = await connectRefusal(broker.mqttPort);
    expect(err.code).toBe(3);
    expect(broker.running.mqtt!.metrics.refused.get('connections-max')).toBe(1);
    // An MQTT 5 client gets the MQTT 5 form: reason code 0x88, which it reports as a refusal, not a protocol error.
    const v5 = await connectRefusal(broker.mqttPort, { protocolVersion: 5 });
    expect(v5.code).toBe(0x88);
    expect(broker.running.mqtt!.metrics.refused.get('connections-max')).toBe(2);
    await a.publishAsync('held', 'x', { qos: 1 });
    await a.endAsync();
    await expect.poll(() => broker.running.mqtt!.connectionCount).toBe(1);
    await connectMqtt(broker);
  });

  it('exports MQTT metrics on /metrics', async () => {
    const broker = await startMqttBroker({ listeners: { http: { enabled: true, host: '127.0.0.1', port: 0 } }, defaultRoute: { enabled: false } });
    const client = await connectMqtt(broker);
    await client.publishAsync('m', 'x', { qos: 1 });
    await connectRefusal(broker.mqttPort, { clientId: 'x'.repeat(2000) });
    const text = await (await fetch(`http://127.0.0.1:${broker.running.http!.port}/metrics`)).text();
    expect(text).toMatch(/^tributary_mqtt_publishes_in_total\{qos="1"\} 1$/m);
    expect(text).toMatch(/^tributary_mqtt_unrouted_total 1$/m);
    expect(text).toMatch(/^tributary_mqtt_connects_refused_total\{reason="identifier-rejected"\} 1$/m);
    expect(text).toMatch(/^tributary_mqtt_clients 1$/m);
    expect(text).toMatch(/^tributary_connections\{listener="mqtt"\} \d+$/m);
    expect(text).toMatch(/^tributary_mqtt_puback_latency_seconds_count\{qos="1"\} 1$/m);
    expect(text).toMatch(/^tributary_mqtt_denied_total\{action="subscribe"\} 0$/m);
  });
});

describe('connection gate', () => {
  it('holds bytes back while paused and wakes the reader when resumed', () => {
    const conn = new PassThrough();
    const gate = new ConnectionGate(conn, 1024, () => undefined);
    let readable = 0;
    conn.on('readable', () => readable++);
    gate.setPaused(true);
    conn.write(Buffer.from([0xc0, 0x00]));
    expect(conn.read()).toBeNull();
    const before = readable;
    gate.setPaused(false);
    expect(readable).toBe(before + 1);
    expect(conn.read()).toEqual(Buffer.from([0xc0, 0x00]));
  });
});
