// A shared subscription splitting a stream: three `mosquitto_sub -V mqttv5` members (Receive Maximum
// 1,000) of
// `$share/bench/bench/#` while the C load generator's publishers run at QoS 1, side by side with
// Debian's Mosquitto (in memory, no queue or in-flight limits), rounds alternating. Reported: the
// rate the publishers were acknowledged at, and what the group received: every message once
// (delivered ÷ acknowledged, 1.00 when none is lost or doubled) and how evenly it was split.
//
// Each member prints one short line per message (`-F .`), which is all that is counted.

import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { processCpuSeconds } from './broker-process.ts';
import { compileGenerator, findExecutable, INSTALL_HINT, missingPrerequisites, runGenerator, withPeers, type Peer, type PeerName } from './mqtt-throughput.ts';
import { spread, spreadText, type BenchResult } from './results.ts';
import { withTempDir } from './temp-dir.ts';

export interface MqttSharedSettings {
  /** Members of the group. */
  members: number;
  publishers: number;
  window: number;
  payloadBytes: number;
  durationMs: number;
  /** Rounds per broker; the median is reported. */
  repeats: number;
}

const FILTER = '$share/bench/bench/#';
const ROUND_TIMEOUT_S = 300;
/** How long the members get to connect and subscribe before the publishers start. */
const MEMBER_SETTLE_MS = 500;
/** After the publishers stop, the members are done once their count has not moved for this long. */
const MEMBER_QUIET_MS = 1000;
const MEMBER_DRAIN_TIMEOUT_MS = 60_000;



interface Round {
  ackedPerSec: number;
  acked: number;
  /** Messages each member received. */
  received: number[];
  brokerCpuPct: number | null;
}

export async function runMqttShared(s: MqttSharedSettings): Promise<BenchResult[]> {
  return withTempDir('mqtt-shared', async (dir) => {
    const missing = missingPrerequisites();
    if (findExecutable('mosquitto_sub') === null) missing.push('mosquitto_sub (apt-get install mosquitto-clients)');
    const generator = missing.length === 0 ? compileGenerator(dir, missing) : null;
    if (generator === null) {
      const text = `skipped: install with ${INSTALL_HINT} mosquitto-clients (missing: ${missing.join(', ')})`;
      process.stderr.write(`  mqtt-shared: ${text}\n`);
      return [{ bench: 'mqtt-shared', case: `$share group of ${s.members}, tributary vs mosquitto`, metrics: {}, summary: text }];
    }
    return withPeers('mqtt-shared', dir, ['max_inflight_messages 0', 'max_queued_messages 0', 'max_queued_bytes 0'], async (peers) => {
      const rounds = new Map<PeerName, Round[]>();
      for (let r = 0; r < s.repeats; r++) {
        for (const peer of peers) {
          process.stderr.write(`  mqtt-shared: ${peer.name}, round ${r + 1}/${s.repeats}\n`);
          rounds.set(peer.name, [...(rounds.get(peer.name) ?? []), await runRound(generator, peer, s)]);
        }
      }
      const mosquittoRate = spread(rounds.get('mosquitto')!.map((r) => r.ackedPerSec)).median;
      return peers.map((p) => row(p.name, rounds.get(p.name)!, p.name === 'tributary' ? mosquittoRate : null, s));
    });
  });
}

/** A member: `mosquitto_sub` printing "." per message; `count()` is how many so far. */
function startMember(peer: Peer, clientId: string): { child: ChildProcess; count: () => number; gone: Promise<void> } {
  // libmosquitto offers Receive Maximum 20 unless told otherwise. Tributary keeps to it [MQTT-3.3.4-9]
  // and does not slow its publishers down for a subscriber, so three members with 20 each fell behind
  // 80 k msgs/s, filled their queues and were closed (clean sessions: the rest lost). 1,000 measures
  // the broker's split rather than that window; both brokers get the same members.
  const args = ['-h', '127.0.0.1', '-p', String(peer.port), '-V', 'mqttv5', '-D', 'connect', 'receive-maximum', '1000', '-i', clientId, '-q', '1', '-t', FILTER, '-F', '.'];
  const child = spawn(findExecutable('mosquitto_sub') ?? 'mosquitto_sub', args, { stdio: ['ignore', 'pipe', 'ignore'] });
  let lines = 0;
  child.stdout!.on('data', (chunk: Buffer) => {
    for (const byte of chunk) if (byte === 0x0a) lines++;
  });
  child.once('error', () => undefined);
  // 'close' comes also when the spawn itself failed ('exit' would not).
  const gone = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return { child, count: () => lines, gone };
}

async function runRound(generator: string, peer: Peer, s: MqttSharedSettings): Promise<Round> {
  const members = Array.from({ length: s.members }, (_, i) => startMember(peer, `bench-share-${i}`));
  try {
    await sleep(MEMBER_SETTLE_MS);
    const cpuBefore = processCpuSeconds(peer.pid);
    const startMs = performance.now();
    const out = await runGenerator(generator, ['127.0.0.1', peer.port, s.publishers, 1, s.window, s.durationMs / 1000, 0, s.payloadBytes].map(String), s.durationMs + ROUND_TIMEOUT_S * 1000);
    const seconds = (performance.now() - startMs) / 1000;
    const cpuAfter = processCpuSeconds(peer.pid);
    // The members may still be reading what was acknowledged last: wait until all of it arrived,
    // or their count stops moving (a message lost for the group never comes).
    const total = () => members.reduce((n, m) => n + m.count(), 0);
    const deadline = performance.now() + MEMBER_DRAIN_TIMEOUT_MS;
    let last = -1;
    while (total() < out.messages && total() !== last && performance.now() < deadline) {
      last = total();
      await sleep(MEMBER_QUIET_MS);
    }
    return {
      ackedPerSec: out.perSec,
      acked: out.messages,
      received: members.map((m) => m.count()),
      brokerCpuPct: cpuBefore === null || cpuAfter === null ? null : ((cpuAfter - cpuBefore) / seconds) * 100,
    };
  } finally {
    for (const m of members) m.child.kill('SIGKILL');
    await Promise.all(members.map((m) => m.gone));
  }
}

function row(name: PeerName, rounds: readonly Round[], mosquittoRate: number | null, s: MqttSharedSettings): BenchResult {
  const rate = spread(rounds.map((r) => r.ackedPerSec));
  const cpu = rounds.every((r) => r.brokerCpuPct !== null) ? spread(rounds.map((r) => r.brokerCpuPct!)).median : null;
  const ratio = mosquittoRate === null || mosquittoRate === 0 ? null : rate.median / mosquittoRate;
  // The worst round of each: the least complete delivery, the least even split.
  const deliveredRatio = Math.min(...rounds.map((r) => r.received.reduce((a, b) => a + b, 0) / r.acked));
  const deliveredRatioMax = Math.max(...rounds.map((r) => r.received.reduce((a, b) => a + b, 0) / r.acked));
  const shares = rounds.flatMap((r) => {
    const total = r.received.reduce((a, b) => a + b, 0);
    return total === 0 ? [0] : r.received.map((n) => n / total);
  });
  const shareMin = Math.min(...shares);
  const shareMax = Math.max(...shares);
  return {
    bench: 'mqtt-shared',
    case: `${name}, $share group of ${s.members} mosquitto_sub -V mqttv5 (QoS 1, Receive Maximum 1,000), ${s.publishers} publishers × window ${s.window}, QoS 1 × ${s.payloadBytes} B, ${s.repeats} × ${s.durationMs / 1000} s`,
    metrics: {
      messagesPerSec: rate.median,
      messagesPerSecMin: rate.min,
      messagesPerSecMax: rate.max,
      runs: rate.runs,
      ratioToMosquitto: ratio,
      deliveredToAckedMin: deliveredRatio,
      deliveredToAckedMax: deliveredRatioMax,
      memberShareMin: shareMin,
      memberShareMax: shareMax,
      brokerCpuPct: cpu,
    },
    summary: [
      spreadText(rate, 'msg/s acked'),
      ratio === null ? null : `${ratio.toFixed(2)}× mosquitto (in memory)`,
      `group received ${deliveredRatio.toFixed(3)}–${deliveredRatioMax.toFixed(3)}× the acked messages`,
      `each member ${(shareMin * 100).toFixed(0)}–${(shareMax * 100).toFixed(0)}% of them`,
      `CPU broker ${cpu === null ? '?' : cpu.toFixed(0)}%`,
    ]
      .filter((part) => part !== null)
      .join(', '),
  };
}
