// The C99 edge client library (firmware-samples/c): its unit tests (the SPEC's hex examples against
// the C encoder and decoders, under ASan and UBSan), the cross builds for the two 32-bit targets,
// and the POSIX examples against a live broker, read back with the TypeScript consumer.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTopic, producer, startTestBroker } from '../helpers/broker.ts';
import { cSamples, readAll, reading, runProcess } from '../helpers/c-samples.ts';
import { lines } from '../helpers/cli.ts';
import { tempDir } from '../helpers/temp.ts';

const { make, runSensor, startSensor, fetcher, grouper } = cSamples('build');

function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const crossCompilers = has('arm-none-eabi-gcc') && has('riscv64-unknown-elf-gcc');

describe('C client library', () => {
  beforeAll(async () => {
    const built = await make('all');
    expect(built.code, built.stderr).toBe(0);
  }, 300_000);

  it('passes its unit tests, which check every hex example of the SPEC', async () => {
    const r = await make('test');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\d+ checks, 0 failed/);
  }, 300_000);

  // Under CI a missing cross compiler fails the test (.ci/run installs them).
  it.runIf(crossCompilers || process.env.CI)('cross-builds for Cortex-M4 and rv32imc at -Os', async () => {
    const r = await make('size');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('arm-none-eabi-gcc -mcpu=cortex-m4');
    expect(r.stdout).toContain('riscv64-unknown-elf-gcc -march=rv32imc');
    expect(r.stdout.match(/\(TOTALS\)/g)).toHaveLength(2);
  }, 300_000);

  it('tributary-sensor stores N readings exactly once, and tributary-fetch reads them back', async () => {
    const broker = await startTestBroker();
    const state = path.join(tempDir(), 'sensor.state');
    const n = 300;
    const r = await runSensor(broker, ['--topic', 'sensors', '--count', String(n), '--state', state, '--per-frame', '7']);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toContain(`done acked=${n}`);
    expect(r.stdout).toMatch(/^connected lastSeq=0 frameBytesMax=\d+ keepaliveMs=\d+ pending=\d+$/m);

    const got = await readAll(broker, 'sensors', n);
    expect(got.map((x) => x.value?.toString())).toEqual(Array.from({ length: n }, (_, i) => reading(i)));

    // Started again with the same state, it has nothing left to send and stores nothing.
    const again = await runSensor(broker, ['--topic', 'sensors', '--count', String(n), '--state', state]);
    expect(again.code, again.stderr).toBe(0);
    expect(lines(again.stdout)).toContain('done acked=0');
    expect(lines(again.stdout)).toContain(`state loaded pending=0 made=${n} nextSeq=${Math.ceil(n / 7) + 1}`);

    const f = await runProcess(fetcher, ['--host', broker.url.host, '--port', String(broker.url.port), '--topic', 'sensors', '--offset', '5'], {
      timeoutMs: 60_000,
    });
    expect(f.code, f.stderr).toBe(0);
    const records = lines(f.stdout).filter((l) => l.startsWith('record '));
    expect(records).toHaveLength(n - 5);
    expect(records[0]).toMatch(new RegExp(`^record offset=5 timestamp=\\d+ key=\\(null\\) headers=0 value=${reading(5)}$`));
    expect(lines(f.stdout).at(-1)).toBe(`end next=${n} records=${n - 5}`);
  }, 180_000);

  it('carries on from its state file: a second run with a larger count adds only the new readings', async () => {
    const broker = await startTestBroker();
    const state = path.join(tempDir(), 'sensor.state');
    const first = await runSensor(broker, ['--topic', 'resume', '--count', '40', '--state', state, '--client-id', 'dev-r']);
    expect(first.code, first.stderr).toBe(0);
    const second = await runSensor(broker, ['--topic', 'resume', '--count', '100', '--state', state, '--client-id', 'dev-r']);
    expect(second.code, second.stderr).toBe(0);
    expect(lines(second.stdout)).toContain('done acked=60');
    // the broker's lastSeq for this clientId is where the state file left off
    expect(second.stdout).toMatch(/^connected lastSeq=\d+ /m);
    expect(second.stdout).not.toMatch(/^connected lastSeq=0 /m);
    const got = await readAll(broker, 'resume', 100);
    expect(got.map((x) => x.value?.toString())).toEqual(Array.from({ length: 100 }, (_, i) => reading(i)));
  }, 180_000);

  it('resends after the broker restarts mid-stream: every reading stored exactly once', async () => {
    const broker = await startTestBroker();
    const n = 400;
    const { waitFor, exited, output } = startSensor(broker, ['--topic', 'restart', '--count', String(n), '--per-frame', '2', '--window', '4']);

    await waitFor(/^acked seq=\d+ /m);
    await broker.stop();
    await waitFor(/^link down rc=/m);
    await broker.start();
    expect(await exited).toBe(0);
    const out = output();
    expect(out).toMatch(new RegExp(`^done acked=${n}$`, 'm'));
    expect(out.match(/^connected /gm)?.length).toBeGreaterThanOrEqual(2);
    const got = await readAll(broker, 'restart', n);
    expect(got.map((x) => x.value?.toString())).toEqual(Array.from({ length: n }, (_, i) => reading(i)));
  }, 180_000);

  it('tributary-fetch reads batches written by the TypeScript producer: keys, headers, nulls, an offset inside a batch', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'mixed', 1);
    const p = await producer(broker);
    await p.sendBatch([
      { topic: 'mixed', partition: 0, key: 'k0', value: 'v0', timestampMs: 1_700_000_000_000 },
      { topic: 'mixed', partition: 0, key: null, value: null, headers: { unit: 'C', none: null } },
      { topic: 'mixed', partition: 0, key: '', value: Buffer.from([0x00, 0x5c, 0xff]) },
    ]);
    await p.send({ topic: 'mixed', partition: 0, value: 'last' });
    const f = await runProcess(fetcher, ['--host', broker.url.host, '--port', String(broker.url.port), '--topic', 'mixed', '--offset', '1'], {
      timeoutMs: 60_000,
    });
    expect(f.code, f.stderr).toBe(0);
    expect(lines(f.stdout).map((l) => l.replace(/timestamp=\d+ /, ''))).toEqual([
      'record offset=1 key=(null) headers=2 value=(null)',
      'record offset=2 key= headers=0 value=\\x00\\x5c\\xff',
      'record offset=3 key=(null) headers=0 value=last',
      'end next=4 records=3',
    ]);
  }, 60_000);

  it('a sensor killed (SIGKILL) mid-stream and started again with its state file stores every reading exactly once', async () => {
    const broker = await startTestBroker();
    const state = path.join(tempDir(), 'sensor.state');
    const n = 1500;
    const args = ['--topic', 'reboot', '--count', String(n), '--state', state, '--client-id', 'dev-k', '--per-frame', '3', '--window', '8'];
    const first = startSensor(broker, args);
    await first.waitFor(/^acked seq=\d+ .* total=(\d{3,})$/m);
    first.child.kill('SIGKILL');
    await first.exited;
    const second = await runSensor(broker, args);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^state loaded pending=\d+ made=\d+ nextSeq=\d+$/m);
    expect(second.stdout).toMatch(/^done acked=\d+$/m);
    const got = await readAll(broker, 'reboot', n);
    expect(got.map((x) => x.value?.toString())).toEqual(Array.from({ length: n }, (_, i) => reading(i)));
  }, 180_000);

  it('tributary-group joins a group (version 2), commits, reads the offsets back and leaves', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'grouped', 3);
    const r = await runProcess(
      grouper,
      ['--host', broker.url.host, '--port', String(broker.url.port), '--group', 'dash', '--topic', 'grouped', '--commit', '0'],
      { timeoutMs: 60_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toMatch(/^joined generation=1 member=\S+ heartbeatMs=\d+$/);
    expect(out.filter((l) => l.startsWith('assigned '))).toEqual([0, 1, 2].map((p) => `assigned topic=grouped partition=${p}`));
    expect(out.filter((l) => l.startsWith('committed '))).toEqual([0, 1, 2].map((p) => `committed partition=${p} offset=0`));
    expect(out.at(-1)).toBe('left');
  }, 60_000);
});
