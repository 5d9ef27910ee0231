// Store-and-forward to an upstream broker. The log is the backlog: per topic-partition the mirror
// reads from its cursor (long-poll fetch), publishes in offset order through the ShipGate (window,
// rate limit, priorities) and advances the cursor only over the contiguous prefix of acknowledged
// offsets. A lost connection throws the session away; the next one starts again at the cursor, so
// unacknowledged records are resent (at-least-once; duplicates carry the same origin).

import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Broker } from '../broker/broker.ts';
import type { MirrorConfig } from '../config/schema.ts';
import { isTributaryError, TributaryError } from '../errors.ts';
import { decodeRecordBatch, readBatchInfo } from '../format/record-batch.ts';
import type { StoredTopic } from '../storage/log-store.ts';
import { MirrorCursors } from '../storage/mirror-cursors.ts';
import { ShipGate } from './gate.ts';
import type { OutboundMessage, Sink, SinkConnection } from './sink.ts';
import type { MirrorError, MirrorPartitionStatus, MirrorState, MirrorStatus } from './status.ts';
import { TopicSelector } from './topic-selector.ts';

const FETCH_WAIT_MS = 1_000;
const FETCH_ERROR_PAUSE_MS = 1_000;

interface Session {
  conn: SinkConnection<OutboundMessage>;
  gate: ShipGate;
  abort: AbortController;
  pumps: Map<string, Promise<void>>;
  /** Acknowledgements (or refusals) received: the ack watchdog's sign of life. */
  answers: number;
  /** Why the session ended, when it was the connection's fault. */
  reason: TributaryError | undefined;
}

/** A record published and not yet acknowledged, in offset order per partition. */
interface Pending {
  offset: number;
  done: boolean;
}

export interface MirrorOptions {
  config: MirrorConfig;
  edgeId: string;
  broker: Broker;
  sink: Sink;
  logger: Logger;
}

export class Mirror {
  readonly name: string;
  readonly selector: TopicSelector;
  private readonly cfg: MirrorConfig;
  private readonly broker: Broker;
  private readonly sink: Sink;
  private readonly log: Logger;
  private readonly cursors: MirrorCursors;
  private readonly stopping = new AbortController();
  /** Highest offset ever published per "topicId/partition": a publish at or below it is a resend. */
  private readonly highWater = new Map<string, number>();
  private stateNow: MirrorState = 'connecting';
  private failed = false;
  /** Aborted to end the current connection attempt or session (pause, failure, stop). */
  private attempt: AbortController | null = null;
  /** Resolves the run loop's wait while paused or failed. */
  private wake: (() => void) | null = null;
  private session: Session | null = null;
  private running: Promise<void> | null = null;
  private shipped = 0;
  private shippedBytes = 0;
  private resent = 0;
  private rejected = 0;
  private dropped = 0;
  private lastError: MirrorError | null = null;

  constructor(opts: MirrorOptions) {
    this.cfg = opts.config;
    this.name = opts.config.name;
    this.broker = opts.broker;
    this.sink = opts.sink;
    this.selector = new TopicSelector(opts.config.topics, opts.config.priorities);
    this.log = opts.logger.child({ module: 'mirror', mirror: this.name });
    this.cursors = new MirrorCursors(opts.broker.store.lmdb, this.name, this.log, () => opts.broker.store.failed !== null);
  }

  start(): void {
    this.running ??= this.run().catch((err: unknown) => this.log.error({ err }, 'mirror stopped by an unexpected error'));
  }

  /** Drops the connection (unacked records are resent after the next start) and persists the cursors. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.attempt?.abort();
    this.wake?.();
    await this.running;
    this.stateNow = 'stopped';
    this.cursors.close();
  }

  pause(): void {
    if (this.cursors.paused) return;
    this.cursors.setPaused(true);
    this.log.info('mirror paused');
    this.stateNow = 'paused';
    this.attempt?.abort();
  }

  resume(): void {
    if (!this.cursors.paused && !this.failed) return;
    if (this.cursors.paused) this.cursors.setPaused(false);
    this.failed = false;
    this.log.info('mirror resumed');
    this.stateNow = 'connecting';
    this.wake?.();
  }

  /** New topics or partitions may match: start their pumps now rather than on the next connect. */
  topicsChanged(): void {
    if (this.session !== null) this.discover(this.session);
  }

  /**
   * The lowest offset retention may not delete for this mirror: its cursor. A partition it never
   * shipped from has none yet, and then nothing may go (0).
   */
  retentionFloor(topicId: number, partition: number): number {
    return this.cursors.get(topicId, partition) ?? 0;
  }

  /** Retention moved a log start (only the disk budget can move it past a cursor): count the loss. */
  logStartMoved(topic: StoredTopic, partition: number, previousStart: number, newStart: number): void {
    const from = Math.max(this.cursors.get(topic.id, partition) ?? previousStart, previousStart);
    if (from >= newStart) return;
    this.dropped += newStart - from;
    this.cursors.set(topic.id, partition, newStart);
    this.log.warn({ topic: topic.name, partition, fromOffset: from, toOffset: newStart, records: newStart - from }, 'the disk budget deleted records this mirror had not shipped');
  }

  status(): MirrorStatus {
    const store = this.broker.store;
    const partitions: MirrorPartitionStatus[] = [];
    let backlogRecords = 0;
    let backlogBytes = 0;
    let oldestMs = Infinity;
    for (const topic of store.listTopics()) {
      if (!this.selector.matches(topic.name)) continue;
      for (const s of store.partitionStates(topic.id)) {
        const cursor = Math.max(s.logStartOffset, this.cursors.get(topic.id, s.partition) ?? 0);
        const backlog = s.nextOffset - cursor;
        partitions.push({ topic: topic.name, partition: s.partition, cursor, nextOffset: s.nextOffset, backlogRecords: backlog });
        if (backlog <= 0) continue;
        backlogRecords += backlog;
        backlogBytes += Math.round((backlog * s.bytes) / Math.max(1, s.nextOffset - s.logStartOffset));
        const head = store.read(topic, s.partition, cursor, 1).batches[0];
        const info = head === undefined ? null : readBatchInfo(head);
        if (info !== null) oldestMs = Math.min(oldestMs, info.baseTimestampMs);
      }
    }
    return {
      name: this.name,
      sink: this.cfg.sink,
      url: this.sink.address,
      state: this.stateNow,
      backlogRecords,
      backlogBytes,
      oldestUnshippedAgeMs: oldestMs === Infinity ? null : Math.max(0, Date.now() - oldestMs),
      shippedRecords: this.shipped,
      shippedBytes: this.shippedBytes,
      resentRecords: this.resent,
      rejectedRecords: this.rejected,
      droppedUnshippedRecords: this.dropped,
      lastError: this.lastError,
      partitions,
    };
  }

  // ---- connection loop ----

  private async run(): Promise<void> {
    let failures = 0;
    const stop = this.stopping.signal;
    while (!stop.aborted) {
      if (this.cursors.paused || this.failed) {
        this.stateNow = this.failed ? 'failed' : 'paused';
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
        failures = 0;
        continue;
      }
      const attempt = new AbortController();
      this.attempt = attempt;
      this.stateNow = 'connecting';
      let conn: SinkConnection<OutboundMessage>;
      try {
        conn = await this.sink.connect(attempt.signal);
      } catch (err) {
        if (attempt.signal.aborted) continue;
        failures++;
        const delayMs = this.backoffMs(failures);
        this.noteError(err, { attempt: failures, delayMs }, 'upstream unreachable; backing off');
        await this.backOff(delayMs, attempt.signal);
        continue;
      }
      if (attempt.signal.aborted) {
        await conn.close();
        continue;
      }
      failures = 0;
      this.stateNow = 'connected';
      const reason = await this.runSession(conn, attempt.signal);
      if (attempt.signal.aborted) continue;
      // A connection that just dropped is likely to drop again: wait like after a first failure.
      failures = 1;
      const delayMs = this.backoffMs(failures);
      this.noteError(reason ?? new TributaryError('UPSTREAM_UNAVAILABLE', 'upstream connection closed'), { delayMs }, 'upstream connection lost; unacked records will be resent');
      await this.backOff(delayMs, attempt.signal);
    }
  }

  /** Exponential, capped, with "equal jitter" (half fixed, half random) so gateways do not reconnect in step. */
  private backoffMs(failures: number): number {
    const { initialMs, maxMs } = this.cfg.backoff;
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 30));
    return Math.round(base / 2 + Math.random() * (base / 2));
  }

  private async backOff(delayMs: number, signal: AbortSignal): Promise<void> {
    this.stateNow = 'backing-off';
    await sleep(delayMs, undefined, { signal }).catch(() => undefined);
  }

  private noteError(err: unknown, context: Record<string, unknown>, message: string): void {
    const e = err instanceof TributaryError ? err : new TributaryError('UNKNOWN', String((err as Error)?.message ?? err));
    this.lastError = { code: e.codeName, message: e.message, atMs: Date.now() };
    this.log.warn({ code: e.codeName, err: e.message, ...context }, message);
  }

  /** Ships until the connection drops, the mirror pauses, fails or stops; resolves with the connection's fault. */
  private async runSession(conn: SinkConnection<OutboundMessage>, attemptSignal: AbortSignal): Promise<TributaryError | undefined> {
    const gate = new ShipGate({ window: Math.min(this.cfg.windowMax, conn.maxInflight), bytesPerSec: this.cfg.rateLimitBytesPerSec });
    const session: Session = { conn, gate, abort: new AbortController(), pumps: new Map(), answers: 0, reason: undefined };
    this.session = session;
    this.log.info({ upstream: this.sink.address, window: gate.size }, 'connected upstream');
    const end = () => session.abort.abort();
    attemptSignal.addEventListener('abort', end, { once: true });
    const closed = conn.closed.then((err) => {
      session.reason ??= err ?? new TributaryError('UPSTREAM_UNAVAILABLE', 'upstream closed the connection');
      end();
    });
    const watchdog = this.ackWatchdog(session);
    this.discover(session);
    await new Promise<void>((resolve) => {
      if (session.abort.signal.aborted) resolve();
      else session.abort.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    clearInterval(watchdog);
    attemptSignal.removeEventListener('abort', end);
    gate.abort();
    await Promise.all(session.pumps.values());
    await conn.close();
    await closed;
    this.session = null;
    this.cursors.flush();
    return session.reason;
  }

  /**
   * A link can die without a TCP error (a NAT drops it, the far side hangs). Publishes with no
   * answer for ackTimeoutMs end the session: one timer per session, not one per message.
   */
  private ackWatchdog(session: Session): NodeJS.Timeout {
    let lastAnswers = 0;
    let stale = 0;
    const timer = setInterval(() => {
      if (session.gate.unacked > 0 && session.answers === lastAnswers) stale++;
      else stale = 0;
      lastAnswers = session.answers;
      if (stale < 2) return;
      session.reason = new TributaryError('TIMEOUT', `${session.gate.unacked} publishes unacknowledged for ${this.cfg.ackTimeoutMs} ms`);
      session.abort.abort();
    }, this.cfg.ackTimeoutMs / 2);
    timer.unref();
    return timer;
  }

  /** Starts a pump for every partition of a matching topic that has none yet. */
  private discover(session: Session): void {
    if (session.abort.signal.aborted) return;
    for (const topic of this.broker.store.listTopics()) {
      if (!this.selector.matches(topic.name)) continue;
      for (let partition = 0; partition < topic.partitions; partition++) {
        const key = `${topic.id}/${partition}`;
        if (!session.pumps.has(key)) session.pumps.set(key, this.pump(session, topic, partition));
      }
    }
  }

  // ---- one partition ----

  private async pump(session: Session, topic: StoredTopic, partition: number): Promise<void> {
    const key = `${topic.id}/${partition}`;
    const log = this.log.child({ topic: topic.name, partition });
    const signal = session.abort.signal;
    const priority = this.selector.priorityOf(topic.name);
    const { bytesMax, lingerMs } = this.cfg.batch;
    const pending: Pending[] = [];
    let pendingHead = 0;
    let next = Math.max(this.cursors.get(topic.id, partition) ?? 0, this.broker.store.partitionState(topic.id, partition)?.logStartOffset ?? 0);
    log.debug({ offset: next }, 'shipping from cursor');

    const advance = () => {
      let cursor = -1;
      while (pendingHead < pending.length && pending[pendingHead]!.done) cursor = pending[pendingHead++]!.offset + 1;
      if (pendingHead > 1024 && pendingHead * 2 > pending.length) {
        pending.splice(0, pendingHead);
        pendingHead = 0;
      }
      if (cursor >= 0) this.cursors.set(topic.id, partition, cursor);
    };

    while (!signal.aborted) {
      if (this.broker.store.getTopic(topic.name)?.id !== topic.id) return; // deleted (or recreated: a new pump takes over)
      let batches: Buffer[];
      try {
        let result = await this.broker.fetch(topic.name, partition, next, bytesMax, FETCH_WAIT_MS, signal);
        if (lingerMs > 0 && result.batches.length > 0 && result.bytes < bytesMax) {
          // Kafka's linger.ms: give a partial batch time to fill, so it leaves in fewer, fuller segments.
          await sleep(lingerMs, undefined, { signal });
          result = await this.broker.fetch(topic.name, partition, next, bytesMax, 0, signal);
        }
        batches = result.batches;
      } catch (err) {
        if (signal.aborted) return;
        if (isTributaryError(err, 'OFFSET_OUT_OF_RANGE')) {
          next = this.outOfRange(topic, partition, next, log);
          continue;
        }
        if (isTributaryError(err, 'UNKNOWN_TOPIC') || isTributaryError(err, 'SHUTTING_DOWN')) return;
        log.error({ err, offset: next }, 'reading the log for the mirror failed; retrying');
        await sleep(FETCH_ERROR_PAUSE_MS, undefined, { signal }).catch(() => undefined);
        continue;
      }
      const records = batches.flatMap((b) => decodeRecordBatch(b)).filter((r) => r.offset >= next); // whole batches: the first may start below the cursor
      const messages = records.map((r) => this.sink.prepare(topic.name, partition, r));
      const shipped = await session.gate.ship(priority, messages.map((m) => m.bytes), (i) => {
        if (signal.aborted) return;
        const offset = records[i]!.offset;
        const message = messages[i]!;
        const entry: Pending = { offset, done: false };
        const sent = session.conn.send(message, (err) => {
          session.answers++;
          // Settled before the slot is released: a release sends the next record at once, which a
          // failing mirror must not do.
          if (signal.aborted) return;
          if (err === undefined) {
            this.shipped++;
            this.shippedBytes += message.bytes;
          } else if (err.codeName === 'UPSTREAM_REJECTED' && this.cfg.onRejected === 'skip') {
            this.rejected++;
            this.noteError(err, { topic: topic.name, partition, offset }, 'upstream rejected a record; skipped (onRejected: skip)');
          } else if (err.codeName === 'UPSTREAM_REJECTED') {
            this.fail(err, topic.name, partition, offset);
            return;
          } else {
            session.reason ??= err;
            session.abort.abort();
            return;
          }
          entry.done = true;
          advance();
          session.gate.release();
        });
        if (!sent) {
          session.abort.abort();
          return;
        }
        pending.push(entry);
        const high = this.highWater.get(key) ?? -1;
        if (offset <= high) this.resent++;
        else this.highWater.set(key, offset);
        next = offset + 1;
      });
      if (!shipped) return;
    }
  }

  /** onRejected: stop. The cursor stays on the refused record; `resume` retries it. */
  private fail(err: TributaryError, topic: string, partition: number, offset: number): void {
    if (this.failed) return;
    this.failed = true;
    this.lastError = { code: err.codeName, message: err.message, atMs: Date.now() };
    this.log.error({ code: err.codeName, err: err.message, topic, partition, offset }, 'upstream rejected a record; mirror failed until resumed (onRejected: stop)');
    this.attempt?.abort();
  }

  /**
   * The cursor fell outside the log. Below the start: the disk budget deleted unshipped records
   * (counted in logStartMoved); ship from the start. Above the end cannot happen with a consistent
   * data dir: ship from the end.
   */
  private outOfRange(topic: StoredTopic, partition: number, next: number, log: Logger): number {
    const state = this.broker.store.partitionState(topic.id, partition);
    if (state === undefined) return next;
    if (next < state.logStartOffset) {
      this.logStartMoved(topic, partition, next, state.logStartOffset);
      return state.logStartOffset;
    }
    log.error({ offset: next, nextOffset: state.nextOffset }, 'mirror cursor beyond the end of the log; shipping from the end');
    return state.nextOffset;
  }
}
