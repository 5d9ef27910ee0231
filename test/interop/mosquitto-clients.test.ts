// Interop with Eclipse Mosquitto's own clients (mosquitto_pub, mosquitto_sub) as separate processes.
// .ci/run installs them (mosquitto-clients); under CI a missing binary fails the test instead of
// skipping it, so the interop check can never silently stop running.
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password.ts';
import { runProcess } from '../helpers/cli.ts';
import { headers, logRecords, startMqttBroker } from '../helpers/mqtt.ts';
import { onCleanup } from '../helpers/temp.ts';

const available = spawnSync('mosquitto_pub', ['--help']).error === undefined;

async function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const r = await runProcess(command, args, { timeoutMs: 10_000 });
  return { code: r.code, output: r.stdout + r.stderr };
}

/** mosquitto_sub printing "topic payload" lines; resolves each line as it arrives. */
function subscribe(port: number, args: string[]) {
  const child = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-v', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  onCleanup(async () => void child.kill('SIGKILL'));
  const lines: string[] = [];
  let buffered = '';
  child.stdout.on('data', (d) => {
    buffered += d;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  return { lines, exited: new Promise<number | null>((resolve) => child.once('close', resolve)) };
}

describe.runIf(available || process.env.CI)('mosquitto clients against Tributary', () => {
  it('has mosquitto_pub and mosquitto_sub installed (.ci/run installs mosquitto-clients)', () => {
    expect(available).toBe(true);
  });

  it('mosquitto_pub at QoS 0, 1 and 2 is logged with MQTT headers and reaches mosquitto_sub', async () => {
    const broker = await startMqttBroker({ routes: [{ match: 'interop/+/#', topic: 'interop', key: '{1}' }] });
    const port = String(broker.mqttPort);
    const pub = (args: string[]) => run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-i', 'mosq-pub', ...args]);
    // A retained message tells when mosquitto_sub's subscription is in place.
    expect((await pub(['-t', 'interop/ready/x', '-m', 'ready', '-q', '1', '-r'])).code).toBe(0);
    const sub = subscribe(broker.mqttPort, ['-t', 'interop/#', '-q', '2', '-C', '4']);
    await expect.poll(() => sub.lines).toEqual(['interop/ready/x ready']);
    for (const qos of ['0', '1', '2']) expect((await pub(['-t', `interop/dev${qos}/data`, '-m', `q${qos}`, '-q', qos])).code).toBe(0);
    expect(await sub.exited).toBe(0);
    expect(sub.lines.slice(1).sort()).toEqual(['interop/dev0/data q0', 'interop/dev1/data q1', 'interop/dev2/data q2']);

    const log = await logRecords(broker.running, 'interop');
    expect(log.map((r) => [r.key!.toString(), r.value!.toString(), headers(r)['mqtt.qos'], headers(r)['mqtt.retain']])).toEqual([
      ['ready', 'ready', '1', 'true'],
      ['dev0', 'q0', '0', 'false'],
      ['dev1', 'q1', '1', 'false'],
      ['dev2', 'q2', '2', 'false'],
    ]);
    expect(headers(log[1])['mqtt.clientId']).toBe('mosq-pub');
  });

  it('authenticates mosquitto_pub with a username and password, and refuses a wrong one', async () => {
    const broker = await startMqttBroker({
      listeners: { mqtt: { allowAnonymous: false } },
      auth: { users: [{ username: 'gw', passwordHash: await hashPassword('pw', { N: 1024, r: 8, p: 1 }) }] },
    });
    const port = String(broker.mqttPort);
    const ok = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-u', 'gw', '-P', 'pw', '-t', 'a', '-m', 'x', '-q', '1']);
    expect(ok.code).toBe(0);
    const bad = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-u', 'gw', '-P', 'nope', '-t', 'a', '-m', 'y', '-q', '1']);
    expect(bad.code).not.toBe(0);
    expect(bad.output).toMatch(/not authori[sz]ed|bad user ?name or password/i);
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.value!.toString())).toEqual(['x']);
  });

  it('takes mosquitto_pub -V 5 at QoS 1 and 2: PUBACK after the append', async () => {
    const broker = await startMqttBroker();
    for (const qos of ['1', '2']) {
      const r = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.mqttPort), '-V', '5', '-t', 'five', '-m', `q${qos}`, '-q', qos]);
      expect(r.code, r.output).toBe(0);
    }
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.value!.toString())).toEqual(['q1', 'q2']);
  });
});
