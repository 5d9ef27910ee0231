// ApiVersions (API key 18): request and response schemas, transcribed as data from Apache Kafka's
// message definitions (clients/src/main/resources/common/message/ApiVersionsRequest.json and ApiVersionsResponse.json).
// Field names are camelCased; version strings keep Kafka's notation ('3+', '0-4', 'none').

import type { MessageSpec } from '../schema.ts';

export const apiVersionsRequest = {
  apiKey: 18,
  name: 'ApiVersionsRequest',
  validVersions: '0-4',
  flexibleVersions: '3+',
  fields: [
    { name: 'clientSoftwareName', type: 'string', versions: '3+' },
    { name: 'clientSoftwareVersion', type: 'string', versions: '3+' },
  ],
} as const satisfies MessageSpec;

export const apiVersionsResponse = {
  apiKey: 18,
  name: 'ApiVersionsResponse',
  validVersions: '0-4',
  flexibleVersions: '3+',
  fields: [
    { name: 'errorCode', type: 'int16', versions: '0+' },
    { name: 'apiKeys', type: '[]ApiVersion', versions: '0+', fields: [
      { name: 'apiKey', type: 'int16', versions: '0+' },
      { name: 'minVersion', type: 'int16', versions: '0+' },
      { name: 'maxVersion', type: 'int16', versions: '0+' },
    ] },
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
    { name: 'supportedFeatures', type: '[]SupportedFeatureKey', versions: '3+', taggedVersions: '3+', tag: 0, fields: [
      { name: 'name', type: 'string', versions: '3+' },
      { name: 'minVersion', type: 'int16', versions: '3+' },
      { name: 'maxVersion', type: 'int16', versions: '3+' },
    ] },
    { name: 'finalizedFeaturesEpoch', type: 'int64', versions: '3+', taggedVersions: '3+', tag: 1, default: -1n },
    { name: 'finalizedFeatures', type: '[]FinalizedFeatureKey', versions: '3+', taggedVersions: '3+', tag: 2, fields: [
      { name: 'name', type: 'string', versions: '3+' },
      { name: 'maxVersionLevel', type: 'int16', versions: '3+' },
      { name: 'minVersionLevel', type: 'int16', versions: '3+' },
    ] },
    { name: 'zkMigrationReady', type: 'bool', versions: '3+', taggedVersions: '3+', tag: 3, default: false },
  ],
} as const satisfies MessageSpec;
