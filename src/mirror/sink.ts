// The seam between the mirror engine and an upstream protocol. The engine owns order, window, rate,
// cursors, retries and status; a sink only turns records into its protocol's messages and sends them
// over one connection attempt. Each sink lives in its own folder under sinks/ (config schema, factory,
// protocol rules); sinks/configs.ts and sinks/factories.ts list them.

import type { TributaryError } from '../errors.ts';
import type { DecodedRecord } from '../format/record-batch.ts';

/** A record as the sink will send it; `bytes` is what it costs on the link (for the rate limit). */
export interface OutboundMessage {
  readonly bytes: number;
}

/**
 * Called once per send. No error: the upstream acknowledged it. UPSTREAM_REJECTED: the upstream
 * refused this record for good (the mirror's onRejected policy decides). UPSTREAM_MISCONFIGURED: the
 * upstream refuses the mirror itself (credentials, authorization, a missing topic): the mirror fails
 * until resumed. Anything else: the connection is no good; the engine reconnects and resends from
 * the cursor.
 */
export type SendDone = (err?: TributaryError) => void;

export interface SinkConnection<M extends OutboundMessage> {
  /** The most unacknowledged sends the upstream allows (MQTT 5 receiveMaximum). */
  readonly maxInflight: number;
  /** Resolves once when the connection is gone: undefined when the upstream closed it cleanly, else why. */
  readonly closed: Promise<TributaryError | undefined>;
  /** Sends now; false (and no callback) when the connection is already gone. */
  send(message: M, done: SendDone): boolean;
  /** Drops the connection; unacknowledged sends may never be called back (the engine resends them from the cursor). */
  close(): Promise<void>;
}

export interface Sink<M extends OutboundMessage = OutboundMessage> {
  /** The upstream's address for logs and status, without credentials. */
  readonly address: string;
  /** The record of `topic`/`partition` as this sink's message (headers included, for sinks that carry them). */
  prepare(topic: string, partition: number, record: DecodedRecord): M;
  /**
   * One connection attempt; rejects with a TributaryError saying why it failed (UPSTREAM_MISCONFIGURED
   * fails the mirror, anything else backs off and retries).
   */
  connect(signal: AbortSignal): Promise<SinkConnection<M>>;
}
