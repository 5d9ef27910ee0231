// The byte-rate limit of one mirror, for metered links: a token bucket over PUBLISH sizes with one
// second of burst. It belongs to the mirror, not to a connection, so a link that keeps reconnecting
// cannot get a fresh burst each time.

export class TokenBucket {
  private readonly rate: number;
  private tokens: number;
  private refilledAt = performance.now();

  constructor(bytesPerSec: number) {
    this.rate = bytesPerSec;
    this.tokens = bytesPerSec;
  }

  /** Whether a send may go now; a record bigger than the burst goes into debt, paid back before the next. */
  ready(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
    this.refilledAt = now;
    return this.tokens > 0;
  }

  take(bytes: number): void {
    this.tokens -= bytes;
  }

  /** Milliseconds until ready() turns true. */
  waitMs(): number {
    return Math.max(1, Math.ceil(((1 - this.tokens) / this.rate) * 1000));
  }
}
