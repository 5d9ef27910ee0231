// Long-poll fetches parked on a partition, woken by the next transaction commit that appends to it. One timer per
// parked fetch (its maxWait), none per record, and no polling loop.

type Wake = (woken: boolean) => void;

interface Waiter {
  wake: Wake;
  timer: NodeJS.Timeout;
}

export class FetchWaiters {
  private readonly byPartition = new Map<string, Set<Waiter>>();

  /** Resolves true when an append arrives, false when maxWaitMs passes or the signal aborts. */
  wait(topicId: number, partition: number, maxWaitMs: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve(false);
      const key = `${topicId}/${partition}`;
      let set = this.byPartition.get(key);
      if (!set) this.byPartition.set(key, (set = new Set()));
      const onAbort = () => done(false);
      const done = (woken: boolean) => {
        clearTimeout(waiter.timer);
        signal?.removeEventListener('abort', onAbort);
        set!.delete(waiter);
        if (set!.size === 0) this.byPartition.delete(key);
        resolve(woken);
      };
      const waiter: Waiter = { wake: done, timer: setTimeout(done, maxWaitMs, false) };
      set.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  wake(topicId: number, partition: number): void {
    const set = this.byPartition.get(`${topicId}/${partition}`);
    if (!set) return;
    for (const w of [...set]) w.wake(true);
  }

  /** Ends every parked fetch (shutdown, topic deletion). */
  wakeAll(): void {
    for (const set of [...this.byPartition.values()]) for (const w of [...set]) w.wake(true);
  }

  get parked(): number {
    let n = 0;
    for (const set of this.byPartition.values()) n += set.size;
    return n;
  }
}
