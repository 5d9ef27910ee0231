// The schema table: every API this codec serves, by API key, with its request and response specs.
// Adding an API is adding a row here and a file under messages/; the codec has no per-API code.

import type { MessageSpec } from './schema.ts';
import { apiVersionsRequest, apiVersionsResponse } from './messages/api-versions.ts';
import { createPartitionsRequest, createPartitionsResponse } from './messages/create-partitions.ts';
import { createTopicsRequest, createTopicsResponse } from './messages/create-topics.ts';
import { deleteTopicsRequest, deleteTopicsResponse } from './messages/delete-topics.ts';
import { describeConfigsRequest, describeConfigsResponse } from './messages/describe-configs.ts';
import { describeGroupsRequest, describeGroupsResponse } from './messages/describe-groups.ts';
import { fetchRequest, fetchResponse } from './messages/fetch.ts';
import { findCoordinatorRequest, findCoordinatorResponse } from './messages/find-coordinator.ts';
import { heartbeatRequest, heartbeatResponse } from './messages/heartbeat.ts';
import { initProducerIdRequest, initProducerIdResponse } from './messages/init-producer-id.ts';
import { joinGroupRequest, joinGroupResponse } from './messages/join-group.ts';
import { leaveGroupRequest, leaveGroupResponse } from './messages/leave-group.ts';
import { listGroupsRequest, listGroupsResponse } from './messages/list-groups.ts';
import { listOffsetsRequest, listOffsetsResponse } from './messages/list-offsets.ts';
import { metadataRequest, metadataResponse } from './messages/metadata.ts';
import { offsetCommitRequest, offsetCommitResponse } from './messages/offset-commit.ts';
import { offsetFetchRequest, offsetFetchResponse } from './messages/offset-fetch.ts';
import { produceRequest, produceResponse } from './messages/produce.ts';
import { saslAuthenticateRequest, saslAuthenticateResponse } from './messages/sasl-authenticate.ts';
import { saslHandshakeRequest, saslHandshakeResponse } from './messages/sasl-handshake.ts';
import { syncGroupRequest, syncGroupResponse } from './messages/sync-group.ts';

/** API keys by name, as Kafka numbers them. */
export const ApiKey = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  DescribeGroups: 15,
  ListGroups: 16,
  SaslHandshake: 17,
  ApiVersions: 18,
  CreateTopics: 19,
  DeleteTopics: 20,
  InitProducerId: 22,
  DescribeConfigs: 32,
  SaslAuthenticate: 36,
  CreatePartitions: 37,
} as const;

export type ApiKeyNumber = (typeof ApiKey)[keyof typeof ApiKey];

export interface ApiEntry {
  readonly name: keyof typeof ApiKey;
  readonly request: MessageSpec;
  readonly response: MessageSpec;
}

/** The table itself. Request and response of one API share their valid and flexible versions. */
export const apiTable = {
  0: { name: 'Produce', request: produceRequest, response: produceResponse },
  1: { name: 'Fetch', request: fetchRequest, response: fetchResponse },
  2: { name: 'ListOffsets', request: listOffsetsRequest, response: listOffsetsResponse },
  3: { name: 'Metadata', request: metadataRequest, response: metadataResponse },
  8: { name: 'OffsetCommit', request: offsetCommitRequest, response: offsetCommitResponse },
  9: { name: 'OffsetFetch', request: offsetFetchRequest, response: offsetFetchResponse },
  10: { name: 'FindCoordinator', request: findCoordinatorRequest, response: findCoordinatorResponse },
  11: { name: 'JoinGroup', request: joinGroupRequest, response: joinGroupResponse },
  12: { name: 'Heartbeat', request: heartbeatRequest, response: heartbeatResponse },
  13: { name: 'LeaveGroup', request: leaveGroupRequest, response: leaveGroupResponse },
  14: { name: 'SyncGroup', request: syncGroupRequest, response: syncGroupResponse },
  15: { name: 'DescribeGroups', request: describeGroupsRequest, response: describeGroupsResponse },
  16: { name: 'ListGroups', request: listGroupsRequest, response: listGroupsResponse },
  17: { name: 'SaslHandshake', request: saslHandshakeRequest, response: saslHandshakeResponse },
  18: { name: 'ApiVersions', request: apiVersionsRequest, response: apiVersionsResponse },
  19: { name: 'CreateTopics', request: createTopicsRequest, response: createTopicsResponse },
  20: { name: 'DeleteTopics', request: deleteTopicsRequest, response: deleteTopicsResponse },
  22: { name: 'InitProducerId', request: initProducerIdRequest, response: initProducerIdResponse },
  32: { name: 'DescribeConfigs', request: describeConfigsRequest, response: describeConfigsResponse },
  36: { name: 'SaslAuthenticate', request: saslAuthenticateRequest, response: saslAuthenticateResponse },
  37: { name: 'CreatePartitions', request: createPartitionsRequest, response: createPartitionsResponse },
} as const satisfies Record<ApiKeyNumber, ApiEntry>;
