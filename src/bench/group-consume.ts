// Group consume throughput: a topic preloaded with `records` records is read to its end by a
// consumer group of 1 and of k members (GroupConsumer, at-least-once with auto-commit, each member a
// worker thread as it would be a process of its own), and, as the baseline of the same run, by as
// many plain Consumers with the partitions split between them by hand. Timed from "go" (before the
// first poll, so a group's formation is included) to the moment the last record of the last
// partition was handed out. The backlog is written in 500-record batches, as edge-1 writes.
//
// Members of a group started together do not split the work from the start: the first join is
// answered at once with every partition, and that member learns of the others' joins from its next
// heartbeat (a third of the session timeout). The rate after the group's last rebalance is therefore
// reported too, with how long the group took to form.

import { Worker } from 'node:worker_threads';
import { EdgeClient } from '../client/connection.ts';
import { BrokerProcess, memoryText, processFigures } from './broker-process.ts';
import type { ConsumeJob, ConsumeMessage } from './consume-worker.ts';
import { fillTopic, watchdog } from './fill.ts';
import { fmtInt, fmtMB, spread, spreadText, type BenchResult, type Spread } from './results.ts';
import { BENCH_WORKER, type WorkerData } from './worker.ts';

export interface GroupConsumeSettings {
  records: number;
  partitions: number;
  valueBytes: number;
  /** Group sizes; before each, as many plain Consumers run as its baseline. */
  members: number[];
  sessionTimeoutMs: number;
  repeats: number;
  /** A round whose consumers hand out nothing for this long fails the bench instead of hanging it. */
  stallTimeoutMs: number;
}

const TOPIC = 'bench-consume';
const RECORDS_PER_FRAME = 500;
const PROGRESS_MS = 250;

interface ConsumeRound {
  seconds: number;
  /** Records handed out over all consumers: the backlog plus what at-least-once handed out again. */
  handedOut: number;
  /** From go to the last assignment of the round (the group's formation); null for the plain consumer. */
  formedSeconds: number | null;
  /** Records handed out per second from that last assignment to the end; null when it came too late to tell. */
  afterFormedPerSec: number | null;
  brokerCpuSeconds: number | null;
  consumerCpuSeconds: number;
}

export async function runGroupConsume(s: GroupConsumeSettings): Promise<BenchResult[]> {
  const broker = await BrokerProcess.start();
  try {
    progress(`filling ${fmtInt(s.records)} records into ${s.partitions} partitions`);
    const logEnds = await prepareTopic(broker.edgePort, s);
    let groupNo = 0;
    const results: BenchResult[] = [];
    for (const k of s.members) {
      // Each group round right after its plain round: the machine's load drifts, and the ratio of
      // a pair measured together means more than a ratio of medians measured apart.
      const plain: ConsumeRound[] = [];
      const grouped: ConsumeRound[] = [];
      for (let r = 0; r < s.repeats; r++) {
        progress(`${k} plain consumer${k > 1 ? 's' : ''}, then a group of ${k}: round ${r + 1}`);
        plain.push(await consumeRound(broker, null, k, logEnds, s));
        grouped.push(await consumeRound(broker, `bench-consume-${groupNo++}`, k, logEnds, s));
      }
      const ratios = spread(grouped.map((g, i) => plain[i].seconds / g.seconds));
      results.push(row(broker, k, false, plain, null, s), row(broker, k, true, grouped, ratios, s));
    }
    return results;
  } finally {
    await broker.stop();
  }
}

function progress(text: string): void {
  process.stderr.write(`  group-consume: ${text}\n`);
}

/** Creates and fills the topic; returns each partition's log end. */
async function prepareTopic(port: number, s: GroupConsumeSettings): Promise<number[]> {
  const admin = await EdgeClient.connect({ port, clientId: 'bench-admin' });
  try {
    await admin.createTopic({ name: TOPIC, partitions: s.partitions, retentionMs: -1, retentionBytes: -1, grow: false });
    await fillTopic(port, TOPIC, s.records, { recordsPerFrame: RECORDS_PER_FRAME, valueBytes: s.valueBytes, window: 32, stallTimeoutMs: s.stallTimeoutMs });
    const [meta] = await admin.metadata([TOPIC]);
    return meta.partitions.map((p) => p.nextOffset);
  } finally {
    await admin.close();
  }
}

/** One read of the whole backlog by `consumers` workers: members of `group`, or plain consumers with partitions i, i + consumers, … */
async function consumeRound(broker: BrokerProcess, group: string | null, consumers: number, logEnds: number[], s: GroupConsumeSettings): Promise<ConsumeRound> {
  const workers = Array.from({ length: consumers }, (_, i) =>
    startConsumer({
      port: broker.edgePort,
      topic: TOPIC,
      clientId: `${group ?? 'bench-plain'}-${i}`,
      group,
      partitions: logEnds.map((_, p) => p).filter((p) => p % consumers === i),
      sessionTimeoutMs: s.sessionTimeoutMs, logEnds, progressMs: PROGRESS_MS }),
  );
  try {
    await Promise.all(workers.map((w) => w.ready));
    const brokerCpuBefore = broker.cpuSeconds();
    const consumerCpuBefore = process.cpuUsage();
    const goNs = process.hrtime.bigint();
    for (const w of workers) w.worker.postMessage('go');
    const endNs = await untilConsumed(workers, logEnds.length, s.stallTimeoutMs);
    const brokerCpuAfter = broker.cpuSeconds();
    const consumerCpu = process.cpuUsage(consumerCpuBefore);
    for (const w of workers) w.worker.postMessage('stop');
    const results = await Promise.all(workers.map((w) => w.result));
    const handedOut = results.reduce((sum, r) => sum + r.handedOut, 0);
    const seconds = Number(endNs - goNs) / 1e9;
    // The group formed at the last assignment of any member; what each member handed out after its
    // own last assignment was read by the formed group (nothing is left to read after endNs).
    const last = workers.map((w) => w.assignments.at(-1));
    const formedNs = last.every((a) => a !== undefined) ? last.reduce((max, a) => (a!.ns > max ? a!.ns : max), goNs) : null;
    const afterFormed = results.reduce((sum, r, i) => sum + r.handedOut - (last[i]?.handedOut ?? 0), 0);
    return {
      seconds,
      handedOut,
      formedSeconds: group === null || formedNs === null ? null : Number(formedNs - goNs) / 1e9,
      afterFormedPerSec: group === null || formedNs === null || formedNs >= endNs ? null : afterFormed / (Number(endNs - formedNs) / 1e9),
      brokerCpuSeconds: brokerCpuBefore === null || brokerCpuAfter === null ? null : brokerCpuAfter - brokerCpuBefore,
      consumerCpuSeconds: (consumerCpu.user + consumerCpu.system) / 1e6,
    };
  } finally {
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }
}

interface RunningConsumer {
  worker: Worker;
  ready: Promise<void>;
  result: Promise<{ handedOut: number }>;
  /** Each assignment the consumer reported, in order. */
  assignments: { partitions: number[]; ns: bigint; handedOut: number }[];
  progress: number;
  partitionDone: (partition: number, ns: bigint) => void;
}

function startConsumer(job: ConsumeJob): RunningConsumer {
  const worker = new Worker(process.argv[1], { workerData: { role: BENCH_WORKER, consume: job } satisfies WorkerData });
  let resolveReady!: () => void;
  let resolveResult!: (r: { handedOut: number }) => void;
  let fail!: (err: Error) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  // Observed through `ready` and `result`; the exit caused by terminate() rejects it unobserved.
  failed.catch(() => undefined);
  const c: RunningConsumer = {
    worker,
    ready: Promise.race([new Promise<void>((resolve) => (resolveReady = resolve)), failed]),
    result: Promise.race([new Promise<{ handedOut: number }>((resolve) => (resolveResult = resolve)), failed]),
    assignments: [],
    progress: 0,
    partitionDone: () => undefined,
  };
  worker.on('message', (m: ConsumeMessage) => {
    if ('ready' in m) resolveReady();
    else if ('progress' in m) c.progress = m.progress;
    else if ('assigned' in m) c.assignments.push({ partitions: m.assigned, ns: m.ns, handedOut: m.handedOut });
    else if ('partitionDone' in m) c.partitionDone(m.partitionDone, m.ns);
    else if ('result' in m) resolveResult(m.result);
    else fail(new Error(`consumer ${job.clientId}: ${m.error}`));
  });
  worker.once('error', (err) => fail(err));
  // Workers wait to be terminated, so an exit before that is a crash.
  worker.once('exit', () => fail(new Error(`consumer ${job.clientId} exited early`)));
  return c;
}

/** Resolves with the stamp of the moment the last partition's last record was handed out. */
function untilConsumed(workers: RunningConsumer[], partitions: number, stallTimeoutMs: number): Promise<bigint> {
  return new Promise((resolve, reject) => {
    const done = new Map<number, bigint>();
    const stall = watchdog(
      () => workers.reduce((sum, w) => sum + w.progress, 0),
      stallTimeoutMs,
      (ms) => reject(new Error(`no record handed out for ${ms / 1000} s (${done.size} of ${partitions} partitions read to the end)`)),
    );
    for (const w of workers) {
      w.result.catch((err: unknown) => {
        stall.stop();
        reject(err as Error);
      });
      w.partitionDone = (partition, ns) => {
        if (!done.has(partition)) done.set(partition, ns);
        if (done.size < partitions) return;
        stall.stop();
        resolve([...done.values()].reduce((max, t) => (t > max ? t : max)));
      };
    }
  });
}

/** `ratios`: per round, the group's rate over the rate of the plain round just before it (null for a plain row). */
function row(broker: BrokerProcess, consumers: number, group: boolean, rounds: ConsumeRound[], ratios: Spread | null, s: GroupConsumeSettings): BenchResult {
  const rate = spread(rounds.map((r) => s.records / r.seconds));
  const seconds = rounds.reduce((sum, r) => sum + r.seconds, 0);
  const brokerCpuPct = rounds.every((r) => r.brokerCpuSeconds !== null) ? (rounds.reduce((sum, r) => sum + r.brokerCpuSeconds!, 0) / seconds) * 100 : null;
  const consumerCpuPct = (rounds.reduce((sum, r) => sum + r.consumerCpuSeconds, 0) / seconds) * 100;
  const again = rounds.reduce((sum, r) => sum + r.handedOut - s.records, 0) / rounds.length;
  const formed = rounds.every((r) => r.formedSeconds !== null) ? spread(rounds.map((r) => r.formedSeconds! * 1000)) : null;
  const after = rounds.every((r) => r.afterFormedPerSec !== null) ? spread(rounds.map((r) => r.afterFormedPerSec!)) : null;
  const memory = broker.memory();
  const who = group
    ? `group of ${consumers} (GroupConsumer, at-least-once, auto-commit; session ${s.sessionTimeoutMs} ms)`
    : consumers === 1
      ? `1 plain Consumer, all ${s.partitions} partitions assigned (baseline)`
      : `${consumers} plain Consumers, the partitions split between them (baseline)`;
  return {
    bench: 'group-consume',
    case: `${who}, ${fmtInt(s.records)} × ${s.valueBytes} B preloaded in ${s.partitions} partitions, ${s.repeats} round${s.repeats > 1 ? 's' : ''}`,
    metrics: {
      recordsPerSec: rate.median,
      recordsPerSecMin: rate.min,
      recordsPerSecMax: rate.max,
      runs: rate.runs,
      mbPerSec: (rate.median * s.valueBytes) / 1e6,
      ratioToPlain: ratios?.median ?? null,
      ratioToPlainMin: ratios?.min ?? null,
      ratioToPlainMax: ratios?.max ?? null,
      handedOutAgainPerRound: again,
      formedMs: formed?.median ?? null,
      afterFormedRecordsPerSec: after?.median ?? null,
      ...processFigures(brokerCpuPct, consumerCpuPct, memory),
    },
    summary: [
      `${spreadText(rate, 'rec/s')}, ${fmtMB(rate.median * s.valueBytes)}/s`,
      ratios === null ? null : ratioText(ratios),
      group ? `${fmtInt(again)} handed out again per round` : null,
      formed === null || consumers === 1 ? null : `group formed after ${fmtInt(formed.median)} ms`,
      after === null || consumers === 1 ? null : `${fmtInt(after.median)} rec/s after that`,
      brokerCpuPct === null ? null : `CPU broker ${brokerCpuPct.toFixed(0)}% / consumers ${consumerCpuPct.toFixed(0)}%`,
      memory === null ? null : `after: ${memoryText(memory)}`,
    ]
      .filter((part) => part !== null)
      .join(', '),
  };
}

/** "0.81× plain (median of 5: 0.70–0.95)", of per-round ratios; one round is just the figure. */
function ratioText(r: Spread): string {
  const figure = `${r.median.toFixed(2)}× plain`;
  return r.runs === 1 ? figure : `${figure} (median of ${r.runs}: ${r.min.toFixed(2)}–${r.max.toFixed(2)})`;
}
