// The main thread's side of the mirror thread (mirror-worker.ts): starts it, tells it what the store
// does (appends to mirrored partitions coalesced into one message per loop turn, topic changes, log
// starts moved by retention, fail-stop), answers the HTTP API, CLI and metrics by asking it, keeps
// the retention floor, restarts the thread after it died and stops it before the store closes.
//
// The retention floor is read from the committed cursors in LMDB, not asked of the thread: the
// committed cursor lags the thread's in-memory one by at most the cursor flush interval, which only
// keeps more records, and retention never waits for another thread.

import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { TributaryError } from '../../errors.ts';
import { limits } from '../../limits.ts';
import type { StoredTopic } from '../../storage/lmdb-env.ts';
import type { LogStore } from '../../storage/log-store.ts';
import { committedCursor } from '../../storage/mirror-cursors.ts';
import type { MirrorConfig } from '../sinks/configs.ts';
import type { MirrorControl, MirrorResetRequest, MirrorResetResult, MirrorRetryResult, MirrorStatus } from '../status.ts';
import { type FromMirrorThread, type MirrorAnswer, type MirrorOp, type MirrorWorkerData, type ToMirrorThread, type WireError } from './thread-messages.ts';
import { TopicSelector } from '../topic-selector.ts';

const RESTART_DELAY_MS_MIN = 100;

export interface MirrorThreadOptions {
  configs: readonly MirrorConfig[];
  edgeId: string;
  store: LogStore;
  dataDir: string;
  mapSizeBytes: number;
  maxMapSizeBytes: number;
  minFreeDiskBytes: number;
  logger: Logger;
}

interface Request {
  message: MirrorOp;
  resolve: (result: MirrorAnswer) => void;
  reject: (err: TributaryError) => void;
  /** Posted to the thread now running (false while it is being started). */
  posted: boolean;
}

export class MirrorThread implements MirrorControl {
  private readonly opts: MirrorThreadOptions;
  private readonly log: Logger;
  private readonly selectors: { name: string; selector: TopicSelector }[];
  private readonly unsubscribe: (() => void)[] = [];
  private thread: Worker | null = null;
  private ready = false;
  private started = false;
  private stopping = false;
  private stopped: (() => void) | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private deathsInARow = 0;
  private spawnedMs = 0;
  private lastThreadError: unknown = null;
  private threadRestarts = 0;
  private nextId = 1;
  /**
   * Requests not answered yet: sent again to a restarted thread (they read or set a flag), except a
   * reset the dead thread had been given: it may have moved the cursors already, and a shift applied
   * twice would move them twice.
   */
  private readonly requests = new Map<number, Request>();
  /** Partitions appended to this loop turn, sent as one message. */
  private appended = new Map<string, [number, number]>();
  private appendedFlush: NodeJS.Immediate | null = null;
  /** topicId → topic, rebuilt after topics change: the store's hooks name partitions by id. */
  private topicsById: Map<number, StoredTopic> | null = null;

  /** Starts the thread and waits until it built every mirror's sink (a bad TLS path throws INVALID_CONFIG here). */
  static async create(opts: MirrorThreadOptions): Promise<MirrorThread> {
    const t = new MirrorThread(opts);
    try {
      await t.spawn();
    } catch (err) {
      t.unsubscribeAll();
      throw err;
    }
    return t;
  }

  private constructor(opts: MirrorThreadOptions) {
    this.opts = opts;
    this.log = opts.logger.child({ module: 'mirror-thread' });
    this.selectors = opts.configs.map((c) => ({ name: c.name, selector: new TopicSelector(c.topics, c.priorities) }));
    const { store } = opts;
    const h = store.lmdb;
    // Installed before any listener takes a record, so no retention step runs without the floor. It
    // stays after the thread stopped: maintenance runs until the store closes.
    store.addRetentionFloor((topicId, partition) => {
      let floor: number | undefined;
      for (const name of this.mirroring(topicId)) floor = Math.min(floor ?? Infinity, committedCursor(h, name, topicId, partition) ?? 0);
      return floor;
    });
    this.unsubscribe.push(
      store.addAppendListener((topicId, partition) => {
        if (this.mirroring(topicId).length === 0) return;
        this.appended.set(`${topicId}/${partition}`, [topicId, partition]);
        this.appendedFlush ??= setImmediate(() => {
          this.appendedFlush = null;
          const partitions = [...this.appended.values()];
          this.appended = new Map();
          this.post({ type: 'appended', partitions });
        });
      }),
      store.addLogStartListener((topicId, partition, previousStart, newStart) => {
        if (this.mirroring(topicId).length > 0) this.post({ type: 'logStartMoved', topicId, partition, previousStart, newStart });
      }),
      store.addFailureListener((failure) => this.post({ type: 'storageFailed', message: failure.message })),
    );
    // Kept after the thread stopped, as the floor that reads it is.
    store.addTopicsListener(() => {
      this.topicsById = null;
      this.post({ type: 'topicsChanged' });
    });
  }

  /** The thread running the mirrors (null while it is being restarted or after stop). */
  get worker(): Worker | null {
    return this.thread;
  }

  start(): void {
    this.started = true;
    this.post({ type: 'start' });
  }

  /** Stops the mirrors (exact cursors persisted), waits for the thread to close its LMDB handle and end. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.unsubscribeAll();
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    for (const r of this.requests.values()) r.reject(new TributaryError('SHUTTING_DOWN', 'the mirrors are stopping'));
    this.requests.clear();
    const thread = this.thread;
    if (thread === null) return;
    const ended = new Promise<void>((resolve) => (this.stopped = resolve));
    thread.postMessage({ type: 'stop' } satisfies ToMirrorThread);
    await ended;
  }

  async statuses(): Promise<MirrorStatus[]> {
    return ((await this.request({ op: 'statuses' })) as MirrorStatus[]).map((s) => this.withRestarts(s));
  }

  async status(name: string): Promise<MirrorStatus> {
    return this.withRestarts((await this.named({ op: 'status', name })) as MirrorStatus);
  }

  async pause(name: string): Promise<MirrorStatus> {
    return this.withRestarts((await this.named({ op: 'pause', name })) as MirrorStatus);
  }

  async resume(name: string): Promise<MirrorStatus> {
    return this.withRestarts((await this.named({ op: 'resume', name })) as MirrorStatus);
  }

  async retry(name: string): Promise<MirrorRetryResult> {
    const r = (await this.named({ op: 'retry', name })) as MirrorRetryResult;
    return { ...r, mirror: this.withRestarts(r.mirror) };
  }

  async reset(name: string, request: MirrorResetRequest): Promise<MirrorResetResult> {
    return (await this.named({ op: 'reset', name, request })) as MirrorResetResult;
  }

  private async named(message: MirrorOp & { name: string }): Promise<MirrorAnswer> {
    if (!this.selectors.some((s) => s.name === message.name))
      throw new TributaryError('UNKNOWN_MIRROR', `no mirror named ${message.name}; configured: ${this.selectors.map((s) => s.name).join(', ') || 'none'}`, { mirror: message.name });
    return this.request(message);
  }

  private request(message: MirrorOp): Promise<MirrorAnswer> {
    if (this.stopping) return Promise.reject(new TributaryError('SHUTTING_DOWN', 'the mirrors are stopping'));
    if (this.requests.size >= limits.mirrorThreadRequestsMax)
      return Promise.reject(new TributaryError('THROTTLED', `${this.requests.size} requests already wait for the mirror thread${this.ready ? '' : ', which is being started again'}; retry later`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const r: Request = { message, resolve, reject, posted: false };
      this.requests.set(id, r);
      if (this.ready) this.postRequest(id, r);
    });
  }

  private postRequest(id: number, r: Request): void {
    r.posted = true;
    this.thread!.postMessage({ type: 'request', id, ...r.message } satisfies ToMirrorThread);
  }

  private withRestarts(s: MirrorStatus): MirrorStatus {
    return { ...s, threadRestarts: this.threadRestarts };
  }

  /** Dropped while the thread is (re)starting: a new thread reads the log and topics afresh. */
  private post(message: ToMirrorThread): void {
    if (this.ready && !this.stopping) this.thread!.postMessage(message);
  }

  /** The names of the mirrors shipping the topic. */
  private mirroring(topicId: number): string[] {
    this.topicsById ??= new Map(this.opts.store.listTopics().map((t) => [t.id, t]));
    const topic = this.topicsById.get(topicId);
    return topic === undefined ? [] : this.selectors.filter((s) => s.selector.matches(topic.name)).map((s) => s.name);
  }

  private unsubscribeAll(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    if (this.appendedFlush !== null) clearImmediate(this.appendedFlush);
  }

  /** Resolves once the thread built its mirrors; rejects with why it could not. */
  private spawn(): Promise<void> {
    const o = this.opts;
    const data: MirrorWorkerData = {
      configs: [...o.configs],
      edgeId: o.edgeId,
      dataDir: o.dataDir,
      mapSizeBytes: o.mapSizeBytes,
      maxMapSizeBytes: o.maxMapSizeBytes,
      minFreeDiskBytes: o.minFreeDiskBytes,
      logLevel: o.logger.level,
      restarted: this.threadRestarts > 0,
    };
    const thread = startWorker(data);
    this.thread = thread;
    this.spawnedMs = performance.now();
    this.lastThreadError = null;
    return new Promise<void>((resolve, reject) => {
      let startError: WireError | null = null;
      thread.on('message', (m: FromMirrorThread) => {
        if (m.type === 'ready') {
          this.ready = true;
          // A thread started after a fail-stop (a restart) writes nothing either.
          const failure = this.opts.store.failed;
          if (failure !== null) thread.postMessage({ type: 'storageFailed', message: failure.message } satisfies ToMirrorThread);
          if (this.started) thread.postMessage({ type: 'start' } satisfies ToMirrorThread);
          for (const [id, r] of this.requests) this.postRequest(id, r);
          resolve();
        } else if (m.type === 'startFailed') startError = m.error;
        else this.received(m);
      });
      thread.on('error', (err) => (this.lastThreadError = err));
      thread.on('exit', (exitCode) => {
        const wasReady = this.ready;
        this.thread = null;
        this.ready = false;
        if (this.stopping) return this.stopped?.();
        this.failPostedResets();
        if (!wasReady) {
          const e = startError ?? { code: 'UNKNOWN', message: `the mirror thread ended before it started (exit code ${exitCode}): ${String(this.lastThreadError)}` };
          // At start, the broker does not start; later, a thread that cannot start is tried again.
          if (this.threadRestarts === 0 && !this.started) return reject(new TributaryError(e.code, e.message));
        }
        this.restartAfterDeath(exitCode);
      });
    });
  }

  private failPostedResets(): void {
    for (const [id, r] of this.requests) {
      if (r.message.op !== 'reset' || !r.posted) continue;
      this.requests.delete(id);
      r.reject(new TributaryError('UNKNOWN', `the mirror thread died during the reset of mirror ${r.message.name}; see where its cursors are (tributary mirror status ${r.message.name} --json) and reset again`));
    }
  }

  private restartAfterDeath(exitCode: number): void {
    this.deathsInARow = performance.now() - this.spawnedMs >= limits.mirrorThreadRestartDelayMsMax ? 1 : this.deathsInARow + 1;
    const delayMs = Math.min(limits.mirrorThreadRestartDelayMsMax, RESTART_DELAY_MS_MIN * 2 ** (this.deathsInARow - 1));
    this.threadRestarts++;
    this.log.error(
      { err: this.lastThreadError, exitCode, restarts: this.threadRestarts, delayMs, mirrors: this.selectors.map((s) => s.name) },
      'mirror thread died; restarting it, the mirrors resume from their persisted cursors (records since are resent)',
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      this.spawn().catch((err: unknown) => this.log.error({ err }, 'mirror thread failed to start'));
    }, delayMs);
  }

  private received(m: FromMirrorThread): void {
    if (m.type === 'response') {
      const r = this.requests.get(m.id);
      if (r === undefined) return;
      this.requests.delete(m.id);
      if ('error' in m) r.reject(new TributaryError(m.error.code, m.error.message));
      else r.resolve(m.result);
    } else if (m.type === 'log') this.relay(m.line);
    else if (m.type === 'failStop') this.opts.store.reportFailure(new Error(m.message), `${m.what} (mirror thread)`);
  }

  /** A pino line of the thread, logged again here: one destination, level and format for the process. */
  private relay(line: string): void {
    const { level, msg, time: _time, ...fields } = JSON.parse(line) as { level: number; msg?: string; time?: number } & Record<string, unknown>;
    const label = (this.opts.logger.levels.labels[level] ?? 'info') as 'info';
    this.opts.logger[label](fields, msg);
  }
}

/**
 * Built, the thread runs dist/mirror-thread.mjs, a bundle of its own (build.mjs) beside
 * dist/tributary.mjs: it evaluates only the mirror code, not the listeners' (measured: 5-8 MB less
 * anonymous RSS than running the main bundle again). From the TypeScript sources (tests under vitest)
 * the thread loads them through tsx's loader, registered in the thread before the import (Node 20
 * does not apply `--import` to an eval'd thread's own import).
 */
function startWorker(workerData: MirrorWorkerData): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL('./mirror-thread.mjs', self), { workerData });
  const entry = JSON.stringify(new URL('./mirror-worker.ts', self).href);
  const code = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${entry}); }).then((w) => w.runMirrorWorker(require('node:worker_threads').workerData));`;
  return new Worker(code, { eval: true, workerData });
}
