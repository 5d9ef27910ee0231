// `tributary bench --broker-cpus LIST`: every Tributary child process the benches start runs under
// `taskset -c LIST` (util-linux), so figures can be read for a broker held to fewer cores, as on a
// Pi Zero 2 or a busy Pi. Load generators, mosquitto and the bench process itself stay unpinned: only
// the broker is measured on the reduced machine. One setting per run, read by BrokerProcess.start,
// the one place broker child processes are spawned, so no bench can forget it.

import { execFileSync } from 'node:child_process';

// taskset's -c syntax: CPU numbers and ranges (with an optional stride), comma-separated.
const CPU_LIST = /^\d+(-\d+(:\d+)?)?(,\d+(-\d+(:\d+)?)?)*$/;

let pinned: string | null = null;

/**
 * Checks that `list` is a CPU list taskset can pin a process to on this machine, by running
 * `taskset -c LIST true`; returns it, or throws an Error whose message (after the CLI's "argument
 * 'LIST' is invalid.") says what to fix.
 */
export function checkBrokerCpus(list: string): string {
  if (!CPU_LIST.test(list)) throw new Error('not a CPU list (e.g. 0, 0,1 or 0-3)');
  try {
    execFileSync('taskset', ['-c', list, 'true'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('it needs taskset, which is not on PATH (Debian: apt install util-linux)');
    const reason = String((err as { stderr?: Buffer }).stderr ?? '').trim().split('\n')[0] ?? '';
    throw new Error(`taskset cannot pin to these CPUs on this machine${reason ? ` (${reason})` : ''}`);
  }
  return list;
}

/** Pins the brokers of the benches that follow to `list` (checked by checkBrokerCpus), or unpins them (null). */
export function pinBrokers(list: string | null): void {
  pinned = list;
}

/** The CPU list the brokers are pinned to, or null. */
export function brokerCpus(): string | null {
  return pinned;
}

/** The command line that starts a broker: `command args` as is, or under taskset when pinned. */
export function brokerCommand(command: string, args: readonly string[]): { command: string; args: string[] } {
  return pinned === null ? { command, args: [...args] } : { command: 'taskset', args: ['-c', pinned, command, ...args] };
}
