// The idle heap trim against this test process's own V8 heap: a burst of allocation with survivors
// grows the young generation, as a load does the broker's; once the thread idles, the trim's full GCs
// let V8 shrink it again.
import { describe, expect, it } from 'vitest';
import { idleHeapTrimDefaults, newSpaceBytes, startIdleHeapTrim, type HeapTrim } from '../../src/runtime/idle-heap-trim.ts';

/** Allocates like a broker under load: most objects die young, a window of them survives a scavenge or two. */
function allocationBurst(objects = 3_000_000): void {
  let window: { n: number; b: Buffer }[] = [];
  for (let i = 0; i < objects; i++) {
    window.push({ n: i, b: Buffer.alloc(16) });
    if (window.length > 20_000) window = [];
  }
}

describe('idle heap trim', () => {
  it('shrinks a young generation grown by a burst once the thread is idle', async () => {
    allocationBurst();
    const grown = newSpaceBytes();
    expect(grown).toBeGreaterThan(idleHeapTrimDefaults.newSpaceBytesMin);

    const trims: HeapTrim[] = [];
    const shrunk = await new Promise<HeapTrim>((resolve) => {
      const trim = startIdleHeapTrim({
        intervalMs: 500,
        attemptsMax: 100,
        onTrim: (t) => {
          trims.push(t);
          if (t.newSpaceBytesAfter <= idleHeapTrimDefaults.newSpaceBytesMin) {
            trim.stop();
            resolve(t);
          }
        },
      });
    });
    expect(shrunk.newSpaceBytesAfter).toBeLessThan(grown);
    expect(newSpaceBytes()).toBeLessThanOrEqual(idleHeapTrimDefaults.newSpaceBytesMin);
    // Every GC ran on a young generation above the floor, none after it shrank.
    expect(trims.every((t) => t.newSpaceBytesBefore > idleHeapTrimDefaults.newSpaceBytesMin)).toBe(true);
  }, 60_000);

  it('runs no GC while the thread is busy, however grown its young generation', async () => {
    const trims: HeapTrim[] = [];
    const trim = startIdleHeapTrim({ intervalMs: 100, attemptsMax: 100, onTrim: (t) => trims.push(t) });
    try {
      // Two seconds of bursts back to back, yielding to the timers between them: the event loop is
      // never idle, so every period the trim looks at is busy.
      const until = performance.now() + 2_000;
      while (performance.now() < until) {
        allocationBurst(200_000);
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(newSpaceBytes()).toBeGreaterThan(idleHeapTrimDefaults.newSpaceBytesMin);
      expect(trims).toEqual([]);
    } finally {
      trim.stop();
    }
  }, 60_000);
});
