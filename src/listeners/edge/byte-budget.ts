// A number of bytes shared by every edge connection: answers being read or waiting to be written, or
// incoming frames being assembled. It bounds what all connections together may hold in memory.
// Reservations that do not fit wait in arrival order and are granted as others release theirs, so no
// waiter is passed over by a later, smaller one. It never allocates anything itself.

interface Waiter {
  bytes: number;
  grant: () => void;
}

export class ByteBudget {
  private used = 0;
  private readonly waiting: Waiter[] = [];

  constructor(readonly bytesMax: number) {}

  get usedBytes(): number {
    return this.used;
  }

  get waiters(): number {
    return this.waiting.length;
  }

  /** Takes `bytes` now if they fit and nobody is waiting ahead; returns whether it did. */
  tryTake(bytes: number): boolean {
    if (this.waiting.length > 0 || this.used + bytes > this.bytesMax) return false;
    this.used += bytes;
    return true;
  }

  /**
   * Takes `bytes` once they fit, then calls grant (never synchronously). Returns a cancel function
   * for a caller that goes away first; after the grant, cancelling does nothing and the caller
   * releases what it was granted.
   */
  wait(bytes: number, grant: () => void): () => void {
    if (bytes > this.bytesMax) throw new RangeError(`a reservation of ${bytes} bytes can never fit a budget of ${this.bytesMax}`);
    const waiter: Waiter = { bytes, grant };
    this.waiting.push(waiter);
    queueMicrotask(() => this.grantWaiting());
    return () => {
      const i = this.waiting.indexOf(waiter);
      if (i >= 0) this.waiting.splice(i, 1);
      // The head may have been the one blocking smaller waiters behind it.
      if (i === 0) this.grantWaiting();
    };
  }

  release(bytes: number): void {
    this.used -= bytes;
    if (this.used < 0) throw new Error(`byte budget released ${-this.used} bytes more than it granted`);
    this.grantWaiting();
  }

  private grantWaiting(): void {
    while (this.waiting.length > 0 && this.used + this.waiting[0].bytes <= this.bytesMax) {
      const w = this.waiting.shift()!;
      this.used += w.bytes;
      w.grant();
    }
  }
}
