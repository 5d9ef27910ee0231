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
  /** What this member owns in the group's current generation. */
  assignment: TopicPartitions[];
  /** Set while the member waits for the rebalance to complete. */
  pending: PendingJoin | null;
  /** One timer per member, refreshed by its calls: no timer per message or per heartbeat. */
  session: NodeJS.Timeout | null;
}

export interface Group {
  readonly name: string;
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

export function newGroup(name: string, strategy: AssignStrategy): Group {
  return {
    name,
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
