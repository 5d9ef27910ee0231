// `tributary groups …` run as the built CLI against a child broker: list, describe (kafka-consumer-groups'
// columns), reset-offsets as a dry run and with --execute in Kafka's spellings, the refusal for a group
// with members, and delete. Offsets are committed from outside the group (generation -1, member ''),
// a member is made with EdgeClient.joinGroup.
import { describe, expect, it } from 'vitest';
import { Admin, EdgeClient, Producer } from '../../src/client/index.ts';
import { freePort, startChildBroker } from '../helpers/child-broker.ts';
import { lines, run } from '../helpers/cli.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

/** 2001-09-09T01:46:40.000Z: records of partition 0 are one second apart from here. */
const T0 = 1_000_000_000_000;

async function connect(port: number, clientId?: string): Promise<EdgeClient> {
  const client = await EdgeClient.connect({ host: '127.0.0.1', port, clientId });
  onCleanup(() => client.close());
  return client;
}

/** The columns of each table line, without the header. */
function rows(stdout: string): string[][] {
  return lines(stdout)
    .slice(1)
    .map((l) => l.trim().split(/\s+/));
}

describe('tributary groups without a broker', () => {
  it.each([['groups'], ['groups', 'list'], ['groups', 'describe'], ['groups', 'reset-offsets'], ['groups', 'delete']])('%j --help shows usage and examples', async (...command: string[]) => {
    const r = await run([...command, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: tributary ${command.join(' ')}`);
    expect(r.stdout).toContain('Examples:');
  });

  it.each([
    [['groups', 'reset-offsets', 'g', '--topic', 't'], /^tributary: INVALID_REQUEST: name where to move the offsets: --to-earliest, /],
    [['groups', 'reset-offsets', 'g', '--to-earliest'], /^tributary: INVALID_REQUEST: required option '--topic <topic\[:partition\]>' not specified$/],
    [['groups', 'reset-offsets', 'g', '--topic', 't', '--to-earliest', '--shift-by', '-2'], /^tributary: INVALID_REQUEST: option '--to-earliest' cannot be used with option '--shift-by <n>'$/],
    [['groups', 'reset-offsets', 'g', '--topic', 't', '--to', 'latest', '--to-offset', '3'], /^tributary: INVALID_REQUEST: option '--to <target>' cannot be used with option '--to-offset <offset>'$/],
    [['groups', 'reset-offsets', 'g', '--topic', 't', '--to-latest', '--dry-run', '--execute'], /^tributary: INVALID_REQUEST: option '--dry-run' cannot be used with option '--execute'$/],
    [['groups', 'reset-offsets', 'g', '--topic', 't:x', '--to-latest'], /^tributary: INVALID_REQUEST: .*--topic.*expected TOPIC or TOPIC:PARTITION/],
    [['groups', 'reset-offsets', 'g', '--topic', 't', '--to-datetime', '2026-02-30T00:00:00.000'], /^tributary: INVALID_REQUEST: .*--to-datetime.*expected a date-time YYYY-MM-DDTHH:mm:SS\.sss/],
    [['groups', 'reset-offsets', 'g', '--topic', 't', '--to', 'soon'], /^tributary: INVALID_REQUEST: .*--to.*expected earliest, latest, an offset, or a date-time/],
    [['groups', 'reset-offsets', 'g', '--topic', 't', '--to-offset', '-1'], /^tributary: INVALID_REQUEST: .*--to-offset.*expected an integer 0\.\./],
  ])('usage error %j: one line, exit 2', async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(message);
  });
});

describe('tributary groups against a broker', () => {
  it('lists, describes, resets (dry run, then --execute) and deletes a group; refuses reset and delete while it has a member', async () => {
    const broker = await startChildBroker(tempDir(), await freePort());
    const env = { TRIBUTARY_BROKER: `127.0.0.1:${broker.port}` };
    const cli = (args: string[]) => run(args, { env });

    const admin = await Admin.connect({ host: '127.0.0.1', port: broker.port });
    onCleanup(() => admin.close());
    await admin.createTopic({ name: 'orders', partitions: 3 });
    const producer = await Producer.connect({ host: '127.0.0.1', port: broker.port });
    onCleanup(() => producer.close());
    await producer.sendBatch([0, 1, 2, 3, 4].map((i) => ({ topic: 'orders', partition: 0, value: `p0-${i}`, timestampMs: T0 + i * 1000 })));
    await producer.sendBatch([0, 1, 2].map((i) => ({ topic: 'orders', partition: 1, value: `p1-${i}` })));

    expect(await cli(['groups', 'list'])).toMatchObject({ code: 0, stdout: 'no consumer groups\n' });

    // Offsets committed from outside the group, as Kafka's assign() + commitSync() does.
    const outside = await connect(broker.port);
    await outside.register(1, 'orders', false);
    await outside.commitOffsets({
      group: 'billing',
      memberId: '',
      generation: -1,
      offsets: [
        { alias: 1, partition: 0, offset: 2, metadata: '' },
        { alias: 1, partition: 1, offset: 3, metadata: 'done' },
      ],
    });

    const listed = await cli(['groups', 'list']);
    expect(listed.code).toBe(0);
    expect(lines(listed.stdout)).toEqual(['GROUP    STATE  MEMBERS', 'billing  empty  0']);
    expect(JSON.parse((await cli(['groups', 'list', '--json'])).stdout)).toEqual([{ group: 'billing', state: 'empty', members: 0 }]);

    const described = await cli(['groups', 'describe', 'billing']);
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/^group billing: .*\n\nGROUP/);
    const [summary, header, ...table] = lines(described.stdout);
    expect(summary).toBe('group billing: empty, generation 0, strategy sticky, 0 members');
    expect(header.split(/\s+/)).toEqual(['GROUP', 'TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'LOG-END-OFFSET', 'LAG', 'CONSUMER-ID', 'HOST', 'CLIENT-ID']);
    expect(table.map((l) => l.trim().split(/\s+/))).toEqual([
      ['billing', 'orders', '0', '2', '5', '3', '-', '-', '-'],
      ['billing', 'orders', '1', '3', '3', '0', '-', '-', '-'],
    ]);
    const json = JSON.parse((await cli(['groups', 'describe', 'billing', '--json'])).stdout) as unknown;
    expect(json).toEqual({
      group: 'billing',
      state: 'empty',
      strategy: 'sticky',
      generation: 0,
      members: [],
      partitions: [
        { topic: 'orders', partition: 0, committed: 2, metadata: '', logStartOffset: 0, logEndOffset: 5, lag: 3, memberId: '' },
        { topic: 'orders', partition: 1, committed: 3, metadata: 'done', logStartOffset: 0, logEndOffset: 3, lag: 0, memberId: '' },
      ],
    });

    // Dry run (the default): the plan for every partition, nothing committed.
    const dry = await cli(['groups', 'reset-offsets', 'billing', '--topic', 'orders', '--to-earliest']);
    expect(dry.code).toBe(0);
    expect(lines(dry.stdout)[0]!.split(/\s+/)).toEqual(['TOPIC', 'PARTITION', 'PREVIOUS', 'NEW']);
    expect(rows(dry.stdout)).toEqual([
      ['orders', '0', '2', '0'],
      ['orders', '1', '3', '0'],
      ['orders', '2', '-', '0'],
    ]);
    expect(dry.stderr).toBe('dry run: nothing changed (add --execute to commit these offsets)\n');
    const dryRun = await cli(['groups', 'reset-offsets', 'billing', '--topic', 'orders:0', '--to-latest', '--dry-run', '--json']);
    expect(JSON.parse(dryRun.stdout)).toEqual({ group: 'billing', executed: false, partitions: [{ topic: 'orders', partition: 0, previous: 2, offset: 5 }] });
    expect((await admin.describeGroup('billing')).partitions.map((p) => p.committed)).toEqual([2, 3]);

    // --execute, in each of Kafka's spellings and the short --to.
    const applied = await cli(['groups', 'reset-offsets', 'billing', '--topic', 'orders:0', '--to-offset', '4', '--execute']);
    expect(applied.code).toBe(0);
    expect(rows(applied.stdout)).toEqual([['orders', '0', '2', '4']]);
    expect(applied.stderr).toBe('reset the offsets of group billing on 1 partition\n');
    const committed = async () => (await admin.describeGroup('billing')).partitions.map((p) => [p.partition, p.committed]);
    expect(await committed()).toEqual([
      [0, 4],
      [1, 3],
    ]);
    expect(rows((await cli(['groups', 'reset-offsets', 'billing', '--topic', 'orders:0', '--shift-by', '-3', '--execute'])).stdout)).toEqual([['orders', '0', '4', '1']]);
    // No zone: UTC, as kafka-consumer-groups reads it. 01:46:42Z is the record at offset 2.
    expect(rows((await cli(['groups', 'reset-offsets', 'billing', '--topic', 'orders:0', '--to-datetime', '2001-09-09T01:46:42.000', '--execute'])).stdout)).toEqual([['orders', '0', '1', '2']]);
    expect(rows((await cli(['groups', 'reset-offsets', 'billing', '--topic', 'orders:0', '--to-datetime', '2001-09-09T03:46:43.500+02:00', '--execute'])).stdout)).toEqual([['orders', '0', '2', '4']]);
    expect(rows((await cli(['groups', 'reset-offsets', 'billing', '--topic', 'orders', '--to', 'latest', '--execute'])).stdout)).toEqual([
      ['orders', '0', '4', '5'],
      ['orders', '1', '3', '3'],
      ['orders', '2', '-', '0'],
    ]);
    expect(await committed()).toEqual([
      [0, 5],
      [1, 3],
      [2, 0],
    ]);
    // Beyond the log end: clamped to it, as Kafka does.
    expect(rows((await cli(['groups', 'reset-offsets', 'billing', '--topic', 'orders:1', '--to', '99'])).stdout)).toEqual([['orders', '1', '3', '3']]);
    const unknownTopic = await cli(['groups', 'reset-offsets', 'billing', '--topic', 'nope', '--to-earliest']);
    expect(unknownTopic.code).toBe(1);
    expect(lines(unknownTopic.stderr)).toEqual(['tributary: UNKNOWN_TOPIC: unknown topic nope']);

    // A member: the group is stable, describe shows it with its client id and host; reset and delete are refused.
    const worker = await connect(broker.port, 'billing-worker');
    const joined = await worker.joinGroup({ group: 'billing', memberId: '', instanceId: '', sessionTimeoutMs: 60_000, rebalanceTimeoutMs: 0, strategy: 0, pattern: '', topics: ['orders'] });
    expect(lines((await cli(['groups', 'list'])).stdout)).toEqual(['GROUP    STATE   MEMBERS', 'billing  stable  1']);
    const withMember = await cli(['groups', 'describe', 'billing']);
    const [memberSummary, , ...memberTable] = lines(withMember.stdout);
    expect(memberSummary).toBe(`group billing: stable, generation ${joined.generation}, strategy sticky, 1 member`);
    expect(memberTable.map((l) => l.split(/\s+/))).toEqual([
      ['billing', 'orders', '0', '5', '5', '0', joined.memberId, '127.0.0.1', 'billing-worker'],
      ['billing', 'orders', '1', '3', '3', '0', joined.memberId, '127.0.0.1', 'billing-worker'],
      ['billing', 'orders', '2', '0', '0', '0', joined.memberId, '127.0.0.1', 'billing-worker'],
    ]);
    const refused = await cli(['groups', 'reset-offsets', 'billing', '--topic', 'orders', '--to-earliest', '--execute']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(lines(refused.stderr)).toEqual(['tributary: NON_EMPTY_GROUP: group billing has 1 members; stop them first']);
    // A dry run is refused too, as Kafka refuses to plan for an active group.
    expect((await cli(['groups', 'reset-offsets', 'billing', '--topic', 'orders', '--to-earliest'])).code).toBe(1);
    const notDeleted = await cli(['groups', 'delete', 'billing']);
    expect(notDeleted.code).toBe(1);
    expect(lines(notDeleted.stderr)).toEqual(['tributary: NON_EMPTY_GROUP: group billing has 1 members; stop them first']);
    expect(await committed()).toEqual([
      [0, 5],
      [1, 3],
      [2, 0],
    ]);

    // A second member on a one-partition topic owns nothing: a row of its own with "-" for topic and partition.
    await admin.createTopic({ name: 'single', partitions: 1 });
    const first = await connect(broker.port, 'pair-1');
    const second = await connect(broker.port, 'pair-2');
    const join = { group: 'pair', instanceId: '', sessionTimeoutMs: 60_000, rebalanceTimeoutMs: 0, strategy: 0 as const, pattern: '', topics: ['single'] };
    const j1 = await first.joinGroup({ ...join, memberId: '' });
    // Eager rebalance: the second join waits until the first member, told by its heartbeat, joins again.
    const secondJoin = second.joinGroup({ ...join, memberId: '' });
    for (;;) {
      const beat = await first.heartbeat({ group: 'pair', memberId: j1.memberId, generation: j1.generation }).then(
        () => null,
        (err: unknown) => err,
      );
      if (beat !== null) {
        expect(beat).toMatchObject({ codeName: 'REBALANCE_IN_PROGRESS' });
        break;
      }
    }
    const [j1again, j2] = await Promise.all([first.joinGroup({ ...join, memberId: j1.memberId }), secondJoin]);
    const owner = j1again.assignment.length > 0 ? { id: j1.memberId, client: 'pair-1' } : { id: j2.memberId, client: 'pair-2' };
    const idle = owner.id === j1.memberId ? { id: j2.memberId, client: 'pair-2' } : { id: j1.memberId, client: 'pair-1' };
    const [pairSummary, , ...pairTable] = lines((await cli(['groups', 'describe', 'pair'])).stdout);
    expect(pairSummary).toBe(`group pair: stable, generation ${j2.generation}, strategy sticky, 2 members`);
    expect(pairTable.map((l) => l.split(/\s+/))).toEqual([
      ['pair', 'single', '0', '-', '0', '0', owner.id, '127.0.0.1', owner.client],
      ['pair', '-', '-', '-', '-', '-', idle.id, '127.0.0.1', idle.client],
    ]);

    await worker.leaveGroup({ group: 'billing', memberId: joined.memberId });
    expect(await cli(['groups', 'delete', 'billing'])).toMatchObject({ code: 0, stdout: '', stderr: 'deleted group billing\n' });
    expect(rows((await cli(['groups', 'list'])).stdout)).toEqual([['pair', 'stable', '2']]);
    const gone = await cli(['groups', 'describe', 'billing']);
    expect(gone.code).toBe(1);
    expect(lines(gone.stderr)).toEqual(['tributary: UNKNOWN_GROUP: no consumer group billing']);
    expect(lines((await cli(['groups', 'delete', 'billing'])).stderr)).toEqual(['tributary: UNKNOWN_GROUP: no consumer group billing']);

    // --execute on a group that does not exist creates it, as Kafka's tool does.
    expect((await cli(['groups', 'reset-offsets', 'fresh', '--topic', 'orders:1', '--to-earliest', '--execute'])).code).toBe(0);
    expect(rows((await cli(['groups', 'list'])).stdout)).toEqual([
      ['fresh', 'empty', '0'],
      ['pair', 'stable', '2'],
    ]);
  }, 90_000);
});
