// Store-and-forward to an upstream broker. The log is the backlog: per topic-partition the mirror
// reads from its cursor (long-poll fetch), publishes in offset order through the ShipGate (window,
// rate limit, priorities) and advances the cursor only over the contiguous prefix of acknowledged
// offsets. A lost connection throws the session away; the next one starts again at the cursor, so
// unacknowledged records are resent (at-least-once; duplicates carry the same origin).

import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { MirrorCursors, MirrorPosition, StoredTopic } from '../broker/broker.ts';
import { asTributaryError, isTributaryError, TributaryError } from '../errors.ts';
import { decodeRecordBatch, readBatchInfo, type DecodedRecord } from '../format/record-batch.ts';
import { resetOffset } from '../groups/offset-reset.ts';
import type { ResetTarget } from '../groups/types.ts';
import { ShipGate } from './gate.ts';
import type { MirrorHost } from './host.ts';
import type { OutboundMessage, Sink, SinkConnection } from './sink.ts';
import type { StartFrom } from './mirror-config.ts';
import type { MirrorConfig } from './sinks/configs.ts';
import type { MirrorError, MirrorPartitionStatus, MirrorResetEntry, MirrorResetRequest, MirrorState, MirrorStatus } from './status.ts';
import { TokenBucket } from './token-bucket.ts';
import { TopicSelector } from './topic-selector.ts';

const FETCH_WAIT_MS = 1_000;
const FETCH_ERROR_PAUSE_MS = 1_000;
/** At most one warning per interval for skipped records; the rest are counted in the metric. */
const REJECT_LOG_INTERVAL_MS = 1_000;

/** A record published and not yet acknowledged, in offset order per partition. */
interface Pending {
  offset: number;
  sentMs: number;
  done: boolean;
}

/** One partition's shipping within a session. */
interface Shipping {
  topic: StoredTopic;
  partition: number;
  pos: MirrorPosition;
  pending: Pending[];
  /** Index of the oldest entry not yet acknowledged. */
  head: number;
}

interface Session {
  conn: SinkConnection<OutboundMessage>;
  gate: ShipGate;
  abort: AbortController;
  partitions: Map<string, Shipping>;
  pumps: Promise<void>[];
  /** Whether the upstream acknowledged anything: a connection that never does is not a success for backoff. */
  acked: boolean;
  startedMs: number;
  /** Why the session ended, when it was the connection's fault. */
  reason: TributaryError | undefined;
}

export interface MirrorOptions {
  config: MirrorConfig;
  host: MirrorHost;
  sink: Sink;
  logger: Logger;
  /**
   * Whether startFrom places the partitions without a cursor at start: false when the mirror thread
   * is started again after it died, since the partitions without one then appeared while the mirror
   * ran (they start at their first record, as any partition that appears later).
   */
  applyStartFrom: boolean;
}

export class Mirror {
  readonly name: string;
  readonly selector: TopicSelector;
  private readonly cfg: MirrorConfig;
  private readonly host: MirrorHost;
  private readonly sink: Sink;
  private readonly log: Logger;
  private readonly cursors: MirrorCursors;
  private readonly rateLimit: TokenBucket | null;
  private readonly stopping = new AbortController();
  private readonly applyStartFrom: boolean;
  private stateNow: MirrorState = 'connecting';
  private failed = false;
  /** Aborted to end the current connection attempt or session (pause, failure, stop). */
  private attempt: AbortController | null = null;
  /** Resolves the run loop's wait while paused or failed. */
  private wake: (() => void) | null = null;
  private session: Session | null = null;
  /** performance.now() at which the current backoff wait ends. */
  private backoffEndsMs = 0;
  private running: Promise<void> | null = null;
  private shipped = 0;
  private shippedBytes = 0;
  private resent = 0;
  private rejected = 0;
  /** Per partition, offsets counted as rejected at or past the cursor: a resend after a reconnect is refused again, not counted again. */
  private readonly rejectedOffsets = new WeakMap<MirrorPosition, Set<number>>();
  private dropped = 0;
  private lastError: MirrorError | null = null;
  private rejectLog = { atMs: 0, unlogged: 0 };

  constructor(opts: MirrorOptions) {
    this.cfg = opts.config;
    this.name = opts.config.name;
    this.host = opts.host;
    this.sink = opts.sink;
    this.selector = new TopicSelector(opts.config.topics, opts.config.priorities);
    this.log = opts.logger.child({ module: 'mirror', mirror: this.name });
    this.cursors = opts.host.mirrorCursors(this.name, this.log);
    this.rateLimit = opts.config.rateLimitBytesPerSec > 0 ? new TokenBucket(opts.config.rateLimitBytesPerSec) : null;
    this.applyStartFrom = opts.applyStartFrom;
  }

  start(): void {
    if (this.running === null) this.placeNewCursors(this.applyStartFrom ? this.cfg.startFrom : 'earliest');
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

  /**
   * startFrom, for every partition this mirror has no cursor for when the broker starts (a new mirror,
   * a topic added to its list); a partition that appears while it runs (a topic grows, a new topic
   * matches a pattern, or the mirror thread was being restarted) starts at its first record, since
   * everything in it was written while the mirror was there to ship it. With startFrom other than
   * `earliest` the cursor is persisted at once, so that a restart does not place it again (`latest`
   * would then skip what came in between); retention may delete what lies below it. With `earliest`
   * no cursor is needed: a partition without one ships from its log start and retention keeps all of
   * it, as it always did.
   */
  private placeNewCursors(from: StartFrom): void {
    if (this.cfg.startFrom === 'earliest') return;
    const target: ResetTarget = from === 'earliest' || from === 'latest' ? { to: from } : { to: 'datetime', timestampMs: from };
    const placed: { topic: string; partition: number; offset: number }[] = [];
    for (const topic of this.host.storedTopics()) {
      if (!this.selector.matches(topic.name)) continue;
      for (const s of this.host.partitionStates(topic.id)) {
        if (this.cursors.get(topic.id, s.partition) !== undefined) continue;
        let offset: number;
        try {
          offset = resetOffset(this.host, topic, s.partition, -1, target);
        } catch (err) {
          // A batch the time search cannot read: without a cursor the partition ships from its first
          // record, which loses nothing.
          this.log.error({ err, topic: topic.name, partition: s.partition }, 'placing the new mirror cursor failed; shipping the partition from its first record');
          continue;
        }
        this.cursors.place(topic.id, s.partition, offset);
        placed.push({ topic: topic.name, partition: s.partition, offset });
      }
    }
    if (placed.length === 0) return;
    this.cursors.flush();
    this.log.info({ startFrom: typeof from === 'number' ? new Date(from).toISOString() : from, partitions: placed }, 'new mirror cursors placed');
  }

  /**
   * Ends the backoff wait: the next connection attempt starts now. A mirror that is connected or
   * connecting has nothing to retry; a paused or failed one waits for `resume`, which connects at once.
   * An attempt that fails backs off as the next failure in a row would.
   */
  retry(): { retried: boolean; message: string } {
    const { name } = this;
    const upstream = this.sink.address;
    if (this.cursors.paused) throw new TributaryError('INVALID_REQUEST', `mirror ${name} is paused: resume it to connect (tributary mirror resume ${name})`, { mirror: name });
    if (this.failed)
      throw new TributaryError('INVALID_REQUEST', `mirror ${name} failed${this.lastError ? ` (${this.lastError.code})` : ''}: resume it to connect again (tributary mirror resume ${name})`, { mirror: name });
    switch (this.stateNow) {
      case 'connected':
        return { retried: false, message: `mirror ${name} is connected to ${upstream}: nothing to retry` };
      case 'connecting':
        return { retried: false, message: `mirror ${name} is already connecting to ${upstream}` };
      case 'backing-off': {
        const skippedMs = Math.max(0, Math.round(this.backoffEndsMs - performance.now()));
        this.stateNow = 'connecting';
        this.attempt?.abort();
        this.log.info({ skippedMs }, 'retry requested: reconnecting now');
        return { retried: true, message: `mirror ${name}: connecting to ${upstream} now (skipped ${(skippedMs / 1000).toFixed(1)} s of backoff)` };
      }
      default:
        throw new TributaryError('SHUTTING_DOWN', `mirror ${name} is ${this.stateNow}`, { mirror: name });
    }
  }

  /**
   * Moves the cursors of the partitions `request` names (every partition it ships by default), as
   * kafka-consumer-groups --reset-offsets moves a group's: only while the mirror is paused (Kafka:
   * only while the group has no members), so no session ships from the old cursors meanwhile. The new
   * cursors are committed before it returns. The highest published offsets stay: records shipped again
   * after a rewind count as resends.
   */
  reset(request: MirrorResetRequest): MirrorResetEntry[] {
    const { name } = this;
    if (!this.cursors.paused)
      throw new TributaryError(
        'INVALID_REQUEST',
        `mirror ${name} is ${this.stateNow}: pause it first (tributary mirror pause ${name}); its cursors move only while it is paused, as a Kafka group's offsets only while it has no members`,
        { mirror: name },
      );
    const plan: MirrorResetEntry[] = [];
    const moves: { pos: MirrorPosition; offset: number }[] = [];
    for (const topic of this.resetTopics(request)) {
      const partitions = request.partition === undefined ? this.host.partitionStates(topic.id).map((s) => s.partition) : [request.partition];
      for (const partition of partitions) {
        const state = this.host.partitionState(topic.id, partition);
        if (state === undefined) throw new TributaryError('INVALID_PARTITION', `topic ${topic.name} has no partition ${partition}`, { topic: topic.name, partition });
        const pos = this.cursors.position(topic.id, partition);
        const previous = Math.max(state.logStartOffset, pos.cursor ?? 0);
        const offset = resetOffset(this.host, topic, partition, previous, request.target);
        plan.push({ topic: topic.name, partition, previous, offset });
        moves.push({ pos, offset });
      }
    }
    if (request.dryRun) return plan;
    this.cursors.moveTo(moves);
    this.log.info({ target: request.target, partitions: plan }, 'mirror cursors reset');
    return plan;
  }

  private resetTopics(request: MirrorResetRequest): StoredTopic[] {
    const mine = this.host.storedTopics().filter((t) => this.selector.matches(t.name));
    if (request.topic === undefined) return mine;
    const topic = this.host.findTopic(request.topic);
    if (topic === undefined) throw new TributaryError('UNKNOWN_TOPIC', `unknown topic ${request.topic}`, { topic: request.topic });
    if (!this.selector.matches(topic.name))
      throw new TributaryError('INVALID_REQUEST', `mirror ${this.name} does not ship topic ${topic.name} (its topics: ${this.cfg.topics.join(', ')})`, { mirror: this.name, topic: topic.name });
    return [topic];
  }

  /** New topics or partitions may match: start their pumps now rather than on the next connect. */
  topicsChanged(): void {
    // Before start, start places every cursor missing (with startFrom).
    if (this.running !== null) this.placeNewCursors('earliest');
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
    const partitions: MirrorPartitionStatus[] = [];
    let backlogRecords = 0;
    let backlogBytes = 0;
    let oldestMs = Infinity;
    for (const topic of this.host.storedTopics()) {
      if (!this.selector.matches(topic.name)) continue;
      for (const s of this.host.partitionStates(topic.id)) {
        const cursor = Math.max(s.logStartOffset, this.cursors.get(topic.id, s.partition) ?? 0);
        const backlog = s.nextOffset - cursor;
        partitions.push({ topic: topic.name, partition: s.partition, cursor, nextOffset: s.nextOffset, backlogRecords: backlog });
        if (backlog <= 0) continue;
        backlogRecords += backlog;
        backlogBytes += Math.round((backlog * s.bytes) / Math.max(1, s.nextOffset - s.logStartOffset));
        const first = this.firstTimestampAt(topic, s.partition, cursor);
        if (first !== null) oldestMs = Math.min(oldestMs, first);
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
      lastError: this.lastError === null ? null : { ...this.lastError, ageMs: Math.max(0, Date.now() - this.lastError.atMs) },
      // Counted by the main thread, which restarts this one (thread/mirror-thread.ts).
      threadRestarts: 0,
      partitions,
    };
  }

  /** The first timestamp of the batch holding `offset`; null when unreadable (a corrupt batch must not break /metrics). */
  private firstTimestampAt(topic: StoredTopic, partition: number, offset: number): number | null {
    try {
      const head = this.host.peek(topic, partition, offset, 1).batches[0];
      return head === undefined ? null : (readBatchInfo(head)?.baseTimestampMs ?? null);
    } catch {
      return null;
    }
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
        if (isTributaryError(err, 'UPSTREAM_MISCONFIGURED')) {
          this.failMirror(err);
          continue;
        }
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
      this.stateNow = 'connected';
      const session = await this.runSession(conn, attempt.signal);
      if (attempt.signal.aborted) continue;
      // A session that shipped something (or lasted) resets the backoff; one the upstream ends at once
      // (a flapping link, or a broker that accepts CONNECT and then drops us) makes it grow.
      failures = session.acked || performance.now() - session.startedMs >= this.cfg.backoff.maxMs ? 1 : failures + 1;
      const delayMs = this.backoffMs(failures);
      this.noteError(session.reason ?? new TributaryError('UPSTREAM_UNAVAILABLE', 'upstream connection closed'), { delayMs }, 'upstream connection lost; unacked records will be resent');
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
    this.backoffEndsMs = performance.now() + delayMs;
    await sleep(delayMs, undefined, { signal }).catch(() => undefined);
  }

  private noteError(err: unknown, context: Record<string, unknown>, message: string): void {
    const e = asTributaryError(err);
    this.lastError = { code: e.codeName, message: e.message, atMs: Date.now() };
    this.log.warn({ code: e.codeName, err: e.message, ...context }, message);
  }

  /** Ships until the connection drops, the mirror pauses, fails or stops. */
  private async runSession(conn: SinkConnection<OutboundMessage>, attemptSignal: AbortSignal): Promise<Session> {
    const gate = new ShipGate({ window: Math.min(this.cfg.windowMax, conn.maxInflight), windowBytes: this.cfg.windowBytesMax, rateLimit: this.rateLimit });
    const session: Session = { conn, gate, abort: new AbortController(), partitions: new Map(), pumps: [], acked: false, startedMs: performance.now(), reason: undefined };
    // Every parked fetch of every partition listens to this signal.
    setMaxListeners(0, session.abort.signal);
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
    await Promise.all(session.pumps);
    await conn.close();
    await closed;
    this.session = null;
    this.cursors.flush();
    return session;
  }

  /**
   * A link can die without a TCP error (a NAT drops it, the far side hangs), and one publish can be
   * lost while others are acknowledged. A partition whose oldest publish has had no answer for
   * ackTimeoutMs ends the session: one timer per session, checking one entry per partition.
   */
  private ackWatchdog(session: Session): NodeJS.Timeout {
    const timeoutMs = this.cfg.ackTimeoutMs;
    const timer = setInterval(() => {
      const now = performance.now();
      for (const p of session.partitions.values()) {
        const oldest = p.pending[p.head];
        if (oldest === undefined || now - oldest.sentMs < timeoutMs) continue;
        session.reason ??= new TributaryError('TIMEOUT', `no acknowledgement for ${p.topic.name}/${p.partition} offset ${oldest.offset} in ${timeoutMs} ms`);
        session.abort.abort();
        return;
      }
    }, Math.max(1, timeoutMs / 4));
    timer.unref();
    return timer;
  }

  /** Starts a pump for every partition of a matching topic that has none yet. */
  private discover(session: Session): void {
    if (session.abort.signal.aborted) return;
    for (const topic of this.host.storedTopics()) {
      if (!this.selector.matches(topic.name)) continue;
      for (let partition = 0; partition < topic.partitions; partition++) {
        const key = `${topic.id}/${partition}`;
        if (session.partitions.has(key)) continue;
        const shipping: Shipping = { topic, partition, pos: this.cursors.position(topic.id, partition), pending: [], head: 0 };
        session.partitions.set(key, shipping);
        session.pumps.push(this.pump(session, shipping));
      }
    }
  }

  // ---- one partition ----

  private async pump(session: Session, p: Shipping): Promise<void> {
    const { topic, partition, pos } = p;
    const log = this.log.child({ topic: topic.name, partition });
    const signal = session.abort.signal;
    const priority = this.selector.priorityOf(topic.name);
    const { bytesMax, lingerMs } = this.cfg.batch;
    const logStart = this.host.partitionState(topic.id, partition)?.logStartOffset ?? 0;
    // Records below the log start are gone: counted as dropped if this mirror had not shipped them.
    if (pos.cursor !== undefined && pos.cursor < logStart) this.logStartMoved(topic, partition, pos.cursor, logStart);
    let next = Math.max(pos.cursor ?? 0, logStart);
    log.debug({ offset: next }, 'shipping from cursor');

    while (!signal.aborted) {
      if (this.host.findTopic(topic.name)?.id !== topic.id) return; // deleted (or recreated: a new pump takes over)
      let batches: Buffer[];
      try {
        let result = await this.host.fetch(topic.name, partition, next, bytesMax, FETCH_WAIT_MS, signal);
        if (lingerMs > 0 && result.batches.length > 0 && result.bytes < bytesMax) {
          // Kafka's linger.ms: give a partial batch time to fill, so it leaves in fewer, fuller segments.
          await sleep(lingerMs, undefined, { signal });
          result = await this.host.fetch(topic.name, partition, next, bytesMax, 0, signal);
        }
        // Only what survives a power cut is shipped: an acks=1 transaction taken back would hand its
        // offsets, and so its origins, to different records the upstream would drop as duplicates.
        if (result.batches.length > 0) await this.host.durable(topic.id, partition, result);
        batches = result.batches;
      } catch (err) {
        if (signal.aborted) return;
        // After a fail-stop nothing new becomes durable, and no cursor can be written: this partition
        // ships no more (a restart after fixing the disk ships from the persisted cursors).
        if (isTributaryError(err, 'STORAGE_FAILED')) {
          log.warn({ offset: next }, 'storage failed (fail-stop): this partition ships no more until a restart');
          return;
        }
        if (isTributaryError(err, 'OFFSET_OUT_OF_RANGE')) {
          next = this.outOfRange(topic, partition, next, log);
          continue;
        }
        if (isTributaryError(err, 'UNKNOWN_TOPIC') || isTributaryError(err, 'SHUTTING_DOWN')) return;
        log.error({ err, offset: next }, 'reading the log for the mirror failed; retrying');
        await sleep(FETCH_ERROR_PAUSE_MS, undefined, { signal }).catch(() => undefined);
        continue;
      }
      const { records, unreadable } = decodeFetched(batches, next, bytesMax);
      if (records.length === 0 && unreadable !== null) {
        // A stored batch this build cannot read (produce refuses such batches, but a data dir can
        // come from elsewhere): the rejection policy decides, as for a record the upstream refuses.
        if (!this.refused(unreadable.err, pos, topic.name, partition, next, 'a stored batch cannot be read')) return;
        // Skipped: passed over once everything before it is acknowledged.
        p.pending.push({ offset: unreadable.lastOffset, sentMs: performance.now(), done: true });
        this.advance(p);
        next = unreadable.lastOffset + 1;
        continue;
      }
      if (records.length > 0) {
        try {
          this.cursors.reserve(pos, records[records.length - 1]!.offset);
        } catch (err) {
          if (isTributaryError(err, 'STORAGE_FAILED') || isTributaryError(err, 'SHUTTING_DOWN')) return;
          log.error({ err, offset: next }, 'persisting the mirror high mark failed; retrying');
          await sleep(FETCH_ERROR_PAUSE_MS, undefined, { signal }).catch(() => undefined);
          continue;
        }
      }
      const messages = records.map((r) => this.sink.prepare(topic.name, partition, r));
      const sizes = messages.map((m) => m.bytes);
      const shipped = await session.gate.ship(priority, sizes, (i) => {
        if (signal.aborted) return;
        const entry: Pending = { offset: records[i]!.offset, sentMs: performance.now(), done: false };
        // In the pending list before sending: a QoS 0 send calls back synchronously.
        p.pending.push(entry);
        const message = messages[i]!;
        const sent = session.conn.send(message, (err) => {
          // Settled before the slot is released: a release sends the next record at once, which a
          // failing mirror must not do.
          if (signal.aborted) return;
          if (err === undefined) {
            session.acked = true;
            this.shipped++;
            this.shippedBytes += message.bytes;
          } else if (err.codeName === 'UPSTREAM_MISCONFIGURED') {
            this.failMirror(err);
            return;
          } else if (err.codeName !== 'UPSTREAM_REJECTED') {
            session.reason ??= err;
            session.abort.abort();
            return;
          } else if (!this.refused(err, pos, topic.name, partition, entry.offset)) return;
          entry.done = true;
          this.advance(p);
          session.gate.release(message.bytes);
        });
        if (!sent) {
          session.abort.abort();
          return;
        }
        if (this.cursors.published(pos, entry.offset)) this.resent++;
        next = entry.offset + 1;
      });
      if (!shipped) return;
    }
  }

  /** Moves the cursor over the acknowledged prefix of what is pending. */
  private advance(p: Shipping): void {
    let cursor = -1;
    while (p.head < p.pending.length && p.pending[p.head]!.done) cursor = p.pending[p.head++]!.offset + 1;
    if (p.head > 1024 && p.head * 2 > p.pending.length) {
      p.pending.splice(0, p.head);
      p.head = 0;
    }
    if (cursor >= 0) this.cursors.advance(p.pos, cursor);
  }

  /**
   * A record the upstream refuses for good. onRejected skip: count it and go on (true). stop: fail
   * the mirror, leaving the cursor on it so `resume` retries it (false).
   */
  private refused(err: TributaryError, pos: MirrorPosition, topic: string, partition: number, offset: number, what = 'upstream rejected a record'): boolean {
    this.lastError = { code: err.codeName, message: err.message, atMs: Date.now() };
    if (this.cfg.onRejected === 'skip') {
      let counted = this.rejectedOffsets.get(pos);
      if (counted === undefined) this.rejectedOffsets.set(pos, (counted = new Set()));
      if (counted.has(offset)) return true;
      // Offsets below the cursor are never sent again: forgetting them keeps the set small.
      for (const o of counted) if (pos.cursor !== undefined && o < pos.cursor) counted.delete(o);
      counted.add(offset);
      this.rejected++;
      const now = Date.now();
      if (now - this.rejectLog.atMs < REJECT_LOG_INTERVAL_MS) this.rejectLog.unlogged++;
      else {
        this.log.warn({ code: err.codeName, err: err.message, topic, partition, offset, alsoSkippedSinceLastWarning: this.rejectLog.unlogged }, `${what}; skipped (onRejected: skip)`);
        this.rejectLog = { atMs: now, unlogged: 0 };
      }
      return true;
    }
    if (!this.failed) {
      this.failed = true;
      this.log.error({ code: err.codeName, err: err.message, topic, partition, offset }, `${what}; mirror failed until resumed (onRejected: stop)`);
      this.attempt?.abort();
    }
    return false;
  }

  /** The upstream refuses the mirror itself (credentials, authorization, a missing topic): no retry loop, an operator must act. */
  private failMirror(err: TributaryError): void {
    this.lastError = { code: err.codeName, message: err.message, atMs: Date.now() };
    if (this.failed) return;
    this.failed = true;
    this.log.error({ code: err.codeName, err: err.message, upstream: this.sink.address }, 'upstream refuses this mirror; failed until resumed');
    this.attempt?.abort();
  }

  /**
   * The cursor fell outside the log. Below the start: the disk budget deleted unshipped records
   * (counted in logStartMoved); ship from the start. Above the end cannot happen with a consistent
   * data dir: ship from the end.
   */
  private outOfRange(topic: StoredTopic, partition: number, next: number, log: Logger): number {
    const state = this.host.partitionState(topic.id, partition);
    if (state === undefined) return next;
    if (next < state.logStartOffset) {
      this.logStartMoved(topic, partition, next, state.logStartOffset);
      return state.logStartOffset;
    }
    log.error({ offset: next, nextOffset: state.nextOffset }, 'mirror cursor beyond the end of the log; shipping from the end');
    return state.nextOffset;
  }
}

interface Fetched {
  records: DecodedRecord[];
  /** The first batch that could not be read, when no record came before it. */
  unreadable: { err: TributaryError; lastOffset: number } | null;
}

/**
 * The records at or past `next` of fetched batches (a fetch returns whole batches: the first may
 * start below it). Decompressed batches can hold far more than the bytes read, so decoding stops
 * once the records reach bytesMax; the rest is read again from the new cursor. Decoding also stops
 * at a batch that cannot be read, which is reported only when it comes first.
 */
function decodeFetched(batches: Buffer[], next: number, bytesMax: number): Fetched {
  const records: DecodedRecord[] = [];
  let bytes = 0;
  for (const batch of batches) {
    let decoded: DecodedRecord[];
    try {
      decoded = decodeRecordBatch(batch);
    } catch (err) {
      if (records.length > 0) break;
      const info = readBatchInfo(batch)!;
      const e = err instanceof RangeError ? new TributaryError('CORRUPT_MESSAGE', err.message) : asTributaryError(err);
      return { records, unreadable: { err: new TributaryError(e.codeName, `batch at offset ${info.baseOffset}: ${e.message}`, e.context), lastOffset: info.baseOffset + info.lastOffsetDelta } };
    }
    for (const r of decoded) {
      if (r.offset < next) continue;
      records.push(r);
      bytes += (r.key?.length ?? 0) + (r.value?.length ?? 0);
    }
    if (bytes >= bytesMax) break;
  }
  return { records, unreadable: null };
}
