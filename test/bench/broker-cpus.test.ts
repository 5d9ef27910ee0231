// `tributary bench --broker-cpus LIST` through the built CLI: the broker child process it starts runs
// pinned to LIST (its /proc status says so while it runs), the bench process itself does not, the
// header and the JSON say it, and a bad list or a missing taskset is a one-line usage error.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundlePath, cleanEnv } from '../helpers/child-broker.ts';
import { lines, run } from '../helpers/cli.ts';
import { onCleanup } from '../helpers/temp.ts';

/** Cpus_allowed_list of a process, or null once it is gone. */
function cpusAllowed(pid: number): string | null {
  try {
    return /^Cpus_allowed_list:\s*(\S+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** The pids of `parent`'s children running `tributary start` (a taskset still exec'ing is not one yet). */
function brokerChildren(parent: number): number[] {
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const argv = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (ppid === parent && argv.includes(bundlePath) && argv.includes('start')) pids.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

describe('tributary bench --broker-cpus', () => {
  // With one CPU the pinned and the unpinned lists would be the same.
  it.skipIf(os.availableParallelism() < 2)('starts the broker child process under taskset -c LIST and leaves the bench process unpinned', async () => {
    const bench = spawn(process.execPath, [bundlePath, 'bench', '--quick', '--json', '--only', 'rss', '--broker-cpus', '0'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    onCleanup(async () => void bench.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    bench.stdout.on('data', (d) => (stdout += d));
    bench.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => bench.once('close', (code) => resolve(code)));
    let done = false;
    void exited.then(() => (done = true));

    // The broker lives from its spawn until the bench stops it (after the idle RSS reading): the
    // affinity is read while it runs.
    const seen = new Map<number, string>();
    let benchCpus: string | null = null;
    while (!done) {
      benchCpus ??= cpusAllowed(bench.pid!);
      for (const pid of brokerChildren(bench.pid!)) {
        const cpus = cpusAllowed(pid);
        if (cpus !== null) seen.set(pid, cpus);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await exited, stderr).toBe(0);
    expect([...seen.values()]).toEqual(['0']);
    expect(benchCpus).not.toBeNull();
    expect(benchCpus).not.toBe('0');
    const out = JSON.parse(stdout) as { brokerCpus: string | null; problems: string[] };
    expect(out).toMatchObject({ brokerCpus: '0', problems: [] });
  }, 60_000);

  it('says under the machine that the brokers were pinned', async () => {
    const r = await run(['bench', '--quick', '--only', 'rss', '--broker-cpus', '0'], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^machine: .*\nnode .*\nbroker child processes pinned to CPUs 0 \(taskset -c 0\); load generators and mosquitto unpinned\n\nBENCH\s/);
  }, 60_000);

  it.each([
    [['x'], {}, /^tributary: INVALID_REQUEST: .*--broker-cpus.*'x' is invalid\. not a CPU list \(e\.g\. 0, 0,1 or 0-3\)$/],
    [['4096'], {}, /^tributary: INVALID_REQUEST: .*'4096' is invalid\. taskset cannot pin to these CPUs on this machine \(taskset: .*\)$/],
    // node is started by its full path: only taskset is missing.
    [['0'], { PATH: path.join(os.tmpdir(), 'no-such-dir') }, /^tributary: INVALID_REQUEST: .*'0' is invalid\. it needs taskset, which is not on PATH \(Debian: apt install util-linux\)$/],
  ])('--broker-cpus %j: one-line usage error, exit 2, no bench run', async (list, env, message) => {
    const r = await run(['bench', '--only', 'rss', '--broker-cpus', ...list], { env });
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(lines(r.stderr)[0]).toMatch(message);
    expect(r.stdout).toBe('');
  });
});
