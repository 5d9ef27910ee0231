// OffsetCommit (8) and OffsetFetch (9): the group's committed offsets in the broker's one offset
// store (`g:<group>`), the same ones edge consumers, `tributary groups describe` and
// `reset-offsets` see; they survive restarts. A commit from outside the group (v0, or generation -1
// with no member id: consumers using assign()) is accepted while the group has no members, as in
// Kafka. A partition that does not exist or that auth.acls gives no read right on, or metadata past
// the limit, is refused alone; the other
// partitions of the request are committed together, in one transaction.

import { TributaryError } from '../../../errors.ts';
import { limits } from '../../../limits.ts';
import { KafkaError, type RequestBody, type ResponseInput } from '../../../protocol/kafka/index.ts';
import type { KafkaContext } from '../context.ts';
import { badGroupId, groupErrorCode } from './group-membership.ts';

interface Entry {
  topic: string;
  partition: number;
  offset: number;
  metadata: string;
}

export async function offsetCommit(ctx: KafkaContext, _version: number, body: RequestBody<8>): Promise<ResponseInput<8>> {
  const codes = body.topics.map((t) => t.partitions.map(() => KafkaError.NONE as number));
  const answer = (): ResponseInput<8> => ({
    throttleTimeMs: 0,
    topics: body.topics.map((t, i) => ({ name: t.name, partitions: t.partitions.map((p, j) => ({ partitionIndex: p.partitionIndex, errorCode: codes[i]![j]! })) })),
  });
  const everyone = (code: number) => codes.forEach((row) => row.fill(code));
  if (badGroupId(body.groupId)) {
    everyone(KafkaError.INVALID_GROUP_ID);
    return answer();
  }
  const entries: Entry[] = [];
  const at: [number, number][] = [];
  body.topics.forEach((t, i) =>
    t.partitions.forEach((p, j) => {
      const code = partitionProblem(ctx, t.name, p.partitionIndex, p.committedOffset, p.committedMetadata ?? '');
      if (code !== KafkaError.NONE) return void (codes[i]![j] = code);
      entries.push({ topic: t.name, partition: p.partitionIndex, offset: Number(p.committedOffset), metadata: p.committedMetadata ?? '' });
      at.push([i, j]);
    }),
  );
  if (entries.length === 0) return answer();
  try {
    await ctx.broker.groups.commit({ group: body.groupId, memberId: body.memberId, generation: body.generationIdOrMemberEpoch, offsets: entries });
  } catch (err) {
    // A commit from outside a group that has members: Kafka answers it UNKNOWN_MEMBER_ID.
    const code = err instanceof TributaryError && err.codeName === 'NON_EMPTY_GROUP' ? KafkaError.UNKNOWN_MEMBER_ID : groupErrorCode(err);
    for (const [i, j] of at) codes[i]![j] = code;
  }
  return answer();
}

function partitionProblem(ctx: KafkaContext, topicName: string, partition: number, offset: bigint, metadata: string): number {
  // Before anything about the topic, so a client without rights learns nothing of it (as Kafka).
  if (!ctx.may('read', topicName)) return KafkaError.TOPIC_AUTHORIZATION_FAILED;
  const topic = ctx.broker.findTopic(topicName);
  const state = topic && ctx.broker.partitionState(topic.id, partition);
  if (!state) return KafkaError.UNKNOWN_TOPIC_OR_PARTITION;
  if (Buffer.byteLength(metadata) > limits.offsetMetadataBytesMax) return KafkaError.OFFSET_METADATA_TOO_LARGE;
  if (offset < 0n || offset > BigInt(state.nextOffset)) return KafkaError.OFFSET_OUT_OF_RANGE;
  return KafkaError.NONE;
}

type FetchTopics = { name: string; partitions: { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; metadata: string; errorCode: number }[] }[];

export function offsetFetch(ctx: KafkaContext, version: number, body: RequestBody<9>): ResponseInput<9> {
  if (version >= 8) {
    return {
      throttleTimeMs: 0,
      groups: body.groups.map((g) => {
        const r = fetchGroup(ctx, g.groupId, g.topics);
        return { groupId: g.groupId, topics: r.topics, errorCode: r.errorCode };
      }),
    };
  }
  const r = fetchGroup(ctx, body.groupId, body.topics);
  // v0-1 have no group-level error: it is repeated on each partition asked for.
  return { throttleTimeMs: 0, topics: r.topics, errorCode: r.errorCode };
}

function fetchGroup(ctx: KafkaContext, group: string, topics: { name: string; partitionIndexes: number[] }[] | null): { topics: FetchTopics; errorCode: number } {
  const wanted = topics?.flatMap((t) => t.partitionIndexes.map((partition) => ({ topic: t.name, partition })));
  if (badGroupId(group)) return { errorCode: KafkaError.INVALID_GROUP_ID, topics: byTopic((wanted ?? []).map((w) => ({ ...w, offset: -1, metadata: '', errorCode: KafkaError.INVALID_GROUP_ID }))) };
  try {
    // auth.acls: a topic the client may not read gets TOPIC_AUTHORIZATION_FAILED and no offset;
    // asked for every topic, it is left out.
    const allowed = wanted?.filter((w) => ctx.may('read', w.topic));
    const found = ctx.broker.groups.fetchOffsets(group, allowed).filter((o) => allowed !== undefined || ctx.may('read', o.topic));
    const refused = (wanted ?? []).filter((w) => !ctx.may('read', w.topic)).map((w) => ({ ...w, offset: -1, metadata: '', errorCode: KafkaError.TOPIC_AUTHORIZATION_FAILED }));
    return { errorCode: KafkaError.NONE, topics: byTopic([...found.map((o) => ({ ...o, errorCode: KafkaError.NONE })), ...refused]) };
  } catch (err) {
    const errorCode = groupErrorCode(err);
    return { errorCode, topics: byTopic((wanted ?? []).map((w) => ({ ...w, offset: -1, metadata: '', errorCode }))) };
  }
}

function byTopic(rows: { topic: string; partition: number; offset: number; metadata: string; errorCode: number }[]): FetchTopics {
  const out = new Map<string, FetchTopics[number]>();
  for (const r of rows) {
    let t = out.get(r.topic);
    if (!t) out.set(r.topic, (t = { name: r.topic, partitions: [] }));
    t.partitions.push({ partitionIndex: r.partition, committedOffset: BigInt(r.offset), committedLeaderEpoch: -1, metadata: r.metadata, errorCode: r.errorCode });
  }
  return [...out.values()];
}
