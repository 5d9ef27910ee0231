// What a mirror may publish next: at most `window` records unacknowledged (MQTT.js has no max-inflight
// option and ignores receiveMaximum, so the engine counts itself), at most `bytesPerSec` on average
// (a token bucket with one second of burst, for metered links), and when both are short, the waiting
// partition with the highest priority goes first. Strict priority would starve a low-priority topic
// behind a busy alarm topic, so every FAIR_SHARE_EVERY-th grant goes to whoever has waited longest.
// Waiters are at most one per partition pump, so the queues are bounded by the partition count.

export const FAIR_SHARE_EVERY = 8;

interface Waiter {
  priority: number;
  bytes: number;
  seq: number;
  resolve: (granted: boolean) => void;
}

export interface GateOptions {
  window: number;
  /** -1: unlimited. */
  bytesPerSec: number;
}

export class ShipGate {
  private readonly window: number;
  private readonly rate: number;
  private inflight = 0;
  private tokens: number;
  private refilledAt = performance.now();
  /** Priority → FIFO of waiters; `order` keeps the priorities in descending order. */
  private readonly queues = new Map<number, Waiter[]>();
  private order: number[] = [];
  private waiting = 0;
  private grants = 0;
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private aborted = false;

  constructor(opts: GateOptions) {
    this.window = opts.window;
    this.rate = opts.bytesPerSec;
    this.tokens = Math.max(this.rate, 0);
  }

  get size(): number {
    return this.window;
  }

  /** Publishes granted and not yet released. */
  get unacked(): number {
    return this.inflight;
  }

  /** True with a slot taken (synchronously when nobody waits), false once aborted (session over). */
  acquire(priority: number, bytes: number): boolean | Promise<boolean> {
    if (this.aborted) return false;
    if (this.waiting === 0 && this.inflight < this.window && this.hasTokens()) {
      this.take(bytes);
      return true;
    }
    return new Promise((resolve) => {
      let queue = this.queues.get(priority);
      if (queue === undefined) {
        queue = [];
        this.queues.set(priority, queue);
        this.order = [...this.queues.keys()].sort((a, b) => b - a);
      }
      queue.push({ priority, bytes, seq: this.seq++, resolve });
      this.waiting++;
      this.grantWaiting();
    });
  }

  /** One granted publish is acknowledged (or failed): its slot is free. */
  release(): void {
    if (this.aborted) return;
    this.inflight--;
    this.grantWaiting();
  }

  abort(): void {
    this.aborted = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const queue of this.queues.values()) for (const w of queue.splice(0)) w.resolve(false);
    this.waiting = 0;
  }

  private grantWaiting(): void {
    while (this.waiting > 0 && this.inflight < this.window) {
      if (!this.hasTokens()) {
        // One timer for the whole mirror, set for when the debt is paid back.
        this.timer ??= setTimeout(() => {
          this.timer = null;
          this.grantWaiting();
        }, Math.ceil(((1 - this.tokens) / this.rate) * 1000));
        return;
      }
      const w = this.nextWaiter();
      this.take(w.bytes);
      w.resolve(true);
    }
  }

  private nextWaiter(): Waiter {
    this.grants++;
    let from: Waiter[] | undefined;
    if (this.grants % FAIR_SHARE_EVERY === 0) {
      for (const p of this.order) {
        const head = this.queues.get(p)![0];
        if (head !== undefined && (from === undefined || head.seq < from[0]!.seq)) from = this.queues.get(p);
      }
    } else {
      for (const p of this.order) {
        const queue = this.queues.get(p)!;
        if (queue.length > 0) {
          from = queue;
          break;
        }
      }
    }
    this.waiting--;
    return from!.shift()!;
  }

  private hasTokens(): boolean {
    if (this.rate < 0) return true;
    const now = performance.now();
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
    this.refilledAt = now;
    return this.tokens > 0;
  }

  /** May leave the bucket in debt (a record bigger than the burst): the next grant waits it out. */
  private take(bytes: number): void {
    this.inflight++;
    if (this.rate >= 0) this.tokens -= bytes;
  }
}
