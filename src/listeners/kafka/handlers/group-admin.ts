// ListGroups (16) and DescribeGroups (15): every group of the broker, of both kinds. Classic groups
// (Kafka clients) show their protocol type, chosen protocol and each member's metadata and
// assignment bytes as the members sent them; server-assigned groups (edge clients) show as
// "consumer" groups whose protocol is the broker's assignor, their subscriptions and assignments
// encoded as Kafka's ConsumerProtocol, so Kafka tools read both. A group with only committed offsets
// is Empty; an unknown one Dead, as Kafka answers.

import type { MembershipView } from '../../../groups/types.ts';
import { KafkaError, type RequestBody, type ResponseInput } from '../../../protocol/kafka/index.ts';
import type { KafkaContext } from '../context.ts';
import { badGroupId, groupErrorCode } from './group-membership.ts';

/** Kafka's names of the group states. */
function kafkaState(view: MembershipView | null): string {
  if (view === null) return 'Empty';
  if (view.state === 'stable') return 'Stable';
  if (view.state === 'rebalancing') return view.awaitingSync ? 'CompletingRebalance' : 'PreparingRebalance';
  return view.state === 'empty' ? 'Empty' : 'Dead';
}

export function listGroups(ctx: KafkaContext, _version: number, body: RequestBody<16>): ResponseInput<16> {
  const states = new Set(body.statesFilter.map((s) => s.toLowerCase()));
  const types = new Set(body.typesFilter.map((s) => s.toLowerCase()));
  const groups = ctx.broker.groups.listGroups().flatMap((g) => {
    const view = ctx.broker.groups.membership(g.group);
    const groupState = kafkaState(view);
    if (states.size > 0 && !states.has(groupState.toLowerCase())) return [];
    // Every group here speaks the classic protocol's wire form (KIP-848's "consumer" groups are not served).
    if (types.size > 0 && !types.has('classic')) return [];
    return [{ groupId: g.group, protocolType: view?.protocolType ?? '', groupState, groupType: 'classic' }];
  });
  return { throttleTimeMs: 0, errorCode: KafkaError.NONE, groups };
}

export function describeGroups(ctx: KafkaContext, _version: number, body: RequestBody<15>): ResponseInput<15> {
  return {
    throttleTimeMs: 0,
    groups: body.groups.map((groupId) => {
      const empty = { groupId, protocolType: '', protocolData: '', members: [] };
      if (badGroupId(groupId)) return { ...empty, errorCode: KafkaError.INVALID_GROUP_ID, groupState: 'Dead' };
      try {
        const view = ctx.broker.groups.membership(groupId);
        if (view === null) return { ...empty, errorCode: KafkaError.NONE, groupState: ctx.broker.groups.fetchOffsets(groupId).length > 0 ? 'Empty' : 'Dead' };
        return {
          errorCode: KafkaError.NONE,
          groupId,
          groupState: kafkaState(view),
          protocolType: view.protocolType,
          // Kafka shows the protocol only once a generation chose one.
          protocolData: view.state === 'stable' || view.awaitingSync ? view.protocol : '',
          members: view.members.map((m) => ({
            memberId: m.memberId,
            groupInstanceId: m.instanceId,
            clientId: m.clientId,
            clientHost: m.host,
            memberMetadata: m.metadata,
            memberAssignment: m.assignment,
          })),
        };
      } catch (err) {
        return { ...empty, errorCode: groupErrorCode(err), groupState: 'Dead' };
      }
    }),
  };
}
