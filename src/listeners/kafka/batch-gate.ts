// What a Kafka producer's record batch must be before the broker stores it as sent. The one place
// that decides which compression codecs are accepted: today none (attributes bits 0-2 must be 0),
// since Tributary's own readers (edge consumer, mirror, CLI) cannot yet decompress a stored batch.
// When src/format learns gzip/snappy/lz4/zstd, this is the check to widen.

import { KafkaError } from '../../protocol/kafka/index.ts';
import { BATCH_HEADER_BYTES } from '../../format/record-batch.ts';

const ATTRIBUTES_POS = 21;
const COMPRESSION_MASK = 0x07;
const CONTROL_FLAG = 0x20;
const TRANSACTIONAL_FLAG = 0x10;
const codecNames = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

/** A Kafka error for a batch that must not be stored, or null when it may go to Broker.produceBatch. */
export function batchRefusal(batch: Buffer): { errorCode: number; errorMessage: string } | null {
  // Shorter batches are refused by the broker's own check (not a RecordBatch v2).
  if (batch.length < BATCH_HEADER_BYTES) return null;
  const attributes = batch.readInt16BE(ATTRIBUTES_POS);
  const codec = attributes & COMPRESSION_MASK;
  if (codec !== 0)
    return { errorCode: KafkaError.UNSUPPORTED_COMPRESSION_TYPE, errorMessage: `compression ${codecNames[codec] ?? codec} is not supported: send uncompressed batches (compression.type=none)` };
  // Transactions are not served (no InitProducerId): a transactional or control batch has no meaning here.
  if ((attributes & (CONTROL_FLAG | TRANSACTIONAL_FLAG)) !== 0)
    return { errorCode: KafkaError.INVALID_RECORD, errorMessage: 'transactional and control batches are not supported' };
  return null;
}
