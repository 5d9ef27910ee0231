// Offset commits over raw edge frames: metadata kept, the membership checks (generation, ownership,
// outside commits), and committed offsets surviving a broker kill -9.
import { describe, expect, it } from 'vitest';
import { decodeRecordBatch, splitBatches } from '../../src/format/record-batch.ts';
import type { GroupsFrame, RecordsFrame } from '../../src/protocol/edge/frames.ts';
import { freePort, startChildBroker } from '../helpers/child-broker.ts';
import { startEdgeBroker } from '../helpers/raw-edge.ts';
import { tempDir } from '../helpers/temp.ts';
import { codeOf, GroupPeer, Member, ok, rejoinAll } from './group-peer.ts';

async function setup(port?: number) {
  const p = port ?? (await startEdgeBroker()).edge!.port;
  const admin = await GroupPeer.connect(p, 'admin');
  await admin.createTopic('t', 3);
  for (let partition = 0; partition < 3; partition++) await admin.produce('t', partition, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  return { port: p, admin };
}

async function pair(port: number) {
  const a = await Member.connect(port, 'g', { topics: ['t'] }, 'a');
  const b = await Member.connect(port, 'g', { topics: ['t'] }, 'b');
  await rejoinAll([], [a]);
  await rejoinAll([a], [b]);
  return { a, b };
}

describe('offset commits', () => {
  it('stores an offset with its metadata; FETCH_OFFSETS returns it, -1 where nothing was committed', async () => {
    const { port, admin } = await setup();
    const m = await Member.connect(port, 'g', { topics: ['t'] });
    await m.join();
    expect(await m.commit([{ topic: 't', partition: 1, offset: 7, metadata: 'batch 12 done' }])).toBe('OK');
    expect(await admin.fetchOffsets('g', [0, 1, 2].map((partition) => ({ topic: 't', partition })))).toEqual([
      { offset: -1, metadata: '' },
      { offset: 7, metadata: 'batch 12 done' },
      { offset: -1, metadata: '' },
    ]);
    // A later commit replaces it; committing the log end (10) is allowed.
    expect(await m.commit([{ topic: 't', partition: 1, offset: 10 }])).toBe('OK');
    expect(await admin.fetchOffsets('g', [{ topic: 't', partition: 1 }])).toEqual([{ offset: 10, metadata: '' }]);
  });

  it('refuses a commit from a stale generation with ILLEGAL_GENERATION, and stores nothing', async () => {
    const { port, admin } = await setup();
    const { a } = await pair(port);
    const p = a.partitions('t')[0]!;
    expect(await a.commit([{ topic: 't', partition: p, offset: 3 }], a.generation - 1)).toBe('ILLEGAL_GENERATION');
    expect(await a.heartbeat(a.generation - 1)).toBe('ILLEGAL_GENERATION');
    expect(await admin.fetchOffsets('g', [{ topic: 't', partition: p }])).toEqual([{ offset: -1, metadata: '' }]);
    expect(await a.commit([{ topic: 't', partition: p, offset: 3 }])).toBe('OK');
  });

  it('counts a refused commit or PRODUCE_COMMIT once in the error counters, and stores nothing', async () => {
    const running = await startEdgeBroker();
    const { port, admin } = await setup(running.edge!.port);
    const m = await Member.connect(port, 'g', { topics: ['t'] });
    await m.join();
    const alias = await m.peer.alias('t');
    const stale = m.generation - 1;
    const errors = () => running.broker.counters.errors.get('ILLEGAL_GENERATION') ?? 0;

    expect(await m.commit([{ topic: 't', partition: 0, offset: 3 }], stale)).toBe('ILLEGAL_GENERATION');
    expect(errors()).toBe(1);
    const record = { timestampDeltaMs: 0, key: null, value: Buffer.from('out'), headers: [] };
    const answer = await m.peer.call({
      type: 'produce-commit',
      flush: false,
      group: 'g',
      memberId: m.memberId,
      generation: stale,
      batches: [{ alias, partition: 1, baseTimestampMs: 0, records: [record] }],
      offsets: [{ alias, partition: 0, offset: 3, metadata: '' }],
    });
    expect(codeOf(answer)).toBe('ILLEGAL_GENERATION');
    expect(errors()).toBe(2);
    expect(await admin.fetchOffsets('g', [{ topic: 't', partition: 0 }])).toEqual([{ offset: -1, metadata: '' }]);
    expect(running.broker.partitionState(running.broker.storedTopics().find((t) => t.name === 't')!.id, 1)!.nextOffset).toBe(10);
  });

  it('accepts a commit of the current generation while the group rebalances (commit on revoke)', async () => {
    const { port, admin } = await setup();
    const { a, b } = await pair(port);
    const c = await Member.connect(port, 'g', { topics: ['t'] }, 'c');
    c.startJoin();
    expect(await a.heartbeat()).toBe('REBALANCE_IN_PROGRESS');
    const p = a.partitions('t')[0]!;
    expect(await a.commit([{ topic: 't', partition: p, offset: 4 }])).toBe('OK');
    expect(await admin.fetchOffsets('g', [{ topic: 't', partition: p }])).toEqual([{ offset: 4, metadata: '' }]);
    await rejoinAll([a, b]);
    await c.joined();
  });

  it('refuses a commit for a partition the member does not own with NOT_ASSIGNED', async () => {
    const { port, admin } = await setup();
    const { a, b } = await pair(port);
    const theirs = b.partitions('t')[0]!;
    const mine = a.partitions('t')[0]!;
    // One foreign partition refuses the whole commit.
    expect(
      await a.commit([
        { topic: 't', partition: mine, offset: 2 },
        { topic: 't', partition: theirs, offset: 2 },
      ]),
    ).toBe('NOT_ASSIGNED');
    expect(await admin.fetchOffsets('g', [mine, theirs].map((partition) => ({ topic: 't', partition })))).toEqual([
      { offset: -1, metadata: '' },
      { offset: -1, metadata: '' },
    ]);
  });

  it('refuses commits from a connection the member left behind by joining again on another (UNKNOWN_MEMBER)', async () => {
    const { port, admin } = await setup();
    const first = await Member.connect(port, 'g', { topics: ['t'] }, 'a');
    await first.join();
    const again = Object.assign(await Member.connect(port, 'g', { topics: ['t'] }, 'a'), { memberId: first.memberId });
    const joined = await again.join();
    expect(joined.memberId).toBe(first.memberId);
    expect(joined.generation).toBe(first.generation);
    expect(await first.commit([{ topic: 't', partition: 0, offset: 1 }])).toBe('UNKNOWN_MEMBER');
    expect(await admin.fetchOffsets('g', [{ topic: 't', partition: 0 }])).toEqual([{ offset: -1, metadata: '' }]);
    expect(await again.commit([{ topic: 't', partition: 0, offset: 2 }])).toBe('OK');
    expect(await admin.fetchOffsets('g', [{ topic: 't', partition: 0 }])).toEqual([{ offset: 2, metadata: '' }]);
  });

  it('refuses a commit from outside the group (generation -1) while it has members with NON_EMPTY_GROUP; accepts it once empty', async () => {
    const { port, admin } = await setup();
    const { a, b } = await pair(port);
    expect(codeOf(await admin.commit('g', '', -1, [{ topic: 't', partition: 0, offset: 5 }]))).toBe('NON_EMPTY_GROUP');
    expect(await a.leave()).toBe('OK');
    expect(await b.leave()).toBe('OK');
    expect(codeOf(await admin.commit('g', '', -1, [{ topic: 't', partition: 0, offset: 5 }]))).toBe('OK');
    expect(await admin.fetchOffsets('g', [{ topic: 't', partition: 0 }])).toEqual([{ offset: 5, metadata: '' }]);
  });

  it('keeps committed offsets across a broker kill -9; a new member resumes there', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const broker = await startChildBroker(dataDir, port);
    await setup(port);
    const m = await Member.connect(port, 'g', { topics: ['t'] });
    await m.join();
    expect(await m.commit([0, 1, 2].map((partition) => ({ topic: 't', partition, offset: 3 + partition, metadata: `p${partition}` })))).toBe('OK');
    broker.child.kill('SIGKILL');
    await broker.exited;

    const restarted = await startChildBroker(dataDir, port);
    const peer = await GroupPeer.connect(port, 'after');
    const groups = ok(await peer.call({ type: 'list-groups' }));
    expect(groups).toMatchObject({ groups: [{ name: 'g', state: 0, members: 0 }] });
    // Membership is not kept: the old member id is unknown now.
    expect(await Object.assign(new Member(peer, 'g'), { memberId: m.memberId, generation: 1 }).heartbeat()).toBe('UNKNOWN_MEMBER');
    const next = await Member.connect(port, 'g', { topics: ['t'] }, 'next');
    const joined = await next.join();
    expect(joined.generation).toBe(1);
    expect(next.partitions('t')).toEqual([0, 1, 2]);
    const committed = await next.peer.fetchOffsets('g', [0, 1, 2].map((partition) => ({ topic: 't', partition })));
    expect(committed).toEqual([0, 1, 2].map((p) => ({ offset: 3 + p, metadata: `p${p}` })));
    // Resuming: the first record read on partition 0 is the one at the committed offset.
    const alias = await next.peer.alias('t');
    const r = ok<RecordsFrame>(await next.peer.call({ type: 'fetch', alias, partition: 0, offset: committed[0]!.offset, maxBytes: 1 << 16, maxWaitMs: 0 }));
    const records = splitBatches(r.batches).flatMap((b) => decodeRecordBatch(b)).filter((x) => x.offset >= 3);
    expect(records[0]).toMatchObject({ offset: 3 });
    expect(records[0]!.value!.toString()).toBe('d');
    restarted.child.kill('SIGTERM');
    expect(await restarted.exited).toBe(0);
  }, 60_000);
  it('expires the offsets of a group that stays empty past the retention; a group with members keeps them', async () => {
    const running = await startEdgeBroker({ groups: { offsetsRetentionMs: 1, expiryCheckIntervalMs: 1000 } });
    const { admin } = await setup(running.edge!.port);
    const live = await Member.connect(running.edge!.port, 'live', { topics: ['t'] });
    await live.join();
    expect(await live.commit([{ topic: 't', partition: 0, offset: 2 }])).toBe('OK');
    expect(codeOf(await admin.commit('idle', '', -1, [{ topic: 't', partition: 0, offset: 3 }]))).toBe('OK');
    const names = async () => ok<GroupsFrame>(await admin.call({ type: 'list-groups' })).groups.map((g) => g.name);
    // The member heartbeats meanwhile: it is the only thing keeping "live" from expiring.
    while ((await names()).includes('idle')) {
      expect(await live.heartbeat()).toBe('OK');
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await admin.fetchOffsets('idle', [{ topic: 't', partition: 0 }])).toEqual([{ offset: -1, metadata: '' }]);
    expect(await admin.fetchOffsets('live', [{ topic: 't', partition: 0 }])).toEqual([{ offset: 2, metadata: '' }]);
    // Once its last member leaves, "live" is empty and expires in turn.
    expect(await live.leave()).toBe('OK');
    while ((await names()).includes('live')) await new Promise((r) => setTimeout(r, 200));
    expect(codeOf(await admin.call({ type: 'describe-group', group: 'live' }))).toBe('UNKNOWN_GROUP');
  });
});
