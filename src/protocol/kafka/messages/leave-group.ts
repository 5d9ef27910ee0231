// LeaveGroup (API key 13): request and response schemas, transcribed as data from Apache Kafka's
// message definitions (clients/src/main/resources/common/message/LeaveGroupRequest.json and LeaveGroupResponse.json).
// Field names are camelCased; version strings keep Kafka's notation ('3+', '0-4', 'none').

import type { MessageSpec } from '../schema.ts';

export const leaveGroupRequest = {
  apiKey: 13,
  name: 'LeaveGroupRequest',
  validVersions: '0-5',
  flexibleVersions: '4+',
  fields: [
    { name: 'groupId', type: 'string', versions: '0+' },
    { name: 'memberId', type: 'string', versions: '0-2' },
    { name: 'members', type: '[]MemberIdentity', versions: '3+', fields: [
      { name: 'memberId', type: 'string', versions: '3+' },
      { name: 'groupInstanceId', type: 'string', versions: '3+', nullableVersions: '3+', default: null },
      { name: 'reason', type: 'string', versions: '5+', nullableVersions: '5+', default: null },
    ] },
  ],
} as const satisfies MessageSpec;

export const leaveGroupResponse = {
  apiKey: 13,
  name: 'LeaveGroupResponse',
  validVersions: '0-5',
  flexibleVersions: '4+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'errorCode', type: 'int16', versions: '0+' },
    { name: 'members', type: '[]MemberResponse', versions: '3+', fields: [
      { name: 'memberId', type: 'string', versions: '3+' },
      { name: 'groupInstanceId', type: 'string', versions: '3+', nullableVersions: '3+' },
      { name: 'errorCode', type: 'int16', versions: '3+' },
    ] },
  ],
} as const satisfies MessageSpec;
