// The APIs and versions this listener serves, and the handler of each: what ApiVersions advertises
// and what the connection accepts are this one table. The codec decodes more versions than are
// served; a request outside these ranges is answered as Kafka answers it (kafka-connection.ts).
//
// Minimums follow what the clients measured in issue 10 need: librdkafka gates features on the
// broker's minimum (FindCoordinator must include v0, Produce v3 and Fetch v4 for magic-2 batches);
// Produce below v3 and Fetch below v4 carry message sets v0/v1, which are not stored here. Fetch
// v13+ names topics by id (topic-id.ts); v15-17 change only replica-side and tagged fields. ListOffsets stops at v6: v7 adds the max-timestamp
// query (-3). OffsetCommit and OffsetFetch stop at v8: v9 is KIP-848's member epochs. SASL is served
// whether or not it is on, as Kafka advertises it on every listener.

import { ApiKey } from '../../protocol/kafka/index.ts';
import type { KafkaHandler } from './context.ts';
import { describeConfigs } from './handlers/describe-configs.ts';
import { fetch } from './handlers/fetch.ts';
import { findCoordinator } from './handlers/find-coordinator.ts';
import { initProducerId } from './handlers/init-producer-id.ts';
import { describeGroups, listGroups } from './handlers/group-admin.ts';
import { heartbeat, joinGroup, leaveGroup, syncGroup } from './handlers/group-membership.ts';
import { offsetCommit, offsetFetch } from './handlers/group-offsets.ts';
import { listOffsets } from './handlers/list-offsets.ts';
import { metadata } from './handlers/metadata.ts';
import { produce } from './handlers/produce.ts';
import { createPartitions, createTopics, deleteTopics } from './handlers/topics-admin.ts';

export interface ServedApi {
  minVersion: number;
  maxVersion: number;
  /** Undefined for ApiVersions, SaslHandshake and SaslAuthenticate, which the connection answers itself (sasl/sasl-gate.ts). */
  handler?: KafkaHandler;
}

const served = new Map<number, ServedApi>([
  [ApiKey.Produce, { minVersion: 3, maxVersion: 9, handler: produce as KafkaHandler }],
  [ApiKey.Fetch, { minVersion: 4, maxVersion: 17, handler: fetch as KafkaHandler }],
  [ApiKey.ListOffsets, { minVersion: 0, maxVersion: 6, handler: listOffsets as KafkaHandler }],
  [ApiKey.Metadata, { minVersion: 0, maxVersion: 12, handler: metadata as KafkaHandler }],
  [ApiKey.FindCoordinator, { minVersion: 0, maxVersion: 4, handler: findCoordinator as KafkaHandler }],
  [ApiKey.OffsetCommit, { minVersion: 0, maxVersion: 8, handler: offsetCommit as KafkaHandler }],
  [ApiKey.OffsetFetch, { minVersion: 0, maxVersion: 8, handler: offsetFetch as KafkaHandler }],
  [ApiKey.JoinGroup, { minVersion: 0, maxVersion: 9, handler: joinGroup as KafkaHandler }],
  [ApiKey.Heartbeat, { minVersion: 0, maxVersion: 4, handler: heartbeat as KafkaHandler }],
  [ApiKey.LeaveGroup, { minVersion: 0, maxVersion: 5, handler: leaveGroup as KafkaHandler }],
  [ApiKey.SyncGroup, { minVersion: 0, maxVersion: 5, handler: syncGroup as KafkaHandler }],
  [ApiKey.DescribeGroups, { minVersion: 0, maxVersion: 5, handler: describeGroups as KafkaHandler }],
  [ApiKey.ListGroups, { minVersion: 0, maxVersion: 5, handler: listGroups as KafkaHandler }],
  [ApiKey.ApiVersions, { minVersion: 0, maxVersion: 3 }],
  [ApiKey.CreateTopics, { minVersion: 0, maxVersion: 7, handler: createTopics as KafkaHandler }],
  [ApiKey.DeleteTopics, { minVersion: 0, maxVersion: 6, handler: deleteTopics as KafkaHandler }],
  [ApiKey.InitProducerId, { minVersion: 0, maxVersion: 4, handler: initProducerId as KafkaHandler }],
  [ApiKey.DescribeConfigs, { minVersion: 0, maxVersion: 4, handler: describeConfigs as KafkaHandler }],
  [ApiKey.CreatePartitions, { minVersion: 0, maxVersion: 3, handler: createPartitions as KafkaHandler }],
  [ApiKey.SaslHandshake, { minVersion: 0, maxVersion: 1 }],
  [ApiKey.SaslAuthenticate, { minVersion: 0, maxVersion: 2 }],
]);

export function servedApi(apiKey: number): ServedApi | undefined {
  return served.get(apiKey);
}

/** ApiVersions' api_keys: every served API with its range, by key. */
export function advertisedApis(): { apiKey: number; minVersion: number; maxVersion: number }[] {
  return [...served.entries()].sort(([a], [b]) => a - b).map(([apiKey, s]) => ({ apiKey, minVersion: s.minVersion, maxVersion: s.maxVersion }));
}
