// CreateTopics (19), DeleteTopics (20) and CreatePartitions (37): the broker's topic calls, one
// error per topic. Replication factor must be 1 or -1 (the default); explicit replica assignments
// are refused (one node holds every partition). validate_only checks without changing anything.
// Each needs the admin right on the topic (auth.acls), else TOPIC_AUTHORIZATION_FAILED (29).
// CreateTopics v7+ and DeleteTopics v6+ answer with the topic id (topic-id.ts); DeleteTopics v6+ may
// name a topic by id alone, UNKNOWN_TOPIC_ID (100) when no stored topic has it.

import { TributaryError } from '../../../errors.ts';
import { validateTopicName } from '../../../broker/topic-name.ts';
import { limits } from '../../../limits.ts';
import { KafkaError, type RequestBody, type ResponseInput } from '../../../protocol/kafka/index.ts';
import type { KafkaContext } from '../context.ts';
import { kafkaErrorOf } from '../error-map.ts';
import { authorize } from './authorize.ts';
import { parseTopicConfigs, topicConfigEntries } from './topic-configs.ts';
import { topicIdOf, topicsById } from '../topic-id.ts';

const DYNAMIC_TOPIC_CONFIG = 1;

export function createTopics(ctx: KafkaContext, _version: number, body: RequestBody<19>): ResponseInput<19> {
  return {
    throttleTimeMs: 0,
    topics: body.topics.map((t) => {
      try {
        authorize(ctx, 'admin', t.name);
        if (t.replicationFactor !== -1 && t.replicationFactor !== 1)
          return { name: t.name, errorCode: KafkaError.INVALID_REPLICATION_FACTOR, errorMessage: `replication factor ${t.replicationFactor}: this broker is one node (use 1 or -1)` };
        if (t.assignments.length > 0) return { name: t.name, errorCode: KafkaError.INVALID_REPLICA_ASSIGNMENT, errorMessage: 'replica assignments are not supported: one node holds every partition' };
        if (t.numPartitions !== -1 && (t.numPartitions < 1 || t.numPartitions > limits.partitionsMax))
          return { name: t.name, errorCode: KafkaError.INVALID_PARTITIONS, errorMessage: `partitions must be 1..${limits.partitionsMax} or -1 (the default), got ${t.numPartitions}` };
        const settings = parseTopicConfigs(t.configs);
        const spec = { name: t.name, partitions: t.numPartitions === -1 ? undefined : t.numPartitions, ...settings };
        if (body.validateOnly) {
          validateTopicName(t.name);
          if (ctx.broker.findTopic(t.name)) throw new TributaryError('TOPIC_EXISTS', `topic ${t.name} already exists`, { topic: t.name });
          return { name: t.name, errorCode: KafkaError.NONE, errorMessage: null, numPartitions: spec.partitions ?? -1, replicationFactor: 1, configs: null };
        }
        const created = ctx.broker.createTopic(spec);
        const stored = ctx.broker.findTopic(t.name);
        return {
          name: t.name,
          topicId: stored ? topicIdOf(ctx, stored) : undefined,
          errorCode: KafkaError.NONE,
          errorMessage: null,
          numPartitions: created.partitions.length,
          replicationFactor: 1,
          configs: topicConfigEntries(created).map((c) => ({ ...c, configSource: DYNAMIC_TOPIC_CONFIG, isSensitive: false })),
        };
      } catch (err) {
        return { name: t.name, ...kafkaErrorOf(err) };
      }
    }),
  };
}

export function deleteTopics(ctx: KafkaContext, version: number, body: RequestBody<20>): ResponseInput<20> {
  // v6+ may name a topic by id alone (name null): resolved to the stored topic holding it (topic-id.ts).
  const byId = version >= 6 && body.topics.some((t) => t.name === null) ? topicsById(ctx) : undefined;
  const wanted = version >= 6 ? body.topics.map((t) => ({ name: t.name, topicId: t.topicId })) : body.topicNames.map((name) => ({ name, topicId: undefined }));
  return {
    throttleTimeMs: 0,
    responses: wanted.map((w) => {
      const name = w.name ?? byId?.get(w.topicId!)?.name ?? null;
      if (name === null) return { name: null, topicId: w.topicId, errorCode: KafkaError.UNKNOWN_TOPIC_ID, errorMessage: `no topic has id ${w.topicId}` };
      const stored = ctx.broker.findTopic(name);
      const topicId = stored ? topicIdOf(ctx, stored) : undefined;
      try {
        authorize(ctx, 'admin', name);
        ctx.broker.deleteTopic(name);
        return { name, topicId, errorCode: KafkaError.NONE, errorMessage: null };
      } catch (err) {
        // Asked by id and refused: the name is not told (as Kafka).
        return { name: w.name === null ? null : name, topicId, ...kafkaErrorOf(err) };
      }
    }),
  };
}

export function createPartitions(ctx: KafkaContext, _version: number, body: RequestBody<37>): ResponseInput<37> {
  return {
    throttleTimeMs: 0,
    results: body.topics.map((t) => {
      try {
        authorize(ctx, 'admin', t.name);
        const topic = ctx.broker.requireTopic(t.name);
        // Kafka refuses a count that does not grow the topic.
        if (t.count <= topic.partitions) return { name: t.name, errorCode: KafkaError.INVALID_PARTITIONS, errorMessage: `topic ${t.name} has ${topic.partitions} partitions; the count must be larger` };
        if (!body.validateOnly) ctx.broker.growTopic(t.name, t.count);
        return { name: t.name, errorCode: KafkaError.NONE, errorMessage: null };
      } catch (err) {
        const e = kafkaErrorOf(err);
        return { name: t.name, errorCode: e.errorCode === KafkaError.INVALID_REQUEST ? KafkaError.INVALID_PARTITIONS : e.errorCode, errorMessage: e.errorMessage };
      }
    }),
  };
}
