// A bounded random walk over membership changes (joins, leaves, members killed without leaving,
// static restarts, partitions added) driven as tiny clients drive it; after each change the members
// run the eager protocol until the group is stable, and every generation must assign each partition
// to exactly one live member, all at the same generation. Seeded: a failure names its seed and its
// steps; CHAOS_SEED=N walks another path.
import { describe, expect, it } from 'vitest';
import { startEdgeBroker } from '../helpers/raw-edge.ts';
import { assigned, GroupPeer, Member } from './group-peer.ts';

const SESSION_MS = 1000;
const STEPS = 30;

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Heartbeats every member; those told to rejoin do, until all are answered OK at one generation. */
async function stabilize(members: Member[]): Promise<void> {
  for (let round = 0; ; round++) {
    if (round > 50) throw new Error(`no stable group after 50 rounds: ${members.map((m) => `${m.memberId.slice(0, 6)}@${m.generation}`).join(' ')}`);
    const answers = await Promise.all(members.map((m) => m.heartbeat()));
    const generations = new Set(members.map((m) => m.generation));
    if (answers.every((a) => a === 'OK') && generations.size <= 1) return;
    for (const [i, a] of answers.entries()) {
      if (a === 'OK') continue;
      if (a !== 'REBALANCE_IN_PROGRESS' && a !== 'ILLEGAL_GENERATION') throw new Error(`member ${members[i]!.memberId}: heartbeat ${a}`);
      members[i]!.startJoin();
    }
    await Promise.all(members.filter((_, i) => answers[i] !== 'OK').map((m) => m.joined()));
  }
}

describe.each([3, 1, 2])('membership random walk (strategy %i)', (strategy) => {
  it('keeps every partition assigned exactly once through joins, leaves, deaths and static restarts', async () => {
    const seed = Number(process.env.CHAOS_SEED ?? 1000) + strategy;
    const rand = prng(seed);
    const running = await startEdgeBroker();
    const port = running.edge!.port;
    const admin = await GroupPeer.connect(port, 'admin');
    let partitions = 3;
    await admin.createTopic('t', partitions);
    const join = { topics: ['t'], sessionTimeoutMs: SESSION_MS, strategy: strategy as 1 | 2 | 3 };
    let live: Member[] = [];
    let nextInstance = 0;
    const log: string[] = [];
    for (let step = 0; step < STEPS; step++) {
      const r = rand();
      if (live.length === 0 || (r < 0.35 && live.length < 6)) {
        const staticOne = rand() < 0.4;
        const m = await Member.connect(port, 'g', staticOne ? { ...join, instanceId: `i${nextInstance++}` } : join, `c${step}`);
        m.startJoin();
        const others = live;
        live = [...live, m];
        log.push(`join ${staticOne ? 'static' : 'dynamic'}`);
        // The newcomer's join is pending until the others join again.
        await stabilize(others);
        await m.joined();
      } else if (r < 0.55) {
        const m = live[Math.floor(rand() * live.length)]!;
        expect(await m.leave()).toBe('OK');
        live = live.filter((x) => x !== m);
        log.push('leave');
      } else if (r < 0.65) {
        const m = live[Math.floor(rand() * live.length)]!;
        m.peer.raw.socket.destroy();
        live = live.filter((x) => x !== m);
        log.push('kill');
        // Its partitions stay its own until its session expires: the others learn of that by heartbeat.
        while (live.length > 0 && (await Promise.all(live.map((x) => x.heartbeat()))).every((a) => a === 'OK')) await new Promise((r) => setTimeout(r, SESSION_MS / 4));
      } else if (r < 0.85) {
        const statics = live.filter((m) => m.join0.instanceId);
        if (statics.length === 0) continue;
        const old = statics[Math.floor(rand() * statics.length)]!;
        old.peer.raw.socket.destroy();
        const m = await Member.connect(port, 'g', old.join0, `r${step}`);
        const j = await m.join();
        // Within its session and with nothing else going on: its old partitions, same generation.
        expect(j.generation).toBe(old.generation);
        expect(m.assignment).toEqual(old.assignment);
        live = live.map((x) => (x === old ? m : x));
        log.push('static restart');
      } else {
        partitions++;
        await admin.createTopic('t', partitions, true);
        log.push(`grow to ${partitions}`);
      }
      if (live.length === 0) continue;
      await stabilize(live);
      const all = Array.from({ length: partitions }, (_, p) => `t/${p}`).sort();
      expect(assigned(live), `seed ${seed}, steps: ${log.join(', ')}`).toEqual(all);
    }
  }, 120_000);
});
