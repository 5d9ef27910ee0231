// Runs the built CLI (dist/tributary.mjs), or any other command, as a child process, the way
// operators and scripts run it.
import { spawn } from 'node:child_process';
import { bundlePath, cleanEnv } from './child-broker.ts';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Send SIGINT then, as Ctrl-C would. */
  interruptAfterMs?: number;
  /** Run as this user and group (the tests run as root; root passes every permission check). */
  uid?: number;
  gid?: number;
  cwd?: string;
}

/** Any command as a child process, stdout and stderr collected; killed after timeoutMs (default 20 s). */
export function runProcess(command: string, args: string[], opts: RunOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], uid: opts.uid, gid: opts.gid, cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    const interrupt = opts.interruptAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGINT'), opts.interruptAfterMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      clearTimeout(interrupt);
      resolve({ code, stdout, stderr });
    });
    // A command that exits without reading its stdin (a launcher refusing to start) closes the pipe
    // first: EPIPE on our end is then expected, and its exit code tells the test what happened.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(err);
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** The built CLI with `args`, without the runner's TRIBUTARY_* variables. */
export function run(args: string[], opts: Omit<RunOptions, 'env'> & { env?: Record<string, string> } = {}): Promise<Run> {
  return runProcess(process.execPath, [bundlePath, ...args], { ...opts, env: { ...cleanEnv(), ...opts.env } });
}

export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}
