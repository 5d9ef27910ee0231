// FindCoordinator (API key 10): request and response schemas, transcribed as data from Apache Kafka's
// message definitions (clients/src/main/resources/common/message/FindCoordinatorRequest.json and FindCoordinatorResponse.json).
// Field names are camelCased; version strings keep Kafka's notation ('3+', '0-4', 'none').

import type { MessageSpec } from '../schema.ts';

export const findCoordinatorRequest = {
  apiKey: 10,
  name: 'FindCoordinatorRequest',
  validVersions: '0-6',
  flexibleVersions: '3+',
  fields: [
    { name: 'key', type: 'string', versions: '0-3' },
    { name: 'keyType', type: 'int8', versions: '1+', default: 0 },
    { name: 'coordinatorKeys', type: '[]string', versions: '4+' },
  ],
} as const satisfies MessageSpec;

export const findCoordinatorResponse = {
  apiKey: 10,
  name: 'FindCoordinatorResponse',
  validVersions: '0-6',
  flexibleVersions: '3+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'errorCode', type: 'int16', versions: '0-3' },
    { name: 'errorMessage', type: 'string', versions: '1-3', nullableVersions: '1-3' },
    { name: 'nodeId', type: 'int32', versions: '0-3' },
    { name: 'host', type: 'string', versions: '0-3' },
    { name: 'port', type: 'int32', versions: '0-3' },
    { name: 'coordinators', type: '[]Coordinator', versions: '4+', fields: [
      { name: 'key', type: 'string', versions: '4+' },
      { name: 'nodeId', type: 'int32', versions: '4+' },
      { name: 'host', type: 'string', versions: '4+' },
      { name: 'port', type: 'int32', versions: '4+' },
      { name: 'errorCode', type: 'int16', versions: '4+' },
      { name: 'errorMessage', type: 'string', versions: '4+', nullableVersions: '4+' },
    ] },
  ],
} as const satisfies MessageSpec;
