// Shared subscriptions with three independent MQTT clients as members of one group: mosquitto_sub
// (Eclipse Mosquitto's client), paho-mqtt (Python, run with /usr/bin/python3) and MQTT.js, each a
// separate implementation of SUBSCRIBE and of the receiving side. A stream published to the group's
// filter is split between them: each message reaches exactly one member, and every member gets some.
// Once with all three speaking MQTT 5, once with all three speaking MQTT 3.1.1 (Mosquitto takes
// $share/ from both). .ci/run installs mosquitto-clients and python3-paho-mqtt; under CI a missing one
// fails the test instead of skipping it.
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { connectMqtt, startMqttBroker } from '../helpers/mqtt.ts';
import { onCleanup } from '../helpers/temp.ts';

const PYTHON = '/usr/bin/python3';
const available = spawnSync('mosquitto_sub', ['--help']).error === undefined && spawnSync(PYTHON, ['-c', 'import paho.mqtt.client']).status === 0;

/** A member run as a child process: the payloads it printed, and when its SUBACK came. */
interface Member {
  payloads: string[];
  subscribed: Promise<void>;
}

/** Runs `command`, whose stdout carries one line per event: `SUBACK` (however the client words it) or `MSG <payload>`. */
function child(command: string, args: string[], isSuback: (line: string) => boolean, payloadOf: (line: string) => string | null): Member {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  onCleanup(async () => void proc.kill('SIGKILL'));
  const payloads: string[] = [];
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  let buffered = '';
  const subscribed = new Promise<void>((resolve, reject) => {
    proc.once('close', (code) => reject(new Error(`${command} exited (${code}) before its SUBACK: ${stderr}`)));
    proc.stdout.on('data', (d) => {
      buffered += d;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (isSuback(line)) resolve();
        const payload = payloadOf(line);
        if (payload !== null) payloads.push(payload);
      }
    });
  });
  return { payloads, subscribed };
}

/** mosquitto_sub -d prints its packets ("Client x received SUBACK") and, with -v, "topic payload". */
function mosquittoMember(port: number, version: 'mqttv5' | 'mqttv311', filter: string): Member {
  // stdbuf: mosquitto_sub's stdout is block-buffered on a pipe, and its debug lines are not flushed.
  return child(
    'stdbuf',
    ['-oL', 'mosquitto_sub', '-h', '127.0.0.1', '-p', String(port), '-V', version, '-i', `mosquitto-${version}`, '-q', '1', '-d', '-v', '-t', filter],
    (line) => / received SUBACK/.test(line),
    (line) => (line.startsWith('split/') ? line.slice(line.indexOf(' ') + 1) : null),
  );
}

const PAHO = `
import sys
import paho.mqtt.client as mqtt
port, version, topic = int(sys.argv[1]), sys.argv[2], sys.argv[3]
v5 = version == '5'
c = mqtt.Client(client_id='paho-' + version, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
def on_connect(client, userdata, flags, rc, properties=None):
    client.subscribe(topic, qos=1)
def on_subscribe(client, userdata, mid, granted, properties=None):
    print('SUBACK', flush=True)
def on_message(client, userdata, msg):
    print('MSG ' + msg.payload.decode(), flush=True)
c.on_connect = on_connect
c.on_subscribe = on_subscribe
c.on_message = on_message
c.connect('127.0.0.1', port)
c.loop_forever()
`;

function pahoMember(port: number, version: '5' | '311', filter: string): Member {
  return child(
    PYTHON,
    ['-u', '-c', PAHO, String(port), version, filter],
    (line) => line === 'SUBACK',
    (line) => (line.startsWith('MSG ') ? line.slice(4) : null),
  );
}

async function mqttJsMember(port: number, protocolVersion: 4 | 5, filter: string): Promise<Member> {
  const client = await connectMqtt(port, { clientId: `mqttjs-v${protocolVersion}`, protocolVersion });
  const payloads: string[] = [];
  client.on('message', (_topic, payload) => payloads.push(payload.toString()));
  await client.subscribeAsync(filter, { qos: 1 });
  return { payloads, subscribed: Promise.resolve() };
}

describe.runIf(available || process.env.CI)('a shared subscription split over mosquitto_sub, paho-mqtt and MQTT.js', () => {
  it('has mosquitto_sub and paho-mqtt for /usr/bin/python3 installed (.ci/run installs them)', () => {
    expect(available).toBe(true);
  });

  for (const v of [
    { name: 'MQTT 5', mosquitto: 'mqttv5', paho: '5', mqttJs: 5 },
    { name: 'MQTT 3.1.1', mosquitto: 'mqttv311', paho: '311', mqttJs: 4 },
  ] as const) {
    it(`${v.name}: each of 60 messages reaches exactly one of the three members, and each member some`, async () => {
      const broker = await startMqttBroker();
      const filter = '$share/workers/split/#';
      const members = [mosquittoMember(broker.mqttPort, v.mosquitto, filter), pahoMember(broker.mqttPort, v.paho, filter), await mqttJsMember(broker.mqttPort, v.mqttJs, filter)];
      await Promise.all(members.map((m) => m.subscribed));

      const pub = await connectMqtt(broker, { clientId: 'publisher', protocolVersion: 5 });
      const sent = Array.from({ length: 60 }, (_, i) => `job-${i}`);
      for (const [i, payload] of sent.entries()) await pub.publishAsync(`split/${i % 4}`, payload, { qos: 1 });

      await expect.poll(() => members.flatMap((m) => m.payloads).length, { timeout: 20_000 }).toBeGreaterThanOrEqual(sent.length);
      expect(members.flatMap((m) => m.payloads).sort()).toEqual([...sent].sort());
      for (const m of members) expect(m.payloads.length).toBeGreaterThan(0);
    });
  }
});
