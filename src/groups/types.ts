// The consumer-group model as plain data, shared by the coordinator, the listeners and the HTTP API.

import type { AssignStrategy, TopicPartitions } from './assignors.ts';

export type { AssignStrategy, TopicPartitions } from './assignors.ts';

export type GroupState = 'empty' | 'rebalancing' | 'stable' | 'dead';

export interface JoinRequest {
  group: string;
  /** '' = a new member: the coordinator names it. */
  memberId: string;
  /** Static membership (Kafka's group.instance.id); null = dynamic. */
  instanceId: string | null;
  clientId: string;
  /** The peer's address, shown by describe. */
  host: string;
  /** Exact topic names; may be empty when a pattern is given. */
  topics: string[];
  /** A regular expression matched against whole topic names; null = none. */
  pattern: string | null;
  /** null = the group's strategy (sticky for a new group). */
  strategy: AssignStrategy | null;
  /** 0 = the configured default. */
  sessionTimeoutMs: number;
  /** 0 = the session timeout. */
  rebalanceTimeoutMs: number;
  /** The connection the join came on: members one connection may create are limited. */
  owner: object;
  /** Aborted when the connection closes: the pending join is dropped (the member stays until its session expires). */
  signal?: AbortSignal;
}

export interface JoinResult {
  generation: number;
  memberId: string;
  leader: string;
  /** The session timeout that applies. */
  sessionTimeoutMs: number;
  assignment: TopicPartitions[];
}

export interface OffsetEntry {
  topic: string;
  partition: number;
  offset: number;
  metadata: string;
}

export interface CommitRequest {
  group: string;
  /** '' with generation -1: a commit from outside the group, accepted only while it has no members. */
  memberId: string;
  generation: number;
  offsets: OffsetEntry[];
  /**
   * The connection it came on. When set, it must be the connection of the member's latest join: a
   * commit still queued from a connection the client has given up on must not land after the client,
   * joined again on a new one, has read the committed offsets (it would process those records twice).
   */
  owner?: object;
}

export interface CommittedOffset {
  topic: string;
  partition: number;
  /** -1: nothing committed. */
  offset: number;
  metadata: string;
  commitMs: number;
}

export interface GroupSummary {
  group: string;
  state: GroupState;
  members: number;
}

export interface MemberDescription {
  memberId: string;
  instanceId: string | null;
  clientId: string;
  host: string;
  assignment: TopicPartitions[];
}

export interface PartitionLag {
  topic: string;
  partition: number;
  /** -1: nothing committed. */
  committed: number;
  metadata: string;
  logStartOffset: number;
  logEndOffset: number;
  /** Records between the committed offset (or the log start when none) and the log end. */
  lag: number;
  /** '' when no member owns it. */
  memberId: string;
}

export interface GroupDescription {
  group: string;
  state: GroupState;
  /** Server-assigned groups: the broker's assignor. Classic groups (Kafka clients) assign themselves: see protocol. */
  strategy: AssignStrategy;
  /** Classic groups: the assignment protocol their members chose (range, roundrobin, cooperative-sticky, …). */
  protocol?: string;
  generation: number;
  members: MemberDescription[];
  partitions: PartitionLag[];
}

export type ResetTarget =
  | { to: 'earliest' }
  | { to: 'latest' }
  | { to: 'offset'; offset: number }
  | { to: 'datetime'; timestampMs: number }
  | { to: 'shift'; by: number };

export interface ResetRequest {
  group: string;
  topic: string;
  /** undefined = every partition of the topic. */
  partition?: number;
  target: ResetTarget;
  /** false = a dry run: nothing is written. */
  execute: boolean;
}

export interface ResetPlanEntry {
  topic: string;
  partition: number;
  /** -1: nothing committed before. */
  previous: number;
  offset: number;
}

/** A Kafka JoinGroup (the classic protocol: the group leader assigns). */
export interface ClassicJoinRequest {
  group: string;
  /** '' = a new member. */
  memberId: string;
  instanceId: string | null;
  clientId: string;
  host: string;
  /** "consumer" for Kafka consumers; every member of a group must give the same. */
  protocolType: string;
  /** In the member's order of preference; metadata is opaque to the broker. */
  protocols: { name: string; metadata: Buffer }[];
  sessionTimeoutMs: number;
  /** -1 (JoinGroup v0) = the session timeout. */
  rebalanceTimeoutMs: number;
  /** JoinGroup v4+: a new dynamic member is first given an id (MEMBER_ID_REQUIRED) and joins again with it. */
  requireKnownMemberId: boolean;
  owner: object;
  signal?: AbortSignal;
}

export type ClassicJoinResult =
  | { memberIdRequired: true; memberId: string }
  | {
      memberIdRequired: false;
      generation: number;
      memberId: string;
      leader: string;
      protocolType: string;
      protocolName: string;
      /** Every member with its metadata for the chosen protocol: the leader's answer only (it assigns). */
      members: { memberId: string; instanceId: string | null; metadata: Buffer }[];
    };

/** A Kafka SyncGroup: the leader's carries every member's assignment, the others' wait for it. */
export interface SyncRequest {
  group: string;
  memberId: string;
  generation: number;
  /** SyncGroup v5: checked against the group's when given. */
  protocolType: string | null;
  protocolName: string | null;
  assignments: { memberId: string; assignment: Buffer }[];
  signal?: AbortSignal;
}

export interface SyncResult {
  protocolType: string;
  protocolName: string;
  assignment: Buffer;
}

/** A group's membership as Kafka's DescribeGroups shows it; server-assigned groups in ConsumerProtocol bytes. */
export interface MembershipView {
  kind: 'server' | 'classic';
  state: GroupState;
  /** Classic only: between the join and the leader's SyncGroup (Kafka's CompletingRebalance). */
  awaitingSync: boolean;
  protocolType: string;
  protocol: string;
  members: { memberId: string; instanceId: string | null; clientId: string; host: string; metadata: Buffer; assignment: Buffer }[];
}
