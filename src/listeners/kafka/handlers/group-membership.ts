// JoinGroup (11), SyncGroup (14), Heartbeat (12) and LeaveGroup (13): Kafka's classic group protocol
// on the broker's one coordinator (src/groups/, "classic" groups). The group leader assigns; the
// broker only hands its assignment bytes to the members. JoinGroup and SyncGroup wait for the
// rebalance (they hold one of the connection's in-flight slots, as in Kafka); a closed connection
// drops the wait and leaves the member to its session.

import { TributaryError } from '../../../errors.ts';
import { limits } from '../../../limits.ts';
import { KafkaError, type RequestBody, type ResponseInput } from '../../../protocol/kafka/index.ts';
import type { KafkaContext } from '../context.ts';
import { kafkaErrorOf } from '../error-map.ts';

/** JoinGroup v4+: a new dynamic member is first given an id, as Kafka 2.2+ does (KIP-394). */
const MEMBER_ID_REQUIRED_FROM = 4;

/** The Kafka error code of anything a group call threw. A stopping broker: clients look for the coordinator again. */
export function groupErrorCode(err: unknown): number {
  if (err instanceof TributaryError && err.codeName === 'SHUTTING_DOWN') return KafkaError.COORDINATOR_NOT_AVAILABLE;
  return kafkaErrorOf(err).errorCode;
}

/** Kafka refuses an empty group id (and ours are at most 249 characters) with INVALID_GROUP_ID. */
export function badGroupId(group: string): boolean {
  return group.length === 0 || group.length > limits.groupNameMax;
}

export async function joinGroup(ctx: KafkaContext, version: number, body: RequestBody<11>): Promise<ResponseInput<11>> {
  const refused = (errorCode: number, memberId = body.memberId): ResponseInput<11> => ({
    throttleTimeMs: 0,
    errorCode,
    generationId: -1,
    protocolType: null,
    protocolName: version >= 7 ? null : '',
    leader: '',
    memberId,
    members: [],
  });
  if (badGroupId(body.groupId)) return refused(KafkaError.INVALID_GROUP_ID);
  if (body.sessionTimeoutMs < limits.groupSessionTimeoutMsMin || body.sessionTimeoutMs > limits.groupSessionTimeoutMsMax) return refused(KafkaError.INVALID_SESSION_TIMEOUT);
  try {
    const r = await ctx.broker.groups.joinClassic({
      group: body.groupId,
      memberId: body.memberId,
      instanceId: body.groupInstanceId,
      // Kept while the member lives and shown by describe: a Kafka client id may have 32 767 bytes.
      clientId: (ctx.clientId ?? '').slice(0, limits.groupClientIdCharsMax),
      host: ctx.clientHost,
      protocolType: body.protocolType,
      protocols: body.protocols.map((p) => ({ name: p.name, metadata: p.metadata })),
      sessionTimeoutMs: body.sessionTimeoutMs,
      rebalanceTimeoutMs: body.rebalanceTimeoutMs,
      requireKnownMemberId: version >= MEMBER_ID_REQUIRED_FROM,
      owner: ctx.connection,
      signal: ctx.signal,
    });
    if (r.memberIdRequired) return refused(KafkaError.MEMBER_ID_REQUIRED, r.memberId);
    return {
      throttleTimeMs: 0,
      errorCode: KafkaError.NONE,
      generationId: r.generation,
      protocolType: r.protocolType,
      protocolName: r.protocolName,
      leader: r.leader,
      skipAssignment: false,
      memberId: r.memberId,
      members: r.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.instanceId, metadata: m.metadata })),
    };
  } catch (err) {
    return refused(groupErrorCode(err));
  }
}

export async function syncGroup(ctx: KafkaContext, _version: number, body: RequestBody<14>): Promise<ResponseInput<14>> {
  if (badGroupId(body.groupId)) return { throttleTimeMs: 0, errorCode: KafkaError.INVALID_GROUP_ID, assignment: Buffer.alloc(0) };
  try {
    const fenced = fencedInstance(ctx, body.groupId, body.groupInstanceId, body.memberId);
    if (fenced) return { throttleTimeMs: 0, errorCode: fenced, assignment: Buffer.alloc(0) };
    const r = await ctx.broker.groups.sync({
      group: body.groupId,
      memberId: body.memberId,
      generation: body.generationId,
      protocolType: body.protocolType,
      protocolName: body.protocolName,
      assignments: body.assignments,
      signal: ctx.signal,
    });
    return { throttleTimeMs: 0, errorCode: KafkaError.NONE, protocolType: r.protocolType, protocolName: r.protocolName, assignment: r.assignment };
  } catch (err) {
    return { throttleTimeMs: 0, errorCode: groupErrorCode(err), assignment: Buffer.alloc(0) };
  }
}

export function heartbeat(ctx: KafkaContext, _version: number, body: RequestBody<12>): ResponseInput<12> {
  if (badGroupId(body.groupId)) return { throttleTimeMs: 0, errorCode: KafkaError.INVALID_GROUP_ID };
  try {
    const fenced = fencedInstance(ctx, body.groupId, body.groupInstanceId, body.memberId);
    if (fenced) return { throttleTimeMs: 0, errorCode: fenced };
    ctx.broker.groups.heartbeat(body.groupId, body.memberId, body.generationId);
    return { throttleTimeMs: 0, errorCode: KafkaError.NONE };
  } catch (err) {
    return { throttleTimeMs: 0, errorCode: groupErrorCode(err) };
  }
}

export function leaveGroup(ctx: KafkaContext, version: number, body: RequestBody<13>): ResponseInput<13> {
  if (badGroupId(body.groupId)) return { throttleTimeMs: 0, errorCode: KafkaError.INVALID_GROUP_ID, members: [] };
  // v0-2 name one member; v3+ a batch (by member id, or by instance id for static members).
  if (version < 3) return { throttleTimeMs: 0, errorCode: leaveOne(ctx, body.groupId, body.memberId, null), members: [] };
  const members = body.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, errorCode: leaveOne(ctx, body.groupId, m.memberId, m.groupInstanceId) }));
  return { throttleTimeMs: 0, errorCode: KafkaError.NONE, members };
}

function leaveOne(ctx: KafkaContext, group: string, memberId: string, instanceId: string | null): number {
  try {
    const fenced = fencedInstance(ctx, group, instanceId, memberId);
    if (fenced) return fenced;
    const id = memberId === '' && instanceId !== null ? (ctx.broker.groups.memberOfInstance(group, instanceId) ?? '') : memberId;
    ctx.broker.groups.leave(group, id);
    return KafkaError.NONE;
  } catch (err) {
    return groupErrorCode(err);
  }
}

/** A static instance id held by another member than the one named: that one was replaced (FENCED_INSTANCE_ID). */
function fencedInstance(ctx: KafkaContext, group: string, instanceId: string | null, memberId: string): number {
  if (instanceId === null || memberId === '') return KafkaError.NONE;
  const holder = ctx.broker.groups.memberOfInstance(group, instanceId);
  return holder !== undefined && holder !== memberId ? KafkaError.FENCED_INSTANCE_ID : KafkaError.NONE;
}
