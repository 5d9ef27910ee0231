// A backlog produced as fast as the broker takes it (pre-encoded frames, a window in flight), and the
// watchdog that turns a bench that stopped making progress into an error instead of a hang.

import { EdgeSession } from './edge-session.ts';
import { produceTemplate, writeSeq } from './produce-frame.ts';

export interface FillSettings {
  recordsPerFrame: number;
  valueBytes: number;
  /** PRODUCE frames in flight. */
  window: number;
  stallTimeoutMs: number;
  /** Every keyEvery-th record of a frame is keyed (produceTemplate); absent or 0: no keys. */
  keyEvery?: number;
  /**
   * Record values per ring slot (window slots) and index in the frame, each valueBytes long, so a
   * backlog is not one value repeated (what a compression codec would make vanish); absent: one
   * random value for every record.
   */
  valueAt?: (slot: number, index: number) => Buffer;
}

/**
 * Produces exactly `records` records (a whole number of frames) to `topic`, which must exist, over one
 * edge connection, acks=1. Frames name no partition: the broker spreads them.
 */
export async function fillTopic(port: number, topic: string, records: number, s: FillSettings): Promise<void> {
  if (records % s.recordsPerFrame !== 0) throw new Error(`a backlog of ${records} records is not a whole number of ${s.recordsPerFrame}-record frames`);
  const session = await EdgeSession.open(port, 'bench-fill');
  try {
    await session.register(1, topic);
    const shape = { alias: 1, acks: 1, records: s.recordsPerFrame, valueBytes: s.valueBytes, keyEvery: s.keyEvery } as const;
    const template = produceTemplate(shape);
    const valueAt = s.valueAt;
    // A slot is patched again only after its previous frame was acknowledged (see edge-load.ts).
    const ring = Array.from({ length: s.window }, (_, slot) =>
      valueAt === undefined ? Buffer.from(template.bytes) : produceTemplate({ ...shape, valueAt: (i) => valueAt(slot, i) }).bytes,
    );
    const frames = records / s.recordsPerFrame;
    let acked = 0;
    await new Promise<void>((resolve, reject) => {
      let nextSeq = 1;
      const stall = watchdog(() => acked, s.stallTimeoutMs, (ms) => reject(new Error(`filling the backlog: no ACK for ${ms / 1000} s (${acked} of ${frames} frames)`)));
      const send = () => {
        session.cork();
        while (nextSeq <= frames && nextSeq - 1 - acked < s.window) {
          const frame = ring[nextSeq % s.window];
          writeSeq(frame, template.seqAt, nextSeq++);
          session.write(frame);
        }
        session.uncork();
      };
      session.onAck = (entries) => {
        acked += entries.length;
        if (acked < frames) return send();
        stall.stop();
        resolve();
      };
      session.onFailure = (err) => {
        stall.stop();
        reject(err);
      };
      send();
    });
  } finally {
    session.close();
  }
}

/** Calls onStall once when `progress()` has not changed for timeoutMs; stop() ends the watch. */
export function watchdog(progress: () => number, timeoutMs: number, onStall: (ms: number) => void): { stop(): void } {
  let last = progress();
  let lastChangeMs = performance.now();
  const timer = setInterval(() => {
    const now = progress();
    if (now !== last) {
      last = now;
      lastChangeMs = performance.now();
    } else if (performance.now() - lastChangeMs > timeoutMs) {
      clearInterval(timer);
      onStall(timeoutMs);
    }
  }, Math.min(1_000, timeoutMs));
  return { stop: () => clearInterval(timer) };
}
