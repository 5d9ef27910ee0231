// Runs the built CLI (dist/tributary.mjs) as a child process, the way operators and scripts run it.
import { spawn } from 'node:child_process';
import { bundlePath } from './child-broker.ts';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The runner's own TRIBUTARY_* variables would leak into the commands under test. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TRIBUTARY_')));
}

/** `interruptAfterMs`: send SIGINT then, as Ctrl-C would. */
export function run(args: string[], opts: { input?: string; env?: Record<string, string>; timeoutMs?: number; interruptAfterMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundlePath, ...args], { env: { ...cleanEnv(), ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
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
    child.stdin.end(opts.input ?? '');
  });
}

export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}
