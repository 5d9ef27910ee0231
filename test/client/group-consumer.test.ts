// GroupConsumer against a real broker: members share a topic's partitions (callbacks name them),
// committed offsets carry over between members, the reset policy applies where none is committed,
// and each delivery mode does what its documentation promises after a crash.
import { describe, expect, it } from 'vitest';
import { GroupConsumer, isTributaryError, type ConsumedRecord, type GroupConsumerOptions, type TopicPartition } from '../../src/client/index.ts';
import { admin, createTopic, producer, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { onCleanup } from '../helpers/temp.ts';

const SESSION_MS = 1500;
/** How long a condition may take: an eviction (one session) plus a join, with room for a slow machine. */
const WAIT_MS = 20_000;

async function member(broker: TestBroker, opts: Partial<GroupConsumerOptions> & { group: string; topics: string[] }): Promise<GroupConsumer> {
  const c = await GroupConsumer.connect({ ...broker.url, maxWaitMs: 100, sessionTimeoutMs: SESSION_MS, autoOffsetReset: 'earliest', ...opts });
  onCleanup(() => c.close());
  return c;
}

/** Polls until `count` records came (or WAIT_MS passed); returns what came. */
async function pollFor(c: GroupConsumer, count: number): Promise<ConsumedRecord[]> {
  const out: ConsumedRecord[] = [];
  const deadline = Date.now() + WAIT_MS;
  while (out.length < count && Date.now() < deadline) out.push(...(await c.poll()));
  return out;
}

/** A member polling on its own until stopped, as an application's loop would. */
function pollInBackground(c: GroupConsumer): { records: ConsumedRecord[]; stop: () => Promise<void> } {
  const records: ConsumedRecord[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) records.push(...(await c.poll()));
  })();
  return {
    records,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** Waits for a condition the members' own loops bring about, checking it every few ms. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const partitionsOf = (list: TopicPartition[]) => list.map((tp) => tp.partition).sort();
const values = (records: ConsumedRecord[]) => records.map((r) => r.value!.toString());

async function produceValues(broker: TestBroker, topic: string, from: number, to: number, partitions = 1): Promise<void> {
  const p = await producer(broker);
  await p.sendBatch(Array.from({ length: to - from }, (_, i) => ({ topic, partition: (from + i) % partitions, value: String(from + i) })));
}

describe('GroupConsumer membership', () => {
  it('two members share a 3-partition topic, each partition once; when one closes the other gets all, and the callbacks say so', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'share', 3);
    const calls: string[] = [];
    const listeners = (name: string) => ({
      onPartitionsAssigned: (p: TopicPartition[]) => void calls.push(`${name} assigned ${partitionsOf(p).join(',')}`),
      onPartitionsRevoked: (p: TopicPartition[]) => void calls.push(`${name} revoked ${partitionsOf(p).join(',')}`),
    });
    const a = await member(broker, { group: 'share', topics: ['share'], ...listeners('a') });
    expect(a.memberId).toBe('');
    await produceValues(broker, 'share', 0, 9, 3);
    // Handed out to a alone; processed once a polls again, which commits them before a gives partitions up.
    const before = await pollFor(a, 9);
    expect(partitionsOf(a.assignment())).toEqual([0, 1, 2]);
    expect(a.memberId).not.toBe('');
    expect(calls).toEqual(['a assigned 0,1,2']);

    const b = await member(broker, { group: 'share', topics: ['share'], ...listeners('b') });
    const loopA = pollInBackground(a);
    const loopB = pollInBackground(b);
    await until(() => b.generation > 0 && a.generation === b.generation && a.assignment().length + b.assignment().length === 3, 'both members hold a share of one generation');
    const shareA = partitionsOf(a.assignment());
    const shareB = partitionsOf(b.assignment());
    expect([...shareA, ...shareB].sort()).toEqual([0, 1, 2]);
    expect(shareA.length).toBeGreaterThan(0);
    expect(shareB.length).toBeGreaterThan(0);
    expect(calls).toEqual(['a assigned 0,1,2', 'a revoked 0,1,2', expect.stringMatching(/^[ab] assigned/), expect.stringMatching(/^[ab] assigned/)]);
    expect(calls).toContain(`a assigned ${shareA.join(',')}`);
    expect(calls).toContain(`b assigned ${shareB.join(',')}`);

    // Each record once, by the member that owns its partition; what a read before the rebalance is
    // not read again (a committed it before revoking).
    await produceValues(broker, 'share', 9, 39, 3);
    await until(() => before.length + loopA.records.length + loopB.records.length >= 39, 'the two members read 39 records');
    expect(values([...before, ...loopA.records, ...loopB.records]).sort()).toEqual(Array.from({ length: 39 }, (_, i) => String(i)).sort());
    expect(new Set(loopA.records.map((r) => r.partition))).toEqual(new Set(shareA));
    expect(new Set(loopB.records.map((r) => r.partition))).toEqual(new Set(shareB));

    calls.length = 0;
    await loopB.stop();
    await b.close();
    expect(calls).toEqual([`b revoked ${shareB.join(',')}`]);
    await until(() => a.assignment().length === 3, 'a holds every partition again');
    await loopA.stop();
    expect(calls).toEqual([`b revoked ${shareB.join(',')}`, `a revoked ${shareA.join(',')}`, 'a assigned 0,1,2']);
  });
});

describe('GroupConsumer subscribed by pattern', () => {
  it('gets the partitions of every topic whose whole name matches', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'pat-a', 1);
    await createTopic(broker, 'pat-b', 2);
    await createTopic(broker, 'xpat-c', 1);
    const c = await member(broker, { group: 'pattern', topics: [], pattern: 'pat-.*' });
    await c.poll();
    expect(c.assignment().map((tp) => `${tp.topic}/${tp.partition}`).sort()).toEqual(['pat-a/0', 'pat-b/0', 'pat-b/1']);
  });
});

describe('GroupConsumer and a growing topic', () => {
  it('a partition added to the topic is assigned at the next rebalance and read', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'grow', 1);
    const c = await member(broker, { group: 'grow', topics: ['grow'] });
    await c.poll();
    expect(partitionsOf(c.assignment())).toEqual([0]);
    await (await admin(broker)).growTopic('grow', 2);
    await produceValues(broker, 'grow', 1, 2, 2);
    expect(await pollFor(c, 1)).toMatchObject([{ partition: 1, value: Buffer.from('1') }]);
    expect(partitionsOf(c.assignment())).toEqual([0, 1]);
  });
});

describe('GroupConsumer static membership', () => {
  it('a static member does not leave on close; restarted with its instance id it gets its partitions back, with no rebalance for the others', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'static', 3);
    const revokedB: number[][] = [];
    const a = await member(broker, { group: 'static', topics: ['static'], instanceId: 'gateway-a' });
    await a.poll();
    const b = await member(broker, { group: 'static', topics: ['static'], onPartitionsRevoked: (p) => void revokedB.push(partitionsOf(p)) });
    const loopA = pollInBackground(a);
    const loopB = pollInBackground(b);
    await until(() => b.generation > 0 && a.generation === b.generation && a.assignment().length + b.assignment().length === 3, 'both members hold a share');
    await loopA.stop();
    const { generation } = a;
    const shareA = partitionsOf(a.assignment());
    await a.close();

    const restarted = await member(broker, { group: 'static', topics: ['static'], instanceId: 'gateway-a' });
    await restarted.poll();
    expect(partitionsOf(restarted.assignment())).toEqual(shareA);
    expect(restarted.generation).toBe(generation);
    expect(b.generation).toBe(generation);
    await loopB.stop();
    expect(revokedB).toEqual([]);
  });
});

describe('GroupConsumer fenced', () => {
  it('a static member replaced by another process with its instance id loses its partitions and stops: poll() throws FENCED_INSTANCE', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'fence', 2);
    const lost: number[][] = [];
    const old = await member(broker, { group: 'fence', topics: ['fence'], instanceId: 'gw', onPartitionsLost: (p) => void lost.push(partitionsOf(p)) });
    await old.poll();
    const replacement = await member(broker, { group: 'fence', topics: ['fence'], instanceId: 'gw' });
    await replacement.poll();
    expect(partitionsOf(replacement.assignment())).toEqual([0, 1]);
    // The old one hears of it from its next heartbeat.
    const deadline = Date.now() + WAIT_MS;
    let error: unknown = null;
    while (error === null && Date.now() < deadline) error = await old.poll().then(() => null, (err: unknown) => err);
    expect(isTributaryError(error, 'FENCED_INSTANCE')).toBe(true);
    expect(lost).toEqual([[0, 1]]);
    await expect(old.poll()).rejects.toMatchObject({ codeName: 'FENCED_INSTANCE' });
    expect(partitionsOf(replacement.assignment())).toEqual([0, 1]);
  });
});

describe('GroupConsumer on a dropped connection', () => {
  it('reconnects, joins again with its member id and restarts from the committed offsets; the partitions count as lost', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'drop', 1);
    await produceValues(broker, 'drop', 0, 15);
    const lost: number[][] = [];
    const c = await member(broker, { group: 'drop', topics: ['drop'], autoCommitIntervalMs: 0, onPartitionsLost: (p) => void lost.push(partitionsOf(p)) });
    expect(await pollFor(c, 15)).toHaveLength(15);
    await c.commit([{ topic: 'drop', partition: 0, offset: 10 }]);
    const { memberId, generation } = c;
    c.connection.destroy();
    expect(values(await pollFor(c, 5))).toEqual(['10', '11', '12', '13', '14']);
    expect(lost).toEqual([[0]]);
    // The group was stable with the same subscription: the same member in the same generation.
    expect([c.memberId, c.generation]).toEqual([memberId, generation]);
  });
});

describe('GroupConsumer offsets', () => {
  it('a closed member commits what it handed out; the next member of the group goes on from there; commit(offsets) commits exactly those', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'resume', 1);
    await produceValues(broker, 'resume', 0, 10);
    const first = await member(broker, { group: 'resume', topics: ['resume'] });
    expect(values(await pollFor(first, 10))).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
    await first.close();

    await produceValues(broker, 'resume', 10, 15);
    const second = await member(broker, { group: 'resume', topics: ['resume'], autoCommitIntervalMs: 0 });
    expect(values(await pollFor(second, 5))).toEqual(['10', '11', '12', '13', '14']);
    await second.commit([{ topic: 'resume', partition: 0, offset: 12, metadata: 'by hand' }]);
    // autoCommitIntervalMs 0: close commits nothing more.
    await second.close();

    const third = await member(broker, { group: 'resume', topics: ['resume'] });
    expect(values(await pollFor(third, 3))).toEqual(['12', '13', '14']);
    await expect(third.commit([{ topic: 'resume', partition: 5, offset: 0 }])).rejects.toMatchObject({ codeName: 'NOT_ASSIGNED' });
  });

  it('a group without committed offsets starts at autoOffsetReset: earliest, latest, or none (poll throws)', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'reset', 1);
    await produceValues(broker, 'reset', 0, 5);

    const earliest = await member(broker, { group: 'reset-earliest', topics: ['reset'], autoOffsetReset: 'earliest' });
    expect(values(await pollFor(earliest, 5))).toEqual(['0', '1', '2', '3', '4']);

    const latest = await member(broker, { group: 'reset-latest', topics: ['reset'], autoOffsetReset: 'latest' });
    expect(await latest.poll()).toEqual([]);
    expect(latest.assignment()).toEqual([{ topic: 'reset', partition: 0 }]);
    await produceValues(broker, 'reset', 5, 6);
    expect(values(await pollFor(latest, 1))).toEqual(['5']);

    // A position taken from the reset policy is committed like any other (on close here), even
    // with no record read: the next member starts there, whatever its own policy.
    const quiet = await member(broker, { group: 'reset-quiet', topics: ['reset'], autoOffsetReset: 'latest' });
    expect(await quiet.poll()).toEqual([]);
    await quiet.close();
    await produceValues(broker, 'reset', 6, 7);
    const after = await member(broker, { group: 'reset-quiet', topics: ['reset'], autoOffsetReset: 'earliest' });
    expect(values(await pollFor(after, 1))).toEqual(['6']);

    const none = await member(broker, { group: 'reset-none', topics: ['reset'], autoOffsetReset: 'none' });
    const error = await none.poll().catch((err: unknown) => err);
    expect(isTributaryError(error, 'OFFSET_OUT_OF_RANGE')).toBe(true);
    expect((error as Error).message).toMatch(/group reset-none has no committed offset for reset\/0 and autoOffsetReset is 'none'/);
    await expect(none.poll()).rejects.toMatchObject({ codeName: 'OFFSET_OUT_OF_RANGE' });
  });
});

describe('GroupConsumer delivery after a crash', () => {
  /**
   * `crashed` read records 0..9 (committing them), then 10..19, and dies without closing: its
   * socket is destroyed and it is never polled again, so its session runs out. Returns what the
   * member that takes over reads first.
   */
  async function takeOverAfterCrash(delivery: 'at-least-once' | 'at-most-once'): Promise<string[]> {
    const broker = await startTestBroker();
    const topic = `crash-${delivery}`;
    await createTopic(broker, topic, 1);
    await produceValues(broker, topic, 0, 10);
    const crashed = await member(broker, { group: topic, topics: [topic], delivery });
    expect(values(await pollFor(crashed, 10))).toHaveLength(10);
    await crashed.commit();
    await produceValues(broker, topic, 10, 20);
    expect(values(await pollFor(crashed, 10))).toEqual(Array.from({ length: 10 }, (_, i) => String(10 + i)));
    crashed.connection.destroy();

    await produceValues(broker, topic, 20, 25);
    const next = await member(broker, { group: topic, topics: [topic], delivery });
    return values(await pollFor(next, delivery === 'at-least-once' ? 15 : 5));
  }

  it('at-least-once: what was handed out but not committed is delivered again', async () => {
    expect(await takeOverAfterCrash('at-least-once')).toEqual(Array.from({ length: 15 }, (_, i) => String(10 + i)));
  });

  it('at-most-once: what was handed out is committed before poll() returns, and never delivered again', async () => {
    expect(await takeOverAfterCrash('at-most-once')).toEqual(['20', '21', '22', '23', '24']);
  });

  it('at-least-once auto-commit: what a later poll() marked processed is committed once the interval passed', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'auto', 1);
    await produceValues(broker, 'auto', 0, 10);
    const crashed = await member(broker, { group: 'auto', topics: ['auto'], autoCommitIntervalMs: 1 });
    expect(await pollFor(crashed, 10)).toHaveLength(10);
    // This poll counts 0..9 as processed and commits them (the interval passed), then hands out 10..14.
    await produceValues(broker, 'auto', 10, 15);
    expect(values(await pollFor(crashed, 5))).toEqual(['10', '11', '12', '13', '14']);
    crashed.connection.destroy();

    const next = await member(broker, { group: 'auto', topics: ['auto'] });
    expect(values(await pollFor(next, 5))).toEqual(['10', '11', '12', '13', '14']);
  });
});

describe('GroupConsumer exactly-once', () => {
  it('produceAndCommit writes the results and commits the input positions together; an uncommitted batch is read again, never written twice', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'eo-in', 1);
    await createTopic(broker, 'eo-out', 1);
    await produceValues(broker, 'eo-in', 0, 10);
    const transform = (records: ConsumedRecord[]) => records.map((r) => ({ topic: 'eo-out', value: `${r.value}!` }));

    const crashed = await member(broker, { group: 'eo', topics: ['eo-in'], delivery: 'exactly-once' });
    const firstBatch = await pollFor(crashed, 10);
    const written = await crashed.produceAndCommit(transform(firstBatch.slice(0, 10)));
    expect(written.map((m) => m.offset)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    await produceValues(broker, 'eo-in', 10, 15);
    expect(await pollFor(crashed, 5)).toHaveLength(5);
    // Dies before it writes the results of 10..14.
    crashed.connection.destroy();

    const next = await member(broker, { group: 'eo', topics: ['eo-in'], delivery: 'exactly-once' });
    const again = await pollFor(next, 5);
    expect(values(again)).toEqual(['10', '11', '12', '13', '14']);
    await next.produceAndCommit(transform(again), { flush: true });
    await next.close();

    const reader = await member(broker, { group: 'eo-reader', topics: ['eo-out'] });
    expect(values(await pollFor(reader, 15))).toEqual(Array.from({ length: 15 }, (_, i) => `${i}!`));
  });

  it('records handed out and not committed when the partitions were given up: the next produceAndCommit writes nothing (ILLEGAL_GENERATION)', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'eo-rebalance', 2);
    await createTopic(broker, 'eo-rebalance-out', 1);
    await produceValues(broker, 'eo-rebalance', 0, 4, 2);
    const a = await member(broker, { group: 'eo-rebalance', topics: ['eo-rebalance'], delivery: 'exactly-once' });
    const held = await pollFor(a, 4);
    // A second member joins: a gives its partitions up in its next poll(), with 0..3 uncommitted.
    const b = await member(broker, { group: 'eo-rebalance', topics: ['eo-rebalance'], delivery: 'exactly-once' });
    const loopB = pollInBackground(b);
    const generation = a.generation;
    const deadline = Date.now() + WAIT_MS;
    while (a.generation === generation && Date.now() < deadline) await a.poll();
    expect(a.generation).toBeGreaterThan(generation);
    await expect(a.produceAndCommit(held.map((r) => ({ topic: 'eo-rebalance-out', value: String(r.value) })))).rejects.toMatchObject({ codeName: 'ILLEGAL_GENERATION' });
    await loopB.stop();
    expect((await (await admin(broker)).describeTopic('eo-rebalance-out')).partitions[0]!.nextOffset).toBe(0);
  });

  it('a failed produceAndCommit stores nothing and the next poll() returns the same records again', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'eo-fail', 1);
    await produceValues(broker, 'eo-fail', 0, 3);
    const c = await member(broker, { group: 'eo-fail', topics: ['eo-fail'], delivery: 'exactly-once' });
    const records = await pollFor(c, 3);
    // A partition the output topic does not have: refused by the broker, nothing stored.
    await expect(c.produceAndCommit([{ topic: 'eo-fail', partition: 0, value: 'x' }, { topic: 'eo-fail', partition: 7, value: 'y' }])).rejects.toMatchObject({
      codeName: 'INVALID_PARTITION',
    });
    expect(values(await pollFor(c, 3))).toEqual(values(records));
  });
});
