// MQTT 5 delivery with real clients as separate processes: Mosquitto's mosquitto_pub/mosquitto_sub
// (-V 5) and Eclipse paho-mqtt for Python (/usr/bin/python3, MQTTv5), beside MQTT.js v5. .ci/run
// installs mosquitto-clients and python3-paho-mqtt; under CI a missing one fails these tests instead
// of skipping them. Properties publisher → log → subscriber, message expiry on a queued message across
// a restart of the built broker, inbound topic aliases, and the subscriber's Receive Maximum.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, mqttListenerEnv, startChildBroker, type ChildBroker } from '../helpers/child-broker.ts';
import { runProcess } from '../helpers/cli.ts';
import { connectMqtt, headers, logRecords, startMqttBroker } from '../helpers/mqtt.ts';
import { clockPast } from '../helpers/mqtt5-raw.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

const PYTHON = '/usr/bin/python3';
const mosquittoAvailable = spawnSync('mosquitto_pub', ['--help']).error === undefined;
const pahoAvailable = spawnSync(PYTHON, ['-c', 'import paho.mqtt.client']).status === 0;

async function run(command: string, args: string[], input?: string): Promise<string> {
  const r = await runProcess(command, args, { timeoutMs: 15_000, input });
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${r.code}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** A long-running client process whose stdout lines are collected as they arrive. */
function lineProcess(command: string, args: string[]): { lines: string[]; exited: Promise<number | null>; output: () => string } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  onCleanup(async () => void child.kill('SIGKILL'));
  const lines: string[] = [];
  let buffered = '';
  let err = '';
  child.stdout.on('data', (d) => {
    buffered += d;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr.on('data', (d) => (err += d));
  return { lines, exited: new Promise((resolve) => child.once('close', resolve)), output: () => lines.join('\n') + buffered + err };
}

// paho-mqtt MQTTv5. Subscriber: prints "ready" after its SUBACK, then one JSON line per message
// (topic, payload, the properties it got), and exits after `count` messages (0: right after its SUBACK).
const PAHO_COMMON = `
import json, sys
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port = int(sys.argv[1])
def props_of(p):
    out = {}
    if p is None: return out
    for name in ('UserProperty', 'ContentType', 'ResponseTopic', 'PayloadFormatIndicator', 'MessageExpiryInterval', 'TopicAlias'):
        if hasattr(p, name): out[name] = getattr(p, name)
    if hasattr(p, 'CorrelationData'): out['CorrelationData'] = p.CorrelationData.hex()
    return out
`;

const PAHO_SUBSCRIBE = `${PAHO_COMMON}
client_id, topic, count, clean = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == 'clean'
got = []
c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
def on_connect(c, u, flags, rc, props=None):
    if rc != 0: sys.exit('connack %s' % rc)
    c.subscribe(topic, qos=1)
def on_subscribe(c, u, mid, rcs, props=None):
    print('ready', flush=True)
    if count == 0: c.disconnect()
def on_message(c, u, m):
    print(json.dumps({'topic': m.topic, 'payload': m.payload.decode(), 'properties': props_of(m.properties)}), flush=True)
    got.append(m)
    if len(got) == count: c.disconnect()
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
cp = Properties(PacketTypes.CONNECT)
cp.SessionExpiryInterval = 0 if clean else 3600
c.connect('127.0.0.1', port, keepalive=30, clean_start=clean, properties=cp)
c.loop_forever()
`;

// Publishes each argv message "topic=payload" at QoS 1 with the given user property; with "alias",
// the first names the topic with Topic Alias 1 and the others send an empty topic and the alias.
const PAHO_PUBLISH = `${PAHO_COMMON}
mode, messages = sys.argv[2], sys.argv[3:]
c = mqtt.Client(client_id='paho-pub', protocol=mqtt.MQTTv5)
c.connect('127.0.0.1', port, keepalive=30)
c.loop_start()
for i, m in enumerate(messages):
    topic, payload = m.split('=', 1)
    p = Properties(PacketTypes.PUBLISH)
    p.UserProperty = ('from', 'paho')
    p.ContentType = 'text/plain'
    p.ResponseTopic = 'replies/paho'
    p.CorrelationData = b'\\x01\\x02'
    if mode == 'alias':
        p.TopicAlias = 1
        if i > 0: topic = ''
    c.publish(topic, payload, qos=1, properties=p).wait_for_publish(10)
c.disconnect()
c.loop_stop()
`;

function pahoSubscribe(port: number, clientId: string, topic: string, count: number, clean = true) {
  return lineProcess(PYTHON, ['-c', PAHO_SUBSCRIBE, String(port), clientId, topic, String(count), clean ? 'clean' : 'persistent']);
}

type PahoMessage = { topic: string; payload: string; properties: Record<string, unknown> };
const pahoMessages = (lines: string[]): PahoMessage[] => lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as PahoMessage);

describe.runIf((mosquittoAvailable && pahoAvailable) || process.env.CI)('MQTT 5 delivery to and from real clients', () => {
  it('has mosquitto_pub/mosquitto_sub and paho-mqtt for /usr/bin/python3 (.ci/run installs mosquitto-clients and python3-paho-mqtt)', () => {
    expect(mosquittoAvailable).toBe(true);
    expect(pahoAvailable).toBe(true);
  });

  it('user properties and the other MQTT 5 properties go from each client through the log to each client', async () => {
    const broker = await startMqttBroker({ routes: [{ match: 'ip/+', topic: 'interop5', key: '{1}' }] });
    const port = broker.mqttPort;
    const format = '%t|%p|%P|%C|%R';
    const mosqSub = lineProcess('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-V', '5', '-q', '1', '-t', 'ip/+', '-C', '3', '-F', format]);
    const pahoSub = pahoSubscribe(port, 'paho-sub', 'ip/+', 3);
    const jsSub = await connectMqtt(broker, { protocolVersion: 5, clientId: 'js-sub' });
    const jsGot: PahoMessage[] = [];
    jsSub.on('message', (topic, payload, packet) => jsGot.push({ topic, payload: payload.toString(), properties: { ...packet.properties, userProperties: { ...packet.properties?.userProperties } } }));
    await jsSub.subscribeAsync('ip/+', { qos: 1 });
    await expect.poll(() => pahoSub.lines.includes('ready'), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => broker.running.mqtt!.subscriptionCount, { timeout: 10_000 }).toBe(3);

    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-V', '5', '-q', '1', '-i', 'mosq-pub', '-t', 'ip/mosq', '-m', 'from-mosquitto',
      '-D', 'publish', 'user-property', 'from', 'mosquitto', '-D', 'publish', 'content-type', 'text/plain', '-D', 'publish', 'response-topic', 'replies/mosq']);
    await run(PYTHON, ['-c', PAHO_PUBLISH, String(port), 'plain', 'ip/paho=from-paho']);
    const jsPub = await connectMqtt(broker, { protocolVersion: 5, clientId: 'js-pub' });
    await jsPub.publishAsync('ip/js', 'from-mqttjs', { qos: 1, properties: { userProperties: { from: 'mqttjs' }, contentType: 'text/plain', responseTopic: 'replies/js', correlationData: Buffer.from([1, 2]) } });

    expect(await mosqSub.exited, mosqSub.output()).toBe(0);
    expect(mosqSub.lines.sort()).toEqual([
      'ip/js|from-mqttjs|from:mqttjs|text/plain|replies/js',
      'ip/mosq|from-mosquitto|from:mosquitto|text/plain|replies/mosq',
      'ip/paho|from-paho|from:paho|text/plain|replies/paho',
    ]);
    expect(await pahoSub.exited, pahoSub.output()).toBe(0);
    const byTopic = (ms: PahoMessage[]) => Object.fromEntries(ms.map((m) => [m.topic, m]));
    const paho = byTopic(pahoMessages(pahoSub.lines));
    expect(paho['ip/mosq']!.properties).toMatchObject({ UserProperty: [['from', 'mosquitto']], ContentType: 'text/plain', ResponseTopic: 'replies/mosq' });
    expect(paho['ip/paho']!.properties).toMatchObject({ UserProperty: [['from', 'paho']], ContentType: 'text/plain', ResponseTopic: 'replies/paho', CorrelationData: '0102' });
    expect(paho['ip/js']!.properties).toMatchObject({ UserProperty: [['from', 'mqttjs']], ContentType: 'text/plain', ResponseTopic: 'replies/js', CorrelationData: '0102' });
    await expect.poll(() => jsGot.length).toBe(3);
    const js = byTopic(jsGot);
    expect(js['ip/mosq']!.properties).toMatchObject({ userProperties: { from: 'mosquitto' }, contentType: 'text/plain', responseTopic: 'replies/mosq' });
    expect(js['ip/paho']!.properties).toMatchObject({ userProperties: { from: 'paho' }, contentType: 'text/plain', correlationData: Buffer.from([1, 2]) });

    // Each message is one record of the log; its MQTT headers name the topic and the publisher.
    const log = await logRecords(broker.running, 'interop5');
    expect(log.map((r) => [headers(r)['mqtt.topic'], headers(r)['mqtt.clientId'], r.value!.toString()])).toEqual([
      ['ip/mosq', 'mosq-pub', 'from-mosquitto'],
      ['ip/paho', 'paho-pub', 'from-paho'],
      ['ip/js', 'js-pub', 'from-mqttjs'],
    ]);
  });

  it('a queued message whose Message Expiry Interval ran out is not delivered after a restart of the built broker; one still alive comes with the time it has left; the rest keeps to a Receive Maximum of 1', async () => {
    const dataDir = path.join(tempDir(), 'data');
    const mqttPort = await freePort();
    const edgePort = await freePort();
    const start = (): Promise<ChildBroker> => startChildBroker(dataDir, edgePort, mqttListenerEnv(mqttPort));
    let broker = await start();
    const mosq = (args: string[]) => ['-h', '127.0.0.1', '-p', String(mqttPort), '-V', '5', ...args];

    // Two persistent sessions subscribe and go away: mosquitto_sub (-c, session expiry 3600 s) and paho.
    await run('mosquitto_sub', mosq(['-c', '-x', '3600', '-i', 'mosq-away', '-q', '1', '-t', 'qe/#', '-E']));
    const pahoFirst = pahoSubscribe(mqttPort, 'paho-away', 'qe/#', 0, false);
    expect(await pahoFirst.exited, pahoFirst.output()).toBe(0);
    expect(pahoFirst.lines).toEqual(['ready']);
    await run('mosquitto_pub', mosq(['-q', '1', '-t', 'qe/short', '-m', 'short', '-D', 'publish', 'message-expiry-interval', '1']));
    await run('mosquitto_pub', mosq(['-q', '1', '-t', 'qe/long', '-m', 'long', '-D', 'publish', 'message-expiry-interval', '600']));
    // Past the moment the first one's expiry was stamped (when aedes published it, before the second connected).
    const publishedAt = Date.now();
    // Behind them, QoS 2 messages for a Receive Maximum of 1 on the way back (the bundle's aedes carries the hook too).
    await run('mosquitto_pub', mosq(['-q', '2', '-t', 'qe/burst', '-l']), Array.from({ length: 10 }, (_, i) => `b${i}\n`).join(''));

    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
    await clockPast(publishedAt + 1_000);
    broker = await start();

    // The first message it gets is the long-lived one, with less than its 600 s left.
    const back = await run('mosquitto_sub', mosq(['-c', '-x', '3600', '-i', 'mosq-away', '-q', '2', '-t', 'qe/#', '-C', '11', '-F', '%t %p %E', '-D', 'connect', 'receive-maximum', '1']));
    const lines = back.trim().split('\n');
    const [topic, payload, left] = lines[0]!.split(' ');
    expect([topic, payload]).toEqual(['qe/long', 'long']);
    expect(Number(left)).toBeGreaterThan(0);
    expect(Number(left)).toBeLessThan(600);
    expect(lines.slice(1).map((l) => l.trim())).toEqual(Array.from({ length: 10 }, (_, i) => `qe/burst b${i}`));
    const pahoBack = pahoSubscribe(mqttPort, 'paho-away', 'qe/#', 11, false);
    expect(await pahoBack.exited, pahoBack.output()).toBe(0);
    const [m] = pahoMessages(pahoBack.lines);
    expect(m!.payload).toBe('long');
    expect(m!.properties.MessageExpiryInterval).toBeLessThan(600);
  });

  it('topic aliases from mosquitto_pub and paho are resolved for the log and for subscribers', async () => {
    const broker = await startMqttBroker();
    const sub = await connectMqtt(broker, { protocolVersion: 5, clientId: 'sub' });
    const got: string[] = [];
    sub.on('message', (topic, payload, packet) => got.push(`${topic}=${payload}${packet.properties?.topicAlias === undefined ? '' : ' alias!'}`));
    await sub.subscribeAsync('al/#', { qos: 1 });
    // mosquitto_pub -l sends a PUBLISH per stdin line: the topic and alias once, then the alias alone.
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.mqttPort), '-V', '5', '-q', '1', '-t', 'al/mosquitto/long', '-l', '-D', 'publish', 'topic-alias', '1'], 'm1\nm2\nm3\n');
    await run(PYTHON, ['-c', PAHO_PUBLISH, String(broker.mqttPort), 'alias', 'al/paho/long=p1', 'x=p2', 'x=p3']);
    const expected = ['al/mosquitto/long=m1', 'al/mosquitto/long=m2', 'al/mosquitto/long=m3', 'al/paho/long=p1', 'al/paho/long=p2', 'al/paho/long=p3'];
    await expect.poll(() => got).toEqual(expected);
    const log = await logRecords(broker.running, 'mqtt');
    expect(log.map((r) => `${headers(r)['mqtt.topic']}=${r.value!.toString()}`)).toEqual(expected);
  });

  it('mosquitto_sub with a Receive Maximum of 1 takes a stored queue of QoS 1 and QoS 2 messages without a protocol error', async () => {
    const broker = await startMqttBroker();
    const port = String(broker.mqttPort);
    const sub = (extra: string[]) => ['-h', '127.0.0.1', '-p', port, '-V', '5', '-c', '-x', '3600', '-i', 'rm-sub', '-t', 'rm/#', '-q', '2', '-D', 'connect', 'receive-maximum', '1', ...extra];
    await run('mosquitto_sub', sub(['-E']));
    const pub = await connectMqtt(broker, { protocolVersion: 5, clientId: 'pub' });
    const total = 40;
    for (let i = 0; i < total; i++) await pub.publishAsync('rm/x', `m${i}`, { qos: i % 2 === 0 ? 1 : 2 });
    // libmosquitto refuses a PUBLISH past its Receive Maximum (it disconnects with 0x93).
    const out = await run('mosquitto_sub', sub(['-C', String(total)]));
    expect(out.trim().split('\n')).toEqual(Array.from({ length: total }, (_, i) => `m${i}`));
  });
});
