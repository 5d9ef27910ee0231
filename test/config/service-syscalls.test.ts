// config/tributary.service allows the system calls of @system-service and @pkey only
// (SystemCallFilter=). A broker runs here under strace -f through what a gateway does (start and the
// data dir lock, edge produce and fetch, MQTT QoS 1, Kafka produce, HTTP /metrics, retention, SIGTERM),
// and every system call it makes must be in the groups the unit names, as systemd-analyze expands them.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { Consumer, Producer } from '../../src/client/index.ts';
import { bundlePath, cleanEnv, freePort, startedPorts, trackChild } from '../helpers/child-broker.ts';
import { connectMqtt } from '../helpers/mqtt.ts';
import { tempDir } from '../helpers/temp.ts';

const unitText = fs.readFileSync(path.resolve('config/tributary.service'), 'utf8');
const hasTools = spawnSync('strace', ['-V']).status === 0 && spawnSync('systemd-analyze', ['--version']).status === 0;

/** The system calls a systemd syscall group holds, its nested groups expanded. */
function expandGroup(group: string, seen = new Set<string>()): Set<string> {
  const r = spawnSync('systemd-analyze', ['syscall-filter', group], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`systemd-analyze syscall-filter ${group}: ${r.stderr}`);
  const calls = new Set<string>();
  for (const line of r.stdout.split('\n').slice(1)) {
    const name = line.trim();
    if (name === '' || name.startsWith('#')) continue;
    if (!name.startsWith('@')) calls.add(name);
    else if (!seen.has(name)) {
      seen.add(name);
      for (const c of expandGroup(name, seen)) calls.add(c);
    }
  }
  return calls;
}

describe.runIf(hasTools || process.env.CI)('the unit\'s SystemCallFilter', () => {
  it('holds every system call a broker makes from start to a graceful stop', async () => {
    const filter = /^SystemCallFilter=(.+)$/m.exec(unitText)![1].split(/\s+/);
    expect(filter).toEqual(['@system-service', '@pkey']);
    const allowed = new Set(filter.flatMap((g) => [...expandGroup(g)]));
    expect(allowed.has('fdatasync')).toBe(true);

    const dataDir = tempDir();
    const trace = path.join(tempDir(), 'strace.txt');
    const [edgePort, mqttPort, kafkaPort] = [await freePort(), await freePort(), await freePort()];
    const child = spawn('strace', ['-f', '-qq', '-o', trace, process.execPath, bundlePath, 'start'], {
      env: {
        ...cleanEnv(),
        TRIBUTARY_DATA_DIR: dataDir,
        TRIBUTARY_LOG__PRETTY: 'false',
        // Retention's deletions are logged at debug.
        TRIBUTARY_LOG__LEVEL: 'debug',
        TRIBUTARY_LISTENERS__EDGE__HOST: '127.0.0.1',
        TRIBUTARY_LISTENERS__EDGE__PORT: String(edgePort),
        TRIBUTARY_LISTENERS__MQTT__HOST: '127.0.0.1',
        TRIBUTARY_LISTENERS__MQTT__PORT: String(mqttPort),
        TRIBUTARY_LISTENERS__MQTT__WS__ENABLED: 'false',
        TRIBUTARY_LISTENERS__KAFKA__HOST: '127.0.0.1',
        TRIBUTARY_LISTENERS__KAFKA__PORT: String(kafkaPort),
        TRIBUTARY_LISTENERS__HTTP__HOST: '127.0.0.1',
        TRIBUTARY_LISTENERS__HTTP__PORT: '0',
        TRIBUTARY_RETENTION__CHECK_INTERVAL_MS: '100',
        TRIBUTARY_TOPICS__DEFAULT_RETENTION_MS: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const broker = trackChild(child, edgePort);
    const { httpPort } = await startedPorts(broker);

    const producer = await Producer.connect({ host: '127.0.0.1', port: edgePort, acks: 'all' });
    for (let i = 0; i < 20; i++) await producer.send({ topic: 'edge', value: Buffer.from(`v${i}`) });
    await producer.close();
    const consumer = await Consumer.connect({ host: '127.0.0.1', port: edgePort });
    await consumer.assign([{ topic: 'edge', partition: 0, offset: 0 }]);
    await consumer.poll();
    await consumer.close();
    const mqtt = await connectMqtt(mqttPort);
    await mqtt.publishAsync('sensors/a/telemetry', '21.5', { qos: 1 });
    await mqtt.endAsync();
    const kafka = new Kafka({ brokers: [`127.0.0.1:${kafkaPort}`], logLevel: logLevel.NOTHING }).producer();
    await kafka.connect();
    await kafka.send({ topic: 'kafka', messages: [{ value: 'k' }] });
    await kafka.disconnect();
    expect((await fetch(`http://127.0.0.1:${httpPort}/metrics`)).status).toBe(200);
    // Retention (1 ms) deletes those records.
    while (!broker.output().includes('"msg":"retention deleted batches"')) await new Promise((r) => setTimeout(r, 50));

    // SIGTERM to the broker itself (strace's child), as systemd's KillSignal= sends it.
    const brokerPid = Number(fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ')[0]);
    process.kill(brokerPid, 'SIGTERM');
    await broker.exited;
    expect(broker.output()).toContain('tributary stopped');

    const used = new Set<string>();
    for (const line of fs.readFileSync(trace, 'utf8').split('\n')) {
      const m = /^\d+\s+([a-z_0-9]+)\(/.exec(line);
      if (m !== null) used.add(m[1]);
    }
    for (const call of ['flock', 'fdatasync', 'mmap', 'accept4', 'execve']) expect(used.has(call), call).toBe(true);
    expect([...used].filter((c) => !allowed.has(c)).sort()).toEqual([]);
  });
});
