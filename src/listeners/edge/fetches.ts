// FETCH on one edge connection [EDGE-8.1]: at most edgeFetchesInflightMax unanswered. A fetch first
// waits for records without holding any memory, then reserves its largest answer (the connection's
// frame limit) from the connection's write queue and from the listener's shared write budget, reads
// and writes the stored batches as they are, with no copy into a frame buffer. Fetches that find no
// room wait, in arrival order, until the kernel takes earlier answers or other connections free
// budget [EDGE-8.3]. Nothing here is read for a peer that does not read its answers.

import type { Broker } from '../../broker/broker.ts';
import { asTributaryError, TributaryError } from '../../errors.ts';
import { limits } from '../../limits.ts';
import { encodeRecordsHead } from '../../protocol/edge/codec.ts';
import type { FetchFrame } from '../../protocol/edge/frames.ts';
import type { ByteBudget } from './byte-budget.ts';
import type { ConnectionWriter } from './connection-writer.ts';

/** Length prefix, type, corr, partition, offsets and batch length of a RECORDS frame, rounded up. */
export const RECORDS_HEADER_BYTES_MAX = 64;

export interface FetchHost {
  broker: Broker;
  budget: ByteBudget;
  writer: ConnectionWriter;
  /** The connection's negotiated frame limit and its encoded size (with the length prefix). */
  frameBytesMax: () => number;
  encodedBytesMax: () => number;
  /** Answers a FETCH that failed: ERROR, or OUT_OF_RANGE where the connection's version has it [EDGE-5.17]. */
  sendError: (frame: FetchFrame, err: TributaryError) => void;
  signal: AbortSignal;
}

interface ReadyFetch {
  frame: FetchFrame;
  topic: string;
}

export class Fetches {
  private inflight = 0;
  /** Fetches with records to read, waiting for room, oldest first. */
  private readonly ready: ReadyFetch[] = [];
  /** Cancels the wait of the oldest ready fetch for the shared budget. */
  private cancelBudgetWait: (() => void) | null = null;

  constructor(private readonly host: FetchHost) {}

  start(frame: FetchFrame, topic: string): void {
    if (this.inflight >= limits.edgeFetchesInflightMax)
      return this.host.sendError(frame, new TributaryError('THROTTLED', `at most ${limits.edgeFetchesInflightMax} fetches in flight per connection`));
    this.inflight++;
    const { broker, signal } = this.host;
    broker.waitForRecords(topic, frame.partition, frame.offset, frame.maxWaitMs, signal).then(
      () => {
        if (signal.aborted) return;
        this.ready.push({ frame, topic });
        this.admit();
      },
      (err: unknown) => {
        this.inflight--;
        this.host.sendError(frame, asTributaryError(err));
      },
    );
  }

  /** Reads the oldest ready fetches while there is room; called again whenever room may have appeared. */
  admit(): void {
    const { budget, writer, signal } = this.host;
    while (this.ready.length > 0 && this.cancelBudgetWait === null && !signal.aborted) {
      const bytes = this.host.encodedBytesMax();
      if (!writer.hasRoom(bytes)) return;
      const next = this.ready[0];
      if (!budget.tryTake(bytes)) {
        this.cancelBudgetWait = budget.wait(bytes, () => {
          this.cancelBudgetWait = null;
          this.ready.shift();
          writer.reserve(bytes);
          this.read(next, bytes);
          this.admit();
        });
        return;
      }
      this.ready.shift();
      writer.reserve(bytes);
      this.read(next, bytes);
    }
  }

  /** The connection closed: nothing waits for room any more. */
  close(): void {
    this.cancelBudgetWait?.();
    this.cancelBudgetWait = null;
    this.ready.length = 0;
  }

  private read({ frame, topic }: ReadyFetch, reserved: number): void {
    const { broker, writer } = this.host;
    const frameBytesMax = this.host.frameBytesMax();
    // [EDGE-8.1] a RECORDS frame never exceeds the negotiated frame size; maxBytes is capped as fetch caps it.
    const room = frameBytesMax - RECORDS_HEADER_BYTES_MAX;
    const wanted = Math.max(1, Math.min(frame.maxBytes, room, limits.fetchBytesMax));
    broker.fetch(topic, frame.partition, frame.offset, wanted, 0, this.host.signal).then(
      (r) => {
        this.inflight--;
        // Whole batches while the total stays within maxBytes, at least one if it fits the frame.
        let bytes = 0;
        let fit = 0;
        while (fit < r.batches.length && bytes + r.batches[fit].length <= (fit === 0 ? room : wanted)) bytes += r.batches[fit++].length;
        if (fit === 0 && r.batches.length > 0) {
          writer.unreserve(reserved);
          return this.host.sendError(
            frame,
            new TributaryError('RECORD_TOO_LARGE', `the batch at offset ${frame.offset} of ${topic}/${frame.partition} is ${r.batches[0].length} bytes, above the ${room} a RECORDS frame holds on this connection (its frame limit of ${frameBytesMax} less ${RECORDS_HEADER_BYTES_MAX} for the frame's header)`),
          );
        }
        const head = encodeRecordsHead({ corr: frame.corr, partition: frame.partition, logStartOffset: r.logStartOffset, nextOffset: r.nextOffset }, bytes);
        writer.unreserve(reserved - head.length - bytes);
        writer.write([head, ...r.batches.slice(0, fit)], true);
      },
      (err: unknown) => {
        this.inflight--;
        writer.unreserve(reserved);
        this.host.sendError(frame, asTributaryError(err));
      },
    );
  }
}
