// Produce (key 0, v3+): each partition's records are one RecordBatch v2, stored as the client sent
// it (Broker.produceBatch). acks 0 → no response (the request still holds its in-flight slot until
// its appends settle, so a flood of them is paced by storage); acks 1 → answered once committed;
// acks -1 (all) → answered once on disk, as one node has no other replica to wait for. Errors are
// per partition; the topics are not created here (Kafka creates them through Metadata). A batch of an
// idempotent producer (producer id ≥ 0) is checked against its sequence for the partition in the
// transaction that stores it: a retry of one of its last 5 batches gets NONE and the original's base
// offset, a gap OUT_OF_ORDER_SEQUENCE_NUMBER, an old epoch INVALID_PRODUCER_EPOCH (src/storage/producer-state.ts).

import type { AcksLevel } from '../../../broker/broker.ts';
import { KafkaError, type RequestBody, type ResponseInput } from '../../../protocol/kafka/index.ts';
import { batchRefusal } from '../batch-gate.ts';
import type { KafkaContext } from '../context.ts';
import { kafkaErrorOf } from '../error-map.ts';

type PartitionAnswer = NonNullable<NonNullable<ResponseInput<0>['responses']>[number]['partitionResponses']>[number];

function acksLevel(acks: number): AcksLevel | null {
  if (acks === 0) return 0;
  if (acks === 1) return 1;
  if (acks === -1) return 'all';
  return null;
}

export async function produce(ctx: KafkaContext, _version: number, body: RequestBody<0>): Promise<ResponseInput<0> | null> {
  const acks = acksLevel(body.acks);
  const responses = await Promise.all(
    body.topicData.map(async (t) => ({
      name: t.name,
      partitionResponses: await Promise.all(t.partitionData.map((p) => producePartition(ctx, t.name, p.index, p.records, acks))),
    })),
  );
  if (acks === 0) {
    const failed = responses.flatMap((t) => t.partitionResponses.filter((p) => p.errorCode !== KafkaError.NONE).map((p) => `${t.name}/${p.index}: ${p.errorMessage}`));
    if (failed.length > 0) ctx.log.warn({ clientId: ctx.clientId, failed }, 'kafka produce with acks=0 refused (no response is sent)');
    return null;
  }
  return { responses, throttleTimeMs: 0 };
}

async function producePartition(ctx: KafkaContext, topic: string, partition: number, records: Buffer | null, acks: AcksLevel | null): Promise<PartitionAnswer> {
  // Without write right (auth.acls) nothing of the topic is told, not even its log start offset.
  const writable = ctx.may('write', topic);
  const answer = (errorCode: number, errorMessage: string | null, baseOffset = -1): PartitionAnswer => ({
    index: partition,
    errorCode,
    baseOffset: BigInt(baseOffset),
    logAppendTimeMs: -1n,
    logStartOffset: BigInt(writable ? logStart(ctx, topic, partition) : -1),
    recordErrors: [],
    errorMessage,
  });
  if (!writable) return answer(KafkaError.TOPIC_AUTHORIZATION_FAILED, `not authorized to write topic ${topic} (auth.acls)`);
  if (acks === null) return answer(KafkaError.INVALID_REQUIRED_ACKS, 'acks must be 0, 1 or -1');
  if (records === null || records.length === 0) return answer(KafkaError.INVALID_RECORD, 'a partition with no record batch');
  const refusal = batchRefusal(records);
  if (refusal) return answer(refusal.errorCode, refusal.errorMessage);
  try {
    const r = await ctx.broker.produceBatch({ topic, partition, batch: records, acks, autoCreate: false });
    return answer(KafkaError.NONE, null, r.baseOffset);
  } catch (err) {
    const e = kafkaErrorOf(err);
    // Kafka's broker answers a batch it cannot parse with INVALID_RECORD; ours says INVALID_REQUEST.
    return answer(e.errorCode === KafkaError.INVALID_REQUEST ? KafkaError.INVALID_RECORD : e.errorCode, e.errorMessage);
  }
}

function logStart(ctx: KafkaContext, topic: string, partition: number): number {
  const t = ctx.broker.findTopic(topic);
  return (t && ctx.broker.partitionState(t.id, partition)?.logStartOffset) ?? -1;
}
