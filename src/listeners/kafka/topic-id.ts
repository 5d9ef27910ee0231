// Kafka topic ids (KIP-516): the UUID Metadata v10+, Fetch v13+, CreateTopics v7+ and DeleteTopics v6+
// name a topic by. Derived, not stored: the first 16 bytes of SHA-256 over the cluster id (edgeId)
// and the topic's numeric id, stamped as an RFC 9562 version-8 UUID. Numeric ids are never reused
// (log-store.ts counts them up), so a topic deleted and created again under the same name gets a new
// id, and the same data directory under the same edgeId gives the same ids after a restart. The
// version and variant bits are never zero, so the id is never Kafka's "no id" (all zero) nor its
// reserved metadata-topic id (0…01).

import { createHash } from 'node:crypto';
import type { StoredTopic } from '../../broker/broker.ts';
import type { KafkaContext } from './context.ts';

// Computed once per stored topic object (the store replaces the object when the topic grows).
const memo = new WeakMap<StoredTopic, { clusterId: string; id: string }>();

/** The Kafka topic id of numeric topic `topicId` in cluster `clusterId`. */
export function kafkaTopicId(clusterId: string, topicId: number): string {
  const b = createHash('sha256').update(`tributary-topic-id\0${clusterId}\0${topicId}`).digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function topicIdOf(ctx: KafkaContext, topic: StoredTopic): string {
  const m = memo.get(topic);
  if (m && m.clusterId === ctx.clusterId) return m.id;
  const id = kafkaTopicId(ctx.clusterId, topic.id);
  memo.set(topic, { clusterId: ctx.clusterId, id });
  return id;
}

/** One broker's id → topic index, rebuilt after the next topic change (create, grow, delete). */
interface IdIndex {
  clusterId: string;
  byId: Map<string, StoredTopic> | null;
}
const indexes = new WeakMap<KafkaContext['broker'], IdIndex>();

/**
 * Resolves Kafka topic ids to the stored topics now holding them (absent: unknown or deleted).
 * Fetch v13+ asks on every read and every long-poll wake, so the index is kept until the topics change
 * instead of being rebuilt (a sorted copy of every topic) per call.
 */
export function topicsById(ctx: KafkaContext): ReadonlyMap<string, StoredTopic> {
  let index = indexes.get(ctx.broker);
  if (index === undefined) {
    const fresh: IdIndex = { clusterId: ctx.clusterId, byId: null };
    ctx.broker.addTopicsListener(() => {
      fresh.byId = null;
    });
    indexes.set(ctx.broker, (index = fresh));
  }
  if (index.byId === null || index.clusterId !== ctx.clusterId) {
    const byId = new Map<string, StoredTopic>();
    for (const t of ctx.broker.storedTopics()) byId.set(topicIdOf(ctx, t), t);
    index.byId = byId;
    index.clusterId = ctx.clusterId;
  }
  return index.byId;
}
