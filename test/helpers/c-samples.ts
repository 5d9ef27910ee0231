// The C edge library's POSIX examples (firmware-samples/c) for live tests: building them into a
// build directory of the test file's own (test files run in parallel, and two makes in one
// directory would race), running tributary-sensor to completion or as a child whose progress
// lines a test waits on, and reading a topic back with the TypeScript consumer.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Consumer, type ConsumedRecord } from '../../src/client/index.ts';
import { onCleanup } from './temp.ts';

export const cDir = path.resolve('firmware-samples/c');

/** Where a test reaches a broker: a TestBroker, or a proxy or child broker put in that shape. */
export interface Endpoint {
  url: { host: string; port: number };
}

export interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with stdin closed (make may exit before a piped stdin is written: EPIPE). */
export function runProcess(command: string, args: string[], opts: { timeoutMs: number }): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The value tributary-sensor gives reading i (from 0). */
export function reading(i: number): string {
  return `reading ${String(i).padStart(12, '0')}`;
}

/** Every record of partition 0 from the start until `count` arrived, then one more poll: anything stored twice shows up beyond `count`. */
export async function readAll(at: Endpoint, topic: string, count: number): Promise<ConsumedRecord[]> {
  const c = await Consumer.connect({ ...at.url, maxWaitMs: 100 });
  onCleanup(() => c.close());
  await c.assign([{ topic, partition: 0, offset: 'earliest' }]);
  const out: ConsumedRecord[] = [];
  while (out.length < count) out.push(...(await c.poll()));
  out.push(...(await c.poll()));
  return out;
}

/** A tributary-sensor child: its stdout so far, and waits on it that fail if the sensor exits first. */
export interface SensorChild {
  child: ChildProcess;
  output(): string;
  /** Resolves once `re` matches the stdout so far. */
  waitFor(re: RegExp): Promise<void>;
  /** Resolves once `done(stdout so far)` is true; checked on every chunk the sensor prints. */
  waitUntil(done: (out: string) => boolean): Promise<void>;
  /** The exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

export interface CSamples {
  buildDir: string;
  sensor: string;
  fetcher: string;
  grouper: string;
  make(...targets: string[]): Promise<ProcessRun>;
  /** Runs tributary-sensor against `at` with `args` until it exits. */
  runSensor(at: Endpoint, args: string[]): Promise<ProcessRun>;
  /** Starts tributary-sensor against `at`; SIGKILLed after the test if still running. */
  startSensor(at: Endpoint, args: string[]): SensorChild;
}

/** The examples built into firmware-samples/c/`build` (a directory under it, make's B=). */
export function cSamples(build: string): CSamples {
  const buildDir = path.join(cDir, build);
  const sensor = path.join(buildDir, 'tributary-sensor');
  const hostArgs = (at: Endpoint) => ['--host', at.url.host, '--port', String(at.url.port)];
  return {
    buildDir,
    sensor,
    fetcher: path.join(buildDir, 'tributary-fetch'),
    grouper: path.join(buildDir, 'tributary-group'),
    make: (...targets) => runProcess('make', ['-C', cDir, `B=${build}`, ...targets], { timeoutMs: 300_000 }),
    runSensor: (at, args) => runProcess(sensor, [...hostArgs(at), ...args], { timeoutMs: 120_000 }),
    startSensor(at, args) {
      const child = spawn(sensor, [...hostArgs(at), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let closed = false;
      let waiters: { done: (out: string) => boolean; resolve: () => void; reject: (e: Error) => void }[] = [];
      const check = () => {
        waiters = waiters.filter((w) => {
          if (w.done(out)) w.resolve();
          else if (closed) w.reject(new Error(`tributary-sensor exited (${child.exitCode ?? child.signalCode}) before the awaited output:\n${out}`));
          else return true;
          return false;
        });
      };
      child.stdout.on('data', (d) => {
        out += d;
        check();
      });
      const exited = new Promise<number | null>((resolve) =>
        child.once('close', (code) => {
          closed = true;
          check();
          resolve(code);
        }),
      );
      onCleanup(async () => {
        if (!closed) child.kill('SIGKILL');
        await exited;
      });
      const waitUntil = (done: (out: string) => boolean) =>
        new Promise<void>((resolve, reject) => {
          waiters.push({ done, resolve, reject });
          check();
        });
      return { child, output: () => out, waitFor: (re) => waitUntil((o) => re.test(o)), waitUntil, exited };
    },
  };
}
