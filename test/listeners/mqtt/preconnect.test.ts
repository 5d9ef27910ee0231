// What a client sends before its CONNACK: MQTT 3.1.1 lets it pipeline packets behind its CONNECT
// (§3.1.4), so they are taken after the CONNACK, in order, bounded like any other traffic; and
// none of them may reach the append path before the client is authenticated, whatever its size.
// Also the CONNECT rules checked here: a zero-length client id with clean session 0 [MQTT-3.1.3-8],
// a will with QoS 3 [MQTT-3.1.2-14], and a PUBLISH topic that is not UTF-8 [MQTT-1.5.3-1].
import { PassThrough } from 'node:stream';
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.ts';
import { hashPassword } from '../../../src/auth/password.ts';
import { ConnectionGate } from '../../../src/listeners/mqtt/connection-gate.ts';
import { startTributary } from '../../../src/main.ts';
import { headers, logRecords, RawMqtt, startMqttBroker } from '../../helpers/mqtt.ts';
import { onCleanup, tempDir } from '../../helpers/temp.ts';

const connect = (over: Partial<IConnectPacket> = {}): Buffer =>
  mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'early', keepalive: 0, ...over });
const publish = (topic: string, payload: Buffer | string, messageId: number, qos: 1 | 2 = 1): Buffer => mqttPacket.generate({ cmd: 'publish', topic, payload, qos, messageId, dup: false, retain: false });
const acks = (peer: RawMqtt): number[] => peer.packets.filter((p): p is Packet & { messageId: number } => p.cmd === 'puback').map((p) => p.messageId);

describe('MQTT packets before CONNACK', () => {
  it.each([
    [66_000, 1, 'puback'],
    [100_000, 1, 'puback'],
    [130_000, 1, 'puback'],
    [100_000, 2, 'pubrec'],
  ] as const)('takes a %d-byte QoS %d PUBLISH sent in the CONNECT’s write, after the CONNACK, under the client’s id', async (bytes, qos, answer) => {
    const broker = await startMqttBroker();
    const peer = await RawMqtt.connect(broker.mqttPort);
    peer.write(Buffer.concat([connect(), publish('early/big', Buffer.alloc(bytes, 7), 1, qos)]));
    await peer.waitFor((p) => p.cmd === answer);
    expect(peer.packets.map((p) => p.cmd)).toEqual(['connack', answer]);
    const [record] = await logRecords(broker.running, 'mqtt');
    expect(record.value!.length).toBe(bytes);
    expect(headers(record)['mqtt.clientId']).toBe('early');
  });

  it.each([
    ['a wrong password', { username: 'sensor', password: Buffer.from('wrong') }, 4],
    ['no credentials', {}, 5],
  ])('refuses a client with %s and appends nothing of the PUBLISH it sent behind its CONNECT', async (_what, credentials, returnCode) => {
    const broker = await startMqttBroker({
      listeners: { mqtt: { allowAnonymous: false } },
      auth: { users: [{ username: 'sensor', passwordHash: await hashPassword('right', { N: 1024, r: 8, p: 1 }) }] },
    });
    for (const bytes of [100, 100_000]) {
      const peer = await RawMqtt.connect(broker.mqttPort);
      peer.write(Buffer.concat([connect(credentials), publish('early/x', Buffer.alloc(bytes), 1), publish('early/y', 'y', 2)]));
      await peer.waitClosed();
      expect(peer.packets).toMatchObject([{ cmd: 'connack', returnCode }]);
    }
    expect(await logRecords(broker.running, 'mqtt')).toEqual([]);
    expect(broker.running.broker.store.failed).toBeNull();
  });

  it('takes 1,000 QoS 1 PUBLISHes pipelined behind a CONNECT in one write, in order, with inflightMax 8', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { inflightMax: 8 } } });
    const peer = await RawMqtt.connect(broker.mqttPort);
    const ids = Array.from({ length: 1000 }, (_, i) => i + 1);
    peer.write(Buffer.concat([connect(), ...ids.map((id) => publish(`pipe/${id}`, String(id), id))]));
    await peer.waitFor(() => acks(peer).length === ids.length, 20_000);
    expect(peer.packets[0]).toMatchObject({ cmd: 'connack', returnCode: 0 });
    expect(acks(peer)).toEqual(ids);
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.value!.toString())).toEqual(ids.map(String));
    expect(peer.closed).toBe(false);
  });

  it('takes a SUBSCRIBE pipelined behind a CONNECT, answering it after the CONNACK', async () => {
    const broker = await startMqttBroker();
    const peer = await RawMqtt.connect(broker.mqttPort);
    peer.write(Buffer.concat([connect(), mqttPacket.generate({ cmd: 'subscribe', messageId: 5, subscriptions: [{ topic: 'early/#', qos: 1 }] })]));
    await peer.waitFor((p) => p.cmd === 'suback');
    expect(peer.packets.map((p) => p.cmd)).toEqual(['connack', 'suback']);
  });
});

describe('connection gate before CONNACK', () => {
  it('hands over the CONNECT alone, holds what follows until connected(), then wakes the reader', () => {
    const conn = new PassThrough();
    const gate = new ConnectionGate(conn, 1 << 20, () => undefined);
    const ping = mqttPacket.generate({ cmd: 'pingreq' });
    conn.write(Buffer.concat([connect(), ping]));
    expect(conn.read()).toEqual(connect());
    conn.write(ping);
    expect(conn.read()).toBeNull();
    let readable = 0;
    conn.on('readable', () => readable++);
    gate.connected();
    expect(readable).toBe(1);
    expect(conn.read()).toEqual(Buffer.concat([ping, ping]));
  });
});

describe('CONNECT rules', () => {
  it('refuses a zero-length client id with clean session 0 with CONNACK 2, and takes it with clean session 1', async () => {
    const broker = await startMqttBroker();
    const persistent = await RawMqtt.connect(broker.mqttPort);
    // MQTT.js and mqtt-packet refuse to write this CONNECT: flags 0x00 (clean session 0), keepalive 0, client id of length 0.
    persistent.write(Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00]));
    await persistent.waitClosed();
    expect(persistent.packets).toMatchObject([{ cmd: 'connack', returnCode: 2 }]);
    expect(broker.running.mqtt!.metrics.refused.get('identifier-rejected')).toBe(1);
    const clean = await RawMqtt.connect(broker.mqttPort);
    clean.write(connect({ clientId: '', clean: true }));
    expect(await clean.waitFor((p) => p.cmd === 'connack')).toMatchObject({ returnCode: 0 });
  });

  it('closes a CONNECT whose will has QoS 3 without a CONNACK, logged at info as malformed', async () => {
    const lines: { level: number; msg: string; code?: string; clientId?: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const config = parseConfig({ dataDir: tempDir(), listeners: { edge: { host: '127.0.0.1', port: 0 }, http: { enabled: false }, mqtt: { host: '127.0.0.1', port: 0, ws: { enabled: false } }, kafka: { enabled: false } } }, 'test');
    const running = await startTributary(config, logger);
    onCleanup(() => running.close());
    // The will QoS sits in bits 3-4 of the connect flags (byte 9 of this CONNECT); mqtt-packet will not write 3.
    const bytes = connect({ clientId: 'w3', will: { topic: 'wills/w3', payload: Buffer.from('gone'), qos: 2, retain: false } });
    bytes[9] |= 0x18;
    const peer = await RawMqtt.connect(running.mqtt!.port);
    peer.write(bytes);
    await peer.waitClosed();
    expect(peer.packets).toEqual([]);
    expect(running.mqtt!.metrics.closed.get('malformed')).toBe(1);
    expect(lines).toContainEqual(expect.objectContaining({ level: 30, msg: 'closing MQTT connection', code: 'MALFORMED_FRAME', clientId: 'w3' }));
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });

  it('closes a client whose QoS 1 PUBLISH topic is not well-formed UTF-8 (c0 80) without a PUBACK or a record', async () => {
    const broker = await startMqttBroker();
    const peer = await RawMqtt.session(broker.mqttPort, 'utf8');
    // Topic length 2, topic c0 80 (an overlong NUL), packet id 1, payload "x".
    peer.write(Buffer.from([0x32, 0x07, 0x00, 0x02, 0xc0, 0x80, 0x00, 0x01, 0x78]));
    await peer.waitClosed();
    expect(peer.packets.map((p) => p.cmd)).toEqual(['connack']);
    expect(broker.running.mqtt!.metrics.closed.get('malformed')).toBe(1);
    expect(await logRecords(broker.running, 'mqtt')).toEqual([]);
  });
});
