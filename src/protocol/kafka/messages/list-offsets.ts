// ListOffsets (API key 2): request and response schemas, transcribed as data from Apache Kafka's
// message definitions (clients/src/main/resources/common/message/ListOffsetsRequest.json and ListOffsetsResponse.json).
// Field names are camelCased; version strings keep Kafka's notation ('3+', '0-4', 'none').

import type { MessageSpec } from '../schema.ts';

export const listOffsetsRequest = {
  apiKey: 2,
  name: 'ListOffsetsRequest',
  validVersions: '0-10',
  flexibleVersions: '6+',
  fields: [
    { name: 'replicaId', type: 'int32', versions: '0+' },
    { name: 'isolationLevel', type: 'int8', versions: '2+' },
    { name: 'topics', type: '[]ListOffsetsTopic', versions: '0+', fields: [
      { name: 'name', type: 'string', versions: '0+' },
      { name: 'partitions', type: '[]ListOffsetsPartition', versions: '0+', fields: [
        { name: 'partitionIndex', type: 'int32', versions: '0+' },
        { name: 'currentLeaderEpoch', type: 'int32', versions: '4+', default: -1 },
        { name: 'timestamp', type: 'int64', versions: '0+' },
        { name: 'maxNumOffsets', type: 'int32', versions: '0', default: 1 },
      ] },
    ] },
    { name: 'timeoutMs', type: 'int32', versions: '10+' },
  ],
} as const satisfies MessageSpec;

export const listOffsetsResponse = {
  apiKey: 2,
  name: 'ListOffsetsResponse',
  validVersions: '0-10',
  flexibleVersions: '6+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '2+' },
    { name: 'topics', type: '[]ListOffsetsTopicResponse', versions: '0+', fields: [
      { name: 'name', type: 'string', versions: '0+' },
      { name: 'partitions', type: '[]ListOffsetsPartitionResponse', versions: '0+', fields: [
        { name: 'partitionIndex', type: 'int32', versions: '0+' },
        { name: 'errorCode', type: 'int16', versions: '0+' },
        { name: 'oldStyleOffsets', type: '[]int64', versions: '0' },
        { name: 'timestamp', type: 'int64', versions: '1+', default: -1n },
        { name: 'offset', type: 'int64', versions: '1+', default: -1n },
        { name: 'leaderEpoch', type: 'int32', versions: '4+', default: -1 },
      ] },
    ] },
  ],
} as const satisfies MessageSpec;
