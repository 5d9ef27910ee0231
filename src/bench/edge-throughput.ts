// End-to-end produce throughput over TCP: N generator threads against the broker child process.
// Generators run in worker threads so that four of them are not serialised on one event loop; they
// still share the two cores with the broker, which the printed broker CPU share makes visible.

import { Worker } from 'node:worker_threads';
import { memoryText, type BrokerProcess, processFigures } from './broker-process.ts';
import type { LoadResult, LoadSettings } from './edge-load.ts';
import { EdgeSession } from './edge-session.ts';
import { fmtMB, spread, spreadText, type BenchResult } from './results.ts';
import { BENCH_WORKER, type WorkerData, type WorkerMessage } from './worker.ts';

export interface EdgeSettings {
  recordsPerFrame: number;
  valueBytes: number;
  window: number;
  partitions: number;
  /** Length of one round. */
  durationMs: number;
  /** Rounds, each with fresh generator threads; the median rate is reported. */
  repeats: number;
}

export const edgeTarget = { metric: 'recordsPerSec', op: '>=', value: 300_000, label: '≥ 300,000 rec/s' } as const;

export interface EdgeRound {
  records: number;
  seconds: number;
  /** process.hrtime.bigint() of the first send and of the last ACK over all generator threads. */
  startNs: bigint;
  endNs: bigint;
  brokerCpuSeconds: number | null;
  generatorCpuSeconds: number;
}

export async function runEdgeThroughput(broker: BrokerProcess, clients: number, s: EdgeSettings): Promise<BenchResult> {
  const topic = `bench-edge-${clients}`;
  const admin = await EdgeSession.open(broker.edgePort, 'bench-admin');
  try {
    await admin.createTopic(topic, s.partitions);
  } finally {
    admin.close();
  }
  const rounds: EdgeRound[] = [];
  for (let round = 0; round < s.repeats; round++) rounds.push(await runEdgeRound(broker, clients, topic, s));

  const rate = spread(rounds.map((r) => r.records / r.seconds));
  const seconds = rounds.reduce((sum, r) => sum + r.seconds, 0);
  const brokerCpu = rounds.every((r) => r.brokerCpuSeconds !== null) ? rounds.reduce((sum, r) => sum + r.brokerCpuSeconds!, 0) : null;
  const brokerCpuPct = brokerCpu === null ? null : (brokerCpu / seconds) * 100;
  const generatorCpuPct = (rounds.reduce((sum, r) => sum + r.generatorCpuSeconds, 0) / seconds) * 100;
  const memory = broker.memory();
  return {
    bench: `edge-${clients}`,
    case: `${clients} client${clients > 1 ? 's' : ''}, acks=1, ${s.recordsPerFrame} × ${s.valueBytes} B/frame, window ${s.window}, ${s.partitions} partitions, ${s.repeats} × ${s.durationMs / 1000} s`,
    metrics: {
      recordsPerSec: rate.median,
      recordsPerSecMin: rate.min,
      recordsPerSecMax: rate.max,
      runs: rate.runs,
      mbPerSec: (rate.median * s.valueBytes) / 1e6,
      ...processFigures(brokerCpuPct, generatorCpuPct, memory),
    },
    summary: [
      `${spreadText(rate, 'rec/s')}, ${fmtMB(rate.median * s.valueBytes)}/s`,
      brokerCpuPct === null ? null : `CPU broker ${brokerCpuPct.toFixed(0)}% / generator ${generatorCpuPct.toFixed(0)}%`,
      memory === null ? null : `after: ${memoryText(memory)}`,
    ]
      .filter((part) => part !== null)
      .join(', '),
    target: edgeTarget,
  };
}

/** One round of `clients` generator threads producing to `topic` (which must exist) for s.durationMs. */
export async function runEdgeRound(broker: BrokerProcess, clients: number, topic: string, s: Omit<EdgeSettings, 'partitions' | 'repeats'>): Promise<EdgeRound> {
  const workers = Array.from({ length: clients }, (_, i) =>
    startWorker({ port: broker.edgePort, topic, clientId: `bench-${clients}-${i}`, recordsPerFrame: s.recordsPerFrame, valueBytes: s.valueBytes, window: s.window, durationMs: s.durationMs }),
  );
  try {
    await Promise.all(workers.map((w) => w.ready));
    const brokerCpuBefore = broker.cpuSeconds();
    const generatorCpuBefore = process.cpuUsage();
    for (const w of workers) w.worker.postMessage('go');
    const results = await Promise.all(workers.map((w) => w.result));
    const brokerCpuAfter = broker.cpuSeconds();
    // All threads of this process: the generators, whose share shows whether they held the broker back.
    const generatorCpu = process.cpuUsage(generatorCpuBefore);
    const startNs = results.reduce((min, r) => (r.startNs < min ? r.startNs : min), results[0].startNs);
    const endNs = results.reduce((max, r) => (r.endNs > max ? r.endNs : max), results[0].endNs);
    return {
      records: results.reduce((sum, r) => sum + r.records, 0),
      seconds: Number(endNs - startNs) / 1e9,
      startNs,
      endNs,
      brokerCpuSeconds: brokerCpuBefore === null || brokerCpuAfter === null ? null : brokerCpuAfter - brokerCpuBefore,
      generatorCpuSeconds: (generatorCpu.user + generatorCpu.system) / 1e6,
    };
  } finally {
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }
}

interface RunningWorker {
  worker: Worker;
  ready: Promise<void>;
  result: Promise<LoadResult>;
}

function startWorker(load: LoadSettings): RunningWorker {
  const worker = new Worker(process.argv[1], { workerData: { role: BENCH_WORKER, load } satisfies WorkerData });
  const message = <K extends 'ready' | 'result'>(key: K) =>
    new Promise<Extract<WorkerMessage, Record<K, unknown>>>((resolve) => worker.on('message', (m: WorkerMessage) => key in m && resolve(m as Extract<WorkerMessage, Record<K, unknown>>)));
  const failed = new Promise<never>((_, reject) => {
    worker.once('error', reject);
    worker.on('message', (m: WorkerMessage) => 'error' in m && reject(new Error(`load generator ${load.clientId}: ${m.error}`)));
    // Workers wait to be terminated, so an exit before that is a crash.
    worker.once('exit', () => reject(new Error(`load generator ${load.clientId} exited early`)));
  });
  // Observed through `ready` and `result`; the exit caused by terminate() rejects it unobserved.
  failed.catch(() => undefined);
  return {
    worker,
    ready: Promise.race([message('ready').then(() => undefined), failed]),
    result: Promise.race([message('result').then((m) => m.result), failed]),
  };
}
