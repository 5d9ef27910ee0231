// Persistent MQTT sessions (mosquitto_sub, clean session off, QoS 1), side by side with Debian's
// Mosquitto (in memory, no queue or in-flight limits), rounds alternating:
// - live: the C load generator's publishers run for a while with the subscriber connected; every
//   message is queued for the session before it is delivered (and removed on its PUBACK);
// - offline: the subscriber subscribes and leaves, the generator publishes N messages, then the
//   subscriber reconnects and the clock runs until it has all N.
//
// Tributary keeps the queue in LMDB, so the queue survives a restart; Mosquitto's here does not.

import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { processCpuSeconds } from './broker-process.ts';
import { compileGenerator, findExecutable, INSTALL_HINT, missingPrerequisites, runGenerator, withPeers, type Peer } from './mqtt-throughput.ts';
import { fmtInt, spread, spreadText, type BenchResult } from './results.ts';
import { withTempDir } from './temp-dir.ts';

export interface MqttSessionSettings {
  /** Publishers and their QoS 1 window in the live case. */
  publishers: number;
  window: number;
  /** Length of one live round. */
  durationMs: number;
  /** Messages queued for the offline subscriber per round. */
  messages: number;
  payloadBytes: number;
  /** Rounds per broker; the median is reported. */
  repeats: number;
}

const PUBLISH_WINDOW = 100;
const ROUND_TIMEOUT_S = 300;
/** A subscribe-and-leave (`-E`) is one round trip; a broker that does not answer fails the round. */
const CLIENT_TIMEOUT_S = 30;


interface Round {
  perSec: number;
  brokerCpuPct: number | null;
}

type Case = 'live' | 'offline';
/** How long the long-running subscriber gets to connect before the publishers start. */
const SUBSCRIBER_SETTLE_MS = 300;
const SUBSCRIBER_STOP_GRACE_MS = 5000;

export async function runMqttSession(s: MqttSessionSettings): Promise<BenchResult[]> {
  return withTempDir('mqtt-session', async (dir) => {
    const missing = missingPrerequisites();
    if (findExecutable('mosquitto_sub') === null) missing.push('mosquitto_sub (apt-get install mosquitto-clients)');
    const generator = missing.length === 0 ? compileGenerator(dir, missing) : null;
    if (generator === null) {
      const text = `skipped: install with ${INSTALL_HINT} mosquitto-clients (missing: ${missing.join(', ')})`;
      process.stderr.write(`  mqtt-session: ${text}\n`);
      return [{ bench: 'mqtt-session', case: 'persistent sessions, tributary vs mosquitto', metrics: {}, summary: text }];
    }
    return withPeers('mqtt-session', dir, ['max_inflight_messages 0', 'max_queued_messages 0', 'max_queued_bytes 0'], async (peers) => {
      const rounds = new Map<string, Round[]>();
      for (let r = 0; r < s.repeats; r++) {
        for (const c of ['live', 'offline'] as const) {
          for (const peer of peers) {
            process.stderr.write(`  mqtt-session: ${peer.name} ${c}, round ${r + 1}/${s.repeats}\n`);
            const round = c === 'live' ? await runLive(generator, peer, `bench-live-${r}`, s) : await runOffline(generator, peer, `bench-offline-${r}`, s);
            rounds.set(`${peer.name}/${c}`, [...(rounds.get(`${peer.name}/${c}`) ?? []), round]);
          }
        }
      }
      return (['live', 'offline'] as const).flatMap((c) => {
        const mosquittoRate = spread(rounds.get(`mosquitto/${c}`)!.map((r) => r.perSec)).median;
        return peers.map((p) => row(p.name, c, rounds.get(`${p.name}/${c}`)!, p.name === 'tributary' ? mosquittoRate : null, s));
    });
    });
  });
}

function subscriberArgs(peer: Peer, clientId: string): string[] {
  return ['-h', '127.0.0.1', '-p', String(peer.port), '-i', clientId, '-c', '-q', '1', '-t', 'bench/#'];
}

async function runLive(generator: string, peer: Peer, clientId: string, s: MqttSessionSettings): Promise<Round> {
  const sub = subscriberArgs(peer, clientId);
  await runClient('mosquitto_sub', [...sub, '-E', '-W', String(CLIENT_TIMEOUT_S)]);
  const subscriber = spawn(findExecutable('mosquitto_sub') ?? 'mosquitto_sub', sub, { stdio: 'ignore' });
  // 'close' comes also when the spawn itself failed ('exit' would not).
  const gone = new Promise<void>((resolve) => subscriber.once('close', () => resolve()));
  subscriber.once('error', () => undefined);
  try {
    await sleep(SUBSCRIBER_SETTLE_MS);
    const cpuBefore = processCpuSeconds(peer.pid);
    const startMs = performance.now();
    const out = await runGenerator(generator, ['127.0.0.1', peer.port, s.publishers, 1, s.window, s.durationMs / 1000, 0, s.payloadBytes].map(String), s.durationMs + ROUND_TIMEOUT_S * 1000);
    const seconds = (performance.now() - startMs) / 1000;
    const cpuAfter = processCpuSeconds(peer.pid);
    return { perSec: out.perSec, brokerCpuPct: cpuBefore === null || cpuAfter === null ? null : ((cpuAfter - cpuBefore) / seconds) * 100 };
  } finally {
    subscriber.kill('SIGTERM');
    // mosquitto_sub 2.0 can hang in its SIGTERM handler (seen here: blocked on a futex with its
    // receive queue full, the broker's FIN unread); the round is over either way.
    const killer = setTimeout(() => subscriber.kill('SIGKILL'), SUBSCRIBER_STOP_GRACE_MS);
    await gone;
    clearTimeout(killer);
    await endSession(peer, clientId);
  }
}

/** A clean-session CONNECT with the same id discards the session: later rounds fan out to one subscriber, not to every earlier one. */
function endSession(peer: Peer, clientId: string): Promise<void> {
  return runClient('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(peer.port), '-i', clientId, '-q', '1', '-t', 'bench/#', '-E', '-W', String(CLIENT_TIMEOUT_S)]);
}

async function runOffline(generator: string, peer: Peer, clientId: string, s: MqttSessionSettings): Promise<Round> {
  const sub = subscriberArgs(peer, clientId);
  await runClient('mosquitto_sub', [...sub, '-E', '-W', String(CLIENT_TIMEOUT_S)]);
  // The generator stops once `messages` are acknowledged; a few more may be in flight by then.
  await runGenerator(generator, ['127.0.0.1', peer.port, 1, 1, PUBLISH_WINDOW, ROUND_TIMEOUT_S, s.messages, s.payloadBytes].map(String), ROUND_TIMEOUT_S * 1000);
  const cpuBefore = processCpuSeconds(peer.pid);
  const startMs = performance.now();
  await runClient('mosquitto_sub', [...sub, '-C', String(s.messages), '-W', String(ROUND_TIMEOUT_S)]);
  const seconds = (performance.now() - startMs) / 1000;
  const cpuAfter = processCpuSeconds(peer.pid);
  await endSession(peer, clientId);
  return {
    perSec: s.messages / seconds,
    brokerCpuPct: cpuBefore === null || cpuAfter === null ? null : ((cpuAfter - cpuBefore) / seconds) * 100,
  };
}

/** Runs a client to its end; its output is not needed, only its exit code. */
function runClient(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(findExecutable(command) ?? command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} failed (${signal ?? `exit code ${code}`}): ${stderr.trim() || 'no output'}`));
    });
  });
}

function row(name: Peer['name'], c: Case, rounds: readonly Round[], mosquittoRate: number | null, s: MqttSessionSettings): BenchResult {
  const rate = spread(rounds.map((r) => r.perSec));
  const cpu = rounds.every((r) => r.brokerCpuPct !== null) ? spread(rounds.map((r) => r.brokerCpuPct!)).median : null;
  const ratio = mosquittoRate === null || mosquittoRate === 0 ? null : rate.median / mosquittoRate;
  const what =
    c === 'live'
      ? `${name}, live: ${s.publishers} publishers × window ${s.window}, QoS 1 × ${s.payloadBytes} B, one persistent subscriber connected, ${s.repeats} × ${s.durationMs / 1000} s`
      : `${name}, offline: ${fmtInt(s.messages)} queued QoS 1 × ${s.payloadBytes} B to a reconnecting mosquitto_sub, ${s.repeats} round(s)`;
  return {
    bench: 'mqtt-session',
    case: what,
    metrics: { messagesPerSec: rate.median, messagesPerSecMin: rate.min, messagesPerSecMax: rate.max, runs: rate.runs, ratioToMosquitto: ratio, brokerCpuPct: cpu },
    summary: [
      spreadText(rate, c === 'live' ? 'msg/s acked' : 'msg/s delivered'),
      c === 'offline' ? `${(s.messages / rate.median).toFixed(2)} s for the queue` : null,
      ratio === null ? null : `${ratio.toFixed(2)}× mosquitto (in memory)`,
      `CPU broker ${cpu === null ? '?' : cpu.toFixed(0)}%`,
    ]
      .filter((part) => part !== null)
      .join(', '),
  };
}
