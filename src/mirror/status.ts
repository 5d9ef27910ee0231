// What the mirrors show and accept from outside (HTTP API, CLI, metrics): plain data, no engine.

import type { ErrorName } from '../errors.ts';
import type { ResetTarget } from '../groups/types.ts';
import type { SinkKind } from './sinks/configs.ts';

/**
 * connecting → connected ⇄ backing-off; paused (by an operator, survives restarts) and failed (a
 * permanent rejection under policy `stop`, or an upstream refusing the mirror itself) wait for
 * `resume`; stopped once the broker shuts down.
 */
export type MirrorState = 'connecting' | 'connected' | 'backing-off' | 'paused' | 'failed' | 'stopped';

export const mirrorStates: readonly MirrorState[] = ['connecting', 'connected', 'backing-off', 'paused', 'failed', 'stopped'];

export interface MirrorError {
  code: ErrorName;
  message: string;
  /** Unix time in milliseconds. */
  atMs: number;
}

export interface MirrorPartitionStatus {
  topic: string;
  partition: number;
  /** Next offset to ship: everything below it was acknowledged upstream (or skipped, or dropped). */
  cursor: number;
  nextOffset: number;
  backlogRecords: number;
}

export interface MirrorStatus {
  name: string;
  sink: SinkKind;
  /** The upstream without credentials: an MQTT URL, or kafka://broker1:9092,broker2:9092. */
  url: string;
  state: MirrorState;
  backlogRecords: number;
  /** Estimated from each partition's average stored record size. */
  backlogBytes: number;
  /** Age of the oldest unshipped record (its batch's first timestamp); null when the backlog is empty. */
  oldestUnshippedAgeMs: number | null;
  /** Records acknowledged upstream since the broker started (resends included). */
  shippedRecords: number;
  /** PUBLISH packet bytes of those records (what the rate limit counts). */
  shippedBytes: number;
  /** Records published again after a lost connection. */
  resentRecords: number;
  /** Records the upstream refused permanently and policy `skip` passed over. */
  rejectedRecords: number;
  /** Records retention deleted before this mirror shipped them (forced by the disk budget). */
  droppedUnshippedRecords: number;
  /** With its age when the status was taken: the broker's clock, not the reader's (a CLI on another host). */
  lastError: (MirrorError & { ageMs: number }) | null;
  /** Times the mirror thread died and was started again since the broker started (every mirror runs on it). */
  threadRestarts: number;
  partitions: MirrorPartitionStatus[];
}

/** What `retry` did: nothing when the mirror was connected or already connecting. */
export interface MirrorRetryResult {
  retried: boolean;
  /** One line for an operator, e.g. "mirror cloud is connected to mqtt://…: nothing to retry". */
  message: string;
  mirror: MirrorStatus;
}

/** Where `reset` moves a paused mirror's cursors, as `groups reset-offsets` moves a group's offsets. */
export interface MirrorResetRequest {
  target: ResetTarget;
  /** Every partition the mirror ships when absent. */
  topic?: string;
  /** Every partition of `topic` when absent. */
  partition?: number;
  /** Only answer the plan; nothing is written. */
  dryRun: boolean;
}

export interface MirrorResetEntry {
  topic: string;
  partition: number;
  /** The cursor before (as status shows it: the log start when the mirror never shipped from here). */
  previous: number;
  /** The cursor after, clamped to the records the partition still holds. */
  offset: number;
}

export interface MirrorResetResult {
  mirror: string;
  dryRun: boolean;
  partitions: MirrorResetEntry[];
}

/** The operations the HTTP API and the CLI reach, answered by the mirror thread; unknown names reject with UNKNOWN_MIRROR. */
export interface MirrorControl {
  statuses(): Promise<MirrorStatus[]>;
  status(name: string): Promise<MirrorStatus>;
  /** Closes the upstream connection and ships nothing until resumed; persisted across restarts. */
  pause(name: string): Promise<MirrorStatus>;
  /** Leaves paused or failed and connects again. */
  resume(name: string): Promise<MirrorStatus>;
  /** Ends the backoff wait and connects now; INVALID_REQUEST while paused or failed. */
  retry(name: string): Promise<MirrorRetryResult>;
  /** Moves the cursors of a paused mirror (persisted before it answers); INVALID_REQUEST while it is not paused. */
  reset(name: string, request: MirrorResetRequest): Promise<MirrorResetResult>;
}
