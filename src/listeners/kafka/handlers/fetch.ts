// Fetch (key 1, v4+): whole stored batches from the one holding each fetch offset, as stored (Kafka
// clients drop the records below their offset). Long-polls up to max_wait_ms (capped at
// limits.fetchWaitMsMax) until min_bytes are available across the request, waking on the appends
// to its partitions. The response carries at most min(max_bytes, limits.kafkaFetchBytesMax) bytes
// of batches, except that a partition read while room is left returns at least one whole batch, so
// a batch larger than max_bytes is never stuck. High watermark = last stable offset = the next
// offset (one node, no transactions); log start offset = the oldest offset retention kept. Each read
// first reserves its largest answer from the listener's fetch budget (listeners.kafka.fetchBytesTotalMax),
// so what all Kafka fetches hold together is bounded whatever the number of connections.
// v13+ names topics by id (topic-id.ts), resolved again at each read of a long-poll: an id no stored
// topic has (never had, or deleted since) is UNKNOWN_TOPIC_ID on each of its partitions. Fetch
// sessions are not kept (session_id 0: every request is a full fetch), so forgotten_topics_data is moot.

import { setTimeout as sleepTimer } from 'node:timers/promises';
import { TributaryError } from '../../../errors.ts';
import { limits } from '../../../limits.ts';
import { KafkaError, type RequestBody, type ResponseInput } from '../../../protocol/kafka/index.ts';
import type { KafkaContext } from '../context.ts';
import { authorize } from './authorize.ts';
import { kafkaErrorOf } from '../error-map.ts';
import { topicsById } from '../topic-id.ts';

type TopicAnswer = NonNullable<ResponseInput<1>['responses']>[number];
type PartitionAnswer = NonNullable<TopicAnswer['partitions']>[number];

/** A requested topic by name: null when a v13+ request's id names no stored topic. */
interface Wanted {
  name: string | null;
  topicId: string;
  partitions: RequestBody<1>['topics'][number]['partitions'];
}

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

interface Answer {
  responses: TopicAnswer[];
  bytes: number;
  /** A partition answered with an error: the request is answered at once, as Kafka does. */
  failed: boolean;
}

export async function fetch(ctx: KafkaContext, version: number, body: RequestBody<1>): Promise<ResponseInput<1>> {
  const deadline = Date.now() + Math.min(Math.max(body.maxWaitMs, 0), limits.fetchWaitMsMax);
  // Every read holds its largest answer in the listener's fetch budget, reserved before it reads.
  const reserveBytes = Math.min(Math.max(body.maxBytes, 0), limits.kafkaFetchBytesMax) + limits.appendBytesMax;
  for (;;) {
    if (!(await ctx.reserveAnswer(reserveBytes))) return { throttleTimeMs: 0, errorCode: KafkaError.NONE, sessionId: 0, responses: [] };
    // Resolved again after every wake: a topic deleted during the long-poll answers UNKNOWN_TOPIC_ID.
    const topics = wanted(ctx, version, body);
    const answer = await read(ctx, body, topics);
    const waitMs = deadline - Date.now();
    // As Kafka's fetch: min_bytes 0 (or below) never waits, and neither does an error in any partition.
    if (answer.bytes >= body.minBytes || answer.failed || ctx.signal.aborted || waitMs <= 0)
      return { throttleTimeMs: 0, errorCode: KafkaError.NONE, sessionId: 0, responses: answer.responses };
    ctx.releaseAnswer();
    await anyAppend(ctx, topics, waitMs);
  }
}

function wanted(ctx: KafkaContext, version: number, body: RequestBody<1>): Wanted[] {
  // Below v13 the answer carries the name only (topic_id is not on the wire).
  if (version < 13) return body.topics.map((t) => ({ name: t.topic, topicId: ZERO_UUID, partitions: t.partitions }));
  const byId = topicsById(ctx);
  return body.topics.map((t) => ({ name: byId.get(t.topicId)?.name ?? null, topicId: t.topicId, partitions: t.partitions }));
}

async function read(ctx: KafkaContext, body: RequestBody<1>, topics: Wanted[]): Promise<Answer> {
  let room = Math.min(Math.max(body.maxBytes, 0), limits.kafkaFetchBytesMax);
  let bytes = 0;
  let failed = false;
  const responses: TopicAnswer[] = [];
  for (const t of topics) {
    const partitions: PartitionAnswer[] = [];
    for (const p of t.partitions) {
      if (t.name === null) {
        partitions.push(unknownTopicId(p.partition));
        failed = true;
        continue;
      }
      // While room is left a partition gets at least one whole batch, whatever its partition_max_bytes.
      const part = await readPartition(ctx, t.name, p.partition, Number(p.fetchOffset), room <= 0 ? 0 : Math.max(1, Math.min(p.partitionMaxBytes, room)));
      bytes += part.bytes;
      room -= part.bytes;
      failed ||= part.answer.errorCode !== KafkaError.NONE;
      partitions.push(part.answer);
    }
    responses.push({ topic: t.name ?? '', topicId: t.topicId, partitions });
  }
  return { responses, bytes, failed };
}

function unknownTopicId(partition: number): PartitionAnswer {
  return { partitionIndex: partition, errorCode: KafkaError.UNKNOWN_TOPIC_ID, highWatermark: -1n, lastStableOffset: -1n, logStartOffset: -1n, abortedTransactions: [], preferredReadReplica: -1, records: [] };
}

async function readPartition(ctx: KafkaContext, topic: string, partition: number, offset: number, maxBytes: number): Promise<{ answer: PartitionAnswer; bytes: number }> {
  const base = { partitionIndex: partition, abortedTransactions: [], preferredReadReplica: -1 };
  let offsets = { highWatermark: -1n, lastStableOffset: -1n, logStartOffset: -1n };
  try {
    authorize(ctx, 'read', topic);
    const stored = ctx.broker.requireTopic(topic);
    const state = ctx.broker.partitionState(stored.id, partition);
    if (!state) throw new TributaryError('INVALID_PARTITION', `topic ${topic} has no partition ${partition}`, { topic, partition });
    const hw = BigInt(state.nextOffset);
    offsets = { highWatermark: hw, lastStableOffset: hw, logStartOffset: BigInt(state.logStartOffset) };
    // No room left: this partition waits for the next request (its offsets still say what is there).
    if (maxBytes <= 0 && offset >= state.logStartOffset && offset <= state.nextOffset)
      return { answer: { ...base, errorCode: KafkaError.NONE, ...offsets, records: [] }, bytes: 0 };
    const r = await ctx.broker.fetch(topic, partition, offset, Math.max(maxBytes, 1), 0);
    return { answer: { ...base, errorCode: KafkaError.NONE, ...offsets, records: r.batches }, bytes: r.bytes };
  } catch (err) {
    const e = kafkaErrorOf(err);
    return { answer: { ...base, errorCode: e.errorCode, ...offsets, records: [] }, bytes: 0 };
  }
}

/** Resolves once any partition of the request gets an append, or after waitMs, or on abort. */
async function anyAppend(ctx: KafkaContext, topics: Wanted[], waitMs: number): Promise<void> {
  const done = new AbortController();
  const onAbort = () => done.abort();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const waits: Promise<void>[] = [];
  for (const t of topics) {
    const stored = t.name === null ? undefined : ctx.broker.findTopic(t.name);
    if (!stored) continue;
    for (const p of t.partitions) {
      const state = ctx.broker.partitionState(stored.id, p.partition);
      // Waits for the next append beyond what is there now, whatever the fetch offset.
      if (state) waits.push(ctx.broker.waitForRecords(stored.name, p.partition, state.nextOffset, waitMs, done.signal));
    }
  }
  // Nothing to wake on (partitions gone since the read): the long-poll lasts what is left of its max_wait.
  if (waits.length === 0) waits.push(sleep(waitMs, done.signal));
  try {
    await Promise.race(waits);
  } finally {
    done.abort();
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return sleepTimer(ms, undefined, { signal, ref: false }).catch(() => undefined);
}
