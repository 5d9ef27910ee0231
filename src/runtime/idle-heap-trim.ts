// Gives V8's young generation back once a thread goes quiet after a burst of work.
//
// Under load V8 grows the young generation's two semi-spaces to 16 MB each and keeps them committed
// afterwards. It shrinks them only in a full GC that finds the allocation rate low, and its memory
// reducer (which runs such GCs when a process idles) is armed only by a full GC. A broker whose
// records die young runs no full GC during a load, so after one it kept ~33 MB of empty young
// generation for good. A full GC or two once the thread is idle lets V8 shrink it.

import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

export interface IdleHeapTrimOptions {
  /** How often the thread's event-loop utilization is looked at. */
  intervalMs: number;
  /** The busy share of the event loop, 0–1, under which a period counts as idle. */
  idleUtilizationMax: number;
  /** The young generation's committed size above which it is worth a GC to shrink. */
  newSpaceBytesMin: number;
  /** Full GCs tried per quiet period: V8 shrinks only once its allocation-rate window has gone quiet too. */
  attemptsMax: number;
  /** Told of every GC it runs, with the young generation's size before and after. */
  onTrim?: (trim: HeapTrim) => void;
}

export interface HeapTrim {
  newSpaceBytesBefore: number;
  newSpaceBytesAfter: number;
  gcMs: number;
}

export const idleHeapTrimDefaults: Readonly<IdleHeapTrimOptions> = {
  intervalMs: 5_000,
  idleUtilizationMax: 0.05,
  newSpaceBytesMin: 8 * 1024 * 1024,
  attemptsMax: 3,
};

export interface IdleHeapTrim {
  /** False when this runtime would not hand out V8's `gc`: then the trim does nothing. */
  readonly running: boolean;
  stop(): void;
}

/** Starts watching this thread (the main thread or a worker: each has a heap of its own). */
export function startIdleHeapTrim(options: Partial<IdleHeapTrimOptions> = {}): IdleHeapTrim {
  const o = { ...idleHeapTrimDefaults, ...options };
  const gc = fullGc();
  if (gc === null) return { running: false, stop: () => undefined };
  let previous = performance.eventLoopUtilization();
  let attempts = 0;
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, previous).utilization;
    previous = now;
    if (busy > o.idleUtilizationMax) {
      attempts = 0;
      return;
    }
    const before = newSpaceBytes();
    if (before <= o.newSpaceBytesMin || attempts >= o.attemptsMax) return;
    attempts += 1;
    const started = performance.now();
    gc();
    o.onTrim?.({ newSpaceBytesBefore: before, newSpaceBytesAfter: newSpaceBytes(), gcMs: performance.now() - started });
  }, o.intervalMs);
  timer.unref();
  return { running: true, stop: () => clearInterval(timer) };
}

/** Committed bytes of V8's young generation in this thread. */
export function newSpaceBytes(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

// V8 installs `gc` in contexts made while --expose-gc is set. The flag is left on: it is process-wide,
// and turning it off again could race with a worker thread fetching its own `gc` at the same time.
// A runtime that refuses flags after start must not stop the broker from starting: null, no trim.
function fullGc(): (() => void) | null {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('typeof gc === "function" ? gc : null');
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}
