// Retained messages: topic → packet in LMDB, and the set of retained topics in memory. A SUBSCRIBE
// has to test every retained topic against its filters (filters can't be indexed by topic), so the
// topics are kept at hand and only the matching packets are read.

import type { Database } from 'lmdb';
import type { TxnStage } from './txn-stage.ts';
import { filterMatcher } from './topic-match.ts';
import type { MqttPacket } from './types.ts';

export class RetainedStore {
  private readonly db: Database<MqttPacket, string>;
  private readonly writes: TxnStage;
  private readonly topics = new Set<string>();

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
    if ((packet.payload?.length ?? 0) === 0) {
      this.topics.delete(packet.topic);
      this.writes.remove(this.db, packet.topic);
    } else {
      this.topics.add(packet.topic);
      this.writes.put(this.db, packet.topic, { ...packet });
    }
  }

  /** Each retained message whose topic matches any of the filters, once. */
  matching(filters: readonly string[]): Iterable<MqttPacket> {
    const matches = filterMatcher(filters);
    return this.read([...this.topics].filter(matches));
  }

  // Read lazily as the stream is consumed; a message deleted meanwhile is skipped.
  private *read(topics: string[]): Generator<MqttPacket> {
    for (const topic of topics) {
      const packet = this.writes.get(this.db, topic);
      if (packet) yield packet;
    }
  }
}
