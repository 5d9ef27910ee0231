// The consumer-group coordinator: members, generations, the rebalance state machine, partition
// assignment and the checks an offset commit must pass. Protocol-neutral: the edge listener (and the
// Kafka listener after it) translate their frames into these calls. Membership lives in memory, as
// sessions do; committed offsets live in the offset store and survive restarts.
//
// The protocol is Kafka's classic eager one, except that the broker assigns: a join, a leave, an
// eviction or a change of the subscribed topics starts a rebalance; members learn of it from a
// heartbeat answered REBALANCE_IN_PROGRESS, commit, and join again; once every member has joined (or
// been dropped for missing the rebalance timeout or its session) the generation goes up and every
// pending join is answered with its member's share. A tiny client therefore needs no assignor.

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import isSafeRegex from 'safe-regex2';
import { topicNameProblem } from '../broker/topic-name.ts';
import { TributaryError } from '../errors.ts';
import { limits } from '../limits.ts';
import type { OffsetStore } from '../storage/offset-store.ts';
import type { StoredTopic } from '../storage/log-store.ts';
import { assign, type AssignMember, type AssignStrategy } from './assignors.ts';
import { decodeAssignment, decodeSubscriptionTopics, encodeAssignment, encodeSubscription } from './consumer-protocol.ts';
import { newGroup, owns, sameSubscription, subscribedTopics, type ClassicProtocol, type Group, type Member } from './member.ts';
import { resetOffset, type ResetHost } from './offset-reset.ts';
import type {
  ClassicJoinRequest,
  ClassicJoinResult,
  CommitRequest,
  CommittedOffset,
  GroupDescription,
  GroupSummary,
  JoinRequest,
  JoinResult,
  MembershipView,
  OffsetEntry,
  PartitionLag,
  ResetPlanEntry,
  ResetRequest,
  SyncRequest,
  SyncResult,
} from './types.ts';

export interface CoordinatorHost extends ResetHost {
  findTopic(name: string): StoredTopic | undefined;
  storedTopics(): StoredTopic[];
  addTopicsListener(listener: () => void): () => void;
}

export interface CoordinatorOptions {
  sessionTimeoutMsDefault: number;
  /** Offsets of a group that stays empty this long are deleted (Kafka's offsets.retention.minutes). */
  offsetsRetentionMs: number;
  /** How often expiry looks for such groups (Kafka's offsets.retention.check.interval.ms). */
  expiryCheckIntervalMs: number;
  /** Classic groups: the first join of a group without members waits this long for more (Kafka's group.initial.rebalance.delay.ms). */
  initialRebalanceDelayMs: number;
}

/** What a commit writes: topic ids resolved, for the offset store. */
export interface OffsetWrite {
  reader: string;
  entries: { topicId: number; partition: number; offset: number; metadata: string }[];
  check: () => TributaryError | null;
}

const READER_PREFIX = 'g:';
/** Offsets deleted per expiry transaction. */
const EXPIRED_OFFSETS_PER_STEP = 2000;

export class GroupCoordinator {
  private readonly host: CoordinatorHost;
  private readonly offsets: OffsetStore;
  private readonly opts: CoordinatorOptions;
  private readonly log: Logger;
  /** Groups with members (or a join pending); a group without is only its stored offsets. */
  private readonly groups = new Map<string, Group>();
  /** Members each connection created, for the per-connection limit. */
  private readonly createdBy = new WeakMap<object, number>();
  /** Member ids handed out with MEMBER_ID_REQUIRED, by id: the group and when the offer lapses. Insertion order is age. */
  private readonly offeredIds = new Map<string, { group: string; deadline: number }>();
  /** Members of all groups: what subscriptions may hold in memory is bounded by it. */
  private memberCount = 0;
  private stored: Set<string> | null = null;
  private readonly unsubscribe: () => void;
  private expiryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  readonly counters = { joins: 0, rebalances: 0, evictions: 0, commits: 0 };

  constructor(host: CoordinatorHost, offsets: OffsetStore, opts: CoordinatorOptions, logger: Logger) {
    this.host = host;
    this.offsets = offsets;
    this.opts = opts;
    this.log = logger.child({ module: 'groups' });
    this.unsubscribe = host.addTopicsListener(() => this.topicsChanged());
    // Each step is one short transaction; more expired offsets follow in later loop turns.
    const step = () => {
      if (!this.closed && this.expire(Date.now()) > 0) setImmediate(step);
    };
    this.expiryTimer = setInterval(step, opts.expiryCheckIntervalMs);
    this.expiryTimer.unref();
  }

  // ---- membership ----

  join(req: JoinRequest): Promise<JoinResult> {
    if (this.closed) return Promise.reject(new TributaryError('SHUTTING_DOWN', 'the broker is shutting down'));
    try {
      validateGroupName(req.group);
      const pattern = compilePattern(req.pattern);
      if (req.topics.length === 0 && pattern === null) throw new TributaryError('INVALID_REQUEST', 'a join needs topics or a pattern', { group: req.group });
      if (req.topics.length > limits.groupTopicsMax) throw new TributaryError('INVALID_REQUEST', `at most ${limits.groupTopicsMax} topics per join`, { group: req.group });
      // A member keeps its subscription for as long as it lives: names no topic can have let one
      // connection's 64 members hold +85 MB (joins of 1 MiB); legal names (≤ 249 characters) half that.
      if (req.topics.reduce((n, t) => n + t.length, 0) > limits.groupSubscriptionCharsMax)
        throw new TributaryError('INVALID_REQUEST', `a subscription names at most ${limits.groupSubscriptionCharsMax} characters of topics`, { group: req.group });
      const bad = req.topics.findIndex((t) => topicNameProblem(t) !== null);
      if (bad >= 0)
        throw new TributaryError('INVALID_REQUEST', `topic ${bad} of the subscription is not a legal topic name (1-${limits.topicNameLengthMax} characters of [a-zA-Z0-9._-])`, { group: req.group });
      const sessionTimeoutMs = req.sessionTimeoutMs === 0 ? this.opts.sessionTimeoutMsDefault : req.sessionTimeoutMs;
      if (sessionTimeoutMs < limits.groupSessionTimeoutMsMin || sessionTimeoutMs > limits.groupSessionTimeoutMsMax)
        throw new TributaryError('INVALID_REQUEST', `session timeout must be ${limits.groupSessionTimeoutMsMin}..${limits.groupSessionTimeoutMsMax} ms`, { group: req.group });
      const rebalanceTimeoutMs = Math.min(req.rebalanceTimeoutMs === 0 ? sessionTimeoutMs : req.rebalanceTimeoutMs, limits.groupSessionTimeoutMsMax);
      const g = this.groupForJoin(req);
      if (g.kind !== 'server')
        throw new TributaryError('INCONSISTENT_GROUP_PROTOCOL', `group ${g.name} is joined by Kafka clients, which assign among themselves`, { group: g.name });
      if (req.strategy !== null && req.strategy !== g.strategy && g.members.size > 0)
        throw new TributaryError('INVALID_REQUEST', `group ${g.name} assigns with ${g.strategy}, not ${req.strategy}`, { group: g.name });
      if (req.strategy !== null && g.members.size === 0) g.strategy = req.strategy;
      const m = this.memberForJoin(g, req);
      const unchanged = sameSubscription(m, req.topics, pattern);
      if (m.session !== null && m.sessionTimeoutMs !== sessionTimeoutMs) {
        clearTimeout(m.session);
        m.session = null;
      }
      if (m.owner !== req.owner) {
        this.countCreated(m.owner, -1);
        this.countCreated(req.owner, +1);
      }
      Object.assign(m, { clientId: req.clientId, host: req.host, topics: [...req.topics], pattern, sessionTimeoutMs, rebalanceTimeoutMs, owner: req.owner });
      this.counters.joins++;
      this.touch(g, m);
      // A member of a stable group that asks for what it has gets it: a static member's restart, or a
      // client that lost its answer. Anything else is a new generation.
      if (g.state === 'stable' && unchanged && m.pending === null && !this.needsRebalance(g))
        return Promise.resolve(this.joinResult(g, m));
      return this.awaitRebalance(g, m, req.signal, () => this.joinResult(g, m));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * A Kafka JoinGroup. Answered once the generation forms: every member joined again (or was dropped),
   * and for a group that had no members, the join window passed. The leader's answer carries every
   * member's metadata for the protocol chosen; it assigns, and SyncGroup carries that to the others.
   */
  joinClassic(req: ClassicJoinRequest): Promise<ClassicJoinResult> {
    if (this.closed) return Promise.reject(new TributaryError('SHUTTING_DOWN', 'the broker is shutting down'));
    try {
      validateGroupName(req.group);
      const sessionTimeoutMs = req.sessionTimeoutMs;
      if (sessionTimeoutMs < limits.groupSessionTimeoutMsMin || sessionTimeoutMs > limits.groupSessionTimeoutMsMax)
        throw new TributaryError('INVALID_REQUEST', `session timeout must be ${limits.groupSessionTimeoutMsMin}..${limits.groupSessionTimeoutMsMax} ms`, { group: req.group });
      const rebalanceTimeoutMs = Math.min(req.rebalanceTimeoutMs <= 0 ? sessionTimeoutMs : req.rebalanceTimeoutMs, limits.groupSessionTimeoutMsMax);
      if (req.protocolType === '' || req.protocols.length === 0)
        throw new TributaryError('INCONSISTENT_GROUP_PROTOCOL', 'a join needs a protocol type and at least one protocol', { group: req.group });
      // Held while the member lives: a client may send 32 KiB strings and megabytes of metadata.
      if (req.protocols.reduce((n, p) => n + p.metadata.length + Buffer.byteLength(p.name), Buffer.byteLength(req.protocolType)) > limits.groupClassicMetadataBytesMax)
        throw new TributaryError('INVALID_REQUEST', `a join's protocol type and protocols carry at most ${limits.groupClassicMetadataBytesMax} bytes`, { group: req.group });
      if (req.instanceId !== null && (req.instanceId.length === 0 || req.instanceId.length > limits.groupNameMax))
        throw new TributaryError('INVALID_REQUEST', `a group instance id has 1..${limits.groupNameMax} characters`, { group: req.group });
      const existing = this.groups.get(req.group);
      if (existing?.kind === 'server')
        throw new TributaryError('INCONSISTENT_GROUP_PROTOCOL', `group ${req.group} is joined by edge clients, to which the broker assigns`, { group: req.group });
      const g = existing ?? this.newClassicGroup(req);
      if (g.members.size > 0) this.checkProtocols(g, req);
      if (req.memberId === '' && req.instanceId === null && req.requireKnownMemberId) return Promise.resolve(this.offerMemberId(g, req));
      const offered = this.takeOffer(g, req.memberId);
      // The static leader restarting: as Kafka, a stable group keeps its generation (below).
      const previous = req.instanceId === null ? undefined : g.instances.get(req.instanceId);
      const replacedLeader = previous !== undefined && previous === g.leader && previous !== req.memberId ? previous : null;
      const wasEmpty = g.members.size === 0;
      const m = this.memberForJoin(g, offered ? { ...req, memberId: '' } : req, offered ? req.memberId : undefined);
      const protocols: ClassicProtocol[] = req.protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata) }));
      const unchanged = m.protocols !== null && sameProtocols(m.protocols, protocols);
      if (m.session !== null && m.sessionTimeoutMs !== sessionTimeoutMs) {
        clearTimeout(m.session);
        m.session = null;
      }
      if (m.owner !== req.owner) {
        this.countCreated(m.owner, -1);
        this.countCreated(req.owner, +1);
      }
      const topics = decodeSubscriptionTopics(protocols[0]!.metadata) ?? [];
      Object.assign(m, { clientId: req.clientId, host: req.host, protocols, topics: topics.slice(0, limits.groupTopicsMax), sessionTimeoutMs, rebalanceTimeoutMs, owner: req.owner });
      this.counters.joins++;
      this.touch(g, m);
      if (wasEmpty && this.opts.initialRebalanceDelayMs > 0) this.openJoinWindow(g);
      // As Kafka: a follower asking for what it has gets it (a static member's restart, a lost answer);
      // a join between the generation forming and the leader's SyncGroup gets that generation again.
      if (unchanged && m.pending === null && ((g.state === 'stable' && m.memberId !== g.leader) || g.syncing)) return Promise.resolve(this.classicJoinResult(g, m));
      // The restarted static leader of a stable group is answered as a follower, naming its old id as
      // the leader's, as Kafka does: it does not assign (a stable group would not pass a new assignment
      // on), its SyncGroup gets what it had, and no other member is disturbed. It leads the next rebalance.
      if (unchanged && m.pending === null && g.state === 'stable' && replacedLeader !== null) return Promise.resolve({ ...this.classicJoinResult(g, m), leader: replacedLeader, members: [] });
      // keepOnAbort: as in Kafka, a member whose connection closed during its join still counts as
      // joined; its session (no heartbeats) removes it after the generation forms. Otherwise the group
      // would wait out the rebalance timeout (librdkafka: max.poll.interval.ms, 5 minutes).
      return this.awaitRebalance(g, m, req.signal, () => this.classicJoinResult(g, m), true);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private newClassicGroup(req: ClassicJoinRequest): Group {
    if (this.groups.size >= limits.groupsMax) throw new TributaryError('GROUP_FULL', `at most ${limits.groupsMax} groups with members`, { group: req.group });
    return newGroup(req.group, 'sticky', 'classic', req.protocolType);
  }

  /** A new member must share the protocol type and at least one protocol with every member, as in Kafka. */
  private checkProtocols(g: Group, req: ClassicJoinRequest): void {
    if (req.protocolType !== g.protocolType)
      throw new TributaryError('INCONSISTENT_GROUP_PROTOCOL', `group ${g.name} has protocol type ${g.protocolType}, not ${req.protocolType}`, { group: g.name });
    const others = [...g.members.values()].filter((m) => m.memberId !== req.memberId);
    if (others.length === 0) return;
    const common = commonProtocols(others);
    if (!req.protocols.some((p) => common.has(p.name)))
      throw new TributaryError('INCONSISTENT_GROUP_PROTOCOL', `group ${g.name}'s members assign with ${[...common].join(', ') || 'no common protocol'}; this member offers none of them`, { group: g.name });
  }

  /** JoinGroup v4+: a new member is named first and joins again with its name (Kafka's MEMBER_ID_REQUIRED). */
  private offerMemberId(g: Group, req: ClassicJoinRequest): ClassicJoinResult {
    const now = Date.now();
    for (const [id, offer] of this.offeredIds) {
      if (offer.deadline > now && this.offeredIds.size < limits.groupPendingMemberIdsMax) break;
      this.offeredIds.delete(id);
    }
    const memberId = `${memberIdPrefix(req.clientId)}-${randomUUID()}`;
    this.offeredIds.set(memberId, { group: g.name, deadline: now + req.sessionTimeoutMs });
    return { memberIdRequired: true, memberId };
  }

  private takeOffer(g: Group, memberId: string): boolean {
    const offer = memberId === '' ? undefined : this.offeredIds.get(memberId);
    if (offer === undefined || offer.group !== g.name || g.members.has(memberId)) return false;
    this.offeredIds.delete(memberId);
    return offer.deadline > Date.now();
  }

  /** The first generation of a group that had no members waits for the members starting with this one. */
  private openJoinWindow(g: Group): void {
    if (g.windowTimer) clearTimeout(g.windowTimer);
    g.windowTimer = setTimeout(() => {
      g.windowTimer = null;
      if (this.groups.get(g.name) === g) this.maybeComplete(g);
    }, this.opts.initialRebalanceDelayMs);
    g.windowTimer.unref();
  }

  private classicJoinResult(g: Group, m: Member): ClassicJoinResult {
    const members =
      m.memberId === g.leader
        ? [...g.members.values()].map((x) => ({ memberId: x.memberId, instanceId: x.instanceId, metadata: x.protocols?.find((p) => p.name === g.protocol)?.metadata ?? Buffer.alloc(0) }))
        : [];
    return { memberIdRequired: false, generation: g.generation, memberId: m.memberId, leader: g.leader, protocolType: g.protocolType, protocolName: g.protocol, members };
  }

  /**
   * A Kafka SyncGroup. The leader's carries every member's assignment: the generation becomes stable
   * and the members waiting here get theirs. A member of a stable group gets what it was given.
   */
  sync(req: SyncRequest): Promise<SyncResult> {
    try {
      const g = this.groups.get(req.group);
      const m = g?.members.get(req.memberId);
      if (!g || !m) throw this.unknownMember(g, req.memberId, req.group);
      if (g.kind !== 'classic') throw new TributaryError('INCONSISTENT_GROUP_PROTOCOL', `group ${g.name} is joined by edge clients, to which the broker assigns`, { group: g.name });
      if ((req.protocolType !== null && req.protocolType !== g.protocolType) || (req.protocolName !== null && req.protocolName !== g.protocol))
        throw new TributaryError('INCONSISTENT_GROUP_PROTOCOL', `group ${g.name} uses ${g.protocolType}/${g.protocol}`, { group: g.name });
      if (req.generation !== g.generation) throw illegalGeneration(g, req.generation);
      this.touch(g, m);
      if (g.state === 'stable') return Promise.resolve(this.syncResult(g, m));
      if (!g.syncing) throw new TributaryError('REBALANCE_IN_PROGRESS', `group ${g.name} is rebalancing; join again`, { group: g.name });
      if (m.memberId === g.leader) {
        this.applyAssignments(g, req.assignments);
        return Promise.resolve(this.syncResult(g, m));
      }
      return new Promise<SyncResult>((resolve, reject) => {
        m.syncPending?.reject(new TributaryError('REBALANCE_IN_PROGRESS', 'a newer SyncGroup of this member replaced this one', { group: g.name }));
        const onAbort = () => {
          if (m.syncPending === pending) m.syncPending = null;
        };
        const pending = {
          resolve: () => {
            pending.detach();
            resolve(this.syncResult(g, m));
          },
          reject: (err: unknown) => {
            pending.detach();
            reject(err);
          },
          detach: () => req.signal?.removeEventListener('abort', onAbort),
        };
        m.syncPending = pending;
        req.signal?.addEventListener('abort', onAbort, { once: true });
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private applyAssignments(g: Group, assignments: SyncRequest['assignments']): void {
    const bytes = new Map<string, Buffer>();
    for (const a of assignments) {
      if (a.assignment.length > limits.groupClassicAssignmentBytesMax)
        throw new TributaryError('INVALID_REQUEST', `an assignment carries at most ${limits.groupClassicAssignmentBytesMax} bytes`, { group: g.name });
      if (g.members.has(a.memberId)) bytes.set(a.memberId, a.assignment);
    }
    g.state = 'stable';
    g.syncing = false;
    for (const m of g.members.values()) {
      // Copied: the request's buffer is the whole frame, which must not live as long as the member.
      m.assignmentBytes = Buffer.from(bytes.get(m.memberId) ?? Buffer.alloc(0));
      m.assignment = decodeAssignment(m.assignmentBytes) ?? [];
    }
    this.log.info({ group: g.name, generation: g.generation, members: g.members.size, protocol: g.protocol }, 'group is stable');
    for (const m of g.members.values()) {
      const pending = m.syncPending;
      m.syncPending = null;
      pending?.resolve();
    }
  }

  private syncResult(g: Group, m: Member): SyncResult {
    return { protocolType: g.protocolType, protocolName: g.protocol, assignment: m.assignmentBytes };
  }

  /** The member id holding a static instance id in the group, if any. */
  memberOfInstance(group: string, instanceId: string): string | undefined {
    return this.groups.get(group)?.instances.get(instanceId);
  }

  /** The group, or a new one that memberForJoin registers once it has a member. */
  private groupForJoin(req: JoinRequest): Group {
    const g = this.groups.get(req.group);
    if (g) return g;
    if (this.groups.size >= limits.groupsMax) throw new TributaryError('GROUP_FULL', `at most ${limits.groupsMax} groups with members`, { group: req.group });
    return newGroup(req.group, req.strategy ?? 'sticky', 'server');
  }

  // Only here: a join refused (unknown member id, a full connection) must leave no group behind, or
  // refused joins naming new groups would fill the broker's groups and lock everyone else out.
  private register(g: Group): void {
    if (this.groups.get(g.name) === g) return;
    this.groups.set(g.name, g);
    this.offsets.setEmptySince(g.name, null).catch((err) => this.log.warn({ err, group: g.name }, 'could not record that the group has members'));
  }

  /** `newId`: the id offered with MEMBER_ID_REQUIRED, under which a new member joins. */
  private memberForJoin(g: Group, req: Pick<JoinRequest, 'memberId' | 'instanceId' | 'owner' | 'clientId' | 'host'>, newId?: string): Member {
    if (req.memberId !== '') {
      const m = g.members.get(req.memberId);
      if (!m) throw this.unknownMember(g, req.memberId);
      return m;
    }
    const previousId = req.instanceId === null ? undefined : g.instances.get(req.instanceId);
    if (previousId !== undefined) return this.replaceStatic(g, g.members.get(previousId)!, req.owner);
    if (g.members.size >= limits.groupMembersMax)
      throw new TributaryError('GROUP_FULL', `group ${g.name} has ${limits.groupMembersMax} members`, { group: g.name });
    if (this.memberCount >= limits.groupMembersTotalMax)
      throw new TributaryError('GROUP_FULL', `the broker has ${limits.groupMembersTotalMax} group members`, { group: g.name });
    const created = this.createdBy.get(req.owner) ?? 0;
    if (created >= limits.groupMembersPerConnectionMax)
      throw new TributaryError('GROUP_FULL', `a connection may create at most ${limits.groupMembersPerConnectionMax} group members`, { group: g.name, client: req.clientId });
    this.countCreated(req.owner, +1);
    const m: Member = {
      memberId: newId ?? `${memberIdPrefix(req.clientId)}-${randomUUID()}`,
      instanceId: req.instanceId,
      clientId: req.clientId,
      host: req.host,
      topics: [],
      pattern: null,
      sessionTimeoutMs: 0,
      rebalanceTimeoutMs: 0,
      owner: req.owner,
      assignment: [],
      protocols: null,
      assignmentBytes: Buffer.alloc(0),
      syncPending: null,
      pending: null,
      session: null,
    };
    this.register(g);
    g.members.set(m.memberId, m);
    this.memberCount++;
    if (m.instanceId !== null) g.instances.set(m.instanceId, m.memberId);
    this.log.info({ group: g.name, member: m.memberId, client: m.clientId, instance: m.instanceId }, 'member joined');
    return m;
  }

  /** A static member restarted: the same place under a new member id; the old id is fenced. */
  private replaceStatic(g: Group, old: Member, owner: object): Member {
    g.members.delete(old.memberId);
    this.countCreated(old.owner, -1);
    this.countCreated(owner, +1);
    if (g.fenced.size >= limits.groupMembersMax) g.fenced.delete(g.fenced.values().next().value!);
    g.fenced.add(old.memberId);
    old.pending?.reject(new TributaryError('FENCED_INSTANCE', `instance ${old.instanceId} joined again as another member`, { group: g.name }));
    old.pending = null;
    old.syncPending?.reject(new TributaryError('FENCED_INSTANCE', `instance ${old.instanceId} joined again as another member`, { group: g.name }));
    old.syncPending = null;
    // The old session timer's callback names the old member, which is gone: refreshing it would never
    // evict the new one. The new member's first touch starts its own.
    if (old.session) clearTimeout(old.session);
    old.session = null;
    const m: Member = { ...old, memberId: `${memberIdPrefix(old.clientId)}-${randomUUID()}`, owner, pending: null, syncPending: null, session: null };
    g.members.set(m.memberId, m);
    g.instances.set(m.instanceId!, m.memberId);
    if (g.leader === old.memberId) g.leader = m.memberId;
    this.log.info({ group: g.name, member: m.memberId, replaced: old.memberId, instance: m.instanceId }, 'static member rejoined');
    return m;
  }

  private awaitRebalance<T>(g: Group, m: Member, signal: AbortSignal | undefined, result: () => T, keepOnAbort = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      m.pending?.reject(new TributaryError('REBALANCE_IN_PROGRESS', 'a newer join of this member replaced this one', { group: g.name }));
      const onAbort = () => {
        if (m.pending !== pending || keepOnAbort) return;
        // The member stays: its session decides whether it comes back in time.
        m.pending = null;
        this.touch(g, m);
      };
      const pending = {
        resolve: () => {
          pending.detach();
          resolve(result());
        },
        reject: (err: unknown) => {
          pending.detach();
          reject(err);
        },
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      m.pending = pending;
      signal?.addEventListener('abort', onAbort, { once: true });
      this.startRebalance(g, `member ${m.memberId} joined`);
      this.maybeComplete(g);
    });
  }

  heartbeat(group: string, memberId: string, generation: number): void {
    const g = this.groups.get(group);
    const m = g?.members.get(memberId);
    if (!g || !m) throw this.unknownMember(g, memberId, group);
    this.touch(g, m);
    // Between a classic generation forming and the leader's SyncGroup, as Kafka: no rebalance to join.
    if (g.state === 'rebalancing' && !g.syncing) throw new TributaryError('REBALANCE_IN_PROGRESS', `group ${group} is rebalancing; join again`, { group });
    if (generation !== g.generation) throw illegalGeneration(g, generation);
  }

  /** A static member's leave removes it too: Kafka clients do not send one on close for that reason. */
  leave(group: string, memberId: string): void {
    const g = this.groups.get(group);
    const m = g?.members.get(memberId);
    if (!g || !m) throw this.unknownMember(g, memberId, group);
    this.log.info({ group, member: memberId }, 'member left');
    this.remove(g, m, 'left');
  }

  private touch(g: Group, m: Member): void {
    if (m.session === null) {
      m.session = setTimeout(() => this.sessionExpired(g, m), m.sessionTimeoutMs);
      m.session.unref();
    } else m.session.refresh();
  }

  private sessionExpired(g: Group, m: Member): void {
    if (g.members.get(m.memberId) !== m) return;
    // A member waiting in a join or a SyncGroup is alive: it is waiting for us.
    if (m.pending !== null || m.syncPending !== null) {
      m.session?.refresh();
      return;
    }
    this.counters.evictions++;
    this.log.warn({ group: g.name, member: m.memberId, client: m.clientId, sessionTimeoutMs: m.sessionTimeoutMs }, 'member evicted: session expired');
    this.remove(g, m, 'session expired');
  }

  private remove(g: Group, m: Member, why: string): void {
    this.detach(g, m, why);
    if (g.members.size === 0) return this.becomeEmpty(g);
    this.startRebalance(g, `member ${m.memberId} ${why}`);
    this.maybeComplete(g);
  }

  /** Takes the member out of the group's books; what that means for the group is the caller's. */
  private detach(g: Group, m: Member, why: string): void {
    if (m.session) clearTimeout(m.session);
    m.session = null;
    m.pending?.reject(new TributaryError('UNKNOWN_MEMBER', `member ${m.memberId} was removed (${why})`, { group: g.name }));
    m.pending = null;
    m.syncPending?.reject(new TributaryError('UNKNOWN_MEMBER', `member ${m.memberId} was removed (${why})`, { group: g.name }));
    m.syncPending = null;
    g.members.delete(m.memberId);
    this.memberCount--;
    if (m.instanceId !== null && g.instances.get(m.instanceId) === m.memberId) g.instances.delete(m.instanceId);
    this.countCreated(m.owner, -1);
  }

  private countCreated(owner: object, delta: number): void {
    this.createdBy.set(owner, Math.max(0, (this.createdBy.get(owner) ?? 0) + delta));
  }

  private becomeEmpty(g: Group): void {
    if (g.rebalanceTimer) clearTimeout(g.rebalanceTimer);
    g.rebalanceTimer = null;
    if (g.windowTimer) clearTimeout(g.windowTimer);
    g.windowTimer = null;
    g.state = 'empty';
    this.groups.delete(g.name);
    this.offsets.setEmptySince(g.name, Date.now()).catch((err) => this.log.warn({ err, group: g.name }, 'could not record when the group became empty'));
    this.log.info({ group: g.name, generation: g.generation }, 'group is empty');
  }

  // ---- rebalance ----

  private startRebalance(g: Group, reason: string): void {
    if (g.state === 'rebalancing' && !g.syncing) return;
    // Members waiting for the leader's assignment of a generation that will not be: join again.
    g.syncing = false;
    for (const m of g.members.values()) {
      m.syncPending?.reject(new TributaryError('REBALANCE_IN_PROGRESS', `group ${g.name} is rebalancing again; join again`, { group: g.name }));
      m.syncPending = null;
    }
    if (g.rebalanceTimer) clearTimeout(g.rebalanceTimer);
    g.state = 'rebalancing';
    this.counters.rebalances++;
    const timeoutMs = Math.max(...[...g.members.values()].map((m) => m.rebalanceTimeoutMs));
    g.rebalanceTimer = setTimeout(() => this.rebalanceTimedOut(g), timeoutMs);
    g.rebalanceTimer.unref();
    this.log.info({ group: g.name, generation: g.generation, reason }, 'rebalance started');
  }

  private rebalanceTimedOut(g: Group): void {
    g.rebalanceTimer = null;
    if (this.groups.get(g.name) !== g || g.state !== 'rebalancing') return;
    for (const m of [...g.members.values()]) {
      if (m.pending !== null) continue;
      this.counters.evictions++;
      this.log.warn({ group: g.name, member: m.memberId, client: m.clientId }, 'member removed: did not join the rebalance in time');
      this.detach(g, m, 'missed the rebalance');
    }
    if (g.members.size === 0) return this.becomeEmpty(g);
    this.maybeComplete(g);
  }

  private maybeComplete(g: Group): void {
    if (g.state !== 'rebalancing' || g.syncing || g.windowTimer !== null) return;
    for (const m of g.members.values()) if (m.pending === null) return;
    if (g.rebalanceTimer) clearTimeout(g.rebalanceTimer);
    g.rebalanceTimer = null;
    if (g.kind === 'classic') return this.completeClassic(g);
    const existing = this.existingTopics();
    const counts = new Map<string, number>();
    const members: AssignMember[] = [...g.members.values()].map((m) => {
      const topics = subscribedTopics(m, existing.names);
      for (const t of topics) counts.set(t, existing.partitions.get(t)!);
      return { memberId: m.memberId, instanceId: m.instanceId, topics, previous: m.assignment };
    });
    const assignment = assign(g.strategy, members, counts);
    g.generation++;
    g.assigned = counts;
    g.state = 'stable';
    g.leader = g.members.keys().next().value!;
    for (const m of g.members.values()) m.assignment = assignment.get(m.memberId) ?? [];
    this.log.info({ group: g.name, generation: g.generation, members: g.members.size, strategy: g.strategy }, 'group is stable');
    for (const m of g.members.values()) {
      const pending = m.pending!;
      m.pending = null;
      // The session runs from the answer: the member's next heartbeat is a third of it away.
      m.session?.refresh();
      pending.resolve();
    }
  }

  /** Every member joined: the generation forms and waits for the leader's SyncGroup. */
  private completeClassic(g: Group): void {
    g.protocol = chooseProtocol([...g.members.values()]);
    g.generation++;
    g.syncing = true;
    // As Kafka: the leader stays the leader while it is a member.
    if (!g.members.has(g.leader)) g.leader = g.members.keys().next().value!;
    this.log.info({ group: g.name, generation: g.generation, members: g.members.size, protocol: g.protocol, leader: g.leader }, 'group generation formed; waiting for the leader to assign');
    for (const m of g.members.values()) {
      const pending = m.pending!;
      m.pending = null;
      m.session?.refresh();
      pending.resolve();
    }
  }

  private joinResult(g: Group, m: Member): JoinResult {
    return { generation: g.generation, memberId: m.memberId, leader: g.leader, sessionTimeoutMs: m.sessionTimeoutMs, assignment: m.assignment };
  }

  private existingTopics(): { names: Set<string>; partitions: Map<string, number> } {
    const partitions = new Map<string, number>();
    for (const t of this.host.storedTopics()) partitions.set(t.name, t.partitions);
    return { names: new Set(partitions.keys()), partitions };
  }

  /** Whether the topics the members subscribe to now differ from what the generation assigned. */
  private needsRebalance(g: Group, existing = this.existingTopics()): boolean {
    const now = new Map<string, number>();
    for (const m of g.members.values()) for (const t of subscribedTopics(m, existing.names)) now.set(t, existing.partitions.get(t)!);
    if (now.size !== g.assigned.size) return true;
    for (const [t, n] of now) if (g.assigned.get(t) !== n) return true;
    return false;
  }

  // Partitions added, or a topic created or deleted under a subscription: the next generation covers them.
  private topicsChanged(): void {
    const existing = this.existingTopics();
    for (const g of this.groups.values()) {
      // Kafka clients watch the topics themselves: their leader joins again when its subscription's partitions change.
      if (g.kind === 'server' && g.state === 'stable' && this.needsRebalance(g, existing)) this.startRebalance(g, 'subscribed topics changed');
    }
  }

  // ---- offsets ----

  /** Resolves once the commit is stored (in the next group transaction, with everything else of that turn). */
  async commit(req: CommitRequest): Promise<void> {
    const write = this.offsetWrite(req);
    const refusal = write.check();
    if (refusal) throw refusal;
    await this.offsets.commit(write.reader, write.entries, write.check);
    this.committed(req.group);
  }

  /** After a commit was stored (here or with a produce): counted, and the group has stored offsets. */
  committed(group: string): void {
    this.counters.commits++;
    this.storedGroups().add(group);
  }

  /**
   * Names of the groups with stored offsets, loaded once; kept exact enough for the limit and the
   * listings (commits add, deletes remove, an expiry reloads it). Bounded by groupsStoredMax plus
   * the commits in flight when it was reached.
   */
  private storedGroups(): Set<string> {
    return (this.stored ??= new Set(this.offsets.readers(READER_PREFIX).map((r) => r.slice(READER_PREFIX.length))));
  }

  /**
   * Validates a commit's offsets and returns what to write, with the membership check to run inside
   * the transaction that writes it (a rebalance may complete between the request and the transaction).
   * For produce-with-commit, whose records must be stored in that same transaction.
   */
  offsetWrite(req: CommitRequest): OffsetWrite {
    if (req.offsets.length === 0) throw new TributaryError('INVALID_REQUEST', 'a commit needs at least one offset', { group: req.group });
    validateGroupName(req.group);
    const entries = req.offsets.map((o) => this.resolveOffset(o));
    const reader = READER_PREFIX + req.group;
    // Groups with offsets only cost no memory while idle, but every listing and /metrics scrape
    // walks them: a client inventing group names must not grow those without bound.
    const stored = this.storedGroups();
    if (!stored.has(req.group) && stored.size >= limits.groupsStoredMax)
      throw new TributaryError('GROUP_FULL', `the broker stores offsets of ${limits.groupsStoredMax} groups; delete unused ones (tributary groups delete)`, { group: req.group });
    const check = () => this.commitRefusal(req);
    return { reader, entries, check };
  }

  private resolveOffset(o: OffsetEntry): OffsetWrite['entries'][number] {
    const topic = this.host.findTopic(o.topic);
    if (!topic) throw new TributaryError('UNKNOWN_TOPIC', `unknown topic ${o.topic}`, { topic: o.topic });
    const state = this.host.partitionState(topic.id, o.partition);
    if (!state) throw new TributaryError('INVALID_PARTITION', `topic ${o.topic} has no partition ${o.partition}`, { topic: o.topic, partition: o.partition });
    if (!Number.isSafeInteger(o.offset) || o.offset < 0 || o.offset > state.nextOffset)
      throw new TributaryError('OFFSET_OUT_OF_RANGE', `offset ${o.offset} is beyond the log end ${state.nextOffset} of ${o.topic}/${o.partition}`, {
        topic: o.topic,
        partition: o.partition,
      });
    if (Buffer.byteLength(o.metadata) > limits.offsetMetadataBytesMax)
      throw new TributaryError('INVALID_REQUEST', `offset metadata is limited to ${limits.offsetMetadataBytesMax} bytes`, { topic: o.topic });
    return { topicId: topic.id, partition: o.partition, offset: o.offset, metadata: o.metadata };
  }

  private commitRefusal(req: CommitRequest): TributaryError | null {
    const g = this.groups.get(req.group);
    if (req.generation === -1 && req.memberId === '') {
      return g && g.members.size > 0 ? new TributaryError('NON_EMPTY_GROUP', `group ${req.group} has members: only they commit its offsets`, { group: req.group }) : null;
    }
    const m = g?.members.get(req.memberId);
    if (!g || !m) return this.unknownMember(g, req.memberId, req.group);
    if (req.generation !== g.generation) return illegalGeneration(g, req.generation);
    // As Kafka: the new generation's assignment is not known yet.
    if (g.syncing) return new TributaryError('REBALANCE_IN_PROGRESS', `group ${g.name} is waiting for its leader's assignment`, { group: g.name });
    if (req.owner !== undefined && req.owner !== m.owner)
      return new TributaryError('UNKNOWN_MEMBER', `member ${m.memberId} joined again on another connection; commits from this one are refused`, { group: g.name });
    // Classic groups: the leader's assignment is the clients' business; Kafka does not check it either.
    if (g.kind === 'server')
      for (const o of req.offsets)
        if (!owns(m, o.topic, o.partition))
        return new TributaryError('NOT_ASSIGNED', `${o.topic}/${o.partition} is not assigned to ${m.memberId} in generation ${g.generation}`, {
          group: g.name,
          topic: o.topic,
          partition: o.partition,
        });
    this.touch(g, m);
    return null;
  }

  /** Committed offsets of the group: the given partitions (-1 where none), or every one it has. */
  fetchOffsets(group: string, partitions?: { topic: string; partition: number }[]): CommittedOffset[] {
    validateGroupName(group);
    const reader = READER_PREFIX + group;
    if (partitions === undefined) {
      const topics = new Map(this.host.storedTopics().map((t) => [t.id, t]));
      return this.offsets.list(reader).flatMap((o) => {
        const topic = topics.get(o.topicId);
        return topic ? [{ topic: topic.name, partition: o.partition, offset: o.offset, metadata: o.metadata, commitMs: o.commitMs }] : [];
      });
    }
    return partitions.map(({ topic, partition }) => {
      const t = this.host.findTopic(topic);
      const o = t && this.offsets.get(reader, t.id, partition);
      return o ? { topic, partition, offset: o.offset, metadata: o.metadata, commitMs: o.commitMs } : { topic, partition, offset: -1, metadata: '', commitMs: 0 };
    });
  }

  // ---- administration ----

  listGroups(): GroupSummary[] {
    const out = new Map<string, GroupSummary>();
    for (const group of this.storedGroups()) out.set(group, { group, state: 'empty', members: 0 });
    for (const g of this.groups.values()) out.set(g.name, { group: g.name, state: g.state, members: g.members.size });
    return [...out.values()].sort((a, b) => byCodeUnit(a.group, b.group));
  }

  describeGroup(group: string): GroupDescription {
    validateGroupName(group);
    const g = this.groups.get(group);
    const committed = this.fetchOffsets(group);
    if (!g && committed.length === 0) throw new TributaryError('UNKNOWN_GROUP', `no consumer group ${group}`, { group });
    const owner = new Map<string, string>();
    for (const m of g?.members.values() ?? []) for (const tp of m.assignment) for (const p of tp.partitions) owner.set(`${tp.topic}/${p}`, m.memberId);
    const rows = new Map<string, { topic: string; partition: number; committed: number; metadata: string }>();
    for (const o of committed) rows.set(`${o.topic}/${o.partition}`, { topic: o.topic, partition: o.partition, committed: o.offset, metadata: o.metadata });
    for (const key of owner.keys()) {
      if (rows.has(key)) continue;
      const slash = key.lastIndexOf('/');
      rows.set(key, { topic: key.slice(0, slash), partition: Number(key.slice(slash + 1)), committed: -1, metadata: '' });
    }
    const partitions: PartitionLag[] = [];
    for (const [key, r] of rows) {
      const topic = this.host.findTopic(r.topic);
      const state = topic && this.host.partitionState(topic.id, r.partition);
      if (!state) continue;
      const from = r.committed < 0 ? state.logStartOffset : Math.max(r.committed, state.logStartOffset);
      partitions.push({ ...r, logStartOffset: state.logStartOffset, logEndOffset: state.nextOffset, lag: state.nextOffset - from, memberId: owner.get(key) ?? '' });
    }
    partitions.sort((a, b) => byCodeUnit(a.topic, b.topic) || a.partition - b.partition);
    return {
      group,
      state: g?.state ?? 'empty',
      strategy: g?.strategy ?? 'sticky',
      ...(g?.kind === 'classic' ? { protocol: g.protocol } : {}),
      generation: g?.generation ?? 0,
      members: [...(g?.members.values() ?? [])].map((m) => ({ memberId: m.memberId, instanceId: m.instanceId, clientId: m.clientId, host: m.host, assignment: m.assignment })),
      partitions,
    };
  }

  /** The group's members as Kafka's DescribeGroups shows them; null for a group without members. */
  membership(group: string): MembershipView | null {
    const g = this.groups.get(group);
    if (!g) return null;
    const classic = g.kind === 'classic';
    return {
      kind: g.kind,
      state: g.state,
      awaitingSync: g.syncing,
      protocolType: classic ? g.protocolType : 'consumer',
      protocol: classic ? g.protocol : g.strategy,
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        instanceId: m.instanceId,
        clientId: m.clientId,
        host: m.host,
        metadata: classic ? (m.protocols?.find((p) => p.name === g.protocol)?.metadata ?? Buffer.alloc(0)) : encodeSubscription(m.topics),
        assignment: classic ? m.assignmentBytes : encodeAssignment(m.assignment),
      })),
    };
  }

  /** Kafka's kafka-consumer-groups --reset-offsets: only for a group without members. */
  async resetOffsets(req: ResetRequest): Promise<ResetPlanEntry[]> {
    validateGroupName(req.group);
    const g = this.groups.get(req.group);
    if (g && g.members.size > 0) throw new TributaryError('NON_EMPTY_GROUP', `group ${req.group} has ${g.members.size} members; stop them first`, { group: req.group });
    const topic = this.host.findTopic(req.topic);
    if (!topic) throw new TributaryError('UNKNOWN_TOPIC', `unknown topic ${req.topic}`, { topic: req.topic });
    const partitions = req.partition === undefined ? [...Array(topic.partitions).keys()] : [req.partition];
    const reader = READER_PREFIX + req.group;
    const plan = partitions.map((partition) => {
      const previous = this.offsets.get(reader, topic.id, partition)?.offset ?? -1;
      return { topic: topic.name, partition, previous, offset: resetOffset(this.host, topic, partition, previous, req.target) };
    });
    if (req.execute) {
      await this.commit({ group: req.group, memberId: '', generation: -1, offsets: plan.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.offset, metadata: '' })) });
      this.log.info({ group: req.group, topic: topic.name, partitions: plan.length }, 'offsets reset');
    }
    return plan;
  }

  async deleteGroup(group: string): Promise<void> {
    validateGroupName(group);
    const g = this.groups.get(group);
    if (g && g.members.size > 0) throw new TributaryError('NON_EMPTY_GROUP', `group ${group} has ${g.members.size} members; stop them first`, { group });
    const reader = READER_PREFIX + group;
    if (this.offsets.list(reader).length === 0) throw new TributaryError('UNKNOWN_GROUP', `no consumer group ${group}`, { group });
    await this.offsets.deleteReader(reader);
    this.stored?.delete(group);
    this.log.info({ group }, 'group deleted');
  }

  /** Deletes the offsets of groups empty for longer than the retention; returns the records deleted. */
  expire(nowMs: number): number {
    try {
      const deleted = this.offsets.expire(nowMs, this.opts.offsetsRetentionMs, (group) => !this.groups.has(group), EXPIRED_OFFSETS_PER_STEP);
      if (deleted > 0) this.stored = null;
      return deleted;
    } catch (err) {
      this.log.error({ err }, 'offset expiry failed');
      return 0;
    }
  }

  private unknownMember(g: Group | undefined, memberId: string, group = g?.name ?? ''): TributaryError {
    if (g?.fenced.has(memberId)) return new TributaryError('FENCED_INSTANCE', `member ${memberId} was replaced by a newer member with its instance id`, { group });
    return new TributaryError('UNKNOWN_MEMBER', `group ${group} has no member ${memberId}`, { group });
  }

  /** Members waiting in a join are told the broker is going away; sessions end with it. */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    for (const g of this.groups.values()) {
      if (g.rebalanceTimer) clearTimeout(g.rebalanceTimer);
      if (g.windowTimer) clearTimeout(g.windowTimer);
      for (const m of g.members.values()) {
        if (m.session) clearTimeout(m.session);
        m.pending?.reject(new TributaryError('SHUTTING_DOWN', 'the broker is shutting down'));
        m.pending = null;
        m.syncPending?.reject(new TributaryError('SHUTTING_DOWN', 'the broker is shutting down'));
        m.syncPending = null;
      }
    }
    this.groups.clear();
  }
}

function illegalGeneration(g: Group, generation: number): TributaryError {
  return new TributaryError('ILLEGAL_GENERATION', `generation ${generation} of group ${g.name} is not the current one (${g.generation})`, { group: g.name });
}

/** Names in UTF-16 code unit order (plain string comparison): localeCompare orders by the process's locale, differently per machine. */
function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function validateGroupName(group: string): void {
  if (group.length === 0 || group.length > limits.groupNameMax)
    throw new TributaryError('INVALID_REQUEST', `a group name has 1..${limits.groupNameMax} characters`, { group: group.slice(0, 64) });
}

function compilePattern(source: string | null): RegExp | null {
  if (source === null || source === '') return null;
  if (source.length > limits.groupPatternMax) throw new TributaryError('INVALID_REQUEST', `a topic pattern has at most ${limits.groupPatternMax} characters`);
  let re: RegExp;
  try {
    // Compiled alone first: a source like `x)|(.*` is invalid, yet valid once wrapped, and would
    // then escape the anchors and match far more than the whole names asked for.
    new RegExp(source);
    re = new RegExp(`^(?:${source})$`);
  } catch (err) {
    throw new TributaryError('INVALID_REQUEST', `bad topic pattern: ${(err as Error).message}`);
  }
  // A pattern runs on the event loop against every topic name: one with nested repetition could
  // backtrack for minutes (ReDoS). safe-regex2 refuses those by their star height.
  if (!isSafeRegex(re)) throw new TributaryError('INVALID_REQUEST', 'the topic pattern nests repetitions (like (a+)+); write it without');
  return re;
}

export type { AssignStrategy };

/** Member ids start with the client id, as Kafka's, cut short: a Kafka client id may have 32 767 bytes. */
function memberIdPrefix(clientId: string): string {
  return clientId === '' ? 'member' : clientId.slice(0, limits.groupMemberIdClientCharsMax);
}

function sameProtocols(a: ClassicProtocol[], b: ClassicProtocol[]): boolean {
  return a.length === b.length && a.every((p, i) => p.name === b[i]!.name && p.metadata.equals(b[i]!.metadata));
}

/** The protocol names every one of these members supports. */
function commonProtocols(members: Member[]): Set<string> {
  let common: Set<string> | null = null;
  for (const m of members) {
    const names = new Set<string>((m.protocols ?? []).map((p) => p.name));
    common = common === null ? names : new Set<string>([...common].filter((n: string) => names.has(n)));
  }
  return common ?? new Set<string>();
}

/** As Kafka: among the protocols all support, each member votes for the first it prefers; most votes wins (ties: the earlier vote). */
function chooseProtocol(members: Member[]): string {
  const common = commonProtocols(members);
  const votes = new Map<string, number>();
  for (const m of members) {
    const choice = m.protocols?.find((p) => common.has(p.name))?.name;
    if (choice !== undefined) votes.set(choice, (votes.get(choice) ?? 0) + 1);
  }
  let best = '';
  let most = 0;
  for (const [name, n] of votes) if (n > most) [best, most] = [name, n];
  return best;
}
