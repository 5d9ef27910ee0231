// What a Kafka producer's record batch must be before the broker stores it as sent. The one place
// that decides which compression codecs are accepted: those src/format can read back (gzip, snappy,
// lz4, zstd), checked by decompressing the records as Kafka's broker does, so a batch the edge
// consumer, the mirror or the CLI could not read is never stored.

import { checkBatchCompression, BATCH_HEADER_BYTES } from '../../format/record-batch.ts';
import { KafkaError } from '../../protocol/kafka/index.ts';

const ATTRIBUTES_POS = 21;
const CONTROL_FLAG = 0x20;
const TRANSACTIONAL_FLAG = 0x10;

/** Kafka's code for each refusal checkBatchCompression gives. */
const compressionCodes: Record<string, number> = {
  UNSUPPORTED_COMPRESSION: KafkaError.UNSUPPORTED_COMPRESSION_TYPE,
  CORRUPT_MESSAGE: KafkaError.CORRUPT_MESSAGE,
  RECORD_TOO_LARGE: KafkaError.MESSAGE_TOO_LARGE,
};

/** A Kafka error for a batch that must not be stored, or null when it may go to Broker.produceBatch. */
export function batchRefusal(batch: Buffer): { errorCode: number; errorMessage: string } | null {
  // Shorter batches are refused by the broker's own check (not a RecordBatch v2).
  if (batch.length < BATCH_HEADER_BYTES) return null;
  const attributes = batch.readInt16BE(ATTRIBUTES_POS);
  // Transactions are not served (InitProducerId refuses transactional ids): a transactional or control batch has no meaning here.
  if ((attributes & (CONTROL_FLAG | TRANSACTIONAL_FLAG)) !== 0)
    return { errorCode: KafkaError.INVALID_RECORD, errorMessage: 'transactional and control batches are not supported' };
  const unreadable = checkBatchCompression(batch);
  if (unreadable) return { errorCode: compressionCodes[unreadable.codeName] ?? KafkaError.CORRUPT_MESSAGE, errorMessage: unreadable.message };
  return null;
}
