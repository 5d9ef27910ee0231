// Kafka's classic group protocol over raw requests: JoinGroup (MEMBER_ID_REQUIRED, the join window,
// the leader's answer), SyncGroup, Heartbeat, LeaveGroup, OffsetCommit/OffsetFetch on the one offset
// store, ListGroups/DescribeGroups, and the two kinds of group (edge and Kafka clients) refusing each
// other with INCONSISTENT_GROUP_PROTOCOL.
import { describe, expect, it } from 'vitest';
import { decodeAssignment, encodeAssignment, encodeSubscription } from '../../../src/groups/consumer-protocol.ts';
import { ApiKey, KafkaError } from '../../../src/protocol/kafka/index.ts';
import { startKafkaBroker, RawKafka, type KafkaTestBroker } from '../../helpers/kafka.ts';
import { codeOf, Member } from '../../groups/group-peer.ts';

const sub = (...topics: string[]) => encodeSubscription(topics);

interface Joined {
  errorCode: number;
  generationId: number;
  leader: string;
  memberId: string;
  protocolName: string | null;
  members: { memberId: string; metadata: Buffer }[];
}

/** JoinGroup at `version` (MEMBER_ID_REQUIRED answered for v4+ by joining again with the given id). */
async function join(raw: RawKafka, group: string, version = 5, memberId = '', protocols = [{ name: 'range', metadata: sub('t') }], sessionTimeoutMs = 10_000): Promise<Joined> {
  const body = { groupId: group, sessionTimeoutMs, rebalanceTimeoutMs: 10_000, memberId, groupInstanceId: null, protocolType: 'consumer', protocols };
  let r = (await raw.request(ApiKey.JoinGroup, version, body)) as Joined;
  if (r.errorCode === KafkaError.MEMBER_ID_REQUIRED) r = (await raw.request(ApiKey.JoinGroup, version, { ...body, memberId: r.memberId })) as Joined;
  return r;
}

async function sync(raw: RawKafka, group: string, generation: number, memberId: string, assignments: { memberId: string; assignment: Buffer }[] = [], version = 3) {
  return raw.request(ApiKey.SyncGroup, version, { groupId: group, generationId: generation, memberId, groupInstanceId: null, assignments });
}

async function heartbeat(raw: RawKafka, group: string, generation: number, memberId: string, version = 3): Promise<number> {
  return (await raw.request(ApiKey.Heartbeat, version, { groupId: group, generationId: generation, memberId, groupInstanceId: null })).errorCode;
}

async function broker(): Promise<KafkaTestBroker> {
  const b = await startKafkaBroker();
  b.running.broker.createTopic({ name: 't', partitions: 3 });
  return b;
}

describe('Kafka groups: JoinGroup / SyncGroup / Heartbeat / LeaveGroup', () => {
  it('JoinGroup v4+ with no member id answers MEMBER_ID_REQUIRED with an id; joining with it makes the member; v3 joins at once', async () => {
    const b = await broker();
    const raw = await RawKafka.connect(b.kafkaPort);
    const body = { groupId: 'mid', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: '', groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'range', metadata: sub('t') }] };
    const first = await raw.request(ApiKey.JoinGroup, 4, body);
    expect(first.errorCode).toBe(KafkaError.MEMBER_ID_REQUIRED);
    expect(first.memberId).toMatch(/^raw-test-/);
    expect(b.running.broker.groups.membership('mid')).toBeNull();
    const second = await raw.request(ApiKey.JoinGroup, 4, { ...body, memberId: first.memberId });
    expect(second).toMatchObject({ errorCode: 0, generationId: 1, memberId: first.memberId, leader: first.memberId, protocolName: 'range' });
    // An id never handed out is UNKNOWN_MEMBER_ID.
    expect((await raw.request(ApiKey.JoinGroup, 4, { ...body, memberId: 'made-up' })).errorCode).toBe(KafkaError.UNKNOWN_MEMBER_ID);
    const old = await raw.request(ApiKey.JoinGroup, 3, { ...body, groupId: 'mid-v3' });
    expect(old).toMatchObject({ errorCode: 0, generationId: 1 });
  });

  it('the join window puts members starting together in one generation; the leader gets every metadata and assigns in SyncGroup; followers wait for it', async () => {
    const b = await broker();
    const [ra, rb] = [await RawKafka.connect(b.kafkaPort), await RawKafka.connect(b.kafkaPort)];
    const [a, c] = await Promise.all([join(ra, 'win', 5, '', [{ name: 'range', metadata: sub('t') }, { name: 'roundrobin', metadata: sub('t') }]), join(rb, 'win', 5, '', [{ name: 'roundrobin', metadata: sub('t') }, { name: 'range', metadata: sub('t') }])]);
    expect(a.generationId).toBe(1);
    expect(c.generationId).toBe(1);
    expect(a.leader).toBe(c.leader);
    const [leader, leaderRaw, follower, followerRaw] = a.leader === a.memberId ? [a, ra, c, rb] : [c, rb, a, ra];
    // A tie of votes: the earlier vote wins (Kafka picks among the protocols all support).
    expect(['range', 'roundrobin']).toContain(leader.protocolName);
    expect(leader.members.map((m) => m.memberId).sort()).toEqual([a.memberId, c.memberId].sort());
    expect(leader.members.every((m) => m.metadata.equals(sub('t')))).toBe(true);
    expect(follower.members).toEqual([]);

    // The follower's SyncGroup waits; heartbeats meanwhile are fine (CompletingRebalance), commits are not.
    const followerSync = sync(followerRaw, 'win', 1, follower.memberId);
    expect(b.running.broker.groups.membership('win')).toMatchObject({ state: 'rebalancing', awaitingSync: true });
    const mine = encodeAssignment([{ topic: 't', partitions: [0, 1] }]);
    const theirs = encodeAssignment([{ topic: 't', partitions: [2] }]);
    const leaderSync = await sync(leaderRaw, 'win', 1, leader.memberId, [
      { memberId: leader.memberId, assignment: mine },
      { memberId: follower.memberId, assignment: theirs },
    ]);
    expect(leaderSync).toMatchObject({ errorCode: 0 });
    expect(leaderSync.assignment.equals(mine)).toBe(true);
    const got = await followerSync;
    expect(got.errorCode).toBe(0);
    expect(got.assignment.equals(theirs)).toBe(true);
    expect(decodeAssignment(got.assignment)).toEqual([{ topic: 't', partitions: [2] }]);

    // The coordinator knows the owners from the decoded assignment: describe shows them.
    const d = b.running.broker.groups.describeGroup('win');
    expect(d).toMatchObject({ state: 'stable', generation: 1, protocol: leader.protocolName });
    expect(d.partitions.map((p) => [p.partition, p.memberId])).toEqual([
      [0, leader.memberId],
      [1, leader.memberId],
      [2, follower.memberId],
    ]);
    expect(await heartbeat(ra, 'win', 1, a.memberId)).toBe(0);
  });

  it('a new member starts a rebalance: heartbeats answer REBALANCE_IN_PROGRESS, the old generation may still commit, members rejoin into generation 2', async () => {
    const b = await broker();
    const [ra, rb] = [await RawKafka.connect(b.kafkaPort), await RawKafka.connect(b.kafkaPort)];
    const a = await join(ra, 'reb');
    await sync(ra, 'reb', 1, a.memberId, [{ memberId: a.memberId, assignment: encodeAssignment([{ topic: 't', partitions: [0, 1, 2] }]) }]);
    const newcomer = join(rb, 'reb');
    await expect.poll(() => heartbeat(ra, 'reb', 1, a.memberId)).toBe(KafkaError.REBALANCE_IN_PROGRESS);
    const commit = await ra.request(ApiKey.OffsetCommit, 7, {
      groupId: 'reb',
      generationIdOrMemberEpoch: 1,
      memberId: a.memberId,
      groupInstanceId: null,
      topics: [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: 0n, committedLeaderEpoch: -1, committedMetadata: null }] }],
    });
    expect(commit.topics[0]!.partitions[0]!.errorCode).toBe(0);
    const again = await join(ra, 'reb', 5, a.memberId);
    const c = await newcomer;
    expect(again.generationId).toBe(2);
    expect(c.generationId).toBe(2);
    expect(again.leader).toBe(a.memberId);
    expect(await heartbeat(ra, 'reb', 1, a.memberId)).toBe(KafkaError.ILLEGAL_GENERATION);
    expect(await heartbeat(ra, 'reb', 2, 'nobody')).toBe(KafkaError.UNKNOWN_MEMBER_ID);
    // A SyncGroup of an old generation: ILLEGAL_GENERATION.
    expect((await sync(rb, 'reb', 1, c.memberId)).errorCode).toBe(KafkaError.ILLEGAL_GENERATION);
  });

  it('a session that expires removes the member; LeaveGroup v0 and v3 (by member id) remove at once', async () => {
    const b = await broker();
    const ra = await RawKafka.connect(b.kafkaPort);
    const a = await join(ra, 'lv', 5, '', undefined, 500);
    await expect.poll(() => b.running.broker.groups.membership('lv'), { timeout: 10_000 }).toBeNull();
    expect(await heartbeat(ra, 'lv', 1, a.memberId)).toBe(KafkaError.UNKNOWN_MEMBER_ID);
    const m1 = await join(ra, 'lv');
    expect((await ra.request(ApiKey.LeaveGroup, 0, { groupId: 'lv', memberId: m1.memberId })).errorCode).toBe(0);
    const m2 = await join(ra, 'lv');
    const left = await ra.request(ApiKey.LeaveGroup, 3, { groupId: 'lv', members: [{ memberId: m2.memberId, groupInstanceId: null }, { memberId: 'gone', groupInstanceId: null }] });
    expect(left.members.map((m) => m.errorCode)).toEqual([0, KafkaError.UNKNOWN_MEMBER_ID]);
    expect(b.running.broker.groups.membership('lv')).toBeNull();
  });

  it('a member whose connection closes during its join still counts as joined (as Kafka): the generation forms without waiting out the rebalance timeout, then its session removes it', async () => {
    const b = await broker();
    const [ra, rc] = [await RawKafka.connect(b.kafkaPort), await RawKafka.connect(b.kafkaPort)];
    const body = (memberId: string, sessionTimeoutMs: number) => ({ groupId: 'ab', sessionTimeoutMs, rebalanceTimeoutMs: 600_000, memberId, groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'range', metadata: sub('t') }] });
    const a = await ra.request(ApiKey.JoinGroup, 3, body('', 10_000));
    await sync(ra, 'ab', 1, a.memberId, [{ memberId: a.memberId, assignment: encodeAssignment([{ topic: 't', partitions: [0, 1, 2] }]) }]);
    rc.send(ApiKey.JoinGroup, 3, body('', 1000));
    await expect.poll(() => heartbeat(ra, 'ab', 1, a.memberId)).toBe(KafkaError.REBALANCE_IN_PROGRESS);
    rc.socket.destroy();
    // The broker saw the connection close before the leader joins again.
    await expect.poll(() => b.running.kafka!.connectionCount).toBe(1);
    const again = await ra.request(ApiKey.JoinGroup, 3, body(a.memberId, 10_000));
    expect(again).toMatchObject({ errorCode: 0, generationId: 2 });
    expect(again.members).toHaveLength(2);
    // The closed member sends no heartbeat: its session ends, and the group moves on without it.
    await expect.poll(() => b.running.broker.groups.membership('ab')?.members.length, { timeout: 10_000 }).toBe(1);
  });

  it('static membership: a restart with the same group.instance.id takes the place without a rebalance; the old id is FENCED_INSTANCE_ID', async () => {
    const b = await broker();
    const [ra, rb] = [await RawKafka.connect(b.kafkaPort), await RawKafka.connect(b.kafkaPort)];
    const body = (memberId: string, instance: string) => ({ groupId: 'st', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId, groupInstanceId: instance, protocolType: 'consumer', protocols: [{ name: 'range', metadata: sub('t') }] });
    const [x, y] = await Promise.all([ra.request(ApiKey.JoinGroup, 5, body('', 'i-1')), rb.request(ApiKey.JoinGroup, 5, body('', 'i-2'))]);
    const [leader, leaderRaw, follower] = x.leader === x.memberId ? [x, ra, y] : [y, rb, x];
    const theirs = encodeAssignment([{ topic: 't', partitions: [1] }]);
    const followerSync = sync(leaderRaw === ra ? rb : ra, 'st', 1, follower.memberId);
    await sync(leaderRaw, 'st', 1, leader.memberId, [{ memberId: follower.memberId, assignment: theirs }]);
    await followerSync;
    const instance = follower === x ? 'i-1' : 'i-2';
    const restarted = await RawKafka.connect(b.kafkaPort);
    const back = await restarted.request(ApiKey.JoinGroup, 5, body('', instance));
    expect(back).toMatchObject({ errorCode: 0, generationId: 1 });
    expect(back.memberId).not.toBe(follower.memberId);
    expect((await sync(restarted, 'st', 1, back.memberId)).assignment.equals(theirs)).toBe(true);
    expect(b.running.broker.groups.membership('st')).toMatchObject({ state: 'stable' });
    expect(await heartbeat(restarted, 'st', 1, follower.memberId)).toBe(KafkaError.FENCED_INSTANCE_ID);

    // The leader restarts too: answered as a follower naming its old id as the leader's, as Kafka does, so
    // it does not assign; its SyncGroup gets what it had; still generation 1, and nobody rebalances.
    const leaderInstance = follower === x ? 'i-2' : 'i-1';
    const restartedLeader = await RawKafka.connect(b.kafkaPort);
    const leaderBack = await restartedLeader.request(ApiKey.JoinGroup, 5, body('', leaderInstance));
    expect(leaderBack).toMatchObject({ errorCode: 0, generationId: 1, leader: leader.memberId, members: [] });
    expect(leaderBack.memberId).not.toBe(leader.memberId);
    expect((await sync(restartedLeader, 'st', 1, leaderBack.memberId)).errorCode).toBe(0);
    expect(b.running.broker.groups.membership('st')).toMatchObject({ state: 'stable' });
    expect(await heartbeat(restarted, 'st', 1, back.memberId)).toBe(0);
    expect(await heartbeat(restartedLeader, 'st', 1, leader.memberId)).toBe(KafkaError.FENCED_INSTANCE_ID);
  });

  it('JoinGroup refusals: an empty group id (INVALID_GROUP_ID), a session timeout out of range (INVALID_SESSION_TIMEOUT), a protocol no member shares (INCONSISTENT_GROUP_PROTOCOL), too much metadata or assignment, a too long instance id (INVALID_REQUEST)', async () => {
    const b = await broker();
    const raw = await RawKafka.connect(b.kafkaPort);
    expect((await join(raw, '')).errorCode).toBe(KafkaError.INVALID_GROUP_ID);
    expect((await join(raw, 'g', 5, '', undefined, 100)).errorCode).toBe(KafkaError.INVALID_SESSION_TIMEOUT);
    expect((await join(raw, 'g')).errorCode).toBe(0);
    const other = await RawKafka.connect(b.kafkaPort);
    expect((await join(other, 'g', 5, '', [{ name: 'cooperative-sticky', metadata: sub('t') }])).errorCode).toBe(KafkaError.INCONSISTENT_GROUP_PROTOCOL);
    // What a member keeps while it lives is bounded: 16 KiB of protocol metadata per join.
    expect((await join(other, 'big', 5, '', [{ name: 'range', metadata: Buffer.alloc(17 * 1024) }])).errorCode).toBe(KafkaError.INVALID_REQUEST);
    expect(b.running.broker.groups.membership('big')).toBeNull();
    // 64 KiB of assignment per member in the leader's SyncGroup; the group waits for a valid one.
    const leader = await join(other, 'big-sync');
    expect((await sync(other, 'big-sync', 1, leader.memberId, [{ memberId: leader.memberId, assignment: Buffer.alloc(65 * 1024) }])).errorCode).toBe(KafkaError.INVALID_REQUEST);
    expect(b.running.broker.groups.membership('big-sync')).toMatchObject({ awaitingSync: true });
    // A static instance id is a group name's length at most (249).
    const longInstance = await other.request(ApiKey.JoinGroup, 5, { groupId: 'g2', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: '', groupInstanceId: 'i'.repeat(250), protocolType: 'consumer', protocols: [{ name: 'range', metadata: sub('t') }] });
    expect(longInstance.errorCode).toBe(KafkaError.INVALID_REQUEST);
  });

  it('a group has one kind: Kafka clients get INCONSISTENT_GROUP_PROTOCOL on an edge group, edge clients INCONSISTENT_GROUP_PROTOCOL on a Kafka group', async () => {
    const b = await broker();
    const edge = await Member.connect(b.url.port, 'edge-group', { topics: ['t'] });
    await edge.join();
    const raw = await RawKafka.connect(b.kafkaPort);
    expect((await join(raw, 'edge-group')).errorCode).toBe(KafkaError.INCONSISTENT_GROUP_PROTOCOL);

    expect((await join(raw, 'kafka-group')).errorCode).toBe(0);
    const intruder = await Member.connect(b.url.port, 'kafka-group', { topics: ['t'] });
    expect(codeOf(await intruder.peer.call({ type: 'join-group', group: 'kafka-group', memberId: '', instanceId: '', sessionTimeoutMs: 2000, rebalanceTimeoutMs: 0, strategy: 0, pattern: '', topics: ['t'] }))).toBe('INCONSISTENT_GROUP_PROTOCOL');
  });

  it('every JoinGroup version 0-9 with the SyncGroup, Heartbeat, OffsetCommit, OffsetFetch and LeaveGroup versions of its era', async () => {
    const b = await broker();
    const raw = await RawKafka.connect(b.kafkaPort);
    for (let v = 0; v <= 9; v++) {
      const group = `ver-${v}`;
      const j = await join(raw, group, v);
      expect(j).toMatchObject({ errorCode: 0, generationId: 1, leader: j.memberId, protocolName: 'range' });
      const s = await raw.request(ApiKey.SyncGroup, Math.min(v, 5), {
        groupId: group,
        generationId: 1,
        memberId: j.memberId,
        groupInstanceId: null,
        protocolType: 'consumer',
        protocolName: 'range',
        assignments: [{ memberId: j.memberId, assignment: encodeAssignment([{ topic: 't', partitions: [0, 1, 2] }]) }],
      });
      expect(s.errorCode).toBe(0);
      expect(await heartbeat(raw, group, 1, j.memberId, Math.min(v, 4))).toBe(0);
      const cv = Math.min(v, 8);
      const c = await raw.request(ApiKey.OffsetCommit, cv, {
        groupId: group,
        generationIdOrMemberEpoch: cv === 0 ? -1 : 1,
        memberId: cv === 0 ? '' : j.memberId,
        groupInstanceId: null,
        retentionTimeMs: -1n,
        topics: [{ name: 't', partitions: [{ partitionIndex: 1, committedOffset: 0n, committedLeaderEpoch: -1, commitTimestamp: -1n, committedMetadata: `m${v}` }] }],
      });
      // v0 carries no member: a commit from outside the group, refused while it has members (as Kafka).
      expect(c.topics[0]!.partitions[0]!.errorCode).toBe(cv === 0 ? KafkaError.UNKNOWN_MEMBER_ID : 0);
      const fv = Math.min(v, 8);
      const f = await raw.request(ApiKey.OffsetFetch, fv, { groupId: group, topics: [{ name: 't', partitionIndexes: [1] }], groups: [{ groupId: group, topics: [{ name: 't', partitionIndexes: [1] }] }] });
      const part = fv >= 8 ? f.groups[0]!.topics[0]!.partitions[0]! : f.topics[0]!.partitions[0]!;
      expect([part.committedOffset, part.metadata]).toEqual(cv === 0 ? [-1n, ''] : [0n, `m${v}`]);
      const l = await raw.request(ApiKey.LeaveGroup, Math.min(v, 5), { groupId: group, memberId: j.memberId, members: [{ memberId: j.memberId, groupInstanceId: null }] });
      expect(l.errorCode).toBe(0);
    }
  });
});

describe('Kafka groups: bounds', () => {
  it('one connection creates at most 64 members (GROUP_MAX_SIZE_REACHED past them); MEMBER_ID_REQUIRED offers create none; other connections are unaffected', async () => {
    const b = await startKafkaBroker({ groups: { initialRebalanceDelayMs: 0 } });
    const flood = await RawKafka.connect(b.kafkaPort);
    const codes: number[] = [];
    // No join window: each join of a new group completes at once.
    for (let i = 0; i < 70; i++) codes.push((await join(flood, `flood-${i}`, 3)).errorCode);
    expect(codes.filter((c) => c === 0)).toHaveLength(64);
    expect(codes.slice(64)).toEqual(Array(6).fill(KafkaError.GROUP_MAX_SIZE_REACHED));
    // Offers (JoinGroup v4+ without a member id) are not members: they cost no group and no member.
    for (let i = 0; i < 200; i++) flood.send(ApiKey.JoinGroup, 4, { groupId: `offer-${i}`, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: '', groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'range', metadata: sub('t') }] });
    for (let i = 0; i < 200; i++) expect((await flood.response(ApiKey.JoinGroup, 4)).body.errorCode).toBe(KafkaError.MEMBER_ID_REQUIRED);
    expect(b.running.broker.groups.listGroups().filter((g) => g.group.startsWith('offer-'))).toEqual([]);
    const other = await RawKafka.connect(b.kafkaPort);
    expect((await join(other, 'fine')).errorCode).toBe(0);
  });
});

describe('Kafka groups: offsets and administration', () => {
  it('OffsetCommit from outside the group (generation -1, assign() consumers) goes to the same store: edge, describe and a restart see it; unknown partitions are refused alone', async () => {
    const b = await broker();
    const raw = await RawKafka.connect(b.kafkaPort);
    await b.running.broker.produce({ topic: 't', partition: 0, records: Array.from({ length: 5 }, (_, i) => ({ timestampMs: 1, key: null, value: Buffer.from(String(i)), headers: [] })), acks: 1 });
    const r = await raw.request(ApiKey.OffsetCommit, 2, {
      groupId: 'plain',
      generationIdOrMemberEpoch: -1,
      memberId: '',
      retentionTimeMs: -1n,
      topics: [
        { name: 't', partitions: [{ partitionIndex: 0, committedOffset: 3n, committedMetadata: 'hi' }, { partitionIndex: 7, committedOffset: 1n, committedMetadata: null }] },
        { name: 'missing', partitions: [{ partitionIndex: 0, committedOffset: 1n, committedMetadata: null }] },
      ],
    });
    expect(r.topics.map((t) => t.partitions.map((p) => p.errorCode))).toEqual([[0, KafkaError.UNKNOWN_TOPIC_OR_PARTITION], [KafkaError.UNKNOWN_TOPIC_OR_PARTITION]]);
    expect(b.running.broker.groups.describeGroup('plain').partitions).toMatchObject([{ topic: 't', partition: 0, committed: 3, lag: 2, metadata: 'hi' }]);

    await b.stop();
    await b.start();
    const again = await RawKafka.connect(b.running.kafka!.port);
    const all = await again.request(ApiKey.OffsetFetch, 5, { groupId: 'plain', topics: null });
    expect(all.errorCode).toBe(0);
    expect(all.topics).toEqual([{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: 3n, committedLeaderEpoch: -1, metadata: 'hi', errorCode: 0 }] }]);
    const none = await again.request(ApiKey.OffsetFetch, 1, { groupId: 'nobody', topics: [{ name: 't', partitionIndexes: [2] }] });
    expect(none.topics[0]!.partitions[0]!.committedOffset).toBe(-1n);
  });

  it('ListGroups and DescribeGroups show Kafka and edge groups: state, protocol type and name, members with their metadata and assignment bytes; an unknown group is Dead', async () => {
    const b = await broker();
    const raw = await RawKafka.connect(b.kafkaPort);
    const j = await join(raw, 'kg');
    const bytes = encodeAssignment([{ topic: 't', partitions: [0, 2] }]);
    await sync(raw, 'kg', 1, j.memberId, [{ memberId: j.memberId, assignment: bytes }]);
    const edge = await Member.connect(b.url.port, 'eg', { topics: ['t'] });
    await edge.join();
    await raw.request(ApiKey.OffsetCommit, 2, { groupId: 'stored', generationIdOrMemberEpoch: -1, memberId: '', retentionTimeMs: -1n, topics: [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: 0n, committedMetadata: null }] }] });

    const list = await raw.request(ApiKey.ListGroups, 4, { statesFilter: [] });
    expect(list.groups.map((g) => [g.groupId, g.protocolType, g.groupState])).toEqual([
      ['eg', 'consumer', 'Stable'],
      ['kg', 'consumer', 'Stable'],
      ['stored', '', 'Empty'],
    ]);
    expect((await raw.request(ApiKey.ListGroups, 4, { statesFilter: ['Empty'] })).groups.map((g) => g.groupId)).toEqual(['stored']);

    const d = await raw.request(ApiKey.DescribeGroups, 5, { groups: ['kg', 'eg', 'stored', 'never'], includeAuthorizedOperations: false });
    const [kg, eg, stored, never] = d.groups;
    expect(kg).toMatchObject({ errorCode: 0, groupState: 'Stable', protocolType: 'consumer', protocolData: 'range' });
    expect(kg!.members).toHaveLength(1);
    expect(kg!.members[0]!.memberMetadata.equals(sub('t'))).toBe(true);
    expect(kg!.members[0]!.memberAssignment.equals(bytes)).toBe(true);
    expect(eg).toMatchObject({ groupState: 'Stable', protocolType: 'consumer', protocolData: 'sticky' });
    expect(decodeAssignment(eg!.members[0]!.memberAssignment)).toEqual([{ topic: 't', partitions: [0, 1, 2] }]);
    expect(stored).toMatchObject({ errorCode: 0, groupState: 'Empty', members: [] });
    expect(never).toMatchObject({ errorCode: 0, groupState: 'Dead', members: [] });
  });
});
