// Edge codec throughput in-process: what encoding and decoding a 500-record PRODUCE frame costs,
// with no socket and no storage in the way.

import { randomBytes } from 'node:crypto';
import { limits } from '../limits.ts';
import { encodeFrame, FrameDecoder } from '../protocol/edge/codec.ts';
import type { ProduceFrame } from '../protocol/edge/frames.ts';
import { fmtInt, fmtMB, type BenchResult } from './results.ts';

export interface CodecSettings {
  recordsPerFrame: number;
  valueBytes: number;
  /** Each direction runs this long. */
  durationMs: number;
}

export function runCodec(s: CodecSettings): BenchResult[] {
  const value = randomBytes(s.valueBytes);
  const frame: ProduceFrame = {
    type: 'produce',
    seq: 1,
    alias: 1,
    partition: -1,
    acks: 1,
    baseTimestampMs: Date.now(),
    records: Array.from({ length: s.recordsPerFrame }, () => ({ timestampDeltaMs: 0, key: null, value, headers: [] })),
  };
  const encoded = encodeFrame(frame);
  const decoder = new FrameDecoder(limits.edgeFrameBytesMax);

  const encode = repeatFor(s.durationMs, () => encodeFrame(frame));
  const decode = repeatFor(s.durationMs, () => {
    if (decoder.push(encoded).frames.length !== 1) throw new Error('codec bench: frame did not decode');
  });
  return [result('encode', encode, encoded.length, s), result('decode', decode, encoded.length, s)];
}

function result(direction: string, perSec: number, frameBytes: number, s: CodecSettings): BenchResult {
  return {
    bench: 'codec',
    case: `${direction} PRODUCE, ${s.recordsPerFrame} × ${s.valueBytes} B records (${fmtInt(frameBytes)} B frame)`,
    metrics: { framesPerSec: perSec, recordsPerSec: perSec * s.recordsPerFrame, mbPerSec: (perSec * frameBytes) / 1e6 },
    summary: `${fmtInt(perSec)} frames/s, ${fmtInt(perSec * s.recordsPerFrame)} rec/s, ${fmtMB(perSec * frameBytes)}/s`,
  };
}

/** Calls `fn` until `durationMs` has passed (checking the clock every few calls); returns calls per second. */
function repeatFor(durationMs: number, fn: () => void): number {
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(durationMs) * 1_000_000n;
  let calls = 0;
  let now = started;
  while (now < deadline) {
    for (let i = 0; i < 16; i++) fn();
    calls += 16;
    now = process.hrtime.bigint();
  }
  return calls / (Number(now - started) / 1e9);
}
