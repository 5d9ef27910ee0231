// One load-generating client for the edge throughput benchmarks: a window of pre-encoded PRODUCE
// frames in flight, refilled as cumulative ACKs come back. Per frame it patches one seq and writes
// one buffer; per ACK frame it counts entries. No promises or allocations per record.

import { EdgeSession } from './edge-session.ts';
import { produceTemplate, writeSeq } from './produce-frame.ts';

export interface LoadSettings {
  port: number;
  topic: string;
  clientId: string;
  recordsPerFrame: number;
  valueBytes: number;
  /** PRODUCE frames in flight. */
  window: number;
  durationMs: number;
}

export interface LoadResult {
  records: number;
  /** process.hrtime.bigint() of the first send and of the last ACK: one clock for every thread. */
  startNs: bigint;
  endNs: bigint;
}

const ALIAS = 1;

/** Connects and registers the topic; the returned function runs the load once. */
export async function prepareLoad(s: LoadSettings): Promise<() => Promise<LoadResult>> {
  const session = await EdgeSession.open(s.port, s.clientId);
  await session.register(ALIAS, s.topic);
  const template = produceTemplate({ alias: ALIAS, acks: 1, records: s.recordsPerFrame, valueBytes: s.valueBytes });
  // Slot seq % window is reused only after seq - window was acknowledged, so the broker has read
  // those bytes: a buffer is never patched while the socket may still hold it.
  const ring = Array.from({ length: s.window }, () => Buffer.from(template.bytes));

  return () =>
    new Promise<LoadResult>((resolve, reject) => {
      let nextSeq = 1;
      let inflight = 0;
      let acked = 0;
      let sending = true;
      const startNs = process.hrtime.bigint();
      const deadlineNs = startNs + BigInt(s.durationMs) * 1_000_000n;

      const fill = (): void => {
        session.cork();
        while (sending && inflight < s.window) {
          const frame = ring[nextSeq % s.window];
          writeSeq(frame, template.seqAt, nextSeq++);
          session.write(frame);
          inflight++;
        }
        session.uncork();
      };
      session.onAck = (entries) => {
        inflight -= entries.length;
        acked += entries.length;
        const now = process.hrtime.bigint();
        if (now >= deadlineNs) sending = false;
        if (!sending && inflight === 0) {
          session.close();
          resolve({ records: acked * s.recordsPerFrame, startNs, endNs: now });
          return;
        }
        fill();
      };
      session.onFailure = reject;
      fill();
    });
}
