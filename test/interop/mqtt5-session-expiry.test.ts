// MQTT 5 session expiry with three independent MQTT 5 clients: Mosquitto's mosquitto_sub (-V mqttv5
// -x), paho-mqtt for Python (MQTTv5, SessionExpiryInterval) and MQTT.js (protocolVersion 5). Each
// leaves a session with a subscription behind: with interval 1 it is gone soon after (the client's
// next CONNECT gets Session Present 0), with interval 600 it is resumed with the messages queued
// meanwhile; a client asking "never" is told the cap. .ci/run installs mosquitto-clients and
// python3-paho-mqtt; under CI a missing one fails instead of skipping.
import { spawnSync } from 'node:child_process';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { runProcess } from '../helpers/cli.ts';
import { startMqttBroker, type MqttTestBroker } from '../helpers/mqtt.ts';
import { RawMqtt5, until } from '../helpers/mqtt5-raw.ts';
import { onCleanup } from '../helpers/temp.ts';

const PYTHON = '/usr/bin/python3';
const mosquitto = spawnSync('mosquitto_sub', ['--help']).error === undefined;
const paho = spawnSync(PYTHON, ['-c', 'import paho.mqtt.client']).status === 0;

const persistent = (broker: MqttTestBroker, clientId: string): boolean => [...broker.running.mqtt!.sessionStats!.persistentClientIds()].includes(clientId);

async function publishQos1(broker: MqttTestBroker, topic: string, payload: string): Promise<void> {
  const { peer } = await RawMqtt5.session(broker.mqttPort, `pub-${Math.random().toString(36).slice(2)}`);
  peer.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, messageId: 1, retain: false, dup: false });
  await peer.waitFor((p) => p.cmd === 'puback');
  peer.send({ cmd: 'disconnect', reasonCode: 0 });
}

async function mosquittoSub(port: number, clientId: string, interval: number, extra: string[]): Promise<string> {
  const r = await runProcess('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv5', '-c', '-x', String(interval), '-i', clientId, '-q', '1', '-t', `ix/${clientId}`, ...extra], { timeoutMs: 15_000 });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

// paho-mqtt 1.6 (Debian): connect MQTT 5 with Clean Start 0 and the interval, optionally subscribe,
// print "present=<0|1>", wait for `count` messages printing each payload, then DISCONNECT.
const PAHO = `
import sys, paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port, cid, interval, subscribe, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == '1', int(sys.argv[5])
got = []
def on_connect(c, u, flags, rc, props):
    print('present=%d' % flags['session present'], flush=True)
    if subscribe: c.subscribe('ix/' + cid, qos=1)
    elif count == 0: c.disconnect()
def on_subscribe(c, u, mid, rcs, props):
    if count == 0: c.disconnect()
def on_message(c, u, m):
    print(m.payload.decode(), flush=True)
    got.append(m)
    if len(got) == count: c.disconnect()
c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5)
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
p = Properties(PacketTypes.CONNECT); p.SessionExpiryInterval = interval
c.connect('127.0.0.1', port, clean_start=False, properties=p)
c.loop_forever()
`;

async function pahoSession(port: number, clientId: string, interval: number, subscribe: boolean, count: number): Promise<string[]> {
  const r = await runProcess(PYTHON, ['-c', PAHO, String(port), clientId, String(interval), subscribe ? '1' : '0', String(count)], { timeoutMs: 15_000 });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim().split('\n');
}

async function mqttjs(port: number, clientId: string, opts: mqtt.IClientOptions): Promise<{ client: mqtt.MqttClient; connack: mqtt.IConnackPacket }> {
  const client = mqtt.connect({ host: '127.0.0.1', port, protocolVersion: 5, clientId, clean: false, reconnectPeriod: 0, ...opts });
  onCleanup(() => client.endAsync(true));
  const connack = await new Promise<mqtt.IConnackPacket>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  return { client, connack };
}

describe.runIf(mosquitto || process.env.CI)('MQTT 5 session expiry: mosquitto_sub -V mqttv5', () => {
  it('has mosquitto_sub installed', () => expect(mosquitto).toBe(true));

  it('a session left with -x 1 expires; one left with -x 600 gets the message queued while it was away', async () => {
    const broker = await startMqttBroker();
    await mosquittoSub(broker.mqttPort, 'ms-short', 1, ['-E']);
    await mosquittoSub(broker.mqttPort, 'ms-long', 600, ['-E']);
    expect(persistent(broker, 'ms-short')).toBe(true);
    await until(() => !persistent(broker, 'ms-short'), 'ms-short to expire');
    await publishQos1(broker, 'ix/ms-long', 'while away');
    expect(await mosquittoSub(broker.mqttPort, 'ms-long', 600, ['-C', '1'])).toBe('while away');
    expect(persistent(broker, 'ms-long')).toBe(true);
  });
});

describe.runIf(paho || process.env.CI)('MQTT 5 session expiry: paho-mqtt (Python) MQTTv5', () => {
  it('has paho-mqtt for /usr/bin/python3', () => expect(paho).toBe(true));

  it('Session Present 0 after the interval, 1 within it with the queued message', async () => {
    const broker = await startMqttBroker();
    expect(await pahoSession(broker.mqttPort, 'py-short', 1, true, 0)).toEqual(['present=0']);
    expect(await pahoSession(broker.mqttPort, 'py-long', 600, true, 0)).toEqual(['present=0']);
    await until(() => !persistent(broker, 'py-short'), 'py-short to expire');
    expect(await pahoSession(broker.mqttPort, 'py-short', 1, false, 0)).toEqual(['present=0']);
    await publishQos1(broker, 'ix/py-long', 'while away');
    expect(await pahoSession(broker.mqttPort, 'py-long', 600, false, 1)).toEqual(['present=1', 'while away']);
  });
});

describe('MQTT 5 session expiry: MQTT.js protocolVersion 5', () => {
  it('Session Present 0 after the interval; "never" is cut to sessionExpiryMaxS and the CONNACK says so', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { sessionExpiryMaxS: 1 } } });
    const { client, connack } = await mqttjs(broker.mqttPort, 'js-never', { properties: { sessionExpiryInterval: 0xffffffff } });
    expect(connack.properties?.sessionExpiryInterval).toBe(1);
    await client.subscribeAsync('ix/js-never', { qos: 1 });
    await client.endAsync();
    await until(() => !persistent(broker, 'js-never'), 'js-never to expire');
    const again = await mqttjs(broker.mqttPort, 'js-never', { properties: { sessionExpiryInterval: 1 } });
    expect(again.connack.sessionPresent).toBe(false);
  });

  it('a session resumed within its interval gets the message queued meanwhile', async () => {
    const broker = await startMqttBroker();
    const { client } = await mqttjs(broker.mqttPort, 'js-long', { properties: { sessionExpiryInterval: 600 } });
    await client.subscribeAsync('ix/js-long', { qos: 1 });
    await client.endAsync();
    await publishQos1(broker, 'ix/js-long', 'while away');
    const back = mqtt.connect({ host: '127.0.0.1', port: broker.mqttPort, protocolVersion: 5, clientId: 'js-long', clean: false, reconnectPeriod: 0, properties: { sessionExpiryInterval: 600 } });
    onCleanup(() => back.endAsync(true));
    const [connack, message] = await Promise.all([
      new Promise<mqtt.IConnackPacket>((resolve) => back.once('connect', resolve)),
      new Promise<string>((resolve) => back.once('message', (_t, payload) => resolve(payload.toString()))),
    ]);
    expect(connack.sessionPresent).toBe(true);
    expect(message).toBe('while away');
  });
});
