// `tributary consume --follow` on a topic that does not exist yet waits for it and reads it from its
// first record; without --follow an unknown topic stays an error.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Admin, Producer } from '../../src/client/index.ts';
import { bundlePath, cleanEnv, freePort, startChildBroker } from '../helpers/child-broker.ts';
import { lines, run } from '../helpers/cli.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

describe('tributary consume on a topic that does not exist yet', () => {
  it('without --follow: UNKNOWN_TOPIC, exit 1; a name that can never be a topic: INVALID_TOPIC, also with --follow', async () => {
    const broker = await startChildBroker(tempDir(), await freePort());
    const env = { TRIBUTARY_BROKER: `127.0.0.1:${broker.port}` };
    const r = await run(['consume', 'later'], { env });
    expect(r).toMatchObject({ code: 1, stdout: '', stderr: 'tributary: UNKNOWN_TOPIC: unknown topic later\n' });
    const bad = await run(['consume', 'a/b', '--follow'], { env });
    expect(bad.code).toBe(1);
    expect(lines(bad.stderr)).toEqual(['tributary: INVALID_TOPIC: invalid topic name "a/b": use 1-249 characters of [a-zA-Z0-9._-], not "." or ".."']);
  });

  it('with --follow: waits, then prints every record of the new topic from its first one', async () => {
    const broker = await startChildBroker(tempDir(), await freePort());
    const env = { TRIBUTARY_BROKER: `127.0.0.1:${broker.port}` };
    const follower = spawn(process.execPath, [bundlePath, 'consume', 'later', '--follow', '--max', '3'], { env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    onCleanup(async () => void follower.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    follower.stdout.on('data', (d) => (stdout += d));
    follower.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => follower.once('close', resolve));
    await expect.poll(() => stderr, { timeout: 15_000 }).toBe('waiting for topic later to be created (Ctrl-C to stop)\n');

    // The first produce creates the topic (auto-create is on by default).
    const producer = await Producer.connect({ port: broker.port });
    onCleanup(() => producer.close());
    await producer.sendBatch([1, 2, 3].map((i) => ({ topic: 'later', partition: 0, value: `r${i}` })));
    expect(await exited).toBe(0);
    expect(lines(stdout)).toEqual(['r1', 'r2', 'r3']);
  });

  it("with --group: the member waits without an assignment; the topic's creation rebalances the group and --from-beginning reads it all", async () => {
    const broker = await startChildBroker(tempDir(), await freePort());
    const env = { TRIBUTARY_BROKER: `127.0.0.1:${broker.port}` };
    const member = spawn(process.execPath, [bundlePath, 'consume', 'later', '--group', 'g', '--from-beginning', '--max', '2'], { env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    onCleanup(async () => void member.kill('SIGKILL'));
    let stdout = '';
    member.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => member.once('close', resolve));
    const admin = await Admin.connect({ port: broker.port });
    onCleanup(() => admin.close());
    // Joined (a member with no partitions) before the topic exists.
    await expect.poll(async () => (await admin.listGroups()).find((g) => g.group === 'g')?.members ?? 0, { timeout: 15_000 }).toBe(1);
    const producer = await Producer.connect({ port: broker.port });
    onCleanup(() => producer.close());
    await producer.sendBatch([{ topic: 'later', partition: 0, value: 'a' }, { topic: 'later', partition: 0, value: 'b' }]);
    expect(await exited).toBe(0);
    expect(lines(stdout)).toEqual(['a', 'b']);
  });

  it('with --follow: Ctrl-C or --timeout-ms end the wait with exit 0', async () => {
    const broker = await startChildBroker(tempDir(), await freePort());
    const env = { TRIBUTARY_BROKER: `127.0.0.1:${broker.port}` };
    const timedOut = await run(['consume', 'never', '--follow', '--timeout-ms', '300'], { env });
    expect(timedOut).toMatchObject({ code: 0, stdout: '', stderr: 'waiting for topic never to be created (Ctrl-C to stop)\n' });

    const follower = spawn(process.execPath, [bundlePath, 'consume', 'never', '--follow'], { env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    onCleanup(async () => void follower.kill('SIGKILL'));
    let stderr = '';
    follower.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => follower.once('close', resolve));
    await expect.poll(() => stderr, { timeout: 15_000 }).toContain('waiting for topic never');
    follower.kill('SIGINT');
    expect(await exited).toBe(0);
  });
});
