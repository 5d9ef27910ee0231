// `tributary start` and its data dir, with real brokers as child processes: one broker per data dir
// (an exclusive lock that a kill -9 does not leave behind), and a data dir that cannot be created or
// written named in one line with a hint.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Admin, Producer } from '../../src/client/index.ts';
import { bundlePath, cleanEnv, freePort, startChildBroker, trackChild, waitForPort, type ChildBroker } from '../helpers/child-broker.ts';
import { lines, run, runProcess } from '../helpers/cli.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

/** Env for a `tributary start` that must fail before it listens (HTTP, MQTT and Kafka off, edge on a free port). */
async function startEnv(dataDir: string): Promise<Record<string, string>> {
  return {
    TRIBUTARY_DATA_DIR: dataDir,
    TRIBUTARY_LISTENERS__EDGE__HOST: '127.0.0.1',
    TRIBUTARY_LISTENERS__EDGE__PORT: String(await freePort()),
    TRIBUTARY_LISTENERS__HTTP__ENABLED: 'false',
    TRIBUTARY_LISTENERS__MQTT__ENABLED: 'false',
    TRIBUTARY_LISTENERS__KAFKA__ENABLED: 'false',
    TRIBUTARY_LOG__PRETTY: 'false',
  };
}

async function produceOne(port: number, value: string): Promise<number> {
  const producer = await Producer.connect({ host: '127.0.0.1', port, acks: 1 });
  try {
    return (await producer.send({ topic: 'locked', value: Buffer.from(value) })).offset;
  } finally {
    await producer.close();
  }
}

describe('one broker per data dir', () => {
  it('a second start on the same data dir exits 1 naming the dir and the holder pid; after kill -9 of the first, a new start succeeds with every acked record', async () => {
    const dataDir = path.join(tempDir(), 'data');
    const first = await startChildBroker(dataDir, await freePort());
    expect(await produceOne(first.port, 'a')).toBe(0);

    const second = await run(['start'], { env: await startEnv(dataDir) });
    expect(second.code).toBe(1);
    expect(lines(second.stderr)).toHaveLength(1);
    expect(second.stderr).toMatch(new RegExp(`^tributary: EBUSY: data dir ${dataDir} is in use by another tributary \\(pid ${first.child.pid}[,)]`));
    expect(second.stderr).not.toContain('tributary started');
    // The refused start touched nothing: the first broker still serves, offsets continue.
    expect(await produceOne(first.port, 'b')).toBe(1);

    first.child.kill('SIGKILL');
    await first.exited;
    const third = await startChildBroker(dataDir, await freePort());
    const admin = await Admin.connect({ host: '127.0.0.1', port: third.port });
    onCleanup(() => admin.close());
    expect((await admin.describeTopic('locked')).partitions[0].nextOffset).toBe(2);
    expect(await produceOne(third.port, 'c')).toBe(2);
    expect(JSON.parse(fs.readFileSync(path.join(dataDir, '.lock'), 'utf8'))).toMatchObject({ pid: third.child.pid });
  });

  it('a graceful stop releases the lock at once', async () => {
    const dataDir = tempDir();
    const first = await startChildBroker(dataDir, await freePort());
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const next = await startChildBroker(dataDir, await freePort());
    expect(next.output()).toContain('tributary started');
  });
});

// A container: its own PID and UTS namespaces, so its broker is pid 1 on host gw-container, and a
// pid file checked with process.kill(pid, 0) from outside would find some other process as pid 1.
const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['--pid', '--fork', '--kill-child', '--uts', 'true']).status === 0;

async function startInContainer(dataDir: string, port: number): Promise<ChildBroker> {
  // --kill-child: the broker does not outlive a test that fails before it kills the broker itself.
  const child = spawn('unshare', ['--pid', '--fork', '--kill-child', '--uts', 'sh', '-c', 'hostname gw-container && exec "$0" "$@"', process.execPath, bundlePath, 'start'], {
    env: { ...cleanEnv(), ...(await startEnv(dataDir)), TRIBUTARY_LISTENERS__EDGE__PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const broker = trackChild(child, port);
  await waitForPort(broker, port);
  return broker;
}

describe.runIf(canUnshare || process.env.CI)('one broker per data dir across containers', () => {
  it('a broker in another PID namespace holds the lock: the second start exits 1 naming pid 1 on its host; after its kill -9, a start succeeds', async () => {
    const dataDir = tempDir();
    const contained = await startInContainer(dataDir, await freePort());
    const second = await run(['start'], { env: await startEnv(dataDir) });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`^tributary: EBUSY: data dir ${dataDir} is in use by another tributary \\(pid 1 on host gw-container, since `));
    // kill -9 of the container's broker, by its pid outside; unshare exits once it is gone.
    const brokerPid = Number(fs.readFileSync(`/proc/${contained.child.pid}/task/${contained.child.pid}/children`, 'utf8').trim());
    process.kill(brokerPid, 'SIGKILL');
    await contained.exited;
    const next = await startChildBroker(dataDir, await freePort());
    expect(next.output()).toContain('tributary started');
  });
});

describe('a data dir that cannot be used', () => {
  it('a parent that is a file: one ENOTDIR line naming the dir, exit 1', async () => {
    const file = path.join(tempDir(), 'not-a-dir');
    fs.writeFileSync(file, 'x');
    const dataDir = path.join(file, 'data');
    const r = await run(['start'], { env: await startEnv(dataDir) });
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([
      `tributary: ENOTDIR: cannot use data dir ${dataDir}: a part of the path is a file, not a directory (ENOTDIR); set dataDir to a directory this user can create and write`,
    ]);
  });

  // Root writes everywhere, so the broker runs as `nobody` when the tests run as root; otherwise the
  // directory is made read-only for its owner. Either way the kernel refuses with a real EACCES.
  const asRoot = process.getuid?.() === 0;
  async function startAsUnprivileged(dataDir: string) {
    const env = { ...(await startEnv(dataDir)), PATH: process.env.PATH ?? '/usr/bin:/bin' };
    if (!asRoot) return run(['start'], { env });
    return runProcess(process.execPath, [bundlePath, 'start'], { env, uid: 65534, gid: 65534 });
  }

  function readOnlyParent(): string {
    const parent = tempDir();
    fs.chmodSync(parent, asRoot ? 0o755 : 0o555);
    onCleanup(async () => fs.chmodSync(parent, 0o755));
    return parent;
  }

  it('a data dir that cannot be created: one EACCES line naming it with a hint, exit 1', async () => {
    const dataDir = path.join(readOnlyParent(), 'missing', 'data');
    const r = await startAsUnprivileged(dataDir);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^tributary: EACCES: cannot use data dir ${dataDir}.*: permission denied \\(EACCES\\); check the owner and mode`));
    expect(r.stderr).not.toMatch(/EACCES: EACCES/);
  });

  it('a data dir that exists but is not writable: one EACCES line naming it, not LMDB\'s "Attempting to setup locks"', async () => {
    const dataDir = readOnlyParent();
    const r = await startAsUnprivileged(dataDir);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^tributary: EACCES: cannot use data dir ${dataDir} \\(at ${dataDir}/\\.lock\\): permission denied \\(EACCES\\); check the owner and mode`));
  });
});
