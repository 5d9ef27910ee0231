// Where the PUBACK is written, measured against a disk made slow on purpose: the broker runs with an
// LD_PRELOAD shim that makes every fsync/fdatasync sleep. A PUBACK sent before the commit (or, for
// acks=all, before the flush) would arrive without waiting for those sleeps.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { freePort, mqttListenerEnv, startChildBroker, waitForPort } from '../helpers/child-broker.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

const SLOW_MS = 300;

describe('PUBACK timing on a slow disk', () => {
  it('waits for the commit (acks=1) and also for the flush to disk (acks=all)', async () => {
    const dir = tempDir();
    const shim = path.join(dir, 'slow-fsync.so');
    execFileSync('gcc', ['-shared', '-fPIC', '-o', shim, path.resolve('test/crash/slow-fsync.c'), '-ldl']);
    const trigger = path.join(dir, 'slow-now');
    const mqttPort = await freePort();
    const broker = await startChildBroker(path.join(dir, 'data'), await freePort(), {
      LD_PRELOAD: shim,
      SLOW_FSYNC_TRIGGER: trigger,
      SLOW_FSYNC_MS: String(SLOW_MS),
      ...mqttListenerEnv(mqttPort),
      TRIBUTARY_ROUTES: JSON.stringify([
        { match: 'one/#', topic: 'one', acks: 1 },
        { match: 'all/#', topic: 'all', acks: 'all' },
      ]),
    });
    await waitForPort(broker, mqttPort);
    const client = await mqtt.connectAsync({ host: '127.0.0.1', port: mqttPort, reconnectPeriod: 0 });
    onCleanup(() => client.endAsync(true));
    // Topics exist before the disk turns slow, so each timed publish is one append.
    for (const t of ['one/x', 'all/x']) await client.publishAsync(t, 'warm-up', { qos: 1 });

    fs.writeFileSync(trigger, '');
    const timed = async (topic: string, qos: 0 | 1) => {
      const start = performance.now();
      await client.publishAsync(topic, 'timed', { qos });
      return performance.now() - start;
    };
    const acks1 = await timed('one/x', 1);
    const acksAll = await timed('all/x', 1);
    fs.rmSync(trigger);
    // A commit fdatasyncs its pages (one sleep); acks=all then waits for an env sync (another).
    expect(acks1).toBeGreaterThanOrEqual(SLOW_MS * 0.9);
    expect(acksAll).toBeGreaterThanOrEqual(2 * SLOW_MS * 0.9);
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
  }, 60_000);
});
