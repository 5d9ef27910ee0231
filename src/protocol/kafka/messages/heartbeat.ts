// Heartbeat (API key 12): request and response schemas, transcribed as data from Apache Kafka's
// message definitions (clients/src/main/resources/common/message/HeartbeatRequest.json and HeartbeatResponse.json).
// Field names are camelCased; version strings keep Kafka's notation ('3+', '0-4', 'none').

import type { MessageSpec } from '../schema.ts';

export const heartbeatRequest = {
  apiKey: 12,
  name: 'HeartbeatRequest',
  validVersions: '0-4',
  flexibleVersions: '4+',
  fields: [
    { name: 'groupId', type: 'string', versions: '0+' },
    { name: 'generationId', type: 'int32', versions: '0+' },
    { name: 'memberId', type: 'string', versions: '0+' },
    { name: 'groupInstanceId', type: 'string', versions: '3+', nullableVersions: '3+', default: null },
  ],
} as const satisfies MessageSpec;

export const heartbeatResponse = {
  apiKey: 12,
  name: 'HeartbeatResponse',
  validVersions: '0-4',
  flexibleVersions: '4+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'errorCode', type: 'int16', versions: '0+' },
  ],
} as const satisfies MessageSpec;
