// DeleteTopics (API key 20): request and response schemas, transcribed as data from Apache Kafka's
// message definitions (clients/src/main/resources/common/message/DeleteTopicsRequest.json and DeleteTopicsResponse.json).
// Field names are camelCased; version strings keep Kafka's notation ('3+', '0-4', 'none').

import type { MessageSpec } from '../schema.ts';

export const deleteTopicsRequest = {
  apiKey: 20,
  name: 'DeleteTopicsRequest',
  validVersions: '0-6',
  flexibleVersions: '4+',
  fields: [
    { name: 'topics', type: '[]DeleteTopicState', versions: '6+', fields: [
      { name: 'name', type: 'string', versions: '6+', nullableVersions: '6+', default: null },
      { name: 'topicId', type: 'uuid', versions: '6+' },
    ] },
    { name: 'topicNames', type: '[]string', versions: '0-5' },
    { name: 'timeoutMs', type: 'int32', versions: '0+' },
  ],
} as const satisfies MessageSpec;

export const deleteTopicsResponse = {
  apiKey: 20,
  name: 'DeleteTopicsResponse',
  validVersions: '0-6',
  flexibleVersions: '4+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'responses', type: '[]DeletableTopicResult', versions: '0+', fields: [
      { name: 'name', type: 'string', versions: '0+', nullableVersions: '6+' },
      { name: 'topicId', type: 'uuid', versions: '6+' },
      { name: 'errorCode', type: 'int16', versions: '0+' },
      { name: 'errorMessage', type: 'string', versions: '5+', nullableVersions: '5+', default: null },
    ] },
  ],
} as const satisfies MessageSpec;
