// The bound on unacknowledged publishes of one mirror connection. MQTT.js has no max-inflight option
// and ignores receiveMaximum, so the engine counts itself. Waiters are at most one per partition
// pump (each waits for one slot at a time), so the queue is bounded by the partition count.

export class PublishWindow {
  private inflight = 0;
  private readonly waiters: ((granted: boolean) => void)[] = [];
  private aborted = false;

  constructor(readonly size: number) {}

  /** Resolves true with a slot taken, false when the window was aborted (connection gone). */
  acquire(): Promise<boolean> | boolean {
    if (this.aborted) return false;
    if (this.inflight < this.size) {
      this.inflight++;
      return true;
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    if (this.aborted) return;
    const next = this.waiters.shift();
    if (next) next(true);
    else this.inflight--;
  }

  abort(): void {
    this.aborted = true;
    for (const w of this.waiters.splice(0)) w(false);
  }
}
