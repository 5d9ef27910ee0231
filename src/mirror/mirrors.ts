// Every configured mirror, on the mirror thread (thread/mirror-worker.ts): built from the configs over the
// thread's view of the log, told of topic changes and of log starts retention moved, and asked for
// status, pause/resume, retry and reset. Retention floors are the main thread's (thread/mirror-thread.ts).

import type { Logger } from 'pino';
import { TributaryError } from '../errors.ts';
import { Mirror } from './mirror.ts';
import type { MirrorConfig } from './sinks/configs.ts';
import { createSink } from './sinks/factories.ts';
import type { MirrorResetRequest, MirrorResetResult, MirrorRetryResult, MirrorStatus } from './status.ts';
import type { ThreadLog } from './thread/thread-log.ts';

export class Mirrors {
  private readonly byName = new Map<string, Mirror>();
  private readonly log: ThreadLog;

  /** Builds every mirror's sink (reading TLS files: a bad path throws INVALID_CONFIG before anything starts). */
  static async create(configs: readonly MirrorConfig[], edgeId: string, log: ThreadLog, logger: Logger, opts: { applyStartFrom: boolean }): Promise<Mirrors> {
    const context = { partitionsOf: (topic: string) => log.findTopic(topic)?.partitions };
    const mirrors: Mirror[] = [];
    for (const config of configs) mirrors.push(new Mirror({ config, host: log, sink: await createSink(config, edgeId, logger, context), logger, applyStartFrom: opts.applyStartFrom }));
    return new Mirrors(mirrors, log);
  }

  private constructor(mirrors: Mirror[], log: ThreadLog) {
    this.log = log;
    for (const m of mirrors) this.byName.set(m.name, m);
  }

  get all(): Mirror[] {
    return [...this.byName.values()];
  }

  start(): void {
    for (const m of this.byName.values()) m.start();
  }

  /** Stops shipping and persists the exact cursors. */
  async stop(): Promise<void> {
    await Promise.all(this.all.map((m) => m.stop()));
  }

  /** New topics or partitions may match; a deleted topic's parked fetches end. */
  topicsChanged(): void {
    this.log.wakeAll();
    for (const m of this.byName.values()) m.topicsChanged();
  }

  /** Retention moved a log start (only the disk budget can move it past a cursor). */
  logStartMoved(topicId: number, partition: number, previousStart: number, newStart: number): void {
    const topic = this.log.topicById(topicId);
    if (topic === undefined) return;
    for (const m of this.byName.values()) if (m.selector.matches(topic.name)) m.logStartMoved(topic, partition, previousStart, newStart);
  }

  statuses(): MirrorStatus[] {
    return this.all.map((m) => m.status());
  }

  status(name: string): MirrorStatus {
    return this.get(name).status();
  }

  pause(name: string): MirrorStatus {
    const mirror = this.get(name);
    mirror.pause();
    return mirror.status();
  }

  resume(name: string): MirrorStatus {
    const mirror = this.get(name);
    mirror.resume();
    return mirror.status();
  }

  retry(name: string): MirrorRetryResult {
    const mirror = this.get(name);
    const { retried, message } = mirror.retry();
    return { retried, message, mirror: mirror.status() };
  }

  reset(name: string, request: MirrorResetRequest): MirrorResetResult {
    return { mirror: name, dryRun: request.dryRun, partitions: this.get(name).reset(request) };
  }

  get(name: string): Mirror {
    const mirror = this.byName.get(name);
    if (mirror === undefined) throw new TributaryError('UNKNOWN_MIRROR', `no mirror named ${name}; configured: ${[...this.byName.keys()].join(', ') || 'none'}`, { mirror: name });
    return mirror;
  }
}
