// SyncGroup (API key 14): request and response schemas, transcribed as data from Apache Kafka's
// message definitions (clients/src/main/resources/common/message/SyncGroupRequest.json and SyncGroupResponse.json).
// Field names are camelCased; version strings keep Kafka's notation ('3+', '0-4', 'none').

import type { MessageSpec } from '../schema.ts';

export const syncGroupRequest = {
  apiKey: 14,
  name: 'SyncGroupRequest',
  validVersions: '0-5',
  flexibleVersions: '4+',
  fields: [
    { name: 'groupId', type: 'string', versions: '0+' },
    { name: 'generationId', type: 'int32', versions: '0+' },
    { name: 'memberId', type: 'string', versions: '0+' },
    { name: 'groupInstanceId', type: 'string', versions: '3+', nullableVersions: '3+', default: null },
    { name: 'protocolType', type: 'string', versions: '5+', nullableVersions: '5+', default: null },
    { name: 'protocolName', type: 'string', versions: '5+', nullableVersions: '5+', default: null },
    { name: 'assignments', type: '[]SyncGroupRequestAssignment', versions: '0+', fields: [
      { name: 'memberId', type: 'string', versions: '0+' },
      { name: 'assignment', type: 'bytes', versions: '0+' },
    ] },
  ],
} as const satisfies MessageSpec;

export const syncGroupResponse = {
  apiKey: 14,
  name: 'SyncGroupResponse',
  validVersions: '0-5',
  flexibleVersions: '4+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'errorCode', type: 'int16', versions: '0+' },
    { name: 'protocolType', type: 'string', versions: '5+', nullableVersions: '5+', default: null },
    { name: 'protocolName', type: 'string', versions: '5+', nullableVersions: '5+', default: null },
    { name: 'assignment', type: 'bytes', versions: '0+' },
  ],
} as const satisfies MessageSpec;
