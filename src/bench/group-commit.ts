// Offset commits per second: COMMIT_OFFSETS of one partition each, `window` in flight per member,
// from 1 member (owning every partition, committing them in turn) or from several (each committing
// its own partition), each on its own connection, for durationMs. The broker stages each commit
// into the log's next group transaction, so commits in flight share one LMDB commit and its
// fdatasync: window 1 shows the cost of one, a larger window how many share it. The broker is bound
// by fdatasync here, not by CPU: the figures follow the disk's flush latency.
// The offsets committed cycle through 0..log end of each partition, preloaded with a few records.

import { EdgeClient } from '../client/connection.ts';
import { asTributaryError } from '../errors.ts';
import { limits } from '../limits.ts';
import { BrokerProcess, memoryText, processFigures } from './broker-process.ts';
import { fillTopic } from './fill.ts';
import { BenchMember, settled } from './group-member.ts';
import { fmtInt, spread, spreadText, type BenchResult } from './results.ts';

export interface GroupCommitCase {
  members: number;
  /** COMMIT_OFFSETS in flight per member: below limits.edgeGroupRequestsInflightMax, which the member's heartbeat counts against too. */
  window: number;
}

export interface GroupCommitSettings {
  cases: GroupCommitCase[];
  partitions: number;
  /** Preloaded, so that commits have offsets up to the log end to cycle through. */
  records: number;
  sessionTimeoutMs: number;
  durationMs: number;
  repeats: number;
}

const TOPIC = 'bench-commits';
const ALIAS = 1;
const SETTLE_TIMEOUT_MS = 30_000;

interface CommitRound {
  commits: number;
  seconds: number;
  brokerCpuSeconds: number | null;
  generatorCpuSeconds: number;
}

export async function runGroupCommit(s: GroupCommitSettings): Promise<BenchResult[]> {
  for (const c of s.cases)
    if (c.window >= limits.edgeGroupRequestsInflightMax) throw new Error(`a window of ${c.window} commits leaves no room for the heartbeat within ${limits.edgeGroupRequestsInflightMax} group requests per connection`);
  const broker = await BrokerProcess.start();
  try {
    const logEnds = await prepareTopic(broker.edgePort, s);
    const results: BenchResult[] = [];
    let groupNo = 0;
    for (const c of s.cases) {
      const rounds: CommitRound[] = [];
      for (let r = 0; r < s.repeats; r++) rounds.push(await commitRound(broker, `bench-commit-${groupNo++}`, c, logEnds, s));
      results.push(row(broker, c, rounds, s));
    }
    return results;
  } finally {
    await broker.stop();
  }
}

/** Creates the topic, preloads it, and returns each partition's log end. */
async function prepareTopic(port: number, s: GroupCommitSettings): Promise<number[]> {
  const admin = await EdgeClient.connect({ port, clientId: 'bench-admin' });
  try {
    await admin.createTopic({ name: TOPIC, partitions: s.partitions, retentionMs: -2, retentionBytes: -2, grow: false });
    await fillTopic(port, TOPIC, s.records, { recordsPerFrame: 100, valueBytes: 100, window: 8, stallTimeoutMs: 15_000 });
    const [meta] = await admin.metadata([TOPIC]);
    return meta.partitions.map((p) => p.nextOffset);
  } finally {
    await admin.close();
  }
}

async function commitRound(broker: BrokerProcess, group: string, c: GroupCommitCase, logEnds: number[], s: GroupCommitSettings): Promise<CommitRound> {
  const members = await Promise.all(
    Array.from({ length: c.members }, (_, i) => BenchMember.connect({ port: broker.edgePort, clientId: `${group}-${i}`, group, topics: [TOPIC], sessionTimeoutMs: s.sessionTimeoutMs })),
  );
  try {
    // A refused join is recorded as the member's failure, which settled() reports.
    for (const m of members) m.join().catch(() => undefined);
    await settled(members, SETTLE_TIMEOUT_MS);
    for (const m of members) await m.conn.register(ALIAS, TOPIC, false);
    const brokerCpuBefore = broker.cpuSeconds();
    const generatorCpuBefore = process.cpuUsage();
    const startMs = performance.now();
    const counts = await Promise.all(members.map((m) => commitFor(m, group, c.window, logEnds, startMs + s.durationMs)));
    const seconds = (performance.now() - startMs) / 1000;
    const brokerCpuAfter = broker.cpuSeconds();
    const generatorCpu = process.cpuUsage(generatorCpuBefore);
    return {
      commits: counts.reduce((a, b) => a + b, 0),
      seconds,
      brokerCpuSeconds: brokerCpuBefore === null || brokerCpuAfter === null ? null : brokerCpuAfter - brokerCpuBefore,
      generatorCpuSeconds: (generatorCpu.user + generatorCpu.system) / 1e6,
    };
  } finally {
    await Promise.all(members.map((m) => m.leave()));
  }
}

/** Keeps `window` commits in flight from one member until endMs, then waits for the last answers; resolves with the commits answered OK. */
function commitFor(m: BenchMember, group: string, window: number, logEnds: number[], endMs: number): Promise<number> {
  const partitions = m.assignment.flatMap((tp) => tp.partitions);
  if (partitions.length === 0) return Promise.reject(new Error(`member ${m.memberId} was assigned no partition`));
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = 0;
    let failed = false;
    const send = () => {
      const partition = partitions[sent % partitions.length];
      const offset = Math.floor(sent / partitions.length) % (logEnds[partition] + 1);
      sent++;
      m.conn.commitOffsets({ group, memberId: m.memberId, generation: m.generation, offsets: [{ alias: ALIAS, partition, offset, metadata: '' }] }).then(onOk, onError);
    };
    const onOk = () => {
      answered++;
      if (performance.now() < endMs) send();
      else if (answered === sent) resolve(answered);
    };
    const onError = (err: unknown) => {
      if (failed) return;
      failed = true;
      reject(new Error(`commit refused after ${fmtInt(answered)} commits: ${asTributaryError(err).message}`));
    };
    for (let i = 0; i < window; i++) send();
  });
}

function row(broker: BrokerProcess, c: GroupCommitCase, rounds: CommitRound[], s: GroupCommitSettings): BenchResult {
  const rate = spread(rounds.map((r) => r.commits / r.seconds));
  const seconds = rounds.reduce((sum, r) => sum + r.seconds, 0);
  const brokerCpuPct = rounds.every((r) => r.brokerCpuSeconds !== null) ? (rounds.reduce((sum, r) => sum + r.brokerCpuSeconds!, 0) / seconds) * 100 : null;
  const generatorCpuPct = (rounds.reduce((sum, r) => sum + r.generatorCpuSeconds, 0) / seconds) * 100;
  const memory = broker.memory();
  const who = c.members === 1 ? `1 member (all ${s.partitions} partitions)` : `${c.members} members (1 partition each)`;
  return {
    bench: 'group-commit',
    case: `${who}, ${c.window} in flight per member, 1 partition per COMMIT_OFFSETS, ${s.repeats} × ${s.durationMs / 1000} s`,
    metrics: { commitsPerSec: rate.median, commitsPerSecMin: rate.min, commitsPerSecMax: rate.max, runs: rate.runs, ...processFigures(brokerCpuPct, generatorCpuPct, memory) },
    summary: [
      spreadText(rate, 'commits/s'),
      brokerCpuPct === null ? null : `CPU broker ${brokerCpuPct.toFixed(0)}% / generator ${generatorCpuPct.toFixed(0)}%`,
      memory === null ? null : `after: ${memoryText(memory)}`,
    ]
      .filter((part) => part !== null)
      .join(', '),
  };
}
