// Tributary's errors (src/errors.ts) as Kafka error codes, for the error_code fields of Kafka
// responses. Retriable conditions map to codes Kafka clients retry (REQUEST_TIMED_OUT,
// KAFKA_STORAGE_ERROR, NOT_LEADER_OR_FOLLOWER); the rest to the nearest Kafka meaning.

import { asTributaryError, type ErrorName } from '../../errors.ts';
import { KafkaError } from '../../protocol/kafka/index.ts';

const byName: Partial<Record<ErrorName, number>> = {
  OFFSET_OUT_OF_RANGE: KafkaError.OFFSET_OUT_OF_RANGE,
  CORRUPT_MESSAGE: KafkaError.CORRUPT_MESSAGE,
  UNKNOWN_TOPIC: KafkaError.UNKNOWN_TOPIC_OR_PARTITION,
  INVALID_PARTITION: KafkaError.UNKNOWN_TOPIC_OR_PARTITION,
  INVALID_TOPIC: KafkaError.INVALID_TOPIC_EXCEPTION,
  TOPIC_EXISTS: KafkaError.TOPIC_ALREADY_EXISTS,
  RECORD_TOO_LARGE: KafkaError.MESSAGE_TOO_LARGE,
  // Disk budget or map full: retriable, as a Kafka log dir that is offline for a while.
  STORAGE_FULL: KafkaError.KAFKA_STORAGE_ERROR,
  STORAGE_FAILED: KafkaError.KAFKA_STORAGE_ERROR,
  INVALID_REQUEST: KafkaError.INVALID_REQUEST,
  // The transaction queue is full: the client retries after its backoff.
  THROTTLED: KafkaError.REQUEST_TIMED_OUT,
  TIMEOUT: KafkaError.REQUEST_TIMED_OUT,
  // Clients refresh their metadata and retry elsewhere (here, after the restart).
  SHUTTING_DOWN: KafkaError.NOT_LEADER_OR_FOLLOWER,
  INVALID_CONFIG: KafkaError.INVALID_CONFIG,
  UNSUPPORTED_VERSION: KafkaError.UNSUPPORTED_VERSION,
  NOT_AUTHORIZED: KafkaError.TOPIC_AUTHORIZATION_FAILED,
  // An idempotent producer's batch out of sequence or of an old epoch (src/storage/producer-state.ts).
  OUT_OF_ORDER_SEQUENCE: KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
  INVALID_PRODUCER_EPOCH: KafkaError.INVALID_PRODUCER_EPOCH,
  UNKNOWN_GROUP: KafkaError.GROUP_ID_NOT_FOUND,
  UNKNOWN_MEMBER: KafkaError.UNKNOWN_MEMBER_ID,
  ILLEGAL_GENERATION: KafkaError.ILLEGAL_GENERATION,
  REBALANCE_IN_PROGRESS: KafkaError.REBALANCE_IN_PROGRESS,
  NON_EMPTY_GROUP: KafkaError.NON_EMPTY_GROUP,
  FENCED_INSTANCE: KafkaError.FENCED_INSTANCE_ID,
  GROUP_FULL: KafkaError.GROUP_MAX_SIZE_REACHED,
  INCONSISTENT_GROUP_PROTOCOL: KafkaError.INCONSISTENT_GROUP_PROTOCOL,
};

/**
 * UTF-16 units of an error message sent back: a message quotes the client's names, and a Kafka string
 * carries at most 32767 bytes (3 bytes per unit at most, so 4096 units always fit).
 */
const ERROR_MESSAGE_UNITS_MAX = 4096;

/** The Kafka error code and message for anything a broker call threw. */
export function kafkaErrorOf(err: unknown): { errorCode: number; errorMessage: string } {
  const e = asTributaryError(err);
  const message = e.message.length > ERROR_MESSAGE_UNITS_MAX ? `${e.message.slice(0, ERROR_MESSAGE_UNITS_MAX - 1)}…` : e.message;
  return { errorCode: byName[e.codeName] ?? KafkaError.UNKNOWN_SERVER_ERROR, errorMessage: message };
}
