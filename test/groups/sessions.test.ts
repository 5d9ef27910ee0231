// Sessions over raw edge frames: a member that stops heartbeating is evicted and the others resume
// from its commits; a static member restarted within its session keeps its place without a rebalance.
import { describe, expect, it } from 'vitest';
import { startEdgeBroker } from '../helpers/raw-edge.ts';
import { assigned, GroupPeer, Member, rejoinAll } from './group-peer.ts';

const SESSION_MS = 1000;

async function setup() {
  const running = await startEdgeBroker();
  const port = running.edge!.port;
  const admin = await GroupPeer.connect(port, 'admin');
  await admin.createTopic('t', 3);
  for (let p = 0; p < 3; p++) await admin.produce('t', p, ['a', 'b', 'c', 'd', 'e']);
  return { running, port, admin };
}

/** Heartbeats until the answer is not OK (the broker's timers move the group); returns it. */
async function heartbeatUntilNotOk(m: Member): Promise<string> {
  for (;;) {
    const hb = await m.heartbeat();
    if (hb !== 'OK') return hb;
    await new Promise((r) => setTimeout(r, SESSION_MS / 5));
  }
}

describe('group sessions', () => {
  it('evicts a member that stops heartbeating (socket destroyed, no leave); the others resume from its commits', async () => {
    const { running, port } = await setup();
    const survivor = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'survivor');
    const doomed = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'doomed');
    await rejoinAll([], [survivor]);
    await rejoinAll([survivor], [doomed]);
    const owned = doomed.partitions('t');
    expect(owned.length).toBeGreaterThan(0);
    for (const [i, p] of owned.entries()) expect(await doomed.commit([{ topic: 't', partition: p, offset: 2 + i, metadata: `m${p}` }])).toBe('OK');

    doomed.peer.raw.socket.destroy();
    const evictionsBefore = running.broker.groups.counters.evictions;
    expect(await heartbeatUntilNotOk(survivor)).toBe('REBALANCE_IN_PROGRESS');
    expect(running.broker.groups.counters.evictions).toBe(evictionsBefore + 1);
    await rejoinAll([], [survivor]);
    expect(survivor.generation).toBe(3);
    expect(assigned([survivor])).toEqual(['t/0', 't/1', 't/2']);
    // Nothing skipped: the new owner starts exactly where the evicted one committed.
    const offsets = await survivor.peer.fetchOffsets('g', owned.map((partition) => ({ topic: 't', partition })));
    expect(offsets).toEqual(owned.map((p, i) => ({ offset: 2 + i, metadata: `m${p}` })));
    // The evicted member id is unknown from now on.
    const ghost = await GroupPeer.connect(port, 'ghost');
    expect(await Object.assign(new Member(ghost, 'g'), { memberId: doomed.memberId, generation: 2 }).heartbeat()).toBe('UNKNOWN_MEMBER');
  });

  it('gives a restarted static member its partitions back at the same generation, without a rebalance; the old id is fenced', async () => {
    const { port } = await setup();
    const other = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'other');
    const first = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS, instanceId: 'gw-1' }, 'static');
    await rejoinAll([], [other]);
    await rejoinAll([other], [first]);
    const mine = first.partitions('t');
    expect(mine.length).toBeGreaterThan(0);
    first.peer.raw.socket.destroy();

    // The restart: a new connection, member id '' and the same instance id.
    const restarted = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS, instanceId: 'gw-1' }, 'static');
    const joined = await restarted.join();
    expect(joined.generation).toBe(2);
    expect(joined.memberId).not.toBe(first.memberId);
    expect(restarted.partitions('t')).toEqual(mine);
    expect(await other.heartbeat()).toBe('OK');
    expect(await restarted.heartbeat()).toBe('OK');
    // The old member id is fenced, on every call that names it.
    const ghost = await GroupPeer.connect(port, 'ghost');
    const old = Object.assign(new Member(ghost, 'g', { topics: ['t'] }), { memberId: first.memberId, generation: 2 });
    expect(await old.heartbeat()).toBe('FENCED_INSTANCE');
    expect(await old.commit([{ topic: 't', partition: mine[0]!, offset: 1 }])).toBe('FENCED_INSTANCE');
    expect(await old.join().catch((e: Error) => e.message)).toMatch(/FENCED_INSTANCE/);
  });

  it('still evicts a restarted static member when it stops heartbeating', async () => {
    const { port } = await setup();
    const other = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'other');
    const first = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS, instanceId: 'gw-1' }, 'static');
    await rejoinAll([], [other]);
    await rejoinAll([other], [first]);
    first.peer.raw.socket.destroy();
    const restarted = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS, instanceId: 'gw-1' }, 'static');
    await restarted.join();
    // The restarted member dies too: its session (not the replaced one's) must run out.
    restarted.peer.raw.socket.destroy();
    expect(await heartbeatUntilNotOk(other)).toBe('REBALANCE_IN_PROGRESS');
    await rejoinAll([], [other]);
    expect(assigned([other])).toEqual(['t/0', 't/1', 't/2']);
  });
  it('completes a rebalance without a member whose connection closed while it waited in its join', async () => {
    const { port } = await setup();
    const a = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'a');
    const b = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'b');
    await rejoinAll([], [a]);
    await rejoinAll([a], [b]);
    const c = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'c');
    c.startJoin();
    expect(await a.heartbeat()).toBe('REBALANCE_IN_PROGRESS');
    c.peer.raw.socket.destroy();
    // a and b join again; the group waits for c until its session runs out, then goes on without it.
    await rejoinAll([a, b]);
    expect([a.generation, b.generation]).toEqual([3, 3]);
    expect(assigned([a, b])).toEqual(['t/0', 't/1', 't/2']);
  });

  it('removes a member that does not join the rebalance within the rebalance timeout', async () => {
    const { port } = await setup();
    const a = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'a');
    const silent = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'silent');
    await rejoinAll([], [a]);
    await rejoinAll([a], [silent]);
    const c = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'c');
    c.startJoin();
    expect(await a.heartbeat()).toBe('REBALANCE_IN_PROGRESS');
    a.startJoin();
    // silent keeps its connection but never heartbeats nor joins again.
    await a.joined();
    await c.joined();
    expect([a.generation, c.generation]).toEqual([3, 3]);
    expect(assigned([a, c])).toEqual(['t/0', 't/1', 't/2']);
    expect(await silent.heartbeat()).toBe('UNKNOWN_MEMBER');
  });
  it('a member whose connection closed during its pending join may join again on a new connection with its member id', async () => {
    const { port } = await setup();
    const a = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'a');
    await a.join();
    const b = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'b');
    b.startJoin();
    expect(await a.heartbeat()).toBe('REBALANCE_IN_PROGRESS');
    expect(b.peer.answered(b.peer.lastCorr)).toBe(false);
    b.peer.raw.socket.destroy();
    // b's id came in no answer yet: the broker named it in the pending join only. Ask describe.
    const admin = await GroupPeer.connect(port, 'admin2');
    const d = await admin.call({ type: 'describe-group', group: 'g' });
    const ids = d.ok && d.frame.type === 'group-description' ? d.frame.members.map((m) => m.memberId) : [];
    const bId = ids.find((id) => id !== a.memberId)!;
    const again = Object.assign(await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'b'), { memberId: bId });
    again.startJoin();
    a.startJoin();
    const [ja, jb] = [await a.joined(), await again.joined()];
    expect(jb.memberId).toBe(bId);
    expect([ja.generation, jb.generation]).toEqual([2, 2]);
    expect(assigned([a, again])).toEqual(['t/0', 't/1', 't/2']);
  });

  it('a second JOIN_GROUP of a member replaces its pending one, which is answered REBALANCE_IN_PROGRESS', async () => {
    const { port } = await setup();
    const a = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'a');
    await a.join();
    const b = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'b');
    await rejoinAll([a], [b]);
    const c = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'c');
    c.startJoin();
    expect(await a.heartbeat()).toBe('REBALANCE_IN_PROGRESS');
    const first = a.peer.send({ type: 'join-group', group: 'g', memberId: a.memberId, instanceId: '', sessionTimeoutMs: SESSION_MS, rebalanceTimeoutMs: 0, strategy: 0, pattern: '', topics: ['t'] });
    a.startJoin();
    expect(await first().then((x) => (x.ok ? 'OK' : x.code))).toBe('REBALANCE_IN_PROGRESS');
    expect(await b.heartbeat()).toBe('REBALANCE_IN_PROGRESS');
    b.startJoin();
    await Promise.all([a.joined(), b.joined(), c.joined()]);
    expect(assigned([a, b, c])).toEqual(['t/0', 't/1', 't/2']);
  });
  it('accepted commits keep a member\'s session alive without heartbeats', async () => {
    const { port } = await setup();
    const a = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'a');
    const b = await Member.connect(port, 'g', { topics: ['t'], sessionTimeoutMs: SESSION_MS }, 'b');
    await rejoinAll([], [a]);
    await rejoinAll([a], [b]);
    const p = a.partitions('t')[0]!;
    // Three session timeouts in which a only commits (as often as it would heartbeat) and b only heartbeats.
    const start = Date.now();
    for (let offset = 0; Date.now() - start < 3 * SESSION_MS; offset = (offset + 1) % 5) {
      expect(await a.commit([{ topic: 't', partition: p, offset }])).toBe('OK');
      expect(await b.heartbeat()).toBe('OK');
      await new Promise((r) => setTimeout(r, SESSION_MS / 4));
    }
    expect(await a.heartbeat()).toBe('OK');
  });
});
