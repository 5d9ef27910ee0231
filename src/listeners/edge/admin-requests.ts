// The edge protocol's synchronous requests: REGISTER, METADATA, CREATE_TOPIC, ALTER_TOPIC and DELETE_TOPIC. Each
// turns a frame into broker calls and returns the answer frame; a TributaryError thrown here becomes
// an ERROR for the request's corr (EdgeConnection.request). No state but the connection's aliases.

import type { Broker } from '../../broker/broker.ts';
import { TributaryError } from '../../errors.ts';
import { limits } from '../../limits.ts';
import type { AlterTopicFrame, CreateTopicFrame, DeleteTopicFrame, Frame, MetadataFrame, RegisterFrame, TopicMetadata } from '../../protocol/edge/frames.ts';

// [EDGE-6.1] an alias names a topic on this connection only.
export function register(broker: Broker, aliases: Map<number, string>, frame: RegisterFrame): Frame {
  if (!aliases.has(frame.alias) && aliases.size >= limits.edgeAliasesMax)
    throw new TributaryError('INVALID_REQUEST', `at most ${limits.edgeAliasesMax} aliases per connection`);
  const topic = frame.create ? broker.resolveTopic(frame.topic) : broker.requireTopic(frame.topic);
  aliases.set(frame.alias, topic.name);
  return { type: 'registered', corr: frame.corr, alias: frame.alias, partitions: topic.partitions };
}

export function metadata(broker: Broker, frame: MetadataFrame): Frame {
  // [EDGE-5.10] requested topics that do not exist are left out.
  const topics = frame.topics.length === 0 ? broker.listTopics() : frame.topics.filter((t) => broker.findTopic(t)).map((t) => broker.describeTopic(t));
  const out: TopicMetadata[] = topics.map((t) => ({
    name: t.name,
    retentionMs: t.retentionMs,
    retentionBytes: t.retentionBytes,
    partitions: t.partitions.map((p) => ({ partition: p.partition, logStartOffset: p.logStartOffset, nextOffset: p.nextOffset })),
  }));
  return { type: 'metadata-result', corr: frame.corr, topics: out };
}

export function createTopic(broker: Broker, frame: CreateTopicFrame): Frame {
  const partitions = frame.partitions > 0 ? frame.partitions : undefined;
  const existing = frame.grow ? broker.findTopic(frame.name) : undefined;
  if (existing) {
    // [EDGE-6.3] a count not above the current one changes nothing.
    if (partitions !== undefined && partitions > existing.partitions) broker.growTopic(frame.name, partitions);
  } else {
    broker.createTopic({
      name: frame.name,
      partitions,
      retentionMs: frame.retentionMs === -2 ? undefined : frame.retentionMs,
      retentionBytes: frame.retentionBytes === -2 ? undefined : frame.retentionBytes,
    });
  }
  return { type: 'ok', corr: frame.corr };
}

export function deleteTopic(broker: Broker, frame: DeleteTopicFrame): Frame {
  broker.deleteTopic(frame.name);
  return { type: 'ok', corr: frame.corr };
}

// [EDGE-6.3] an existing topic only; 0 and -2 leave a field as it is.
export function alterTopic(broker: Broker, frame: AlterTopicFrame): Frame {
  broker.alterTopic(frame.name, {
    partitions: frame.partitions === 0 ? undefined : frame.partitions,
    retentionMs: frame.retentionMs === -2 ? undefined : frame.retentionMs,
    retentionBytes: frame.retentionBytes === -2 ? undefined : frame.retentionBytes,
  });
  return { type: 'ok', corr: frame.corr };
}
