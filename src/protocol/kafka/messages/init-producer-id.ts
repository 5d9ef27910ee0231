// InitProducerId (API key 22): request and response schemas, transcribed as data from Apache Kafka's
// message definitions (clients/src/main/resources/common/message/InitProducerIdRequest.json and InitProducerIdResponse.json).
// Field names are camelCased; version strings keep Kafka's notation ('3+', '0-4', 'none').

import type { MessageSpec } from '../schema.ts';

export const initProducerIdRequest = {
  apiKey: 22,
  name: 'InitProducerIdRequest',
  validVersions: '0-5',
  flexibleVersions: '2+',
  fields: [
    { name: 'transactionalId', type: 'string', versions: '0+', nullableVersions: '0+' },
    { name: 'transactionTimeoutMs', type: 'int32', versions: '0+' },
    { name: 'producerId', type: 'int64', versions: '3+', default: -1n },
    { name: 'producerEpoch', type: 'int16', versions: '3+', default: -1 },
  ],
} as const satisfies MessageSpec;

export const initProducerIdResponse = {
  apiKey: 22,
  name: 'InitProducerIdResponse',
  validVersions: '0-5',
  flexibleVersions: '2+',
  fields: [
    { name: 'throttleTimeMs', type: 'int32', versions: '0+' },
    { name: 'errorCode', type: 'int16', versions: '0+' },
    { name: 'producerId', type: 'int64', versions: '0+', default: -1n },
    { name: 'producerEpoch', type: 'int16', versions: '0+' },
  ],
} as const satisfies MessageSpec;
