// Metadata (key 3): one broker (this node), every partition led by it with replicas and ISR = [it]
// (replication factor 1). Null topics (v1+; an empty list in v0) = every topic. A requested topic that
// does not exist is created with the topic defaults when topics.autoCreate is on and the request
// allows it (v4+: allow_auto_topic_creation; earlier versions always allow it, as Kafka reads them).
// auth.acls: all topics = those the client may read, write or administer (Kafka filters the rest
// out); a requested one it may not is TOPIC_AUTHORIZATION_FAILED; auto-creation needs write or admin.
// v10+ answers carry each topic's id (topic-id.ts); a topic asked for by id alone (name null) is
// answered by that id, or UNKNOWN_TOPIC_ID when no stored topic has it (never auto-created).

import type { StoredTopic } from '../../../broker/broker.ts';
import { KafkaError, type RequestBody, type ResponseInput } from '../../../protocol/kafka/index.ts';
import { NODE_ID, type KafkaContext } from '../context.ts';
import { kafkaErrorOf } from '../error-map.ts';
import { authorize, mayDescribe } from './authorize.ts';
import { topicIdOf, topicsById } from '../topic-id.ts';

type TopicAnswer = NonNullable<ResponseInput<3>['topics']>[number];

export function metadata(ctx: KafkaContext, version: number, body: RequestBody<3>): ResponseInput<3> {
  const all = body.topics === null || (version === 0 && body.topics.length === 0);
  const topics: TopicAnswer[] = all
    ? ctx.broker.storedTopics().filter((t) => mayDescribe(ctx, t.name)).map((t) => topicAnswer(ctx, t))
    : body.topics!.map((t) => (t.name === null ? byId(ctx, t.topicId) : requested(ctx, t.name, body.allowAutoTopicCreation)));
  return {
    throttleTimeMs: 0,
    brokers: [{ nodeId: NODE_ID, host: ctx.advertisedHost, port: ctx.advertisedPort, rack: null }],
    clusterId: ctx.clusterId,
    controllerId: NODE_ID,
    topics,
  };
}

function byId(ctx: KafkaContext, topicId: string): TopicAnswer {
  const topic = topicsById(ctx).get(topicId);
  if (!topic) return { errorCode: KafkaError.UNKNOWN_TOPIC_ID, name: null, topicId, partitions: [] };
  try {
    if (!mayDescribe(ctx, topic.name)) authorize(ctx, 'read', topic.name);
    return topicAnswer(ctx, topic);
  } catch (err) {
    return { errorCode: kafkaErrorOf(err).errorCode, name: null, topicId, partitions: [] };
  }
}

function requested(ctx: KafkaContext, name: string, allowAutoCreate: boolean): TopicAnswer {
  try {
    if (!mayDescribe(ctx, name)) authorize(ctx, 'read', name);
    const create = allowAutoCreate && (ctx.may('write', name) || ctx.may('admin', name));
    const topic = create ? ctx.broker.resolveTopic(name) : ctx.broker.requireTopic(name);
    return topicAnswer(ctx, topic);
  } catch (err) {
    return { errorCode: kafkaErrorOf(err).errorCode, name, partitions: [] };
  }
}

function topicAnswer(ctx: KafkaContext, topic: StoredTopic): TopicAnswer {
  return {
    errorCode: KafkaError.NONE,
    name: topic.name,
    topicId: topicIdOf(ctx, topic),
    isInternal: false,
    partitions: ctx.broker.partitionStates(topic.id).map((p) => ({
      errorCode: KafkaError.NONE,
      partitionIndex: p.partition,
      leaderId: NODE_ID,
      leaderEpoch: 0,
      replicaNodes: [NODE_ID],
      isrNodes: [NODE_ID],
      offlineReplicas: [],
    })),
  };
}
