// CreatePartitions (API key 37): request and response schemas, transcribed as data from Apache Kafka's
// message definitions (clients/src/main/resources/common/message/CreatePartitionsRequest.json and CreatePartitionsResponse.json).
// Field names are camelCased; version strings keep Kafka's notation ('3+', '0-4', 'none').

import type { MessageSpec } from '../schema.ts';

export const createPartitionsRequest = {
  apiKey: 37,
  name: 'CreatePartitionsRequest',
  validVersions: '0-3',
  flexibleVersions: '2+',
  fields: [
    { name: 'topics', type: '[]CreatePartitionsTopic', versions: '0+', fields: [
      { name: 'name', type: 'string', versions: '0+' },
      { name: 'count', type: 'int32', versions: '0+' },
      { name: 'assignments', type: '[]CreatePartitionsAssignment', versions: '0+', nullableVersions: '0+', fields: [
        { name: 'brokerIds', type: '[]int32', versions: '0+' },
      ] },
    ] },
    { name: 'timeoutMs', type: 'int32', versions: '0+' },
    { name: 'validateOnly', type: 'bool', versions: '0+' },
  ],
} as const satisfies MessageSpec;

export const createPartitionsResponse = {
  apiKey: 37,
  name: 'CreatePartitionsResponse',
  validVersions: '0-3',
  flexibleVersions: '2+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '0+' },
    { name: 'results', type: '[]CreatePartitionsTopicResult', versions: '0+', fields: [
      { name: 'name', type: 'string', versions: '0+' },
      { name: 'errorCode', type: 'int16', versions: '0+' },
      { name: 'errorMessage', type: 'string', versions: '0+', nullableVersions: '0+', default: null },
    ] },
  ],
} as const satisfies MessageSpec;
