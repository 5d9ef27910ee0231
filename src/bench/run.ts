// Runs the selected benchmarks and prints the machine, a table of figures and their targets.
// In-process benchmarks run first; the socket benchmarks then share one broker child process, so
// its idle RSS is read before any client connected and again after all the load.

import { setTimeout as sleep } from 'node:timers/promises';
import { runStorage } from './append.ts';
import { pinBrokers } from './broker-cpus.ts';
import { BrokerProcess, memoryText, type ProcessMemory } from './broker-process.ts';
import { runCodec } from './codec.ts';
import { runDeviceWire } from './device-wire.ts';
import { runEdgeThroughput } from './edge-throughput.ts';
import { runGroupCommit } from './group-commit.ts';
import { runGroupConsume } from './group-consume.ts';
import { runGroupRebalance } from './group-rebalance.ts';
import { runKafkaMirrorDrain } from './kafka-mirror-drain.ts';
import { runKafkaConsume, runKafkaProduce } from './kafka-throughput.ts';
import { runLatency } from './latency.ts';
import { formatMachine, machineInfo } from './machine.ts';
import { runMirrorDrain } from './mirror-drain.ts';
import { runMqttIdle } from './mqtt-idle.ts';
import { runMqttSession } from './mqtt-session.ts';
import { runMqttShared } from './mqtt-shared.ts';
import { runMqtt } from './mqtt-throughput.ts';
import type { BenchName } from './names.ts';
import { formatTable, verdict, type BenchResult } from './results.ts';
import { fullSettings, quickSettings, type BenchSettings } from './settings.ts';

const socketBenchNames: readonly BenchName[] = ['rss', 'edge-1', 'edge-4', 'latency'];

export interface BenchOptions {
  only: readonly BenchName[];
  quick: boolean;
  json: boolean;
  /** --broker-cpus: every broker child process runs under `taskset -c` this list (checked by the CLI). */
  brokerCpus: string | null;
}

/** Issue 14's memory targets: the whole idle process, anonymous and file-backed together... */
export const idleRssTarget = { metric: 'idleRssMB', op: '<=', value: 60, label: 'idle ≤ 60 MB' } as const;
/**
 * ...and what a load run leaves behind: heap, buffers and caches, not the LMDB pages mapped from the
 * data file. Measured like the idle figure it is divided by, as the lowest over `idleSettledMs`: both
 * then count what the process keeps, not the garbage of its last seconds.
 */
export const anonGrowthTarget = { metric: 'anonSettledPerIdle', op: '<=', value: 2, label: 'anon ≤ 2× idle' } as const;

/** Returns the exit code: 1 when a benchmark could not run (never because of a figure). */
export async function runBench(opts: BenchOptions): Promise<number> {
  const s = opts.quick ? quickSettings : fullSettings;
  const want = (name: BenchName) => opts.only.includes(name);
  const machine = machineInfo();
  pinBrokers(opts.brokerCpus);
  if (!opts.json) process.stdout.write(`${formatMachine(machine)}\n${pinnedText(opts.brokerCpus)}\n`);

  const results: BenchResult[] = [];
  const problems: string[] = [];
  const attempt = async (name: string, run: () => Promise<BenchResult | BenchResult[]>) => {
    process.stderr.write(`running ${name}…\n`);
    try {
      results.push(...[await run()].flat());
    } catch (err) {
      problems.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  if (want('codec')) await attempt('codec', async () => runCodec(s.codec));
  if (want('append') || want('read')) await attempt(want('append') ? 'append' : 'read', () => runStorage(s.append, { append: want('append'), read: want('read') }));
  if (socketBenchNames.some(want)) {
    await attempt('broker child process', async () => {
      const broker = await BrokerProcess.start();
      try {
        await sleep(s.idleSettleMs);
        const started = broker.memory();
        const idle = want('rss') ? await broker.lowestMemory(s.idleSettledMs) : null;
        const before = results.length;
        // Latency before throughput: the throughput runs leave a heap grown to ~150 MB and
        // gigabytes of log behind, and the latency target is about a broker under moderate load.
        if (want('latency')) {
          await attempt('latency acks=1', () => runLatency(broker, 1, s.latency));
          await attempt('latency acks=all', () => runLatency(broker, 'all', s.latency));
        }
        if (want('edge-1')) await attempt('edge-1', () => runEdgeThroughput(broker, 1, s.edge));
        if (want('edge-4')) await attempt('edge-4', () => runEdgeThroughput(broker, 4, s.edge));
        if (!want('rss')) return [];
        const loaded = results.length > before;
        const after = loaded ? broker.memory() : null;
        return rssResults(s, { started, idle, after, afterSettled: loaded ? await broker.lowestMemory(s.idleSettledMs) : null });
      } finally {
        if (!(await broker.stop())) problems.push('broker: did not shut down cleanly on SIGTERM (exit code not 0)');
      }
    });
  }

  // Each with a broker of its own: a fresh log for the MQTT rates, a fresh heap for the idle RSS.
  if (want('mqtt')) await attempt('mqtt', () => runMqtt(s.mqtt));
  if (want('mqtt-idle')) await attempt('mqtt-idle', () => runMqttIdle(s.mqttIdle));
  if (want('mqtt-session')) await attempt('mqtt-session', () => runMqttSession(s.mqttSession));
  if (want('mqtt-shared')) await attempt('mqtt-shared', () => runMqttShared(s.mqttShared));
  // Its own mosquitto and broker child processes, restarted on one data dir between phases.
  if (want('mirror-drain')) await attempt('mirror-drain', () => runMirrorDrain(s.mirrorDrain));
  // Its own central and edge broker child processes per round (Kafka listener on the central).
  if (want('kafka-mirror-drain')) await attempt('kafka-mirror-drain', () => runKafkaMirrorDrain(s.kafkaMirrorDrain));
  if (want('group-rebalance')) await attempt('group-rebalance', () => runGroupRebalance(s.groupRebalance));
  if (want('group-commit')) await attempt('group-commit', () => runGroupCommit(s.groupCommit));
  if (want('group-consume')) await attempt('group-consume', () => runGroupConsume(s.groupConsume));
  // Each with a broker of its own, the Kafka listener on: Kafka clients beside the edge protocol.
  if (want('kafka-produce')) await attempt('kafka-produce', () => runKafkaProduce(s.kafka));
  if (want('kafka-consume')) await attempt('kafka-consume', () => runKafkaConsume(s.kafka));
  // Its own broker child process; counts bytes, not time, so the load of the runs above is no matter.
  if (want('device-wire')) await attempt('device-wire', () => runDeviceWire(s.deviceWire));

  if (opts.json) {
    const withVerdicts = results.map((r) => ({ ...r, verdict: verdict(r) }));
    process.stdout.write(`${JSON.stringify({ machine, quick: opts.quick, brokerCpus: opts.brokerCpus, results: withVerdicts, problems }, null, 2)}\n`);
  } else {
    process.stdout.write(formatTable(results));
    if (opts.quick) process.stdout.write('\n(--quick: short runs for a smoke test; the figures are not representative)\n');
  }
  for (const p of problems) process.stderr.write(`tributary: bench: ${p}\n`);
  return problems.length === 0 ? 0 : 1;
}

/** The line under the machine saying where the brokers ran, and an empty line. */
function pinnedText(cpus: string | null): string {
  return cpus === null ? '' : `broker child processes pinned to CPUs ${cpus} (taskset -c ${cpus}); load generators and mosquitto unpinned\n`;
}

interface RssSamples {
  /** `idleSettleMs` after start. */
  started: ProcessMemory | null;
  /** The lowest over the next `idleSettledMs`: the idle figure the target compares. */
  idle: ProcessMemory | null;
  /** Right after the load runs; null when none ran. */
  after: ProcessMemory | null;
  /** The lowest over `idleSettledMs` after them. */
  afterSettled: ProcessMemory | null;
}

function rssResults(s: BenchSettings, m: RssSamples): BenchResult[] {
  const settled = `lowest of ${s.idleSettledMs / 1000} s`;
  const idleRow: BenchResult = {
    bench: 'rss',
    case: 'broker child process, edge, MQTT (+WebSocket), Kafka and HTTP listeners on, no clients',
    metrics: {
      idleRssMB: m.idle === null ? null : m.idle.rssBytes / 1e6,
      idleRssBytes: m.idle?.rssBytes ?? null,
      idleAnonBytes: m.idle?.anonBytes ?? null,
      idleFileBytes: m.idle?.fileBytes ?? null,
      startedRssBytes: m.started?.rssBytes ?? null,
      startedAnonBytes: m.started?.anonBytes ?? null,
    },
    summary:
      m.idle === null || m.started === null
        ? 'unknown (no /proc)'
        : `idle (${settled}) ${memoryText(m.idle)}; ${s.idleSettleMs / 1000} s after start ${memoryText(m.started)}`,
    target: idleRssTarget,
  };
  if (m.after === null || m.idle === null) return [idleRow];
  const times = (p: ProcessMemory) => `${(p.anonBytes / m.idle!.anonBytes).toFixed(2)}× idle`;
  const afterText = `right after ${memoryText(m.after)}, anon ${times(m.after)}`;
  const settledText = m.afterSettled === null ? '' : `; then (${settled}) ${memoryText(m.afterSettled)}, anon ${times(m.afterSettled)}`;
  const afterRow: BenchResult = {
    bench: 'rss',
    case: 'the same broker after the load runs above: anonymous RSS over its idle anonymous RSS',
    metrics: {
      anonAfterPerIdle: m.after.anonBytes / m.idle.anonBytes,
      anonSettledPerIdle: m.afterSettled === null ? null : m.afterSettled.anonBytes / m.idle.anonBytes,
      afterRssBytes: m.after.rssBytes,
      afterAnonBytes: m.after.anonBytes,
      afterFileBytes: m.after.fileBytes,
      afterSettledAnonBytes: m.afterSettled?.anonBytes ?? null,
      peakRssBytes: m.after.peakRssBytes,
    },
    summary: afterText + settledText,
    target: anonGrowthTarget,
  };
  return [idleRow, afterRow];
}
