// SaslHandshake (API key 17): request and response schemas, transcribed as data from Apache Kafka's
// message definitions (clients/src/main/resources/common/message/SaslHandshakeRequest.json and SaslHandshakeResponse.json).
// Field names are camelCased; version strings keep Kafka's notation ('3+', '0-4', 'none').

import type { MessageSpec } from '../schema.ts';

export const saslHandshakeRequest = {
  apiKey: 17,
  name: 'SaslHandshakeRequest',
  validVersions: '0-1',
  flexibleVersions: 'none',
  fields: [
    { name: 'mechanism', type: 'string', versions: '0+' },
  ],
} as const satisfies MessageSpec;

export const saslHandshakeResponse = {
  apiKey: 17,
  name: 'SaslHandshakeResponse',
  validVersions: '0-1',
  flexibleVersions: 'none',
  fields: [
    { name: 'errorCode', type: 'int16', versions: '0+' },
    { name: 'mechanisms', type: '[]string', versions: '0+' },
  ],
} as const satisfies MessageSpec;
