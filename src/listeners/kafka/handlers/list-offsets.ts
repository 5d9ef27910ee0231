// ListOffsets (key 2): earliest (-2) is the log start offset, latest (-1) the next offset, any other
// timestamp the first record at or after it (the groups' reset search over batch max timestamps;
// offset -1 when no record is that recent, as Kafka answers). v0 answers in old_style_offsets.

import { TributaryError } from '../../../errors.ts';
import { decodeRecordBatch } from '../../../format/record-batch.ts';
import { resetOffset } from '../../../groups/offset-reset.ts';
import { KafkaError, type RequestBody, type ResponseInput } from '../../../protocol/kafka/index.ts';
import type { KafkaContext } from '../context.ts';
import { authorize } from './authorize.ts';
import { kafkaErrorOf } from '../error-map.ts';

const LATEST = -1n;
const EARLIEST = -2n;

type PartitionAnswer = NonNullable<NonNullable<ResponseInput<2>['topics']>[number]['partitions']>[number];

export function listOffsets(ctx: KafkaContext, version: number, body: RequestBody<2>): ResponseInput<2> {
  return {
    throttleTimeMs: 0,
    topics: body.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p): PartitionAnswer => {
        try {
          const { offset, timestamp } = lookup(ctx, t.name, p.partitionIndex, p.timestamp);
          return { partitionIndex: p.partitionIndex, errorCode: KafkaError.NONE, oldStyleOffsets: version === 0 && offset >= 0 ? [BigInt(offset)] : [], timestamp: BigInt(timestamp), offset: BigInt(offset), leaderEpoch: 0 };
        } catch (err) {
          return { partitionIndex: p.partitionIndex, errorCode: kafkaErrorOf(err).errorCode, oldStyleOffsets: [], timestamp: -1n, offset: -1n, leaderEpoch: -1 };
        }
      }),
    })),
  };
}

function lookup(ctx: KafkaContext, name: string, partition: number, timestamp: bigint): { offset: number; timestamp: number } {
  authorize(ctx, 'read', name);
  const topic = ctx.broker.requireTopic(name);
  const state = ctx.broker.partitionState(topic.id, partition);
  if (!state) throw new TributaryError('INVALID_PARTITION', `topic ${name} has no partition ${partition}`, { topic: name, partition });
  if (timestamp === LATEST) return { offset: state.nextOffset, timestamp: -1 };
  if (timestamp === EARLIEST) return { offset: state.logStartOffset, timestamp: -1 };
  if (timestamp < 0n) throw new TributaryError('INVALID_REQUEST', `timestamp ${timestamp} is neither -1 (latest), -2 (earliest) nor a time`, { topic: name, partition });
  const offset = resetOffset(ctx.broker, topic, partition, -1, { to: 'datetime', timestampMs: Number(timestamp) });
  if (offset >= state.nextOffset) return { offset: -1, timestamp: -1 };
  const batch = ctx.broker.peek(topic, partition, offset, 1).batches[0];
  const record = batch === undefined ? undefined : decodeRecordBatch(batch).find((r) => r.offset === offset);
  return { offset, timestamp: record?.timestampMs ?? -1 };
}
