// Group membership over raw edge frames: every generation assigns each partition exactly once, for
// each strategy and group size; joins one at a time make the others rebalance; extra members wait
// and take over; grown topics and new topics matching a pattern are assigned at the next rebalance.
import { describe, expect, it } from 'vitest';
import type { StrategyCode } from '../../src/protocol/edge/frames.ts';
import { startEdgeBroker } from '../helpers/raw-edge.ts';
import { assigned, GroupPeer, Member, rejoinAll } from './group-peer.ts';

const strategies: [string, StrategyCode][] = [
  ['sticky', 3],
  ['range', 1],
  ['roundrobin', 2],
];
const all = (topic: string, n: number) => Array.from({ length: n }, (_, p) => `${topic}/${p}`).sort();

async function brokerWithTopic(topic = 't', partitions = 3) {
  const running = await startEdgeBroker();
  const port = running.edge!.port;
  const admin = await GroupPeer.connect(port, 'admin');
  await admin.createTopic(topic, partitions);
  return { running, port, admin };
}

describe.each(strategies)('group membership (%s)', (_name, strategy) => {
  it.each([1, 2, 3, 5])('%i members joining one by one: each generation assigns every partition exactly once', async (size) => {
    const { port } = await brokerWithTopic();
    const members: Member[] = [];
    for (let k = 1; k <= size; k++) {
      const newcomer = await Member.connect(port, 'g', { topics: ['t'], strategy, sessionTimeoutMs: 2000 }, `c${k}`);
      // The others learn of the newcomer from their heartbeat (REBALANCE_IN_PROGRESS) and join again.
      const answers = await rejoinAll(members, [newcomer]);
      members.push(newcomer);
      expect(new Set(answers.map((a) => a.generation))).toEqual(new Set([k]));
      expect(assigned(members)).toEqual(all('t', 3));
      expect(new Set(members.map((m) => m.memberId)).size).toBe(k);
      for (const m of members) expect(await m.heartbeat()).toBe('OK');
    }
    // More members than partitions: the extra ones hold nothing and keep heartbeating.
    const empty = members.filter((m) => m.assignment.every((a) => a.partitions.length === 0));
    expect(empty.length).toBe(Math.max(0, size - 3));
  });
});

describe('group membership', () => {
  it('an extra member takes over the partitions of one that leaves', async () => {
    const { port } = await brokerWithTopic();
    const members: Member[] = [];
    for (let k = 1; k <= 5; k++) {
      const m = await Member.connect(port, 'g', { topics: ['t'] }, `c${k}`);
      await rejoinAll(members, [m]);
      members.push(m);
    }
    const waiting = members.filter((m) => m.partitions('t').length === 0);
    const owner = members.find((m) => m.partitions('t').length > 0)!;
    const released = owner.partitions('t');
    expect(await owner.leave()).toBe('OK');
    const rest = members.filter((m) => m !== owner);
    const answers = await rejoinAll(rest);
    expect(new Set(answers.map((a) => a.generation))).toEqual(new Set([6]));
    expect(assigned(rest)).toEqual(all('t', 3));
    const takenOver = waiting.flatMap((m) => m.partitions('t'));
    expect(takenOver.sort()).toEqual(released);
    // The one that left is gone for good.
    expect(await owner.heartbeat()).toBe('UNKNOWN_MEMBER');
  });

  it('assigns partitions added to the topic (CREATE_TOPIC grow) at the next rebalance', async () => {
    const { port, admin } = await brokerWithTopic();
    const members: Member[] = [];
    for (let k = 1; k <= 2; k++) {
      const m = await Member.connect(port, 'g', { topics: ['t'] }, `c${k}`);
      await rejoinAll(members, [m]);
      members.push(m);
    }
    await admin.createTopic('t', 5, true);
    const answers = await rejoinAll(members);
    expect(answers.map((a) => a.generation)).toEqual([3, 3]);
    expect(assigned(members)).toEqual(all('t', 5));
  });

  it('a pattern subscription picks up a new matching topic (and not others)', async () => {
    const { port, admin } = await brokerWithTopic('sensors-a', 2);
    const members: Member[] = [];
    for (let k = 1; k <= 2; k++) {
      const m = await Member.connect(port, 'p', { pattern: 'sensors-.*' }, `c${k}`);
      await rejoinAll(members, [m]);
      members.push(m);
    }
    expect(assigned(members)).toEqual(all('sensors-a', 2));
    // A topic outside the pattern changes nothing.
    await admin.createTopic('other', 1);
    for (const m of members) expect(await m.heartbeat()).toBe('OK');
    await admin.createTopic('sensors-b', 3);
    await rejoinAll(members);
    expect(assigned(members)).toEqual([...all('sensors-a', 2), ...all('sensors-b', 3)].sort());
  });

  it('drops a deleted topic at the next rebalance; a subscribed topic created later is assigned', async () => {
    const { port, admin } = await brokerWithTopic();
    await admin.createTopic('u', 2);
    const members: Member[] = [];
    for (let k = 1; k <= 2; k++) {
      const m = await Member.connect(port, 'g', { topics: ['t', 'u', 'later'] }, `c${k}`);
      await rejoinAll(members, [m]);
      members.push(m);
    }
    expect(assigned(members)).toEqual([...all('t', 3), ...all('u', 2)].sort());
    expect((await admin.call({ type: 'delete-topic', name: 'u' })).ok).toBe(true);
    await rejoinAll(members);
    expect(assigned(members)).toEqual(all('t', 3));
    await admin.createTopic('later', 1);
    await rejoinAll(members);
    expect(assigned(members)).toEqual([...all('t', 3), 'later/0'].sort());
  });

  it('answers a member that joins again while stable with what it has, without a rebalance', async () => {
    const { port } = await brokerWithTopic();
    const a = await Member.connect(port, 'g', { topics: ['t'] }, 'a');
    const b = await Member.connect(port, 'g', { topics: ['t'] }, 'b');
    await rejoinAll([], [a]);
    await rejoinAll([a], [b]);
    const before = a.partitions('t');
    const again = await a.join();
    expect(again.generation).toBe(2);
    expect(a.partitions('t')).toEqual(before);
    expect(await b.heartbeat()).toBe('OK');
  });
});
