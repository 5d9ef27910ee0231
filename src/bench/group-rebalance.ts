// How long a consumer group is unsettled when a member joins or dies, over the edge protocol
// against a broker child process. Members are BenchMembers (group-member.ts): heartbeats every
// heartbeatMs, an immediate rejoin on REBALANCE_IN_PROGRESS, no fetching.
//
// - join k → k+1: k members settled in one generation; after a random delay in [0, heartbeatMs) (a
//   join comes at any point of the others' heartbeat cycle) a new member sends JOIN_GROUP; timed to
//   its JOINED, which the broker sends to every member at once when the group is stable again. The
//   others learn of the rebalance only from their next heartbeat, so about half a heartbeat
//   interval is expected.
// - death k+1 → k: one of k+1 settled members has its socket destroyed (no LEAVE_GROUP) as soon as a
//   heartbeat of its was answered, so its session ends a session timeout after its death; timed to
//   the survivors' JOINED of the next generation, minus the session timeout.
// Every run has a fresh group, left by all its members afterwards.

import { setTimeout as sleep } from 'node:timers/promises';
import { EdgeClient } from '../client/connection.ts';
import { BrokerProcess } from './broker-process.ts';
import { BenchMember, settled } from './group-member.ts';
import { fmtMs, spread, type BenchResult, type Spread } from './results.ts';

export interface GroupRebalanceSettings {
  /** k: a join is timed from k members to k+1, a death from k+1 to k. */
  members: number[];
  partitions: number;
  sessionTimeoutMs: number;
  /** Runs per case; the median is reported. */
  runs: number;
}

const TOPIC = 'bench-groups';
/** Generous: a settle takes a heartbeat interval or two; a hung one fails the bench. */
const SETTLE_TIMEOUT_FACTOR = 10;

export async function runGroupRebalance(s: GroupRebalanceSettings): Promise<BenchResult[]> {
  const broker = await BrokerProcess.start();
  try {
    const admin = await EdgeClient.connect({ port: broker.edgePort, clientId: 'bench-admin' });
    try {
      await admin.createTopic({ name: TOPIC, partitions: s.partitions, retentionMs: -2, retentionBytes: -2, grow: false });
    } finally {
      await admin.close();
    }
    const results: BenchResult[] = [];
    let run = 0;
    for (const k of s.members) {
      const joins: number[] = [];
      const deaths: number[] = [];
      let heartbeatMs = 0;
      for (let i = 0; i < s.runs; i++) {
        const join = await timeJoin(broker.edgePort, `bench-join-${run++}`, k, s);
        joins.push(join.ms);
        heartbeatMs = join.heartbeatMs;
      }
      for (let i = 0; i < s.runs; i++) deaths.push(await timeDeath(broker.edgePort, `bench-death-${run++}`, k + 1, s));
      results.push(row(`join, ${k} → ${k + 1} members`, 'JOIN_GROUP of the new member to its JOINED (group stable)', spread(joins), heartbeatMs, s));
      results.push(row(`death, ${k + 1} → ${k} members`, 'socket destroyed (no LEAVE) to the survivors’ JOINED, minus the session timeout', spread(deaths), heartbeatMs, s));
    }
    return results;
  } finally {
    await broker.stop();
  }
}

async function timeJoin(port: number, group: string, k: number, s: GroupRebalanceSettings): Promise<{ ms: number; heartbeatMs: number }> {
  const members = await startGroup(port, group, k, s);
  try {
    const generation = await settled(members, settleTimeout(s));
    const heartbeatMs = members[0].heartbeatMs;
    await sleep(Math.random() * heartbeatMs);
    const newcomer = await BenchMember.connect({ port, clientId: `${group}-new`, group, topics: [TOPIC], sessionTimeoutMs: s.sessionTimeoutMs });
    members.push(newcomer);
    const sentMs = performance.now();
    await newcomer.join();
    await settled(members, settleTimeout(s), generation);
    return { ms: Math.max(...members.map((m) => m.joinedAtMs)) - sentMs, heartbeatMs };
  } finally {
    await Promise.all(members.map((m) => m.leave()));
  }
}

async function timeDeath(port: number, group: string, n: number, s: GroupRebalanceSettings): Promise<number> {
  const members = await startGroup(port, group, n, s);
  const victim = members.pop()!;
  try {
    const generation = await settled([...members, victim], settleTimeout(s));
    const diedMs = await new Promise<number>((resolve) => {
      victim.onHeartbeatOk = () => {
        victim.kill();
        resolve(performance.now());
      };
    });
    await settled(members, settleTimeout(s), generation);
    return Math.max(...members.map((m) => m.joinedAtMs)) - diedMs - s.sessionTimeoutMs;
  } finally {
    victim.kill();
    await Promise.all(members.map((m) => m.leave()));
  }
}

/** n members on their own connections, their first joins sent together. */
async function startGroup(port: number, group: string, n: number, s: GroupRebalanceSettings): Promise<BenchMember[]> {
  const members = await Promise.all(
    Array.from({ length: n }, (_, i) => BenchMember.connect({ port, clientId: `${group}-${i}`, group, topics: [TOPIC], sessionTimeoutMs: s.sessionTimeoutMs })),
  );
  // A refused join is recorded as the member's failure, which settled() reports.
  for (const m of members) m.join().catch(() => undefined);
  return members;
}

function settleTimeout(s: GroupRebalanceSettings): number {
  return SETTLE_TIMEOUT_FACTOR * s.sessionTimeoutMs;
}

function row(what: string, timed: string, t: Spread, heartbeatMs: number, s: GroupRebalanceSettings): BenchResult {
  return {
    bench: 'group-rebalance',
    case: `${what}: ${timed}; session ${s.sessionTimeoutMs} ms, heartbeat ${heartbeatMs} ms, ${s.partitions} partitions`,
    metrics: { medianMs: t.median, minMs: t.min, maxMs: t.max, runs: t.runs, heartbeatMs, sessionTimeoutMs: s.sessionTimeoutMs },
    summary: t.runs === 1 ? fmtMs(t.median) : `${fmtMs(t.median)} (median of ${t.runs}: ${fmtMs(t.min)}–${fmtMs(t.max)})`,
  };
}
