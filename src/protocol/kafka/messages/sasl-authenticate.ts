// SaslAuthenticate (API key 36): request and response schemas, transcribed as data from Apache Kafka's
// message definitions (clients/src/main/resources/common/message/SaslAuthenticateRequest.json and SaslAuthenticateResponse.json).
// Field names are camelCased; version strings keep Kafka's notation ('3+', '0-4', 'none').

import type { MessageSpec } from '../schema.ts';

export const saslAuthenticateRequest = {
  apiKey: 36,
  name: 'SaslAuthenticateRequest',
  validVersions: '0-2',
  flexibleVersions: '2+',
  fields: [
    { name: 'authBytes', type: 'bytes', versions: '0+' },
  ],
} as const satisfies MessageSpec;

export const saslAuthenticateResponse = {
  apiKey: 36,
  name: 'SaslAuthenticateResponse',
  validVersions: '0-2',
  flexibleVersions: '2+',
  fields: [
    { name: 'errorCode', type: 'int16', versions: '0+' },
    { name: 'errorMessage', type: 'string', versions: '0+', nullableVersions: '0+' },
    { name: 'authBytes', type: 'bytes', versions: '0+' },
    { name: 'sessionLifetimeMs', type: 'int64', versions: '1+', default: 0n },
  ],
} as const satisfies MessageSpec;
