// Retained messages: topic → packet in LMDB, and the set of retained topics in memory. A SUBSCRIBE
// has to test every retained topic against its filters (filters can't be indexed by topic), so the
// topics are kept at hand and only the matching packets are read. Retained messages under $SYS/
// are the broker's own status (listeners/mqtt/sys-topics.ts), republished at every start and every
// few seconds: they live in memory only, as Mosquitto keeps $SYS/ out of its persistence file, so
// no transaction is spent on them and none outlives the process that published it.

import type { Database } from 'lmdb';
import type { TxnStage } from './txn-stage.ts';
import { filterMatcher } from './topic-match.ts';
import type { MqttPacket } from './types.ts';

export class RetainedStore {
  private readonly db: Database<MqttPacket, string>;
  private readonly writes: TxnStage;
  private readonly topics = new Set<string>();
  private readonly volatile = new Map<string, MqttPacket>();

  constructor(db: Database<MqttPacket, string>, writes: TxnStage) {
    this.db = db;
    this.writes = writes;
  }

  load(): void {
    this.topics.clear();
    for (const topic of this.db.getKeys()) this.topics.add(topic);
  }

  /** An empty payload deletes the topic's retained message (MQTT-3.3.1-10). */
  store(packet: MqttPacket & { topic: string }): void {
    const empty = (packet.payload?.length ?? 0) === 0;
    if (packet.topic.startsWith('$SYS/')) {
      if (empty) this.volatile.delete(packet.topic);
      else this.volatile.set(packet.topic, { ...packet });
      return;
    }
    if (empty) {
      this.topics.delete(packet.topic);
      this.writes.remove(this.db, packet.topic);
    } else {
      this.topics.add(packet.topic);
      this.writes.put(this.db, packet.topic, { ...packet });
    }
  }

  /** Retained messages held, $SYS/ ones included. */
  get count(): number {
    return this.topics.size + this.volatile.size;
  }

  /** Each retained message whose topic matches any of the filters, once. */
  *matching(filters: readonly string[]): Generator<MqttPacket> {
    const any = filterMatcher(filters);
    // [MQTT-4.7.2-1] a filter starting with a wildcard matches no topic starting with $.
    const dollar = filterMatcher(filters.filter((f) => !f.startsWith('+') && !f.startsWith('#')));
    const matches = (topic: string) => (topic.startsWith('$') ? dollar(topic) : any(topic));
    for (const [topic, packet] of [...this.volatile]) if (matches(topic)) yield packet;
    yield* this.read([...this.topics].filter(matches));
  }

  // Read lazily as the stream is consumed; a message deleted meanwhile is skipped.
  private *read(topics: string[]): Generator<MqttPacket> {
    for (const topic of topics) {
      const packet = this.writes.get(this.db, topic);
      if (packet) yield packet;
    }
  }
}
