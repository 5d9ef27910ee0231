// What a mirror may publish next: at most `window` records and `windowBytes` bytes unacknowledged
// (MQTT.js has no max-inflight option and ignores receiveMaximum, so the engine counts itself; the
// bytes bound what a window of big records holds in memory), within the mirror's byte-rate limit
// (token-bucket.ts), and when either is short, the
// partition with the highest priority goes first. Strict priority would starve a low-priority topic
// behind a busy alarm topic, so every FAIR_SHARE_EVERY-th grant goes to the partition that has gone
// longest without one.
//
// A partition hands over a whole batch as one demand and the gate calls its `send` synchronously for
// each granted record, in order. A demand stays queued until its last record is sent, so the
// partition keeps its place while acks free slots one by one; and it costs one promise per batch,
// not per record. Demands are at most one per partition, so the queue is bounded by the partition
// count.

import type { TokenBucket } from './token-bucket.ts';

export const FAIR_SHARE_EVERY = 8;

interface Demand {
  priority: number;
  sizes: readonly number[];
  send: (index: number) => void;
  next: number;
  /** The grant counter when this demand last got a slot (or was queued): fair turns go to the lowest. */
  lastGrant: number;
  resolve: (sent: boolean) => void;
}

export interface GateOptions {
  window: number;
  /** Bytes in flight; a record bigger than this still goes, alone. */
  windowBytes: number;
  /** null: unlimited. */
  rateLimit: TokenBucket | null;
}

export class ShipGate {
  private readonly window: number;
  private readonly windowBytes: number;
  private readonly bucket: TokenBucket | null;
  private inflight = 0;
  private inflightBytes = 0;
  /** Waiting demands, highest priority first, FIFO within a priority. */
  private queue: Demand[] = [];
  private grants = 0;
  private timer: NodeJS.Timeout | null = null;
  private regrant: NodeJS.Immediate | null = null;
  private aborted = false;

  constructor(opts: GateOptions) {
    this.window = opts.window;
    this.windowBytes = opts.windowBytes;
    this.bucket = opts.rateLimit;
  }

  get size(): number {
    return this.window;
  }

  /** Records sent and not yet released. */
  get unacked(): number {
    return this.inflight;
  }

  /**
   * Sends `sizes.length` records through `send(i)`, each once a slot (and rate) allows, in order.
   * Resolves true once all are sent, false when the gate was aborted first (session over).
   */
  ship(priority: number, sizes: readonly number[], send: (index: number) => void): Promise<boolean> {
    if (this.aborted) return Promise.resolve(false);
    if (sizes.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const demand: Demand = { priority, sizes, send, next: 0, lastGrant: this.grants, resolve };
      let at = this.queue.findIndex((d) => d.priority < priority);
      if (at < 0) at = this.queue.length;
      this.queue.splice(at, 0, demand);
      this.grantWaiting();
    });
  }

  /**
   * One sent record of `bytes` is acknowledged (or failed): its slot is free. The slots freed during one
   * event-loop turn are granted together afterwards: MQTT.js handles each PUBACK of a socket read in
   * its own tick, and granting per ack would write one PUBLISH per syscall instead of one writev.
   */
  release(bytes: number): void {
    if (this.aborted) return;
    this.inflight--;
    this.inflightBytes -= bytes;
    this.regrant ??= setImmediate(() => {
      this.regrant = null;
      this.grantWaiting();
    });
  }

  abort(): void {
    this.aborted = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.regrant !== null) clearImmediate(this.regrant);
    this.regrant = null;
    for (const d of this.queue.splice(0)) d.resolve(false);
  }

  private grantWaiting(): void {
    while (this.queue.length > 0 && this.inflight < this.window && !this.aborted) {
      if (this.bucket !== null && !this.bucket.ready()) {
        // One timer for the whole connection, set for when the debt is paid back.
        this.timer ??= setTimeout(() => {
          this.timer = null;
          this.grantWaiting();
        }, this.bucket.waitMs());
        return;
      }
      const at = this.nextDemand();
      const d = this.queue[at]!;
      const bytes = d.sizes[d.next]!;
      if (this.inflightBytes > 0 && this.inflightBytes + bytes > this.windowBytes) return;
      const index = d.next++;
      d.lastGrant = ++this.grants;
      this.inflight++;
      this.inflightBytes += bytes;
      this.bucket?.take(bytes);
      if (d.next === d.sizes.length) this.queue.splice(at, 1);
      d.send(index);
      if (d.next === d.sizes.length) d.resolve(true);
    }
  }

  private nextDemand(): number {
    if ((this.grants + 1) % FAIR_SHARE_EVERY !== 0) return 0;
    let at = 0;
    for (let i = 1; i < this.queue.length; i++) if (this.queue[i]!.lastGrant < this.queue[at]!.lastGrant) at = i;
    return at;
  }
}
