// Every byte an edge connection writes goes through here. It counts what the connection holds for
// writing — answers handed to the socket that the kernel has not taken yet, and reservations for
// RECORDS answers being read — against the connection's writeQueueBytesMax, and returns the RECORDS
// part to the listener's shared write budget as the kernel takes it. It never decides what to send.

import type { Socket } from 'node:net';
import type { ByteBudget } from './byte-budget.ts';

export class ConnectionWriter {
  /** Bytes written and not yet taken by the kernel, plus reservations. */
  private queued = 0;
  /** The part of `queued` taken from the shared budget. */
  private shared = 0;
  private ended = false;

  constructor(
    private readonly socket: Socket,
    private readonly budget: ByteBudget,
    private readonly queueBytesMax: number,
    /** Called whenever bytes leave the queue: waiting answers may fit now. */
    private readonly onRoom: () => void,
  ) {}

  /** An answer of up to `bytes` may be prepared: it fits the bound, or nothing is queued at all. */
  hasRoom(bytes: number): boolean {
    return !this.ended && (this.queued === 0 || this.queued + bytes <= this.queueBytesMax);
  }

  /** Counts `bytes` the caller took from the shared budget for an answer it is about to read. */
  reserve(bytes: number): void {
    this.queued += bytes;
    this.shared += bytes;
  }

  /** Gives back the part of a reservation the answer did not need (or all of it). */
  unreserve(bytes: number): void {
    if (this.ended || bytes === 0) return;
    this.queued -= bytes;
    this.shared -= bytes;
    this.budget.release(bytes);
    this.onRoom();
  }

  /**
   * Writes `chunks` back to back, corked into one segment where they fit. With `reserved`, their
   * bytes are already counted (a RECORDS answer's reservation); otherwise they are counted now.
   * Returns false once the socket's own buffer is full: the caller stops reading requests.
   */
  write(chunks: Buffer[], reserved: boolean): boolean {
    if (this.ended || this.socket.destroyed || this.socket.writableEnded) {
      if (reserved) this.unreserve(chunks.reduce((n, c) => n + c.length, 0));
      return false;
    }
    let ok = true;
    // One chunk (every answer but RECORDS) goes straight out: corking it would only buffer it first.
    const cork = chunks.length > 1;
    if (cork) this.socket.cork();
    for (const chunk of chunks) {
      if (!reserved) this.queued += chunk.length;
      ok = this.socket.write(chunk, () => this.taken(chunk.length, reserved));
    }
    if (cork) this.socket.uncork();
    return ok;
  }

  /** The socket closed: whatever it still held is freed, and later write callbacks count nothing. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    const shared = this.shared;
    this.queued = 0;
    this.shared = 0;
    if (shared > 0) this.budget.release(shared);
  }

  private taken(bytes: number, reserved: boolean): void {
    if (this.ended) return;
    this.queued -= bytes;
    if (reserved) {
      this.shared -= bytes;
      this.budget.release(bytes);
    }
    this.onRoom();
  }
}
