// Mirror drain: how fast a backlog in the log reaches a local upstream (Debian's mosquitto, in
// memory), against the same publishes from a plain MQTT.js v5 client, and what ingest the edge still
// takes while it drains. The goal is a mirror that is never the bottleneck: it drains at least 0.8×
// as fast as the upstream accepts a plain client's publishes.
//
// One mosquitto serves every phase; one data dir serves every broker child process:
//  1. baseline: a plain MQTT.js client publishes `records` QoS 1 messages (same payload size, same
//     topic shape, same origin user property as the mirror's), `windowMax` unacked, until the last
//     PUBACK; it refills its window per batch of PUBACKs, as carefully as a load generator should;
//  2. a broker without mirror fills `telemetry` over the edge protocol, then stops; it restarts
//     with the mirror, and /metrics (backlog, shipped) is scraped every pollMs until the backlog is 0;
//  3. a broker without mirror measures 1 edge producer alone (to a topic no mirror reads), fills a
//     fresh backlog, stops; restarted with the mirror, the same producer runs while the mirror
//     drains: both rates, against their alone figures. The broker is stopped mid-drain after that.
// mosquitto gets `max_inflight_messages 0`: its default (20) is sent as receiveMaximum in CONNACK
// and would cap the mirror's window at 20 while the plain client used windowMax.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { BrokerProcess, mainThreadSched, memoryText, processCpuSeconds, processFigures, schedShares, type ProcessMemory, type SchedShares } from './broker-process.ts';
import { runEdgeRound, type EdgeRound, type EdgeSettings } from './edge-throughput.ts';
import { EdgeSession } from './edge-session.ts';
import { fillTopic, watchdog } from './fill.ts';
import { findExecutable, MosquittoProcess } from './mqtt-throughput.ts';
import { fmtInt, fmtMB, type BenchResult } from './results.ts';
import { withTempDir } from './temp-dir.ts';

export interface MirrorDrainSettings {
  /** Backlog of the drain alone, and publishes of the plain client. */
  records: number;
  payloadBytes: number;
  partitions: number;
  /** The mirror's windowMax, and the plain client's unacked publishes. */
  windowMax: number;
  /** Filling the backlog over the edge protocol. */
  fillRecordsPerFrame: number;
  fillWindow: number;
  /** The edge producer (1 client) during the drain with ingest, and alone before it. */
  ingest: Omit<EdgeSettings, 'partitions' | 'repeats'>;
  /** Backlog of the drain with ingest: more than the mirror ships during ingest.durationMs. */
  ingestBacklogRecords: number;
  /** Scrape interval of the broker's /metrics. */
  pollMs: number;
  /** A phase that makes no progress for this long fails the bench instead of hanging it. */
  stallTimeoutMs: number;
}

export const mirrorDrainTarget = { metric: 'ratioToPlainClient', op: '>=', value: 0.8, label: 'drain ≥ 0.8× plain MQTT.js' } as const;

const MIRROR = 'bench';
const EDGE_ID = 'bench';
const TOPIC = 'telemetry';
/** The edge producer's topic during the ingest phase: not mirrored, so ingest does not grow the backlog. */
const INGEST_TOPIC = 'ingest';
const MOSQUITTO_CONFIG = ['max_inflight_messages 0', 'max_queued_messages 1000000'];

interface PlainRound {
  records: number;
  seconds: number;
  clientCpuPct: number;
  mosquittoCpuPct: number | null;
  /** Write syscalls of this process per record: how many publishes share a socket write. */
  writesPerRecord: number | null;
}

interface Sample {
  ns: bigint;
  shipped: number;
  backlog: number;
  connected: number;
  brokerCpu: number | null;
  brokerWrites: number | null;
  mosquittoCpu: number | null;
}

interface DrainRound {
  records: number;
  /** From the first scrape that saw shipped records to the first that saw an empty backlog. */
  seconds: number;
  /** From spawning the broker (process start, LMDB open, connect upstream) to the empty backlog. */
  totalSeconds: number;
  brokerCpuPct: number | null;
  mosquittoCpuPct: number | null;
  /** Write syscalls of the broker per shipped record (LMDB and the /metrics answers included). */
  writesPerRecord: number | null;
  memory: ProcessMemory | null;
}

interface IngestDrainRound {
  ingest: EdgeRound;
  /** Records the mirror shipped per second while the producer ran (until the backlog emptied). */
  drainPerSec: number;
  /** Null when the backlog lasted the whole ingest round. */
  emptiedAfterSeconds: number | null;
  /** Mosquitto's CPU over the same scrapes as drainPerSec. */
  mosquittoCpuPct: number | null;
  /** The broker's main thread (the ingest path) over the ingest round. */
  mainThread: SchedShares | null;
  memory: ProcessMemory | null;
}

export async function runMirrorDrain(s: MirrorDrainSettings): Promise<BenchResult[]> {
  if (findExecutable('mosquitto') === null) throw new Error('mosquitto (the upstream broker) not found on PATH or in /usr/sbin: install with apt-get install mosquitto');
  for (const n of [s.records, s.ingestBacklogRecords])
    if (n % s.fillRecordsPerFrame !== 0) throw new Error(`a backlog of ${n} records is not a whole number of ${s.fillRecordsPerFrame}-record frames`);
  return withTempDir('mirror-drain', async (dir) => {
    const dataDir = path.join(dir, 'data');
    fs.mkdirSync(dataDir);
    const mosquitto = await MosquittoProcess.start(dir, MOSQUITTO_CONFIG);
    try {
      const mirrorEnv = {
        TRIBUTARY_MIRRORS: JSON.stringify([{ name: MIRROR, sink: 'mqtt', url: `mqtt://127.0.0.1:${mosquitto.port}`, topics: [TOPIC], windowMax: s.windowMax }]),
      };

      progress(`plain MQTT.js client, ${fmtInt(s.records)} publishes`);
      const plain = await runPlainClient(mosquitto, s);

      progress(`filling a backlog of ${fmtInt(s.records)} records`);
      await withBroker(dataDir, {}, async (broker) => {
        const admin = await EdgeSession.open(broker.edgePort, 'bench-admin');
        try {
          await admin.createTopic(TOPIC, s.partitions);
          await admin.createTopic(INGEST_TOPIC, s.partitions);
        } finally {
          admin.close();
        }
        await fill(broker, s.records, s);
      });
      progress('draining it');
      const alone = await drainAlone(dataDir, mirrorEnv, mosquitto, s);

      progress(`edge producer alone for ${s.ingest.durationMs / 1000} s, then filling ${fmtInt(s.ingestBacklogRecords)} records`);
      const ingestAlone = await withBroker(dataDir, {}, async (broker) => {
        const before = mainThreadSched(broker.pid);
        const round = await runEdgeRound(broker, 1, INGEST_TOPIC, s.ingest);
        const mainThread = schedShares(before, mainThreadSched(broker.pid));
        await fill(broker, s.ingestBacklogRecords, s);
        return { round, mainThread };
      });
      progress('draining it while the edge producer runs');
      const withIngest = await drainWithIngest(dataDir, mirrorEnv, mosquitto, s);

      return [plainRow(plain, s), drainRow(alone, plain, s), ingestRow(withIngest, alone, ingestAlone.round, ingestAlone.mainThread, s)];
    } finally {
      await mosquitto.stop();
    }
  });
}

function progress(text: string): void {
  process.stderr.write(`  mirror-drain: ${text}\n`);
}

/** Runs `fn` with a broker child process on `dataDir`, stopped (by its PID) afterwards whatever happens. */
async function withBroker<T>(dataDir: string, env: Record<string, string>, fn: (broker: BrokerProcess) => Promise<T>): Promise<T> {
  const broker = await BrokerProcess.start({ TRIBUTARY_EDGE_ID: EDGE_ID, ...env }, { dataDir });
  let ok = false;
  try {
    const result = await fn(broker);
    ok = true;
    return result;
  } finally {
    const clean = await broker.stop();
    // A failure inside fn is the news; an unclean stop after a good run is one too.
    if (ok && !clean) throw new Error('broker did not shut down cleanly on SIGTERM (exit code not 0)');
  }
}

// ---- the plain client ----

async function runPlainClient(mosquitto: MosquittoProcess, s: MirrorDrainSettings): Promise<PlainRound> {
  const client = await mqtt.connectAsync({ host: '127.0.0.1', port: mosquitto.port, protocolVersion: 5, clientId: 'bench-plain', clean: true, reconnectPeriod: 0, connectTimeout: 5_000 });
  try {
    // The mirror's shape: remoteTopic edge/{edgeId}/{topic}, origin edgeId/topic/partition/offset.
    const topic = `edge/${EDGE_ID}/${TOPIC}`;
    const payload = randomBytes(s.payloadBytes);
    const total = s.records;
    let acked = 0;
    const cpuBefore = process.cpuUsage();
    const writesBefore = writeSyscalls('self');
    const mosquittoCpuBefore = processCpuSeconds(mosquitto.pid);
    const startNs = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      let sent = 0;
      let settled = false;
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        stall.stop();
        client.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onClose = () => finish(new Error(`plain client: connection to mosquitto closed after ${fmtInt(acked)} PUBACKs`));
      const stall = watchdog(() => acked, s.stallTimeoutMs, (ms) => finish(new Error(`plain client: no PUBACK for ${ms / 1000} s (${fmtInt(acked)} of ${fmtInt(total)})`)));
      // The window is refilled once per batch of PUBACKs, not once per PUBACK: MQTT.js corks its
      // socket until the next tick, so publishes made together go out in one write. Refilling
      // from each PUBACK callback costs a writev per message and halves the rate, which would
      // make a weak baseline.
      let refillQueued = false;
      const refill = () => {
        refillQueued = false;
        while (sent < total && sent - acked < s.windowMax) {
          const i = sent++;
          client.publish(topic, payload, { qos: 1, properties: { userProperties: { origin: `${EDGE_ID}/${TOPIC}/${i % s.partitions}/${i}` } } }, onAck);
        }
      };
      const onAck = (err?: Error) => {
        if (err) return finish(err);
        acked++;
        if (acked === total) finish();
        else if (!refillQueued) {
          refillQueued = true;
          queueMicrotask(refill);
        }
      };
      client.on('close', onClose);
      refill();
    });
    const seconds = Number(process.hrtime.bigint() - startNs) / 1e9;
    const cpu = process.cpuUsage(cpuBefore);
    const writesAfter = writeSyscalls('self');
    const mosquittoCpuAfter = processCpuSeconds(mosquitto.pid);
    return {
      records: total,
      seconds,
      clientCpuPct: ((cpu.user + cpu.system) / 1e6 / seconds) * 100,
      mosquittoCpuPct: mosquittoCpuBefore === null || mosquittoCpuAfter === null ? null : ((mosquittoCpuAfter - mosquittoCpuBefore) / seconds) * 100,
      writesPerRecord: writesBefore === null || writesAfter === null ? null : (writesAfter - writesBefore) / total,
    };
  } finally {
    await client.endAsync(true);
  }
}

// ---- the backlog ----

function fill(broker: BrokerProcess, records: number, s: MirrorDrainSettings): Promise<void> {
  return fillTopic(broker.edgePort, TOPIC, records, { recordsPerFrame: s.fillRecordsPerFrame, valueBytes: s.payloadBytes, window: s.fillWindow, stallTimeoutMs: s.stallTimeoutMs });
}

// ---- draining ----

async function drainAlone(dataDir: string, mirrorEnv: Record<string, string>, mosquitto: MosquittoProcess, s: MirrorDrainSettings): Promise<DrainRound> {
  const spawnNs = process.hrtime.bigint();
  return withBroker(dataDir, mirrorEnv, async (broker) => {
    const samples: Sample[] = [];
    const watch = new MetricsWatch(broker, mosquitto.pid, s, samples);
    const end = await watch.until((x) => x.backlog === 0);
    watch.stop();
    const memory = broker.memory();
    const first = samples[0];
    if (first.backlog + first.shipped !== s.records)
      throw new Error(`expected a backlog of ${fmtInt(s.records)} records, the mirror reported ${fmtInt(first.backlog)} left after ${fmtInt(first.shipped)} shipped`);
    const start = samples.find((x) => x.shipped > 0)!;
    if (start === end) throw new Error(`the backlog of ${fmtInt(s.records)} records was gone within one ${s.pollMs} ms scrape: too small to time`);
    const seconds = Number(end.ns - start.ns) / 1e9;
    const pct = (a: number | null, b: number | null) => (a === null || b === null ? null : ((b - a) / seconds) * 100);
    // The records shipped by the first sample are on the clock before it: count only the rest.
    const records = s.records - start.shipped;
    return {
      records,
      seconds,
      totalSeconds: Number(end.ns - spawnNs) / 1e9,
      brokerCpuPct: pct(start.brokerCpu, end.brokerCpu),
      mosquittoCpuPct: pct(start.mosquittoCpu, end.mosquittoCpu),
      writesPerRecord: start.brokerWrites === null || end.brokerWrites === null ? null : (end.brokerWrites - start.brokerWrites) / records,
      memory,
    };
  });
}

async function drainWithIngest(dataDir: string, mirrorEnv: Record<string, string>, mosquitto: MosquittoProcess, s: MirrorDrainSettings): Promise<IngestDrainRound> {
  return withBroker(dataDir, mirrorEnv, async (broker) => {
    const samples: Sample[] = [];
    const watch = new MetricsWatch(broker, mosquitto.pid, s, samples);
    // The watch fails only by a stall or a broken scrape; it must not end the ingest round early.
    const watching = watch.until((x) => x.backlog === 0).catch((err: unknown) => err as Error);
    let ingest: EdgeRound;
    const schedBefore = mainThreadSched(broker.pid);
    let mainThread: SchedShares | null;
    try {
      ingest = await runEdgeRound(broker, 1, INGEST_TOPIC, s.ingest);
      mainThread = schedShares(schedBefore, mainThreadSched(broker.pid));
    } finally {
      watch.stop();
    }
    const watchResult = await watching;
    if (watchResult instanceof Error && !(watchResult instanceof StoppedError)) throw watchResult;
    const memory = broker.memory();
    const during = samples.filter((x) => x.ns >= ingest.startNs && x.ns <= ingest.endNs);
    const emptied = during.findIndex((x) => x.backlog === 0);
    const window = emptied === -1 ? during : during.slice(0, emptied + 1);
    if (window.length < 2 || window[0].backlog === 0)
      throw new Error(`the backlog of ${fmtInt(s.ingestBacklogRecords)} records was gone before the edge producer ran: raise ingestBacklogRecords`);
    const a = window[0];
    const b = window[window.length - 1];
    const seconds = Number(b.ns - a.ns) / 1e9;
    return {
      ingest,
      drainPerSec: (b.shipped - a.shipped) / seconds,
      emptiedAfterSeconds: emptied === -1 ? null : Number(b.ns - ingest.startNs) / 1e9,
      mosquittoCpuPct: a.mosquittoCpu === null || b.mosquittoCpu === null ? null : ((b.mosquittoCpu - a.mosquittoCpu) / seconds) * 100,
      mainThread,
      memory,
    };
  });
}

class StoppedError extends Error {}

/** Scrapes the broker's /metrics every pollMs into `samples`; fails on a stall or a dead listener. */
class MetricsWatch {
  private stopped = false;
  private readonly url: string;

  constructor(
    private readonly broker: BrokerProcess,
    private readonly mosquittoPid: number | null,
    private readonly s: MirrorDrainSettings,
    private readonly samples: Sample[],
  ) {
    if (broker.httpPort === null) throw new Error('the broker child process did not report an HTTP port');
    this.url = `http://127.0.0.1:${broker.httpPort}/metrics`;
  }

  stop(): void {
    this.stopped = true;
  }

  /** Resolves with the first sample for which `done` holds; rejects with StoppedError after stop(). */
  async until(done: (x: Sample) => boolean): Promise<Sample> {
    let progressNs = process.hrtime.bigint();
    let lastShipped = -1;
    for (;;) {
      if (this.stopped) throw new StoppedError('stopped');
      const x = await this.sample();
      this.samples.push(x);
      if (done(x)) return x;
      if (x.shipped !== lastShipped) {
        lastShipped = x.shipped;
        progressNs = x.ns;
      } else if (Number(x.ns - progressNs) / 1e6 > this.s.stallTimeoutMs) {
        throw new Error(
          `the mirror shipped nothing for ${this.s.stallTimeoutMs / 1000} s (${x.connected === 1 ? 'connected' : 'not connected'} upstream, ${fmtInt(x.shipped)} shipped, ${fmtInt(x.backlog)} left)`,
        );
      }
      await sleep(this.s.pollMs);
    }
  }

  private async sample(): Promise<Sample> {
    const res = await fetch(this.url, { signal: AbortSignal.timeout(5_000) });
    const text = await res.text();
    const ns = process.hrtime.bigint();
    if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
    const value = (name: string) => {
      const m = new RegExp(`^${name}\\{mirror="${MIRROR}"\\} (\\S+)$`, 'm').exec(text);
      if (m === null) throw new Error(`GET /metrics: no ${name}{mirror="${MIRROR}"}`);
      return Number(m[1]);
    };
    return {
      ns,
      shipped: value('tributary_mirror_shipped_records_total'),
      backlog: value('tributary_mirror_backlog_records'),
      connected: value('tributary_mirror_connected'),
      brokerCpu: this.broker.cpuSeconds(),
      brokerWrites: writeSyscalls(this.broker.pid),
      mosquittoCpu: this.mosquittoPid === null ? null : processCpuSeconds(this.mosquittoPid),
    };
  }
}

/** Write syscalls (write, writev, pwrite...) a process made so far, or null where /proc is missing. */
function writeSyscalls(pid: number | 'self'): number | null {
  try {
    const m = /^syscw: (\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/** Calls `onStall` once when `progress()` has not changed for timeoutMs; stop() disarms it. */
// ---- rows ----

function plainRow(p: PlainRound, s: MirrorDrainSettings): BenchResult {
  const rate = p.records / p.seconds;
  return {
    bench: 'mirror-drain',
    case: `plain MQTT.js v5 client → mosquitto, QoS 1, window ${s.windowMax}, ${fmtInt(s.records)} × ${s.payloadBytes} B, origin property`,
    metrics: {
      recordsPerSec: rate,
      mbPerSec: (rate * s.payloadBytes) / 1e6,
      seconds: p.seconds,
      clientCpuPct: p.clientCpuPct,
      mosquittoCpuPct: p.mosquittoCpuPct,
      writesPerRecord: p.writesPerRecord,
    },
    summary: [
      `${fmtInt(rate)} rec/s, ${fmtMB(rate * s.payloadBytes)}/s`,
      `${p.seconds.toFixed(1)} s`,
      p.writesPerRecord === null ? null : `${p.writesPerRecord.toFixed(3)} socket writes/record`,
      `CPU client ${p.clientCpuPct.toFixed(0)}% / mosquitto ${p.mosquittoCpuPct === null ? '?' : p.mosquittoCpuPct.toFixed(0)}%`,
    ]
      .filter((part) => part !== null)
      .join(', '),
  };
}

function drainRow(d: DrainRound, p: PlainRound, s: MirrorDrainSettings): BenchResult {
  const rate = d.records / d.seconds;
  const plainRate = p.records / p.seconds;
  const ratio = rate / plainRate;
  return {
    bench: 'mirror-drain',
    case: `mirror drains ${fmtInt(s.records)} × ${s.payloadBytes} B backlog, ${s.partitions} partitions, windowMax ${s.windowMax} → mosquitto`,
    metrics: {
      recordsPerSec: rate,
      mbPerSec: (rate * s.payloadBytes) / 1e6,
      ratioToPlainClient: ratio,
      seconds: d.seconds,
      totalSeconds: d.totalSeconds,
      totalRecordsPerSec: s.records / d.totalSeconds,
      mosquittoCpuPct: d.mosquittoCpuPct,
      writesPerRecord: d.writesPerRecord,
      ...processFigures(d.brokerCpuPct, null, d.memory),
    },
    summary: [
      `${fmtInt(rate)} rec/s, ${fmtMB(rate * s.payloadBytes)}/s`,
      `${ratio.toFixed(2)}× plain MQTT.js`,
      `${d.totalSeconds.toFixed(1)} s from broker spawn (${fmtInt(s.records / d.totalSeconds)} rec/s)`,
      d.writesPerRecord === null ? null : `${d.writesPerRecord.toFixed(3)} broker writes/record`,
      `CPU broker ${d.brokerCpuPct === null ? '?' : d.brokerCpuPct.toFixed(0)}% / mosquitto ${d.mosquittoCpuPct === null ? '?' : d.mosquittoCpuPct.toFixed(0)}%`,
      d.memory === null ? null : `after: ${memoryText(d.memory)}`,
    ]
      .filter((part) => part !== null)
      .join(', '),
    target: mirrorDrainTarget,
  };
}

function ingestRow(w: IngestDrainRound, alone: DrainRound, ingestAlone: EdgeRound, mainAlone: SchedShares | null, s: MirrorDrainSettings): BenchResult {
  const ingestRate = w.ingest.records / w.ingest.seconds;
  const ingestAloneRate = ingestAlone.records / ingestAlone.seconds;
  const drainAloneRate = alone.records / alone.seconds;
  const brokerCpuPct = w.ingest.brokerCpuSeconds === null ? null : (w.ingest.brokerCpuSeconds / w.ingest.seconds) * 100;
  const generatorCpuPct = (w.ingest.generatorCpuSeconds / w.ingest.seconds) * 100;
  const budget = cpuBudget(alone, ingestAlone);
  const i = s.ingest;
  return {
    bench: 'mirror-drain',
    case: `mirror drains while 1 edge client produces (acks=1, ${i.recordsPerFrame} × ${i.valueBytes} B/frame, window ${i.window}, ${i.durationMs / 1000} s)`,
    metrics: {
      drainRecordsPerSec: w.drainPerSec,
      drainMbPerSec: (w.drainPerSec * s.payloadBytes) / 1e6,
      drainRatioToAlone: w.drainPerSec / drainAloneRate,
      ingestRecordsPerSec: ingestRate,
      ingestAloneRecordsPerSec: ingestAloneRate,
      ingestRatioToAlone: ingestRate / ingestAloneRate,
      backlogEmptiedAfterSeconds: w.emptiedAfterSeconds,
      mosquittoCpuPct: w.mosquittoCpuPct,
      cpuNeededForTargetsPct: budget?.neededPct ?? null,
      cpuAvailablePct: budget?.availablePct ?? null,
      mainThreadRunPct: w.mainThread?.runPct ?? null,
      mainThreadWaitPct: w.mainThread?.waitPct ?? null,
      mainThreadAloneRunPct: mainAlone?.runPct ?? null,
      mainThreadAloneWaitPct: mainAlone?.waitPct ?? null,
      ...processFigures(brokerCpuPct, generatorCpuPct, w.memory),
    },
    summary: [
      `drain ${fmtInt(w.drainPerSec)} rec/s (${(w.drainPerSec / drainAloneRate).toFixed(2)}× alone)`,
      `ingest ${fmtInt(ingestRate)} rec/s (${(ingestRate / ingestAloneRate).toFixed(2)}× alone: ${fmtInt(ingestAloneRate)})`,
      w.emptiedAfterSeconds === null ? null : `backlog empty after ${w.emptiedAfterSeconds.toFixed(1)} s`,
      `CPU broker ${brokerCpuPct === null ? '?' : brokerCpuPct.toFixed(0)}% / generator ${generatorCpuPct.toFixed(0)}% / mosquitto ${w.mosquittoCpuPct === null ? '?' : w.mosquittoCpuPct.toFixed(0)}%`,
      w.mainThread === null || mainAlone === null
        ? null
        : `broker main thread on a CPU ${w.mainThread.runPct.toFixed(0)}%, waiting for one ${w.mainThread.waitPct.toFixed(0)}% of the time (ingest alone: ${mainAlone.runPct.toFixed(0)}% / ${mainAlone.waitPct.toFixed(0)}%)`,
      budget === null
        ? null
        : `CPU the targets need at the alone phases' cost per record: ${INGEST_TARGET}× ingest alone (${budget.ingestAlonePct.toFixed(0)}%) + ${DRAIN_TARGET}× drain alone (${budget.drainAlonePct.toFixed(0)}%) = ${budget.neededPct.toFixed(0)}% of ${budget.availablePct}%`,
      w.memory === null ? null : `after: ${memoryText(w.memory)}`,
    ]
      .filter((part) => part !== null)
      .join(', '),
  };
}

/** Issue 14's targets for the drain with ingest, as shares of each one's rate alone. */
const INGEST_TARGET = 0.8;
const DRAIN_TARGET = 0.5;

/**
 * The CPU both targets need together if each record costs what it cost alone: every process of
 * the alone phases (broker, edge generator, mosquitto) counted, since they share the machine's cores
 * in the combined phase. Above the machine's total, the targets cannot both be met on it, whatever
 * the scheduler does; contention only raises the cost per record.
 */
function cpuBudget(alone: DrainRound, ingestAlone: EdgeRound): { ingestAlonePct: number; drainAlonePct: number; neededPct: number; availablePct: number } | null {
  if (ingestAlone.brokerCpuSeconds === null || alone.brokerCpuPct === null || alone.mosquittoCpuPct === null) return null;
  const ingestAlonePct = ((ingestAlone.brokerCpuSeconds + ingestAlone.generatorCpuSeconds) / ingestAlone.seconds) * 100;
  const drainAlonePct = alone.brokerCpuPct + alone.mosquittoCpuPct;
  return { ingestAlonePct, drainAlonePct, neededPct: INGEST_TARGET * ingestAlonePct + DRAIN_TARGET * drainAlonePct, availablePct: os.availableParallelism() * 100 };
}
