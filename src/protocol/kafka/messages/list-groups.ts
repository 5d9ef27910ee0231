// ListGroups (API key 16): request and response schemas, transcribed as data from Apache Kafka's
// message definitions (clients/src/main/resources/common/message/ListGroupsRequest.json and ListGroupsResponse.json).
// Field names are camelCased; version strings keep Kafka's notation ('3+', '0-4', 'none').

import type { MessageSpec } from '../schema.ts';

export const listGroupsRequest = {
  apiKey: 16,
  name: 'ListGroupsRequest',
  validVersions: '0-5',
  flexibleVersions: '3+',
  fields: [
    { name: 'statesFilter', type: '[]string', versions: '4+' },
    { name: 'typesFilter', type: '[]string', versions: '5+' },
  ],
} as const satisfies MessageSpec;

export const listGroupsResponse = {
  apiKey: 16,
  name: 'ListGroupsResponse',
  validVersions: '0-5',
  flexibleVersions: '3+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'errorCode', type: 'int16', versions: '0+' },
    { name: 'groups', type: '[]ListedGroup', versions: '0+', fields: [
      { name: 'groupId', type: 'string', versions: '0+' },
      { name: 'protocolType', type: 'string', versions: '0+' },
      { name: 'groupState', type: 'string', versions: '4+' },
      { name: 'groupType', type: 'string', versions: '5+' },
    ] },
  ],
} as const satisfies MessageSpec;
