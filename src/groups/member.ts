// One group's in-memory state: members, generation, assignment. The coordinator drives it; this
// module only holds the data and answers questions about it.

import type { AssignStrategy, TopicPartitions } from './assignors.ts';
import type { GroupState } from './types.ts';

export interface PendingJoin {
  resolve(): void;
  reject(err: unknown): void;
  /** Detaches the abort listener of the join's connection. */
  detach(): void;
}

/** A Kafka member's assignment protocol: a name (range, roundrobin, …) and its metadata, opaque bytes. */
export interface ClassicProtocol {
  name: string;
  metadata: Buffer;
}

/**
 * 'server': edge clients; the broker assigns (JOINED carries each share). 'classic': Kafka clients;
 * the group leader assigns and hands the broker opaque bytes per member (SyncGroup).
 */
export type GroupKind = 'server' | 'classic';

export interface Member {
  memberId: string;
  readonly instanceId: string | null;
  clientId: string;
  host: string;
  topics: string[];
  pattern: RegExp | null;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  owner: object;
  /** What this member owns in the group's current generation (classic: decoded from assignmentBytes). */
  assignment: TopicPartitions[];
  /** Classic: the protocols of its latest join, in its order of preference; null for server members. */
  protocols: ClassicProtocol[] | null;
  /** Classic: what the leader's SyncGroup gave this member, as sent. */
  assignmentBytes: Buffer;
  /** Classic: set while the member waits in SyncGroup for the leader's assignment. */
  syncPending: PendingJoin | null;
  /** Set while the member waits for the rebalance to complete. */
  pending: PendingJoin | null;
  /** One timer per member, refreshed by its calls: no timer per message or per heartbeat. */
  session: NodeJS.Timeout | null;
}

export interface Group {
  readonly name: string;
  readonly kind: GroupKind;
  /** Classic: the protocol type all members join with ("consumer" for Kafka consumers). */
  protocolType: string;
  /** Classic: the protocol chosen for the current generation; '' before the first. */
  protocol: string;
  /** Classic: the generation is formed and waits for the leader's SyncGroup (Kafka's CompletingRebalance); state is 'rebalancing'. */
  syncing: boolean;
  /** Classic: running while a group that had no members waits for more before its first generation. */
  windowTimer: NodeJS.Timeout | null;
  state: GroupState;
  generation: number;
  strategy: AssignStrategy;
  leader: string;
  /** Insertion order is join order. */
  readonly members: Map<string, Member>;
  /** instance id → member id of the static member holding it. */
  readonly instances: Map<string, string>;
  /** Member ids replaced by a newer join with the same instance id: answered FENCED_INSTANCE. */
  readonly fenced: Set<string>;
  rebalanceTimer: NodeJS.Timeout | null;
  /** topic → partition count the current generation's assignment covers. */
  assigned: Map<string, number>;
}

export function newGroup(name: string, strategy: AssignStrategy, kind: GroupKind, protocolType = ''): Group {
  return {
    name,
    kind,
    protocolType,
    protocol: '',
    syncing: false,
    windowTimer: null,
    state: 'empty',
    generation: 0,
    strategy,
    leader: '',
    members: new Map(),
    instances: new Map(),
    fenced: new Set(),
    rebalanceTimer: null,
    assigned: new Map(),
  };
}

export function owns(member: Member, topic: string, partition: number): boolean {
  return member.assignment.some((tp) => tp.topic === topic && tp.partitions.includes(partition));
}

export function sameSubscription(m: Member, topics: string[], pattern: RegExp | null): boolean {
  if ((m.pattern?.source ?? null) !== (pattern?.source ?? null)) return false;
  if (m.topics.length !== topics.length) return false;
  const mine = new Set(m.topics);
  return topics.every((t) => mine.has(t));
}

/** The topics a member subscribes to that exist now: its names plus those its pattern matches. */
export function subscribedTopics(m: Member, existing: ReadonlySet<string>): string[] {
  const names = new Set(m.topics.filter((t) => existing.has(t)));
  if (m.pattern) for (const t of existing) if (m.pattern.test(t)) names.add(t);
  return [...names].sort();
}
