// Every configured mirror, and what they need from the log store: retention that spares records a
// mirror has not shipped (the lowest cursor of the mirrors that ship a partition), the count of
// records the disk budget deleted anyway, and partition discovery by event.

import type { Logger } from 'pino';
import type { Broker, StoredTopic } from '../broker/broker.ts';
import { TributaryError } from '../errors.ts';
import { Mirror } from './mirror.ts';
import type { MirrorConfig } from './sinks/configs.ts';
import { createSink } from './sinks/factories.ts';
import type { MirrorControl, MirrorStatus } from './status.ts';

export class Mirrors implements MirrorControl {
  private readonly byName = new Map<string, Mirror>();
  private readonly broker: Broker;
  /** topicId → topic, rebuilt after topics change: the store's hooks name partitions by id. */
  private topicsById: Map<number, StoredTopic> | null = null;

  /** Builds every mirror's sink (reading TLS files: a bad path throws INVALID_CONFIG before anything starts). */
  static async create(configs: readonly MirrorConfig[], edgeId: string, broker: Broker, logger: Logger): Promise<Mirrors> {
    const context = { partitionsOf: (topic: string) => broker.findTopic(topic)?.partitions };
    const mirrors: Mirror[] = [];
    for (const config of configs) mirrors.push(new Mirror({ config, broker, sink: await createSink(config, edgeId, logger, context), logger }));
    return new Mirrors(mirrors, broker);
  }

  private constructor(mirrors: Mirror[], broker: Broker) {
    this.broker = broker;
    for (const m of mirrors) this.byName.set(m.name, m);
    // Installed before any listener takes a record, so no retention step runs without the floor.
    broker.addRetentionFloor((topicId, partition) => {
      const topic = this.topicById(topicId);
      let floor: number | undefined;
      if (topic !== undefined)
        for (const m of this.byName.values()) if (m.selector.matches(topic.name)) floor = Math.min(floor ?? Infinity, m.retentionFloor(topicId, partition));
      return floor;
    });
    broker.addLogStartListener((topicId, partition, previousStart, newStart) => {
      const topic = this.topicById(topicId);
      if (topic === undefined) return;
      for (const m of this.byName.values()) if (m.selector.matches(topic.name)) m.logStartMoved(topic, partition, previousStart, newStart);
    });
    broker.addTopicsListener(() => {
      this.topicsById = null;
      for (const m of this.byName.values()) m.topicsChanged();
    });
  }

  get all(): Mirror[] {
    return [...this.byName.values()];
  }

  start(): void {
    for (const m of this.byName.values()) m.start();
  }

  /** Stops shipping. The retention hooks stay: maintenance runs until the broker closes, and cursors stay readable. */
  async stop(): Promise<void> {
    await Promise.all(this.all.map((m) => m.stop()));
  }

  private topicById(topicId: number): StoredTopic | undefined {
    this.topicsById ??= new Map(this.broker.storedTopics().map((t) => [t.id, t]));
    return this.topicsById.get(topicId);
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

  get(name: string): Mirror {
    const mirror = this.byName.get(name);
    if (mirror === undefined) throw new TributaryError('UNKNOWN_MIRROR', `no mirror named ${name}; configured: ${[...this.byName.keys()].join(', ') || 'none'}`, { mirror: name });
    return mirror;
  }
}
