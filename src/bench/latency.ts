// Ack latency at a fixed, moderate rate: one record per PRODUCE frame, open loop. A single 1 ms
// interval timer sends every frame that has come due since its last run (no timer per message),
// whatever the ACKs are doing, so a slow broker shows up as latency rather than as a lower rate.
// Latency runs from the write of a frame to the arrival of the ACK entry that covers it.

import { performance } from 'node:perf_hooks';
import type { Acks } from '../protocol/edge/frames.ts';
import type { BrokerProcess } from './broker-process.ts';
import { EdgeSession } from './edge-session.ts';
import { produceTemplate, writeSeq } from './produce-frame.ts';
import { fmtInt, fmtMs, type BenchResult } from './results.ts';

export interface LatencySettings {
  ratePerSec: number;
  durationMs: number;
  /** Sent first and left out of the figures: JIT, the first LMDB pages, TCP windows. */
  warmupMs: number;
  valueBytes: number;
}

export const latencyTarget = { metric: 'p99Ms', op: '<=', value: 5, label: 'p99 ≤ 5 ms' } as const;

const ALIAS = 1;
const DRAIN_TIMEOUT_MS = 10_000;

export async function runLatency(broker: BrokerProcess, acks: Acks, s: LatencySettings): Promise<BenchResult> {
  const topic = `bench-latency-${acks}`;
  const session = await EdgeSession.open(broker.edgePort, `bench-latency-${acks}`);
  try {
    await session.createTopic(topic, 1);
    await session.register(ALIAS, topic);
    const cpuBefore = broker.cpuSeconds();
    const startedMs = performance.now();
    const latencies = await measure(session, acks, s);
    const seconds = (performance.now() - startedMs) / 1000;
    const cpuAfter = broker.cpuSeconds();
    const brokerCpuPct = cpuBefore === null || cpuAfter === null ? null : ((cpuAfter - cpuBefore) / seconds) * 100;
    latencies.sort();
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
    const metrics = { samples: latencies.length, p50Ms: at(0.5), p99Ms: at(0.99), p999Ms: at(0.999), maxMs: latencies[latencies.length - 1], brokerCpuPct };
    return {
      bench: 'latency',
      case: `acks=${acks}, ${fmtInt(s.ratePerSec)} rec/s for ${(s.durationMs / 1000).toFixed(0)} s, 1 × ${s.valueBytes} B/frame`,
      metrics,
      summary: [
        `p50 ${fmtMs(metrics.p50Ms)}, p99 ${fmtMs(metrics.p99Ms)}, p99.9 ${fmtMs(metrics.p999Ms)}, max ${fmtMs(metrics.maxMs)}`,
        brokerCpuPct === null ? null : `broker CPU ${brokerCpuPct.toFixed(0)}%`,
      ]
        .filter((part) => part !== null)
        .join(', '),
      // The target is for acks=1; acks=all adds a flush to disk and is printed for comparison.
      target: acks === 1 ? latencyTarget : undefined,
    };
  } finally {
    session.close();
  }
}

/** Sends the paced frames; resolves with the latencies (ms) of every frame after the warm-up. */
function measure(session: EdgeSession, acks: Acks, s: LatencySettings): Promise<Float64Array> {
  const template = produceTemplate({ alias: ALIAS, acks, records: 1, valueBytes: s.valueBytes });
  const frameBytes = template.bytes.length;
  const warmupFrames = Math.round((s.ratePerSec * s.warmupMs) / 1000);
  const total = warmupFrames + Math.round((s.ratePerSec * s.durationMs) / 1000);
  const sentAtMs = new Float64Array(total + 1);
  const latencies = new Float64Array(total - warmupFrames);

  return new Promise((resolve, reject) => {
    let sent = 0;
    let acked = 0;
    const startMs = performance.now();
    let drainTimer: NodeJS.Timeout | undefined;
    const finish = (err?: Error) => {
      clearInterval(pacer);
      clearTimeout(drainTimer);
      if (err) reject(err);
      else resolve(latencies);
    };
    const pacer = setInterval(() => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - startMs) * s.ratePerSec) / 1000));
      if (due <= sent) return;
      // Everything due goes out in one write: one syscall per tick, not one per frame.
      const out = Buffer.allocUnsafe((due - sent) * frameBytes);
      for (let seq = sent + 1, at = 0; seq <= due; seq++, at += frameBytes) {
        template.bytes.copy(out, at);
        writeSeq(out, at + template.seqAt, seq);
        sentAtMs[seq] = now;
      }
      session.write(out);
      sent = due;
      if (sent === total) {
        clearInterval(pacer);
        drainTimer = setTimeout(() => finish(new Error(`${total - acked} frames not acknowledged ${DRAIN_TIMEOUT_MS} ms after the last send`)), DRAIN_TIMEOUT_MS);
      }
    }, 1);
    session.onAck = (entries) => {
      const now = performance.now();
      for (const e of entries) if (e.seq > warmupFrames) latencies[e.seq - warmupFrames - 1] = now - sentAtMs[e.seq];
      acked += entries.length;
      if (acked === total) finish();
    };
    session.onFailure = finish;
  });
}
