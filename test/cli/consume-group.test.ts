// `tributary consume TOPIC --group G` run from the built CLI against a broker child process: it
// commits what it printed (a second run goes on after it), leaves the group on SIGTERM, and refuses
// the flags that make no sense for a group member.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { EdgeClient, Producer } from '../../src/client/index.ts';
import { bundlePath, cleanEnv, freePort, startChildBroker } from '../helpers/child-broker.ts';
import { lines, run } from '../helpers/cli.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

describe('tributary consume --group', () => {
  it('commits what it printed, so the next run goes on after it; SIGTERM leaves the group', async () => {
    const broker = await startChildBroker(tempDir(), await freePort());
    const env = { TRIBUTARY_BROKER: `127.0.0.1:${broker.port}` };
    const producer = await Producer.connect({ port: broker.port });
    onCleanup(() => producer.close());
    const produce = (from: number, to: number) =>
      producer.sendBatch(Array.from({ length: to - from }, (_, i) => ({ topic: 'cg', partition: (from + i) % 3, value: String(from + i) })));
    const client = await EdgeClient.connect({ port: broker.port });
    onCleanup(() => client.close());
    await client.createTopic({ name: 'cg', partitions: 3, retentionMs: -2, retentionBytes: -2, grow: false });
    await produce(0, 9);

    // --max stops after 4 records: only those 4 are committed.
    const first = await run(['consume', 'cg', '--group', 'printer', '--from', 'earliest', '--max', '4'], { env });
    expect(first.code).toBe(0);
    expect(lines(first.stdout)).toHaveLength(4);
    // --timeout-ms ends a group member's run without an error. A partition the first run printed
    // nothing of has no committed offset: --from applies to it again.
    const second = await run(['consume', 'cg', '--group', 'printer', '--from', 'earliest', '--timeout-ms', '1000'], { env });
    expect(second.code).toBe(0);
    expect([...lines(first.stdout), ...lines(second.stdout)].sort()).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8']);

    // A long-running member: SIGTERM after it printed what came makes it commit, leave and exit 0.
    const member = spawn(process.execPath, [bundlePath, 'consume', 'cg', '--group', 'printer'], { env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    onCleanup(async () => void member.kill('SIGKILL'));
    let stdout = '';
    member.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => member.once('close', resolve));
    await produce(9, 12);
    await expect.poll(() => lines(stdout).sort(), { timeout: 15_000 }).toEqual(['10', '11', '9']);
    member.kill('SIGTERM');
    expect(await exited).toBe(0);
    const group = await client.describeGroup('printer');
    expect(group.members).toEqual([]);
    expect(group.partitions.map((p) => p.committed - p.logEndOffset)).toEqual([0, 0, 0]);
  });

  it('a new group starts at the end unless --from earliest or --from-beginning', async () => {
    const broker = await startChildBroker(tempDir(), await freePort());
    const env = { TRIBUTARY_BROKER: `127.0.0.1:${broker.port}` };
    const producer = await Producer.connect({ port: broker.port });
    onCleanup(() => producer.close());
    await producer.send({ topic: 'from', value: 'old' });
    const latest = await run(['consume', 'from', '--group', 'late', '--timeout-ms', '500'], { env });
    expect(latest).toMatchObject({ code: 0, stdout: '' });
    const earliest = await run(['consume', 'from', '--group', 'early', '--from', 'earliest', '--max', '1'], { env });
    expect(earliest).toMatchObject({ code: 0, stdout: 'old\n' });
    const beginning = await run(['consume', 'from', '--group', 'kafka-style', '--from-beginning', '--max', '1'], { env });
    expect(beginning).toMatchObject({ code: 0, stdout: 'old\n' });
  });

  it.each([
    [['--group', 'g', '--offset', '5'], /--offset.*cannot be used with.*--group/],
    [['--group', 'g', '--offset', 'earliest'], /--offset.*cannot be used with.*--group/],
    [['--group', 'g', '--partition', '1'], /--partition.*cannot be used with.*--group/],
    [['--group', 'g', '--from', 'beginning'], /--from.*expected earliest or latest/],
    [['--from', 'earliest'], /--from applies to --group only/],
    [['--from-beginning', '--offset', '5'], /--offset.*cannot be used with.*--from-beginning/],
    [['--group', 'g', '--from-beginning', '--from', 'latest'], /--from.*cannot be used with.*--from-beginning/],
  ])('refuses %j: one line, exit 2', async (flags, message) => {
    const r = await run(['consume', 'cg', ...flags]);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });
});
