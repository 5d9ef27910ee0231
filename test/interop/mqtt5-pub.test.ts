// MQTT 5 publishers other than our test client, as separate processes: Mosquitto's mosquitto_pub
// (-V mqttv5) and Eclipse paho-mqtt for Python (MQTTv5). User properties and content type reach the
// log as record headers, and a PUBLISH refused for a full budget (0x97) or by an ACL (0x87) is
// answered with that reason code while the connection goes on: the next message on it is
// acknowledged and logged. mosquitto_pub keeps to the broker's Receive Maximum. MQTT.js v5 does the same in test/listeners/mqtt/mqtt5-pub.test.ts.
// .ci/run installs mosquitto-clients and python3-paho-mqtt; under CI a missing one fails.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password.ts';
import { runProcess } from '../helpers/cli.ts';
import { logRecords, startMqttBroker } from '../helpers/mqtt.ts';

const PYTHON = '/usr/bin/python3';
const mosquitto = spawnSync('mosquitto_pub', ['--help']).error === undefined;
const paho = spawnSync(PYTHON, ['-c', 'import paho.mqtt.client']).status === 0;

/** Header keys and values of every record of the default route's log topic. */
async function loggedHeaders(running: Parameters<typeof logRecords>[0]): Promise<[string, string][][]> {
  return (await logRecords(running, 'mqtt')).map((r) => r.headers.map((h) => [h.key, Buffer.from(h.value!).toString()] as [string, string]));
}

/** What a record holds besides the four headers every MQTT record has. */
const extra = (headers: [string, string][]) => headers.slice(4);

/**
 * A paho v5 client publishing each message at QoS 1 on one connection, waiting for each answer.
 * paho-mqtt 1.6 parses a PUBACK's reason code and drops it, so the script reads it from the packet
 * paho received, just before paho handles it. Prints one JSON line: {"codes": [...], "connected": bool}.
 */
const PAHO_PUBLISHER = String.raw`
import json, struct, sys
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

port, client_id, user, password, messages = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
codes = {}
handle = mqtt.Client._handle_pubackcomp
def capture(self, cmd):
    packet = self._in_packet['packet']
    codes[struct.unpack('!H', packet[:2])[0]] = packet[2] if len(packet) > 2 else 0
    return handle(self, cmd)
mqtt.Client._handle_pubackcomp = capture

client = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
if user:
    client.username_pw_set(user, password)
client.connect('127.0.0.1', port)
client.loop_start()
answers = []
for m in messages:
    props = Properties(PacketTypes.PUBLISH)
    if m.get('user'):
        props.UserProperty = [tuple(p) for p in m['user']]
    if m.get('contentType'):
        props.ContentType = m['contentType']
    info = client.publish(m['topic'], m['payload'] * m.get('repeat', 1), qos=1, properties=props)
    info.wait_for_publish(10)
    answers.append(codes.get(info.mid))
connected = client.is_connected()
client.disconnect()
client.loop_stop()
print(json.dumps({'codes': answers, 'connected': connected}))
`;

async function paho5(port: number, clientId: string, messages: object[], auth: [string, string] = ['', '']): Promise<{ codes: number[]; connected: boolean }> {
  const r = await runProcess(PYTHON, ['-c', PAHO_PUBLISHER, String(port), clientId, ...auth, JSON.stringify(messages)], { timeoutMs: 20_000 });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as { codes: number[]; connected: boolean };
}

/** mosquitto_pub -V mqttv5 -d, one message per stdin line on one connection (-l): its debug output. */
async function mosquittoLines(port: number, args: string[], lines: string[]): Promise<string> {
  const r = await runProcess('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv5', '-d', '-q', '1', '-l', ...args], { input: lines.join('\n') + '\n', timeoutMs: 20_000 });
  return r.stdout + r.stderr;
}

/** The reason codes of the PUBACKs mosquitto_pub -d printed, in order. */
const pubackCodes = (output: string) => [...output.matchAll(/received PUBACK \(Mid: \d+, RC:(\d+)\)/g)].map((m) => Number(m[1]));

describe.runIf(mosquitto || process.env.CI)('mosquitto_pub -V mqttv5 against Tributary', () => {
  it('has mosquitto_pub installed (.ci/run installs mosquitto-clients)', () => {
    expect(mosquitto).toBe(true);
  });

  it('logs user properties and content type as record headers', async () => {
    const broker = await startMqttBroker();
    const r = await runProcess(
      'mosquitto_pub',
      ['-h', '127.0.0.1', '-p', String(broker.mqttPort), '-V', 'mqttv5', '-q', '1', '-t', 'mosq/v5', '-m', 'hi', '-D', 'publish', 'user-property', 'site', 'plant-4', '-D', 'publish', 'user-property', 'mqtt.qos', '2', '-D', 'publish', 'content-type', 'text/plain'],
      { timeoutMs: 10_000 },
    );
    expect(r.code).toBe(0);
    const [headers] = await loggedHeaders(broker.running);
    expect(headers.slice(0, 4).map(([k]) => k)).toEqual(['mqtt.topic', 'mqtt.clientId', 'mqtt.qos', 'mqtt.retain']);
    expect(extra(headers)).toEqual([
      ['mqtt.contentType', 'text/plain'],
      ['site', 'plant-4'],
      ['mqtt.user.mqtt.qos', '2'],
    ]);
  });

  it('gets PUBACK 0x97 for a message over the budget and goes on on the same connection', async () => {
    const broker = await startMqttBroker({ storage: { diskBudgetBytes: 2048, diskBudgetPolicy: 'reject-new' } });
    const output = await mosquittoLines(broker.mqttPort, ['-t', 'mosq/budget', '-i', 'mosq-budget'], ['x'.repeat(4096), 'small']);
    expect(pubackCodes(output)).toEqual([0x97, 0]);
    // One connection: one CONNECT, no DISCONNECT from the broker.
    expect(output.match(/sending CONNECT/g)).toHaveLength(1);
    expect(output).not.toMatch(/received DISCONNECT/);
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.value!.toString())).toEqual(['small']);
  });

  it('keeps to the Receive Maximum the broker gives (inflightMax 2): 200 lines at QoS 1, no DISCONNECT', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { inflightMax: 2 } } });
    const lines = Array.from({ length: 200 }, (_, i) => `m${i}`);
    const output = await mosquittoLines(broker.mqttPort, ['-t', 'mosq/window', '-i', 'mosq-window'], lines);
    expect(pubackCodes(output)).toEqual(lines.map(() => 0));
    expect(output).not.toMatch(/received DISCONNECT/);
    // Its debug lines, in order: never more than two PUBLISHes sent and not yet acknowledged.
    let outstanding = 0;
    let most = 0;
    for (const line of output.split('\n')) {
      if (/sending PUBLISH/.test(line)) most = Math.max(most, ++outstanding);
      if (/received PUBACK/.test(line)) outstanding--;
    }
    expect(most).toBe(2);
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.value!.toString())).toEqual(lines);
    expect(broker.running.mqtt!.metrics.closed.get('receive-maximum-exceeded')).toBeUndefined();
  });

  it('gets PUBACK 0x87 for a topic its ACL denies and goes on on the same connection', async () => {
    const broker = await startMqttBroker({
      listeners: { mqtt: { allowAnonymous: false } },
      auth: { users: [{ username: 'sensor', passwordHash: await hashPassword('right', { N: 1024, r: 8, p: 1 }) }], acls: [{ user: 'sensor', publish: ['sensors/%c/#'], subscribe: [] }] },
    });
    const denied = await mosquittoLines(broker.mqttPort, ['-t', 'sensors/other/x', '-i', 's-1', '-u', 'sensor', '-P', 'right'], ['a', 'b']);
    expect(pubackCodes(denied)).toEqual([0x87, 0x87]);
    expect(denied.match(/sending CONNECT/g)).toHaveLength(1);
    expect(denied).not.toMatch(/received DISCONNECT/);
    expect(await logRecords(broker.running, 'mqtt')).toEqual([]);
  });
});

describe.runIf(paho || process.env.CI)('paho-mqtt (Python) MQTTv5 against Tributary', () => {
  it('has paho-mqtt for /usr/bin/python3 (.ci/run installs python3-paho-mqtt)', () => {
    expect(paho).toBe(true);
  });

  it('logs user properties and content type as record headers', async () => {
    const broker = await startMqttBroker();
    const r = await paho5(broker.mqttPort, 'paho-props', [{ topic: 'paho/v5', payload: 'hi', user: [['site', 'plant-4'], ['unit', 'C'], ['unit', 'F']], contentType: 'text/plain' }]);
    expect(r).toEqual({ codes: [0], connected: true });
    const [headers] = await loggedHeaders(broker.running);
    expect(extra(headers)).toEqual([
      ['mqtt.contentType', 'text/plain'],
      ['site', 'plant-4'],
      ['unit', 'C'],
      ['unit', 'F'],
    ]);
  });

  it('gets 0x97 over the budget and 0x87 for a denied topic, each on a connection that stays open', async () => {
    const full = await startMqttBroker({ storage: { diskBudgetBytes: 2048, diskBudgetPolicy: 'reject-new' } });
    expect(await paho5(full.mqttPort, 'paho-budget', [{ topic: 'paho/big', payload: 'x', repeat: 4096 }, { topic: 'paho/small', payload: 'small' }])).toEqual({ codes: [0x97, 0], connected: true });
    expect((await logRecords(full.running, 'mqtt')).map((r) => r.value!.toString())).toEqual(['small']);

    const secured = await startMqttBroker({
      listeners: { mqtt: { allowAnonymous: false } },
      auth: { users: [{ username: 'sensor', passwordHash: await hashPassword('right', { N: 1024, r: 8, p: 1 }) }], acls: [{ user: 'sensor', publish: ['sensors/%c/#'], subscribe: [] }] },
    });
    const r = await paho5(secured.mqttPort, 's-1', [{ topic: 'sensors/other/x', payload: 'a' }, { topic: 'sensors/s-1/x', payload: 'b' }], ['sensor', 'right']);
    expect(r).toEqual({ codes: [0x87, 0], connected: true });
    expect((await logRecords(secured.running, 'mqtt')).map((r) => r.value!.toString())).toEqual(['b']);
  });
});
