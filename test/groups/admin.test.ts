// Group administration over raw edge frames: LIST_GROUPS, DESCRIBE_GROUP, RESET_OFFSETS, DELETE_GROUP.
import { describe, expect, it } from 'vitest';
import type { GroupDescriptionFrame, GroupsFrame, OffsetsResetFrame, ResetMode } from '../../src/protocol/edge/frames.ts';
import { startEdgeBroker } from '../helpers/raw-edge.ts';
import { codeOf, GroupPeer, Member, ok, rejoinAll } from './group-peer.ts';

const T0 = 1_700_000_000_000;

async function setup() {
  const running = await startEdgeBroker();
  const port = running.edge!.port;
  const admin = await GroupPeer.connect(port, 'admin');
  await admin.createTopic('t', 3);
  // Ten records per partition, one second apart from T0.
  for (let p = 0; p < 3; p++) await admin.produce('t', p, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'], T0, 1000);
  return { port, admin };
}

const reset = (admin: GroupPeer, mode: ResetMode, value: number, execute: boolean, partition = -1) =>
  admin.call<OffsetsResetFrame>({ type: 'reset-offsets', group: 'g', topic: 't', partition, mode, value, execute });

describe('group administration', () => {
  it('LIST_GROUPS shows groups with members and groups with only committed offsets', async () => {
    const { port, admin } = await setup();
    const m = await Member.connect(port, 'live', { topics: ['t'] });
    await m.join();
    expect(codeOf(await admin.commit('idle', '', -1, [{ topic: 't', partition: 0, offset: 1 }]))).toBe('OK');
    const list = ok<GroupsFrame>(await admin.call({ type: 'list-groups' }));
    expect(list.groups).toEqual([
      { name: 'idle', state: 0, members: 0 },
      { name: 'live', state: 2, members: 1 },
    ]);
    // A group with only committed offsets: empty, generation 0, no members.
    expect(ok<GroupDescriptionFrame>(await admin.call({ type: 'describe-group', group: 'idle' }))).toMatchObject({ state: 0, generation: 0, members: [] });
  });

  it('LIST_GROUPS and DESCRIBE_GROUP sort names by plain string comparison (code units), the same under every locale', async () => {
    const { admin } = await setup();
    await admin.createTopic('T', 1);
    await admin.createTopic('_t', 1);
    for (const group of ['b', 'B', 'a', '_x'])
      expect(codeOf(await admin.commit(group, '', -1, ['t', 'T', '_t'].map((topic) => ({ topic, partition: 0, offset: 0 }))))).toBe('OK');
    expect(ok<GroupsFrame>(await admin.call({ type: 'list-groups' })).groups.map((g) => g.name)).toEqual(['B', '_x', 'a', 'b']);
    const d = ok<GroupDescriptionFrame>(await admin.call({ type: 'describe-group', group: 'a' }));
    expect(d.partitions.map((p) => p.topic)).toEqual(['T', '_t', 't']);
  });

  it('DESCRIBE_GROUP gives members (client id, host, assignment) and per partition committed, log end and the lag they imply', async () => {
    const { port } = await setup();
    const a = await Member.connect(port, 'g', { topics: ['t'], instanceId: 'gw-a' }, 'client-a');
    const b = await Member.connect(port, 'g', { topics: ['t'] }, 'client-b');
    await rejoinAll([], [a]);
    await rejoinAll([a], [b]);
    const pa = a.partitions('t')[0]!;
    expect(await a.commit([{ topic: 't', partition: pa, offset: 4, metadata: 'x' }])).toBe('OK');
    const d = ok<GroupDescriptionFrame>(await b.peer.call({ type: 'describe-group', group: 'g' }));
    expect(d).toMatchObject({ group: 'g', state: 2, strategy: 3, generation: 2 });
    expect(d.members).toEqual(
      expect.arrayContaining([
        { memberId: a.memberId, instanceId: 'gw-a', clientId: 'client-a', host: '127.0.0.1', assignment: a.assignment },
        { memberId: b.memberId, instanceId: '', clientId: 'client-b', host: '127.0.0.1', assignment: b.assignment },
      ]),
    );
    expect(d.members.length).toBe(2);
    expect(d.partitions.map((p) => p.partition)).toEqual([0, 1, 2]);
    for (const p of d.partitions) {
      const owner = a.partitions('t').includes(p.partition) ? a : b;
      expect(p).toMatchObject({ topic: 't', logStartOffset: 0, logEndOffset: 10, memberId: owner.memberId });
      expect(p.committed).toBe(p.partition === pa ? 4 : -1);
      // Lag as kafka-consumer-groups shows it: log end minus the committed offset (the log start when none).
      const lag = p.logEndOffset - (p.committed < 0 ? p.logStartOffset : p.committed);
      expect(lag).toBe(p.partition === pa ? 6 : 10);
    }
    expect(d.partitions.find((p) => p.partition === pa)!.metadata).toBe('x');
  });

  it('RESET_OFFSETS is refused with NON_EMPTY_GROUP while the group has members', async () => {
    const { port, admin } = await setup();
    const m = await Member.connect(port, 'g', { topics: ['t'] });
    await m.join();
    expect(await m.commit([{ topic: 't', partition: 0, offset: 2 }])).toBe('OK');
    expect(codeOf(await reset(admin, 0, 0, true))).toBe('NON_EMPTY_GROUP');
    expect(codeOf(await reset(admin, 0, 0, false))).toBe('NON_EMPTY_GROUP');
    expect(await admin.fetchOffsets('g', [{ topic: 't', partition: 0 }])).toEqual([{ offset: 2, metadata: '' }]);
  });

  it('RESET_OFFSETS to earliest, latest, an offset, a datetime and a shift; a dry run writes nothing', async () => {
    const { admin } = await setup();
    expect(codeOf(await admin.commit('g', '', -1, [0, 1, 2].map((partition) => ({ topic: 't', partition, offset: 5 }))))).toBe('OK');
    const committed = async () => (await admin.fetchOffsets('g', [0, 1, 2].map((partition) => ({ topic: 't', partition })))).map((o) => o.offset);

    const dry = ok(await reset(admin, 0, 0, false));
    expect(dry.entries).toEqual([0, 1, 2].map((partition) => ({ topic: 't', partition, previous: 5, offset: 0 })));
    expect(await committed()).toEqual([5, 5, 5]);

    expect(ok(await reset(admin, 0, 0, true)).entries.map((e) => e.offset)).toEqual([0, 0, 0]);
    expect(await committed()).toEqual([0, 0, 0]);
    expect(ok(await reset(admin, 1, 0, true)).entries.map((e) => e.offset)).toEqual([10, 10, 10]);
    expect(await committed()).toEqual([10, 10, 10]);
    // One partition only; an offset past the end is clamped to it.
    expect(ok(await reset(admin, 2, 7, true, 1)).entries).toEqual([{ topic: 't', partition: 1, previous: 10, offset: 7 }]);
    expect(ok(await reset(admin, 2, 99, true, 2)).entries).toEqual([{ topic: 't', partition: 2, previous: 10, offset: 10 }]);
    expect(await committed()).toEqual([10, 7, 10]);
    // The first record at or after T0 + 3.5 s is offset 4 on every partition.
    expect(ok(await reset(admin, 3, T0 + 3500, true)).entries.map((e) => e.offset)).toEqual([4, 4, 4]);
    expect(ok(await reset(admin, 3, T0 + 3000, true)).entries.map((e) => e.offset)).toEqual([3, 3, 3]);
    expect(await committed()).toEqual([3, 3, 3]);
    // Shifts move from the committed offset, clamped to the log.
    expect(ok(await reset(admin, 4, -2, true)).entries.map((e) => e.offset)).toEqual([1, 1, 1]);
    expect(ok(await reset(admin, 4, -5, true)).entries.map((e) => e.offset)).toEqual([0, 0, 0]);
    expect(ok(await reset(admin, 4, 4, false)).entries.map((e) => e.offset)).toEqual([4, 4, 4]);
    expect(await committed()).toEqual([0, 0, 0]);
    // Only -1 means every partition: another negative one, or one past the count, does not exist.
    expect(codeOf(await reset(admin, 0, 0, true, -2))).toBe('INVALID_PARTITION');
    expect(codeOf(await reset(admin, 0, 0, true, 3))).toBe('INVALID_PARTITION');
    expect(codeOf(await admin.call({ type: 'reset-offsets', group: 'g', topic: 'nope', partition: -1, mode: 0, value: 0, execute: true }))).toBe('UNKNOWN_TOPIC');
    expect(await committed()).toEqual([0, 0, 0]);
  });

  it('RESET_OFFSETS to a datetime finds the first record at or after it across many batches', async () => {
    const { admin } = await setup();
    await admin.createTopic('m', 1);
    // Twelve records in four batches of three, one second apart.
    for (let b = 0; b < 4; b++) await admin.produce('m', 0, ['x', 'y', 'z'], T0 + b * 3000, 1000);
    const at = async (ms: number) => ok(await admin.call<OffsetsResetFrame>({ type: 'reset-offsets', group: 'g', topic: 'm', partition: 0, mode: 3, value: ms, execute: false })).entries[0]!.offset;
    expect(await at(T0 - 1)).toBe(0);
    expect(await at(T0)).toBe(0);
    expect(await at(T0 + 4500)).toBe(5);
    expect(await at(T0 + 6000)).toBe(6);
    expect(await at(T0 + 8001)).toBe(9);
    expect(await at(T0 + 11_000)).toBe(11);
    expect(await at(T0 + 11_001)).toBe(12);
  });

  it('DELETE_GROUP: NON_EMPTY_GROUP with members, UNKNOWN_GROUP for an unknown group, then gone', async () => {
    const { port, admin } = await setup();
    const m = await Member.connect(port, 'g', { topics: ['t'] });
    await m.join();
    expect(await m.commit([{ topic: 't', partition: 0, offset: 2 }])).toBe('OK');
    expect(codeOf(await admin.call({ type: 'delete-group', group: 'g' }))).toBe('NON_EMPTY_GROUP');
    expect(codeOf(await admin.call({ type: 'delete-group', group: 'nope' }))).toBe('UNKNOWN_GROUP');
    expect(await m.leave()).toBe('OK');
    expect(codeOf(await admin.call({ type: 'delete-group', group: 'g' }))).toBe('OK');
    expect(codeOf(await admin.call({ type: 'describe-group', group: 'g' }))).toBe('UNKNOWN_GROUP');
    expect(ok<GroupsFrame>(await admin.call({ type: 'list-groups' })).groups).toEqual([]);
    expect(await admin.fetchOffsets('g', [{ topic: 't', partition: 0 }])).toEqual([{ offset: -1, metadata: '' }]);
  });
});
