// Bad group requests over raw edge frames: each gets one clear, stable error, and nothing else is
// affected (the connection stays usable, another group's member keeps heartbeating, a producer on
// another connection keeps getting acks). The join flood runs against a child broker to measure its RSS.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ErrorName } from '../../src/errors.ts';
import { limits } from '../../src/limits.ts';
import type { GroupsFrame, JoinGroupFrame } from '../../src/protocol/edge/frames.ts';
import { freePort, startChildBroker } from '../helpers/child-broker.ts';
import { startEdgeBroker } from '../helpers/raw-edge.ts';
import { tempDir } from '../helpers/temp.ts';
import { codeOf, GroupPeer, Member, ok, rejoinAll, type Answer } from './group-peer.ts';

async function setup(port?: number) {
  const p = port ?? (await startEdgeBroker()).edge!.port;
  const admin = await GroupPeer.connect(p, 'admin');
  await admin.createTopic('t', 3);
  for (let partition = 0; partition < 3; partition++) await admin.produce('t', partition, ['a', 'b', 'c']);
  // Bystanders: a member of another group and a producer on their own connections.
  const bystander = await Member.connect(p, 'calm', { topics: ['t'], sessionTimeoutMs: 30_000 }, 'bystander');
  await bystander.join();
  const producer = await GroupPeer.connect(p, 'producer');
  await producer.alias('t');
  return { port: p, admin, bystander, producer };
}

async function unaffected(s: { bystander: Member; producer: GroupPeer; admin: GroupPeer }): Promise<void> {
  expect(await s.bystander.heartbeat()).toBe('OK');
  expect(await s.producer.produce('t', 0, ['still here'])).toBeGreaterThan(0);
  expect((await s.admin.call({ type: 'ping' })).ok).toBe(true);
}

const join = (peer: GroupPeer, over: Record<string, unknown>) =>
  peer.call({ type: 'join-group', group: 'g', memberId: '', instanceId: '', sessionTimeoutMs: 2000, rebalanceTimeoutMs: 0, strategy: 0, pattern: '', topics: ['t'], ...over } as never);

function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;
  return Number(kb) * 1024;
}

describe('bad group requests', () => {
  it('each gets a clear, stable error and leaves the rest alone', async () => {
    const s = await setup();
    const { admin } = s;
    const member = await Member.connect(s.port, 'g', { topics: ['t'] });
    await member.join();
    const cases: [string, () => Promise<Answer>, ErrorName][] = [
      ['describe of an unknown group', () => admin.call({ type: 'describe-group', group: 'nobody' }), 'UNKNOWN_GROUP'],
      ['commit for a partition that does not exist', () => member.peer.commit('g', member.memberId, member.generation, [{ topic: 't', partition: 3, offset: 0 }]), 'INVALID_PARTITION'],
      ['commit beyond the log end', () => member.peer.commit('g', member.memberId, member.generation, [{ topic: 't', partition: 0, offset: 1000 }]), 'OFFSET_OUT_OF_RANGE'],
      ['heartbeat from an unknown member', () => admin.call({ type: 'heartbeat', group: 'g', memberId: 'who-1', generation: 1 }), 'UNKNOWN_MEMBER'],
      ['heartbeat to an unknown group', () => admin.call({ type: 'heartbeat', group: 'nobody', memberId: 'who-1', generation: 1 }), 'UNKNOWN_MEMBER'],
      ['an invalid pattern', () => join(admin, { topics: [], pattern: 'sensors-(' }), 'INVALID_REQUEST'],
      // Invalid on its own, though valid once wrapped in the anchors ^(?:…)$: it must not escape them.
      ['a pattern that closes the anchoring group', () => join(admin, { topics: [], pattern: 'x)|(.*' }), 'INVALID_REQUEST'],
      ['a pattern with nested repetition', () => join(admin, { topics: [], pattern: '(a+)+' }), 'INVALID_REQUEST'],
      ['a session timeout below the minimum', () => join(admin, { sessionTimeoutMs: limits.groupSessionTimeoutMsMin - 1 }), 'INVALID_REQUEST'],
      ['a session timeout above the maximum', () => join(admin, { sessionTimeoutMs: limits.groupSessionTimeoutMsMax + 1 }), 'INVALID_REQUEST'],
      ['a strategy other than the group\'s while it has members', () => join(admin, { strategy: 1 }), 'INVALID_REQUEST'],
      ['a join without topics or pattern', () => join(admin, { topics: [] }), 'INVALID_REQUEST'],
      ['a join with an unknown member id', () => join(admin, { group: 'fresh', memberId: 'made-up' }), 'UNKNOWN_MEMBER'],
    ];
    for (const [what, call, expected] of cases) {
      expect(codeOf(await call()), what).toBe(expected);
      await unaffected(s);
    }
    // The member the bad calls named is untouched, and the refused ones left no group behind.
    expect(await member.heartbeat()).toBe('OK');
    const groups = ok<GroupsFrame>(await admin.call({ type: 'list-groups' })).groups.map((g) => g.name);
    expect(groups).toEqual(['calm', 'g']);
  });

  it('a join refused for an unknown member id creates no group: a flood of them cannot fill the broker', async () => {
    const s = await setup();
    const flooder = await GroupPeer.connect(s.port, 'flooder');
    // Sent in windows below the in-flight limit, as a pipelining client would.
    const window = limits.edgeGroupRequestsInflightMax / 2;
    for (let i = 0; i < limits.groupsMax + 10; i += window) {
      const answers = Array.from({ length: window }, (_, j) =>
        flooder.send({ type: 'join-group', group: `ghost-${i + j}`, memberId: 'made-up', instanceId: '', sessionTimeoutMs: 2000, rebalanceTimeoutMs: 0, strategy: 0, pattern: '', topics: ['t'] }),
      );
      for (const a of answers) expect(codeOf(await a())).toBe('UNKNOWN_MEMBER');
    }
    const fresh = await Member.connect(s.port, 'fresh', { topics: ['t'] });
    expect((await fresh.join()).generation).toBe(1);
    expect(ok<GroupsFrame>(await s.admin.call({ type: 'list-groups' })).groups.map((g) => g.name)).toEqual(['calm', 'fresh']);
  });

  it('a join flood from one connection: THROTTLED past the in-flight limit, GROUP_FULL past the member limit, RSS bounded, others unaffected', async () => {
    const port = await freePort();
    const broker = await startChildBroker(tempDir(), port);
    const s = await setup(port);
    const rssBefore = rssBytes(broker.child.pid!);
    // One member of group "flood" that the flood's rebalance waits for: the flood's joins stay pending.
    const holder = await Member.connect(port, 'flood', { topics: ['t'], sessionTimeoutMs: 30_000 }, 'holder');
    await holder.join();

    const flooder = await GroupPeer.connect(port, 'flooder');
    const joinReq: Omit<JoinGroupFrame, 'corr'> = { type: 'join-group', group: 'flood', memberId: '', instanceId: '', sessionTimeoutMs: 30_000, rebalanceTimeoutMs: 0, strategy: 0, pattern: '', topics: ['t'] };
    const waits = Array.from({ length: 400 }, () => flooder.send(joinReq));
    const pending = limits.edgeGroupRequestsInflightMax;
    const throttled = await Promise.all(waits.slice(pending).map((w) => w()));
    expect(new Set(throttled.map(codeOf))).toEqual(new Set(['THROTTLED']));
    await unaffected(s);

    // The holder learns of the rebalance and joins again: the pending joins are answered.
    await rejoinAll([holder]);
    const joined = await Promise.all(waits.slice(0, pending).map((w) => w()));
    expect(new Set(joined.map(codeOf))).toEqual(new Set(['OK']));
    expect(new Set(joined.map((a) => (a.ok && a.frame.type === 'joined' ? a.frame.generation : -1)))).toEqual(new Set([holder.generation]));

    // The connection made as many members as one may: the next joins are GROUP_FULL, for it only.
    const more = [];
    for (let i = 0; i < 200; i++) more.push(codeOf(await flooder.call(joinReq)));
    expect(new Set(more)).toEqual(new Set(['GROUP_FULL']));
    const other = await Member.connect(port, 'elsewhere', { topics: ['t'] }, 'other');
    expect((await other.join()).generation).toBe(1);
    // One of its members leaves: the connection may create one again.
    const one = joined[0]!;
    expect(one.ok && codeOf(await flooder.call({ type: 'leave-group', group: 'flood', memberId: one.frame.type === 'joined' ? one.frame.memberId : '' }))).toBe('OK');
    expect(codeOf(await flooder.call({ ...joinReq, group: 'flood-2' }))).toBe('OK');
    expect(codeOf(await flooder.call({ ...joinReq, group: 'flood-3' }))).toBe('GROUP_FULL');
    await unaffected(s);

    const rssAfter = rssBytes(broker.child.pid!);
    // 600 joins and 64 members are a few hundred kB; 64 MB would mean state kept per refused request.
    expect(rssAfter - rssBefore).toBeLessThan(64 * 1024 * 1024);
    // 64 joins waiting on one connection are bounded: no "possible memory leak" warning on stderr.
    expect(broker.output()).not.toMatch(/MaxListenersExceededWarning/);
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
  }, 60_000);
  it('a subscription names only possible topics: junk names are refused, so one connection\'s members hold little memory', async () => {
    const port = await freePort();
    const broker = await startChildBroker(tempDir(), port);
    const s = await setup(port);
    const hoarder = await GroupPeer.connect(port, 'hoarder');
    const hoard = (group: string, topics: string[]) =>
      hoarder.call({ type: 'join-group', group, memberId: '', instanceId: '', sessionTimeoutMs: 30_000, rebalanceTimeoutMs: 0, strategy: 0, pattern: '', topics });
    // 900 names of 1000 characters (a JOIN_GROUP just under the 1 MiB frame limit): no topic has such a name.
    expect(codeOf(await hoard('hoard', Array.from({ length: 900 }, (_, j) => `${j}-`.padEnd(1000, 'x'))))).toBe('INVALID_REQUEST');
    expect(codeOf(await hoard('hoard', ['t', 'no/slash']))).toBe('INVALID_REQUEST');
    expect(ok<GroupsFrame>(await s.admin.call({ type: 'list-groups' })).groups.map((g) => g.name)).toEqual(['calm']);
    // A subscription lists at most groupSubscriptionCharsMax characters of names: one more is refused.
    const longest = (i: number, n: number) => Array.from({ length: n }, (_, j) => `${i}-${j}-`.padEnd(limits.topicNameLengthMax, 'x'));
    const perJoin = Math.floor(limits.groupSubscriptionCharsMax / limits.topicNameLengthMax);
    expect(codeOf(await hoard('hoard-over', longest(0, perJoin + 1)))).toBe('INVALID_REQUEST');
    // The most it allows: 64 members × 16 KiB of names.
    const rssBefore = rssBytes(broker.child.pid!);
    for (let i = 0; i < limits.groupMembersPerConnectionMax; i++) expect(codeOf(await hoard(`hoard-${i}`, longest(i, perJoin)))).toBe('OK');
    const grown = rssBytes(broker.child.pid!) - rssBefore;
    // 64 × 16 KiB of names, plus the decoded frames not yet collected (before the subscription cap,
    // 1000 names of 249 characters each took +42 MB, and names no topic can have +85 MB).
    expect(grown).toBeLessThan(16 * 1024 * 1024);
    await unaffected(s);
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
  }, 60_000);
});
