// A broker in a child process, so its CPU time and memory can be read apart from the load
// generator's. It runs the same entry script as this process with `start`, configured through env
// on a temp data dir (or one the caller owns, to restart on the same log), and reports its edge,
// MQTT and HTTP ports in its "tributary started" log line (port 0: no race between picking a free
// port and binding it).

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { brokerCommand } from './broker-cpus.ts';
import { fmtMB } from './results.ts';

const STARTUP_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 20_000;
const MEMORY_SAMPLE_MS = 1000;

export interface ProcessMemory {
  rssBytes: number;
  /** Heap, stacks, buffers: what the process really costs the machine. */
  anonBytes: number;
  /** Mapped files, mostly LMDB's data file: page cache the kernel can reclaim under pressure. */
  fileBytes: number;
  /** Peak RSS since the process started (VmHWM). */
  peakRssBytes: number;
}

/** The process figures every throughput case reports beside its rate. */
export function processFigures(brokerCpuPct: number | null, generatorCpuPct: number | null, memory: ProcessMemory | null) {
  return {
    brokerCpuPct,
    generatorCpuPct,
    brokerRssBytes: memory?.rssBytes ?? null,
    brokerAnonBytes: memory?.anonBytes ?? null,
    brokerPeakRssBytes: memory?.peakRssBytes ?? null,
  };
}

/** "RSS 180.9 MB (anon 95.1 MB + file 85.8 MB, peak 190.2 MB)" */
export function memoryText(m: ProcessMemory): string {
  return `RSS ${fmtMB(m.rssBytes)} (anon ${fmtMB(m.anonBytes)} + file ${fmtMB(m.fileBytes)}, peak ${fmtMB(m.peakRssBytes)})`;
}

export class BrokerProcess {
  readonly pid: number;
  readonly edgePort: number;
  /** Null when the broker runs without its MQTT listener. */
  readonly mqttPort: number | null;
  /** Null when the broker runs without its HTTP listener. */
  readonly httpPort: number | null;
  /** The Kafka listener's port (on port 0 unless TRIBUTARY_LISTENERS__KAFKA__* say otherwise); null if it is off. */
  readonly kafkaPort: number | null;
  private readonly child: ChildProcess;
  /** Null when the caller owns the data dir: stop() leaves it. */
  private readonly ownDataDir: string | null;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(child: ChildProcess, ownDataDir: string | null, ports: StartedPorts, exited: BrokerProcess['exited']) {
    this.child = child;
    this.pid = child.pid!;
    this.ownDataDir = ownDataDir;
    this.edgePort = ports.edgePort;
    this.mqttPort = ports.mqttPort;
    this.httpPort = ports.httpPort;
    this.kafkaPort = ports.kafkaPort;
    this.exited = exited;
  }

  /**
   * `settings`: extra TRIBUTARY_* variables, applied over the bench's own (lists as JSON, e.g.
   * TRIBUTARY_MIRRORS). `dataDir`: a directory the caller owns and removes, e.g. to restart a
   * broker on the same log; by default a temp dir that stop() removes.
   */
  static async start(settings: Readonly<Record<string, string>> = {}, opts: { dataDir?: string } = {}): Promise<BrokerProcess> {
    const ownDataDir = opts.dataDir === undefined ? fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-bench-broker-')) : null;
    const dataDir = opts.dataDir ?? ownDataDir!;
    const env: NodeJS.ProcessEnv = {};
    // An operator's own TRIBUTARY_* settings would make runs incomparable.
    for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('TRIBUTARY_')) env[name] = value;
    Object.assign(env, {
      TRIBUTARY_DATA_DIR: dataDir,
      TRIBUTARY_LISTENERS__EDGE__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__EDGE__PORT: '0',
      // HTTP stays on, as in production: prom-client and the listener are part of the idle RSS.
      TRIBUTARY_LISTENERS__HTTP__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__HTTP__PORT: '0',
      // MQTT too, on ports of its own so a broker already running on this machine is no obstacle.
      TRIBUTARY_LISTENERS__MQTT__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__MQTT__PORT: '0',
      TRIBUTARY_LISTENERS__MQTT__WS__PORT: '0',
      // Kafka too (on by default), likewise on a port of its own.
      TRIBUTARY_LISTENERS__KAFKA__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__KAFKA__PORT: '0',
      TRIBUTARY_LOG__LEVEL: 'info',
      TRIBUTARY_LOG__PRETTY: 'false',
      ...settings,
    });
    // execArgv carries loaders (tsx) when this runs from source rather than from the bundle.
    // Under taskset with --broker-cpus (broker-cpus.ts); taskset execs node, so the pid is the broker's.
    const { command, args } = brokerCommand(process.execPath, [...process.execArgv, process.argv[1], 'start']);
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const output: string[] = [];
    child.stderr!.on('data', (chunk: Buffer) => keepTail(output, chunk.toString()));
    try {
      const ports = await waitForStart(child, exited, output);
      return new BrokerProcess(child, ownDataDir, ports, exited);
    } catch (err) {
      child.kill('SIGKILL');
      await exited;
      if (ownDataDir !== null) fs.rmSync(ownDataDir, { recursive: true, force: true });
      throw err;
    }
  }

  memory(): ProcessMemory | null {
    return processMemory(this.pid);
  }

  /**
   * The sample with the least anonymous memory, one a second over `windowMs`: what an idle broker
   * settles at once V8's memory reducer has shrunk its heap, which happens some seconds after
   * allocation stops. Null where /proc is missing.
   */
  async lowestMemory(windowMs: number): Promise<ProcessMemory | null> {
    let lowest = this.memory();
    for (let waitedMs = 0; lowest !== null && waitedMs < windowMs; waitedMs += MEMORY_SAMPLE_MS) {
      await sleep(MEMORY_SAMPLE_MS);
      const m = this.memory();
      if (m === null) return null;
      if (m.anonBytes < lowest.anonBytes) lowest = m;
    }
    return lowest;
  }

  /** User + system CPU seconds used so far, or null where /proc is missing. */
  cpuSeconds(): number | null {
    return processCpuSeconds(this.pid);
  }

  /** SIGTERM, then waits for the exit and removes its own data dir; returns whether it shut down cleanly. */
  async stop(): Promise<boolean> {
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    const { code } = await this.exited;
    clearTimeout(timer);
    if (this.ownDataDir !== null) fs.rmSync(this.ownDataDir, { recursive: true, force: true });
    return code === 0;
  }
}

/** Memory of any process of this machine (a peer broker too), or null where /proc is missing. */
export function processMemory(pid: number): ProcessMemory | null {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  // RssShmem (the third part of VmRSS) is left out: nothing here uses shared memory.
  return { rssBytes: kib('VmRSS'), anonBytes: kib('RssAnon'), fileBytes: kib('RssFile'), peakRssBytes: kib('VmHWM') };
}

/** User + system CPU seconds a process used so far, or null where /proc is missing. */
export function processCpuSeconds(pid: number): number | null {
  try {
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the line.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond();
  } catch {
    return null;
  }
}

/** A thread's time on a CPU and waiting in a run queue for one, in seconds (Linux schedstat). */
export interface ThreadSched {
  runSeconds: number;
  waitSeconds: number;
  atNs: bigint;
}

/** The main thread (tid = pid) of a process; null where /proc has no schedstat. */
export function mainThreadSched(pid: number): ThreadSched | null {
  try {
    const [run, wait] = fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ').map(Number);
    return { runSeconds: run / 1e9, waitSeconds: wait / 1e9, atNs: process.hrtime.bigint() };
  } catch {
    return null;
  }
}

/** Shares of wall time, in %, that a thread ran and that it waited runnable for a CPU. */
export interface SchedShares {
  runPct: number;
  waitPct: number;
}

/** SchedShares between two samples of one thread. */
export function schedShares(a: ThreadSched | null, b: ThreadSched | null): SchedShares | null {
  if (a === null || b === null || b.atNs <= a.atNs) return null;
  const seconds = Number(b.atNs - a.atNs) / 1e9;
  return { runPct: ((b.runSeconds - a.runSeconds) / seconds) * 100, waitPct: ((b.waitSeconds - a.waitSeconds) / seconds) * 100 };
}

interface StartedPorts {
  edgePort: number;
  mqttPort: number | null;
  httpPort: number | null;
  kafkaPort: number | null;
}

function waitForStart(child: ChildProcess, exited: BrokerProcess['exited'], stderrTail: string[]): Promise<StartedPorts> {
  return new Promise((resolve, reject) => {
    const logTail: string[] = [];
    const timer = setTimeout(() => reject(new Error(`broker did not start within ${STARTUP_TIMEOUT_MS} ms`)), STARTUP_TIMEOUT_MS);
    // The pipe is read to the end, or a chatty broker would block on a full pipe.
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      keepTail(logTail, line);
      let entry: { msg?: string; edgePort?: number; mqttPort?: number; httpPort?: number; kafkaPort?: number };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        return;
      }
      if (entry.msg === 'tributary started' && typeof entry.edgePort === 'number') {
        clearTimeout(timer);
        const port = (p: number | undefined) => (typeof p === 'number' ? p : null);
        resolve({ edgePort: entry.edgePort, mqttPort: port(entry.mqttPort), httpPort: port(entry.httpPort), kafkaPort: port(entry.kafkaPort) });
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      const tail = [...logTail, ...stderrTail].join('\n').trim();
      reject(new Error(`broker exited during startup (${signal ?? `code ${code}`})${tail ? `: ${tail}` : ''}`));
    });
  });
}

function keepTail(lines: string[], text: string): void {
  lines.push(text);
  if (lines.length > 20) lines.shift();
}

let clockTicks: number | undefined;

function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}
