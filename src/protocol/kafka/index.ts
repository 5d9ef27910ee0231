// The Kafka protocol codec: what the Kafka listener (and a future Kafka sink) imports. README.md
// beside this file lists the APIs and versions, the design and the failure modes.

export { ApiKey, apiTable, type ApiKeyNumber } from './apis.ts';
export {
  decodeRequest,
  decodeRequestFrame,
  decodeRequestHeader,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  isFlexible,
  requestHeaderVersion,
  responseHeaderVersion,
  supportedApis,
  supportedVersions,
  type KafkaDecodeFailure,
  type KafkaDecodeReason,
  type KafkaDecodeResult,
  type KafkaHeaderFailure,
  type RequestBody,
  type RequestHeader,
  type RequestInput,
  type ResponseBody,
  type ResponseInput,
} from './codec.ts';
export { KafkaError, type KafkaErrorName } from './error-codes.ts';
export type { FieldSpec, MessageSpec, VersionRange } from './schema.ts';
