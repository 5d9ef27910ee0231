// Store-and-forward to an upstream broker. The log is the backlog: per topic-partition the mirror
// reads from its cursor (long-poll fetch), publishes in offset order within a bounded window and
// advances the cursor only over the contiguous prefix of acked offsets. A lost connection throws the
// session away; the next one starts again at the cursor, so unacked records are resent
// (at-least-once; duplicates carry the same origin property, so the upstream can drop them).

import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Broker } from '../broker/broker.ts';
import type { MirrorConfig } from '../config/schema.ts';
import { isTributaryError } from '../errors.ts';
import { decodeRecordBatch, type DecodedRecord } from '../format/record-batch.ts';
import type { StoredTopic } from '../storage/log-store.ts';
import { MirrorCursors } from '../storage/mirror-cursors.ts';
import { MqttSinkConnection } from './sinks/mqtt-sink.ts';
import { PublishWindow } from './window.ts';

export type MirrorState = 'connecting' | 'connected' | 'backing-off' | 'stopped';

export interface MirrorStatus {
  name: string;
  state: MirrorState;
  shippedRecords: number;
  resentRecords: number;
  /** Sum over the mirrored partitions of nextOffset − cursor. */
  backlogRecords: number;
}

const FETCH_WAIT_MS = 1_000;
const FETCH_BYTES = 1024 * 1024;
/** How often a connected mirror looks for new topics and partitions (one timer per mirror). */
const DISCOVER_INTERVAL_MS = 1_000;
const FETCH_ERROR_PAUSE_MS = 1_000;
const EMPTY = Buffer.alloc(0);

interface Session {
  conn: MqttSinkConnection;
  window: PublishWindow;
  abort: AbortController;
  pumps: Map<string, Promise<void>>;
}

export interface MirrorOptions {
  config: MirrorConfig;
  edgeId: string;
  broker: Broker;
  logger: Logger;
}

export class Mirror {
  readonly name: string;
  private readonly cfg: MirrorConfig;
  private readonly edgeId: string;
  private readonly broker: Broker;
  private readonly log: Logger;
  private readonly cursors: MirrorCursors;
  private readonly stopping = new AbortController();
  /** Highest offset ever published per "topicId/partition": a publish at or below it is a resend. */
  private readonly highWater = new Map<string, number>();
  private stateNow: MirrorState = 'connecting';
  private session: Session | null = null;
  private running: Promise<void> | null = null;
  private shipped = 0;
  private resent = 0;

  constructor(opts: MirrorOptions) {
    this.cfg = opts.config;
    this.name = opts.config.name;
    this.edgeId = opts.edgeId;
    this.broker = opts.broker;
    this.log = opts.logger.child({ module: 'mirror', mirror: this.name });
    this.cursors = new MirrorCursors(opts.broker.store.lmdb, this.name, this.log);
  }

  start(): void {
    this.running ??= this.run().catch((err: unknown) => this.log.error({ err }, 'mirror stopped by an unexpected error'));
  }

  /** Drops the connection (unacked records are resent after the next start) and persists the cursors. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.session?.abort.abort();
    await this.running;
    this.stateNow = 'stopped';
    this.cursors.close();
  }

  status(): MirrorStatus {
    let backlog = 0;
    for (const name of this.cfg.topics) {
      const topic = this.broker.store.getTopic(name);
      if (topic === undefined) continue;
      for (const s of this.broker.store.partitionStates(topic.id)) backlog += s.nextOffset - Math.max(s.logStartOffset, this.cursors.get(topic.id, s.partition) ?? 0);
    }
    return { name: this.name, state: this.stateNow, shippedRecords: this.shipped, resentRecords: this.resent, backlogRecords: backlog };
  }

  // ---- connection loop ----

  private async run(): Promise<void> {
    let failures = 0;
    const stop = this.stopping.signal;
    while (!stop.aborted) {
      this.stateNow = 'connecting';
      let conn: MqttSinkConnection;
      try {
        conn = await MqttSinkConnection.connect({
          url: this.cfg.url,
          clientId: this.cfg.clientId ?? `tributary-${this.edgeId}-${this.name}`,
          username: this.cfg.username,
          password: this.cfg.password,
          qos: this.cfg.qos,
          signal: stop,
        });
      } catch (err) {
        if (stop.aborted) break;
        failures++;
        const delayMs = this.backoffMs(failures);
        this.log.warn({ err: (err as Error).message, attempt: failures, delayMs }, 'upstream unreachable; backing off');
        await this.backOff(delayMs);
        continue;
      }
      if (stop.aborted) {
        await conn.close();
        break;
      }
      failures = 0;
      this.stateNow = 'connected';
      const reason = await this.runSession(conn);
      if (stop.aborted) break;
      // A connection that just dropped is likely to drop again: wait like after a first failure.
      failures = 1;
      const delayMs = this.backoffMs(failures);
      this.log.warn({ err: reason?.message, delayMs }, 'upstream connection lost; unacked records will be resent');
      await this.backOff(delayMs);
    }
  }

  /** Exponential, capped, with "equal jitter" (half fixed, half random) so gateways do not reconnect in step. */
  private backoffMs(failures: number): number {
    const { initialMs, maxMs } = this.cfg.backoff;
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 30));
    return Math.round(base / 2 + Math.random() * (base / 2));
  }

  private async backOff(delayMs: number): Promise<void> {
    this.stateNow = 'backing-off';
    await sleep(delayMs, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }

  /** Ships until the connection drops or the mirror stops; resolves with the connection's last error. */
  private async runSession(conn: MqttSinkConnection): Promise<Error | undefined> {
    const window = new PublishWindow(Math.min(this.cfg.windowMax, conn.receiveMaximum));
    const session: Session = { conn, window, abort: new AbortController(), pumps: new Map() };
    this.session = session;
    this.log.info({ window: window.size }, 'connected upstream');
    const discover = () => this.discover(session);
    discover();
    const timer = setInterval(discover, DISCOVER_INTERVAL_MS);
    const onStop = () => session.abort.abort();
    this.stopping.signal.addEventListener('abort', onStop, { once: true });
    let reason: Error | undefined;
    const closed = conn.closed.then((err) => {
      reason = err;
      session.abort.abort();
    });
    await new Promise<void>((resolve) => {
      if (session.abort.signal.aborted) resolve();
      else session.abort.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    clearInterval(timer);
    this.stopping.signal.removeEventListener('abort', onStop);
    window.abort();
    await Promise.all(session.pumps.values());
    await conn.close();
    await closed;
    this.session = null;
    this.cursors.flush();
    return reason;
  }

  /** Starts a pump for every partition of the configured topics that has none yet. */
  private discover(session: Session): void {
    if (session.abort.signal.aborted) return;
    for (const name of this.cfg.topics) {
      const topic = this.broker.store.getTopic(name);
      if (topic === undefined) continue;
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
    /** Published, not yet acked, in offset order: the cursor moves over the acked prefix only. */
    const pending: { offset: number; acked: boolean }[] = [];
    const startState = this.broker.store.partitionState(topic.id, partition);
    let next = this.cursors.get(topic.id, partition) ?? startState?.logStartOffset ?? 0;
    log.debug({ offset: next }, 'shipping from cursor');

    const onAcked = (entry: { offset: number; acked: boolean }) => {
      entry.acked = true;
      this.shipped++;
      let cursor = -1;
      while (pending.length > 0 && pending[0]!.acked) cursor = pending.shift()!.offset + 1;
      if (cursor >= 0) this.cursors.set(topic.id, partition, cursor);
    };

    while (!signal.aborted) {
      if (this.broker.store.getTopic(topic.name)?.id !== topic.id) return; // deleted (or recreated: a new pump takes over)
      let records: DecodedRecord[];
      try {
        const result = await this.broker.fetch(topic.name, partition, next, FETCH_BYTES, FETCH_WAIT_MS, signal);
        records = result.batches.flatMap((b) => decodeRecordBatch(b));
      } catch (err) {
        if (signal.aborted) return;
        if (isTributaryError(err, 'OFFSET_OUT_OF_RANGE')) {
          next = this.outOfRange(topic, partition, next, pending.length === 0, log);
          continue;
        }
        if (isTributaryError(err, 'UNKNOWN_TOPIC') || isTributaryError(err, 'SHUTTING_DOWN')) return;
        log.error({ err, offset: next }, 'reading the log for the mirror failed; retrying');
        await sleep(FETCH_ERROR_PAUSE_MS, undefined, { signal }).catch(() => undefined);
        continue;
      }
      for (const record of records) {
        // A fetch returns whole batches: the first may start below the cursor.
        if (record.offset < next) continue;
        if (!(await session.window.acquire()) || signal.aborted) return;
        const entry = { offset: record.offset, acked: false };
        const published = session.conn.publish(this.remoteTopic(topic.name, partition, record), record.value ?? EMPTY, this.properties(topic.name, partition, record), (err) => {
          session.window.release();
          if (signal.aborted) return;
          if (err) {
            // Permanent-rejection policy is not built yet: treat any refusal as a lost connection.
            log.warn({ err: err.message, offset: entry.offset }, 'upstream refused a publish; reconnecting to resend from the cursor');
            session.abort.abort();
            return;
          }
          onAcked(entry);
        });
        if (!published) {
          session.abort.abort();
          return;
        }
        pending.push(entry);
        const high = this.highWater.get(key) ?? -1;
        if (record.offset <= high) this.resent++;
        else this.highWater.set(key, record.offset);
        next = record.offset + 1;
      }
    }
  }

  /**
   * The cursor fell outside the log. Below the start means retention deleted unshipped records (the
   * retention policy for mirrors is not built yet): skip to the start, loudly. Above the end cannot
   * happen with a consistent data dir: ship from the end.
   */
  private outOfRange(topic: StoredTopic, partition: number, next: number, nothingPending: boolean, log: Logger): number {
    const state = this.broker.store.partitionState(topic.id, partition);
    if (state === undefined) return next;
    const to = next < state.logStartOffset ? state.logStartOffset : state.nextOffset;
    log.error({ offset: next, logStartOffset: state.logStartOffset, nextOffset: state.nextOffset, skippedTo: to }, 'mirror cursor outside the log; records skipped');
    if (nothingPending) this.cursors.set(topic.id, partition, to);
    return to;
  }

  private remoteTopic(topic: string, partition: number, record: DecodedRecord): string {
    return this.cfg.remoteTopic.replace(/\{(edgeId|topic|partition|key)\}/g, (_, name: string) => {
      if (name === 'edgeId') return this.edgeId;
      if (name === 'topic') return topic;
      if (name === 'partition') return String(partition);
      // A key may hold anything; wildcards and NUL would make the topic name invalid.
      return record.key === null ? '' : record.key.toString('utf8').replace(/[+#\0]/g, '_');
    });
  }

  private properties(topic: string, partition: number, record: DecodedRecord): Record<string, string> {
    const origin = `${this.edgeId}/${topic}/${partition}/${record.offset}`;
    return record.key === null ? { origin } : { origin, key: record.key.toString('utf8') };
  }
}
