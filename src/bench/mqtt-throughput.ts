// MQTT ingest, side by side with Debian's Mosquitto: the same C load generator (mqtt-load.c on
// libmosquitto, compiled here at run time) against a Tributary child process (default route → log
// topic `mqtt`, acks 1) and a Mosquitto child process (in memory). An MQTT.js generator cannot tell
// the two apart (../shared/BENCHMARKING.md). Rounds alternate between the brokers, so drift on a
// shared machine hits both alike; the ratio of the medians is the figure to quote.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BrokerProcess, memoryText, processCpuSeconds, processMemory, type ProcessMemory, processFigures } from './broker-process.ts';
import { fmtMs, spread, spreadText, type BenchResult } from './results.ts';
import { withTempDir } from './temp-dir.ts';

export interface MqttSettings {
  publishers: number;
  /** QoS 1 messages in flight per publisher (QoS 0: messages queued in libmosquitto). */
  window: number;
  payloadBytes: number;
  /** Length of one round. */
  durationMs: number;
  /** Rounds per broker and QoS; the median rate is reported. */
  repeats: number;
}

export const mqttTarget = { metric: 'ratioToMosquitto', op: '>=', value: 1, label: 'QoS 1 ≥ mosquitto' } as const;

export const INSTALL_HINT = 'apt-get install mosquitto libmosquitto-dev';
const GENERATOR_GRACE_MS = 30_000;
const MOSQUITTO_START_TIMEOUT_MS = 5_000;
/** A broker is done with a round once it used less than this share of a core over QUIET_SAMPLE_MS. */
const QUIET_CPU_SHARE = 0.05;
const QUIET_SAMPLE_MS = 100;
const QUIET_TIMEOUT_MS = 60_000;

type Qos = 0 | 1;
/** mqtt-load.c's PROTOCOL: 4 is MQTT 3.1.1, 5 is MQTT 5. */
type Protocol = 4 | 5;

/** QoS 0 and 1 over MQTT 3.1.1, and QoS 1 over MQTT 5: what an MQTT 5 client costs beside a 3.1.1 one. */
const CASES: readonly { qos: Qos; protocol: Protocol }[] = [
  { qos: 0, protocol: 4 },
  { qos: 1, protocol: 4 },
  { qos: 1, protocol: 5 },
];
export type PeerName = 'tributary' | 'mosquitto';

/** What mqtt-load.c prints. */
interface GeneratorOutput {
  ok: boolean;
  seconds: number;
  messages: number;
  perSec: number;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  cpuSeconds: number;
  cpuPct: number;
}

interface Round {
  out: GeneratorOutput;
  /** How long the broker stayed busy after the generator stopped: what it still had buffered. */
  drainSeconds: number | null;
  /** Messages over sending time plus drain time: what the broker really took in per second. */
  absorbedPerSec: number | null;
  brokerCpuPct: number | null;
  memory: ProcessMemory | null;
}

export interface Peer {
  name: PeerName;
  port: number;
  pid: number;
}

/**
 * A Tributary child process and a Mosquitto child process (`mosquittoConfig`: more mosquitto.conf
 * lines) as the two peers of a bench, stopped once `run` is done. `bench` names the bench in the
 * line printed when Tributary does not stop cleanly.
 */
export async function withPeers<T>(bench: string, dir: string, mosquittoConfig: readonly string[], run: (peers: Peer[]) => Promise<T>): Promise<T> {
  const tributary = await BrokerProcess.start();
  let mosquitto: MosquittoProcess | null = null;
  try {
    if (tributary.mqttPort === null) throw new Error('the broker child process did not report an MQTT port');
    mosquitto = await MosquittoProcess.start(dir, mosquittoConfig);
    return await run([
      { name: 'tributary', port: tributary.mqttPort, pid: tributary.pid },
      { name: 'mosquitto', port: mosquitto.port, pid: mosquitto.pid },
    ]);
  } finally {
    await mosquitto?.stop();
    if (!(await tributary.stop())) process.stderr.write(`tributary: bench: ${bench}: broker did not shut down cleanly on SIGTERM\n`);
  }
}

export async function runMqtt(s: MqttSettings): Promise<BenchResult[]> {
  return withTempDir('mqtt', async (dir) => {
    const missing = missingPrerequisites();
    const generator = missing.length === 0 ? compileGenerator(dir, missing) : null;
    if (generator === null) return [skipped(missing)];

    return withPeers('mqtt', dir, [], async (peers) => {
      const rounds = new Map<string, Round[]>();
      for (let r = 0; r < s.repeats; r++) {
        for (const { qos, protocol } of CASES) {
          for (const peer of peers) {
            process.stderr.write(`  mqtt: ${peer.name} ${protocolName(protocol)} QoS ${qos}, round ${r + 1}/${s.repeats}\n`);
            const key = `${peer.name}/${qos}/${protocol}`;
            rounds.set(key, [...(rounds.get(key) ?? []), await runRound(generator, peer, qos, protocol, s)]);
          }
        }
      }
      const results: BenchResult[] = [];
      for (const { qos, protocol } of CASES) {
        const mosq = rounds.get(`mosquitto/${qos}/${protocol}`)!;
        const mosqRate = spread(mosq.map((r) => rateOf(r, qos))).median;
        results.push(row('tributary', qos, protocol, rounds.get(`tributary/${qos}/${protocol}`)!, mosqRate, s));
        results.push(row('mosquitto', qos, protocol, mosq, null, s));
      }
      return results;
    });
  });
}

/**
 * The rate a round is compared by. QoS 1 counts PUBACKs, so it is what the broker took in. QoS 0
 * counts messages written to the socket, hundreds of thousands of which can sit in socket buffers
 * when the generator stops: the broker's time to work them off is added.
 */
function rateOf(r: Round, qos: Qos): number {
  return qos === 1 || r.absorbedPerSec === null ? r.out.perSec : r.absorbedPerSec;
}

function protocolName(protocol: Protocol): string {
  return protocol === 5 ? 'MQTT 5' : 'MQTT 3.1.1';
}

function row(name: PeerName, qos: Qos, protocol: Protocol, rounds: readonly Round[], mosquittoRate: number | null, s: MqttSettings): BenchResult {
  const rate = spread(rounds.map((r) => rateOf(r, qos)));
  const sent = spread(rounds.map((r) => r.out.perSec));
  const drains = rounds.map((r) => r.drainSeconds).filter((d) => d !== null);
  const drain = drains.length === 0 ? null : spread(drains).median;
  const p50 = qos === 1 ? spread(rounds.map((r) => r.out.p50Ms)).median : null;
  const p99 = qos === 1 ? spread(rounds.map((r) => r.out.p99Ms)).median : null;
  const brokerCpuPct = rounds.every((r) => r.brokerCpuPct !== null) ? spread(rounds.map((r) => r.brokerCpuPct!)).median : null;
  const generatorCpuPct = spread(rounds.map((r) => r.out.cpuPct)).median;
  const memory = rounds[rounds.length - 1].memory;
  const ratio = mosquittoRate === null || mosquittoRate === 0 ? null : rate.median / mosquittoRate;
  const unit = qos === 1 ? 'msg/s acked' : 'msg/s taken in';
  return {
    bench: 'mqtt',
    case: `${name}, ${protocolName(protocol)}, QoS ${qos}, ${s.publishers} publishers × window ${s.window}, ${s.payloadBytes} B, ${s.repeats} × ${s.durationMs / 1000} s`,
    metrics: {
      messagesPerSec: rate.median,
      sentPerSec: sent.median,
      drainSeconds: drain,
      messagesPerSecMin: rate.min,
      messagesPerSecMax: rate.max,
      runs: rate.runs,
      ratioToMosquitto: ratio,
      pubackP50Ms: p50,
      pubackP99Ms: p99,
      ...processFigures(brokerCpuPct, generatorCpuPct, memory),
    },
    summary: [
      spreadText(rate, unit),
      ratio === null ? null : `${ratio.toFixed(2)}× mosquitto`,
      qos === 0 ? `(sent ${spreadText(sent, 'msg/s')}; busy ${drain === null ? '?' : drain.toFixed(1)} s after the last send)` : null,
      p50 === null || p99 === null ? null : `PUBACK p50 ${fmtMs(p50)}, p99 ${fmtMs(p99)}`,
      `CPU broker ${brokerCpuPct === null ? '?' : brokerCpuPct.toFixed(0)}% / generator ${generatorCpuPct.toFixed(0)}%`,
      memory === null ? null : `after: ${memoryText(memory)}`,
    ]
      .filter((part) => part !== null)
      .join(', '),
    target: name === 'tributary' && qos === 1 && protocol === 4 ? mqttTarget : undefined,
  };
}

function skipped(missing: readonly string[]): BenchResult {
  const text = `skipped: install with ${INSTALL_HINT} (missing: ${missing.join(', ')})`;
  process.stderr.write(`  mqtt: ${text}\n`);
  return { bench: 'mqtt', case: 'tributary vs mosquitto, QoS 0 and 1', metrics: {}, summary: text };
}

async function runRound(generator: string, peer: Peer, qos: Qos, protocol: Protocol, s: MqttSettings): Promise<Round> {
  const cpuBefore = processCpuSeconds(peer.pid);
  const startMs = performance.now();
  const args = ['127.0.0.1', peer.port, s.publishers, qos, s.window, s.durationMs / 1000, 0, s.payloadBytes, protocol].map(String);
  const out = await runGenerator(generator, args, s.durationMs + GENERATOR_GRACE_MS);
  const generatorEndMs = performance.now();
  const quietMs = await waitQuiet(peer.pid);
  const drainSeconds = quietMs === null ? null : Math.max(0, quietMs - generatorEndMs) / 1000;
  const endMs = quietMs ?? generatorEndMs;
  const cpuAfter = processCpuSeconds(peer.pid);
  // Over the generator's run plus the drain: the work the round's messages cost the broker.
  const seconds = (endMs - startMs) / 1000;
  return {
    out,
    drainSeconds,
    absorbedPerSec: drainSeconds === null ? null : out.messages / (out.seconds + drainSeconds),
    brokerCpuPct: cpuBefore === null || cpuAfter === null ? null : ((cpuAfter - cpuBefore) / seconds) * 100,
    memory: processMemory(peer.pid),
  };
}

/**
 * Waits until the broker has been nearly idle for one sample; returns when its last busy sample
 * ended (performance.now() time), or null without /proc or after QUIET_TIMEOUT_MS.
 */
async function waitQuiet(pid: number): Promise<number | null> {
  const deadline = performance.now() + QUIET_TIMEOUT_MS;
  let lastCpu = processCpuSeconds(pid);
  let lastMs = performance.now();
  while (lastCpu !== null && performance.now() < deadline) {
    await sleep(QUIET_SAMPLE_MS);
    const cpu = processCpuSeconds(pid);
    const nowMs = performance.now();
    if (cpu === null) return null;
    if (cpu - lastCpu < (QUIET_CPU_SHARE * (nowMs - lastMs)) / 1000) return lastMs;
    lastCpu = cpu;
    lastMs = nowMs;
  }
  return null;
}

export function runGenerator(binary: string, args: readonly string[], timeoutMs: number): Promise<GeneratorOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      let out: GeneratorOutput | null = null;
      try {
        out = JSON.parse(stdout) as GeneratorOutput;
      } catch {
        // reported below
      }
      if (code === 0 && out?.ok === true) resolve(out);
      else reject(new Error(`load generator failed (${signal ?? `exit code ${code}`}): ${(stderr || stdout).trim() || 'no output'}`));
    });
  });
}

/** Names of what is missing for the MQTT bench, empty when everything is there. */
export function missingPrerequisites(): string[] {
  const missing: string[] = [];
  if (findExecutable('gcc') === null) missing.push('gcc');
  if (findExecutable('mosquitto') === null) missing.push('mosquitto (the broker)');
  if (generatorSource() === null) missing.push('src/bench/mqtt-load.c (run from a source checkout)');
  return missing;
}

/** Compiles mqtt-load.c into `dir`; null (and a name pushed on `missing`) when it does not build. */
export function compileGenerator(dir: string, missing: string[]): string | null {
  const binary = path.join(dir, 'mqtt-load');
  try {
    execFileSync('gcc', ['-O2', '-o', binary, generatorSource()!, '-lmosquitto', '-lpthread'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    return binary;
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '');
    missing.push(/mosquitto\.h|-lmosquitto/.test(stderr) ? 'libmosquitto-dev' : `a working build of mqtt-load.c: ${stderr.trim().split('\n')[0] ?? ''}`);
    return null;
  }
}

/** The generator's C source: next to this file when run from source, ../src/bench from dist/. */
function generatorSource(): string | null {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'mqtt-load.c'), path.join(here, '..', 'src', 'bench', 'mqtt-load.c')];
  return candidates.find((c) => fs.existsSync(c)) ?? null;
}

export function findExecutable(name: string): string | null {
  // Debian installs mosquitto in /usr/sbin, which is not on every user's PATH.
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const d of dirs) {
    const candidate = path.join(d, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return null;
}

/** Debian's mosquitto on 127.0.0.1, in memory (persistence false), anonymous clients allowed. */
export class MosquittoProcess {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
  ) {}

  get pid(): number {
    return this.child.pid!;
  }

  /** `extraConfig`: more mosquitto.conf lines, e.g. `max_inflight_messages 0`. */
  static async start(dir: string, extraConfig: readonly string[] = []): Promise<MosquittoProcess> {
    const executable = findExecutable('mosquitto');
    if (executable === null) throw new Error(`mosquitto (the broker) not found on PATH or in /usr/sbin: install with apt-get install mosquitto`);
    const port = await freePort();
    const conf = path.join(dir, 'mosquitto.conf');
    fs.writeFileSync(
      conf,
      [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning', 'connection_messages false', ...extraConfig, ''].join('\n'),
    );
    const child = spawn(executable, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    let hasExited = false;
    const exited = new Promise<void>((resolve) => child.once('exit', () => ((hasExited = true), resolve())));
    child.once('error', () => undefined);
    const deadline = performance.now() + MOSQUITTO_START_TIMEOUT_MS;
    while (!(await accepts(port))) {
      if (hasExited || performance.now() > deadline) {
        child.kill('SIGKILL');
        await exited;
        throw new Error(`mosquitto did not start on port ${port}: ${stderr.trim() || 'no output'}`);
      }
      await sleep(50);
    }
    return new MosquittoProcess(port, child, exited);
  }

  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
