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
  strategy: AssignStrategy;
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
