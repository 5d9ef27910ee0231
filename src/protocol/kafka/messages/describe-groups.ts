// DescribeGroups (API key 15): request and response schemas, transcribed as data from Apache Kafka's
// message definitions (clients/src/main/resources/common/message/DescribeGroupsRequest.json and DescribeGroupsResponse.json).
// Field names are camelCased; version strings keep Kafka's notation ('3+', '0-4', 'none').

import type { MessageSpec } from '../schema.ts';

export const describeGroupsRequest = {
  apiKey: 15,
  name: 'DescribeGroupsRequest',
  validVersions: '0-5',
  flexibleVersions: '5+',
  fields: [
    { name: 'groups', type: '[]string', versions: '0+' },
    { name: 'includeAuthorizedOperations', type: 'bool', versions: '3+' },
  ],
} as const satisfies MessageSpec;

export const describeGroupsResponse = {
  apiKey: 15,
  name: 'DescribeGroupsResponse',
  validVersions: '0-5',
  flexibleVersions: '5+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'groups', type: '[]DescribedGroup', versions: '0+', fields: [
      { name: 'errorCode', type: 'int16', versions: '0+' },
      { name: 'groupId', type: 'string', versions: '0+' },
      { name: 'groupState', type: 'string', versions: '0+' },
      { name: 'protocolType', type: 'string', versions: '0+' },
      { name: 'protocolData', type: 'string', versions: '0+' },
      { name: 'members', type: '[]DescribedGroupMember', versions: '0+', fields: [
        { name: 'memberId', type: 'string', versions: '0+' },
        { name: 'groupInstanceId', type: 'string', versions: '4+', nullableVersions: '4+', default: null },
        { name: 'clientId', type: 'string', versions: '0+' },
        { name: 'clientHost', type: 'string', versions: '0+' },
        { name: 'memberMetadata', type: 'bytes', versions: '0+' },
        { name: 'memberAssignment', type: 'bytes', versions: '0+' },
      ] },
      { name: 'authorizedOperations', type: 'int32', versions: '3+', default: -2147483648 },
    ] },
  ],
} as const satisfies MessageSpec;
