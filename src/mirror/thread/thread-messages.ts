// What crosses between the main thread and the mirror thread (mirror-thread.ts ↔ mirror-worker.ts).
// Never one message per record: appends arrive as one message per loop turn naming the partitions.

import type { ErrorName } from '../../errors.ts';
import type { MirrorConfig } from '../sinks/configs.ts';
import type { MirrorResetRequest, MirrorResetResult, MirrorRetryResult, MirrorStatus } from '../status.ts';

export interface MirrorWorkerData {
  configs: MirrorConfig[];
  edgeId: string;
  dataDir: string;
  mapSizeBytes: number;
  /** -1: no maximum. */
  maxMapSizeBytes: number;
  minFreeDiskBytes: number;
  /** The main logger's level: the thread's lines are relayed to it. */
  logLevel: string;
  /** A thread started again after one died: startFrom places no cursor (Mirror's applyStartFrom). */
  restarted: boolean;
}

export type MirrorOp = { op: 'statuses' } | { op: 'status' | 'pause' | 'resume' | 'retry'; name: string } | { op: 'reset'; name: string; request: MirrorResetRequest };

export type MirrorAnswer = MirrorStatus | MirrorStatus[] | MirrorRetryResult | MirrorResetResult;

export interface WireError {
  code: ErrorName;
  message: string;
}

export type ToMirrorThread =
  | { type: 'start' }
  /** Commits made records visible in these [topicId, partition]s (mirrored ones only). */
  | { type: 'appended'; partitions: [number, number][] }
  | { type: 'topicsChanged' }
  | { type: 'logStartMoved'; topicId: number; partition: number; previousStart: number; newStart: number }
  /** The store fail-stopped: the thread writes and ships nothing more. */
  | { type: 'storageFailed'; message: string }
  | ({ type: 'request'; id: number } & MirrorOp)
  /** Stop the mirrors (exact cursors persisted), close the environment, end the thread. */
  | { type: 'stop' };

export type FromMirrorThread =
  | { type: 'ready' }
  | { type: 'startFailed'; error: WireError }
  | { type: 'response'; id: number; result: MirrorAnswer }
  | { type: 'response'; id: number; error: WireError }
  /** One pino JSON line, logged again by the main thread's logger. */
  | { type: 'log'; line: string }
  /** A cursor write or flush failed for the disk's reason: the main thread fail-stops the store. */
  | { type: 'failStop'; message: string; what: string };
