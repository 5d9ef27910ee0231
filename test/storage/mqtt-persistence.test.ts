import type { Readable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { isTributaryError } from '../../src/errors.ts';
import { LogStore } from '../../src/storage/log-store.ts';
import { MqttPersistence, type MqttPacket } from '../../src/storage/mqtt-persistence.ts';
import { LAZY_TXN_MS } from '../../src/storage/mqtt/txn-stage.ts';
import { onCleanup, silentLogger, storeOptions, tempDir } from '../helpers/temp.ts';

const broker = { id: 'broker-1' };
const alice = { id: 'alice' };
const bob = { id: 'bob' };

/** A LogStore and the persistence sharing its environment, as the MQTT listener wires them. */
async function open(dir: string) {
  const store = new LogStore(storeOptions(dir));
  const persistence = new MqttPersistence(store, silentLogger);
  await persistence.setup(broker);
  const close = async () => {
    await persistence.destroy();
    await store.close();
  };
  return { store, persistence, close };
}

async function openForTest(dir = tempDir()) {
  const opened = await open(dir);
  onCleanup(opened.close);
  return opened;
}

async function list(stream: Readable): Promise<MqttPacket[]> {
  const out: MqttPacket[] = [];
  for await (const item of stream) out.push(item as MqttPacket);
  return out;
}

function publish(topic: string, payload: string, over: Partial<MqttPacket> = {}): MqttPacket & { topic: string } {
  return { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false, brokerId: broker.id, brokerCounter: 1, ...over };
}

describe('MqttPersistence', () => {
  it('keeps retained messages, subscriptions, queues, incoming packets and wills across a restart', async () => {
    const dir = tempDir();
    const first = await open(dir);
    const p = first.persistence;
    const properties = { contentType: 'text/plain', userProperties: { site: 'north' } };
    await p.storeRetained(publish('sensors/a/temp', '21.5', { retain: true, qos: 0, properties }));
    await p.storeRetained(publish('sensors/b/temp', 'gone', { retain: true }));
    await p.storeRetained(publish('sensors/b/temp', '', { retain: true }));
    await p.addSubscriptions(alice, [
      { topic: 'sensors/+/temp', qos: 1, rh: 0, rap: false, nl: false },
      { topic: 'alerts/#', qos: 2, rh: 0, rap: false, nl: false },
      { topic: 'chatter', qos: 0, rh: 0, rap: false, nl: false },
    ]);
    await p.addSubscriptions(bob, [{ topic: 'sensors/#', qos: 1 }]);
    for (let i = 0; i < 4; i++) await p.outgoingEnqueueCombi([{ clientId: alice.id }], publish('sensors/a/temp', `m${i}`, { brokerCounter: 10 + i, qos: 2 }));
    for (let i = 0; i < 4; i++) await p.outgoingUpdate(alice, { ...publish('sensors/a/temp', `m${i}`), brokerCounter: 10 + i, messageId: 100 + i });
    await p.outgoingClearMessageId(alice, { messageId: 100 });
    await p.outgoingUpdate(alice, { cmd: 'pubrel', messageId: 101 });
    await p.incomingStorePacket(bob, { ...publish('up/1', 'in-42', { qos: 2 }), messageId: 42 });
    await p.incomingStorePacket(bob, { ...publish('up/1', 'in-43', { qos: 2 }), messageId: 43 });
    await p.incomingDelPacket(bob, { messageId: 43 });
    await p.putWill(alice, { cmd: 'publish', topic: 'status/alice', payload: Buffer.from('offline'), qos: 1, retain: true });
    await first.close();

    const { persistence: q } = await openForTest(dir);
    const retained = await list(q.createRetainedStreamCombi(['sensors/+/temp', 'sensors/#']));
    expect(retained).toHaveLength(1);
    expect(retained[0]).toMatchObject({ topic: 'sensors/a/temp', qos: 0, retain: true, brokerId: broker.id, brokerCounter: 1, properties });
    expect(Buffer.isBuffer(retained[0].payload)).toBe(true);
    expect(retained[0].payload!.toString()).toBe('21.5');

    expect(await q.subscriptionsByClient(alice)).toEqual(
      expect.arrayContaining([
        { topic: 'sensors/+/temp', qos: 1, rh: 0, rap: false, nl: false },
        { topic: 'alerts/#', qos: 2, rh: 0, rap: false, nl: false },
        { topic: 'chatter', qos: 0, rh: 0, rap: false, nl: false },
      ]),
    );
    const matched = await q.subscriptionsByTopic('sensors/a/temp');
    expect(matched.map((s) => [s.clientId, s.topic, s.qos]).sort()).toEqual([
      ['alice', 'sensors/+/temp', 1],
      ['bob', 'sensors/#', 1],
    ]);
    expect(await q.subscriptionsByTopic('chatter')).toEqual([]);
    expect(await q.countOffline()).toEqual({ subsCount: 3, clientsCount: 2 });

    const queue = await list(q.outgoingStream(alice));
    expect(queue.map((m) => [m.cmd, m.messageId])).toEqual([
      ['pubrel', 101],
      ['publish', 102],
      ['publish', 103],
    ]);
    expect(queue[1]).toMatchObject({ topic: 'sensors/a/temp', qos: 2, retain: false, dup: false, brokerId: broker.id, brokerCounter: 12 });
    expect(queue[1].payload!.toString()).toBe('m2');
    // The queue goes on after the restart: new entries after the old ones, ids still found.
    await q.outgoingEnqueue({ clientId: alice.id }, publish('sensors/a/temp', 'm4', { brokerCounter: 14 }));
    expect((await q.outgoingClearMessageId(alice, { messageId: 102 }))?.payload?.toString()).toBe('m2');
    expect((await list(q.outgoingStream(alice))).map((m) => m.payload?.toString() ?? m.cmd)).toEqual(['pubrel', 'm3', 'm4']);

    expect((await q.incomingGetPacket(bob, { messageId: 42 })).payload!.toString()).toBe('in-42');
    await expect(q.incomingGetPacket(bob, { messageId: 43 })).rejects.toSatisfy((e) => isTributaryError(e, 'INVALID_REQUEST'));

    expect(await q.getWill(alice)).toMatchObject({ topic: 'status/alice', clientId: 'alice', brokerId: broker.id, retain: true });
    expect((await list(q.streamWill({ 'other-broker': Date.now() }))).map((w) => w.clientId)).toEqual(['alice']);
    expect(await list(q.streamWill({ [broker.id]: Date.now() }))).toEqual([]);
  });

  it('updates the first queued match, own copy or another broker\'s packet with the messageId, and drains a long queue in order', async () => {
    const { persistence: p } = await openForTest();
    const own = (counter: number, messageId?: number) => ({ ...publish('x', `m${counter}`, { brokerCounter: counter }), messageId });
    const ids = async () => (await list(p.outgoingStream(alice))).map((m) => [m.cmd, m.brokerCounter ?? null, m.messageId]);
    for (const counter of [1, 2, 3]) await p.outgoingEnqueue({ clientId: alice.id }, own(counter));
    await p.outgoingUpdate(alice, own(1, 7));
    await p.outgoingUpdate(alice, own(3, 9));
    // A PUBREL (no brokerId) replaces the packet with its messageId, in its place.
    await p.outgoingUpdate(alice, { cmd: 'pubrel', messageId: 7 });
    expect(await ids()).toEqual([
      ['pubrel', null, 7],
      ['publish', 2, undefined],
      ['publish', 3, 9],
    ]);
    // Own copy (counter 2) ahead of another broker's packet with id 9: the own copy gets the id.
    await p.outgoingUpdate(alice, own(2, 9));
    expect(await ids()).toEqual([
      ['pubrel', null, 7],
      ['publish', 2, 9],
      ['publish', 3, 9],
    ]);
    // Another broker's packet with id 7 (the PUBREL) ahead of the own copy: the PUBREL is replaced.
    await p.outgoingUpdate(alice, own(2, 7));
    expect(await ids()).toEqual([
      ['publish', 2, 7],
      ['publish', 2, 9],
      ['publish', 3, 9],
    ]);
    // A PUBACK or PUBCOMP clears the first packet holding its id.
    expect((await p.outgoingClearMessageId(alice, { messageId: 9 }))?.brokerCounter).toBe(2);
    expect((await p.outgoingClearMessageId(alice, { messageId: 9 }))?.brokerCounter).toBe(3);
    expect((await p.outgoingClearMessageId(alice, { messageId: 9 })) ?? null).toBeNull();
    await expect(p.outgoingUpdate(alice, own(99, 1))).rejects.toSatisfy((e) => isTributaryError(e, 'INVALID_REQUEST'));
    expect((await p.outgoingClearMessageId(alice, { messageId: 7 }))?.messageId).toBe(7);
    expect(await ids()).toEqual([]);

    // A client back after a long absence: ids assigned 100 at a time past the 65535 wrap, acked in order.
    const n = 70_000;
    for (let i = 0; i < n; i += 5_000) {
      await Promise.all(Array.from({ length: 5_000 }, (_, j) => p.outgoingEnqueue({ clientId: bob.id }, publish('t', `d${i + j}`, { brokerCounter: 1_000 + i + j }))));
    }
    const idOf = (i: number) => (i % 65_535) + 1;
    for (let i = 0; i < n; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => p.outgoingUpdate(bob, { ...publish('t', '', { brokerCounter: 1_000 + i + j }), messageId: idOf(i + j) })));
      const cleared = await Promise.all(Array.from({ length: 100 }, (_, j) => p.outgoingClearMessageId(bob, { messageId: idOf(i + j) })));
      expect(cleared.map((m) => m?.payload?.toString())).toEqual(Array.from({ length: 100 }, (_, j) => `d${i + j}`));
    }
    expect(await list(p.outgoingStream(bob))).toEqual([]);
  });

  it('hands a stored queue out as copies: what aedes changes on a streamed packet reaches neither the store nor the update after the read', async () => {
    const { persistence: p } = await openForTest();
    const properties = { contentType: 'text/plain', userProperties: { site: 'north' } };
    await p.outgoingEnqueue({ clientId: alice.id }, publish('x', 'm1', { brokerCounter: 1, properties }));
    // aedes' emptyQueue stamps the interval left and the Subscription Identifiers on what it reads.
    const edit = (m: MqttPacket) => Object.assign(m.properties!, { messageExpiryInterval: 5, subscriptionIdentifier: [3] });
    const [read] = await list(p.outgoingStream(alice));
    edit(read!);
    // The update right after the read stores the packet as stored, with its new messageId.
    await p.outgoingUpdate(alice, { ...read!, messageId: 11 });
    // Read again while that lazy update is still staged, and edited again.
    const [again] = await list(p.outgoingStream(alice));
    edit(again!);
    const [stored] = await list(p.outgoingStream(alice));
    expect(stored).toMatchObject({ messageId: 11, properties });
    expect(stored!.properties).toEqual(properties);
  });

  it('commits a QoS 1 update or a clear with the next eager write, or LAZY_TXN_MS after it, and answers it at once', async () => {
    const { store, persistence: p } = await openForTest();
    const stored = () => [...store.lmdb.mqttOutgoing.getRange()].map(({ value }) => value.messageId ?? null);
    await p.outgoingEnqueue({ clientId: alice.id }, publish('a/1', 'x', { brokerCounter: 1 }));
    await p.outgoingEnqueue({ clientId: alice.id }, publish('a/1', 'y', { brokerCounter: 2 }));
    const before = p.txnCommits;
    await p.outgoingUpdate(alice, { ...publish('a/1', 'x', { brokerCounter: 1 }), messageId: 11 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(p.txnCommits).toBe(before);
    expect(stored()).toEqual([null, null]);
    // Reads see it before the commit.
    expect((await list(p.outgoingStream(alice))).map((m) => m.messageId)).toEqual([11, undefined]);

    await p.addSubscriptions(alice, [{ topic: 'a/+', qos: 1 }]);
    expect(p.txnCommits).toBe(before + 1);
    expect(stored()).toEqual([11, null]);

    expect((await p.outgoingClearMessageId(alice, { messageId: 11 }))?.payload?.toString()).toBe('x');
    await new Promise((resolve) => setTimeout(resolve, LAZY_TXN_MS / 2));
    expect(stored()).toEqual([11, null]);
    await new Promise((resolve) => setTimeout(resolve, LAZY_TXN_MS));
    expect(p.txnCommits).toBe(before + 2);
    expect(stored()).toEqual([null]);

    // QoS 2 keeps its messageId on disk before aedes sends the packet.
    await p.outgoingEnqueue({ clientId: alice.id }, publish('a/1', 'z', { brokerCounter: 3, qos: 2 }));
    await p.outgoingUpdate(alice, { ...publish('a/1', 'z', { brokerCounter: 3, qos: 2 }), messageId: 12 });
    expect(stored()).toEqual([null, 12]);
  });

  it('moves two QoS 2 deliveries in flight to PUBREL each under its own id, and clears both on PUBCOMP', async () => {
    const { persistence: p } = await openForTest();
    for (const counter of [1, 2]) await p.outgoingEnqueue({ clientId: alice.id }, publish('t', `m${counter}`, { brokerCounter: counter, qos: 2 }));
    await p.outgoingUpdate(alice, { ...publish('t', 'm1', { brokerCounter: 1, qos: 2 }), messageId: 11 });
    await p.outgoingUpdate(alice, { ...publish('t', 'm2', { brokerCounter: 2, qos: 2 }), messageId: 12 });
    await p.outgoingUpdate(alice, { cmd: 'pubrel', messageId: 11 });
    await p.outgoingUpdate(alice, { cmd: 'pubrel', messageId: 12 });
    // A PUBREC repeated by the client: its PUBREL is already queued, nothing changes.
    await p.outgoingUpdate(alice, { cmd: 'pubrel', messageId: 12 });
    expect((await list(p.outgoingStream(alice))).map((m) => [m.cmd, m.messageId])).toEqual([
      ['pubrel', 11],
      ['pubrel', 12],
    ]);
    expect((await p.outgoingClearMessageId(alice, { messageId: 11 }))?.cmd).toBe('pubrel');
    expect((await p.outgoingClearMessageId(alice, { messageId: 12 }))?.cmd).toBe('pubrel');
    expect(await list(p.outgoingStream(alice))).toEqual([]);
  });

  it('refuses a session write whose key is over the storage limit alone, and keeps the store writing', async () => {
    const { store, persistence: p } = await openForTest();
    store.createTopic({ name: 'log', partitions: 1, retentionMs: -1, retentionBytes: -1 });
    await expect(p.addSubscriptions(alice, [{ topic: 'x'.repeat(2100), qos: 1 }])).rejects.toSatisfy((e) => isTributaryError(e, 'INVALID_REQUEST'));
    await expect(p.storeRetained(publish('y'.repeat(2100), 'r', { retain: true }))).rejects.toSatisfy((e) => isTributaryError(e, 'INVALID_REQUEST'));
    await p.addSubscriptions(alice, [{ topic: 'short/#', qos: 1 }]);
    expect(store.failed).toBeNull();
    expect((await p.subscriptionsByClient(alice)).map((s) => s.topic)).toEqual(['short/#']);
  });

  it('does not keep a caller waiting for the lazy-write timer', async () => {
    const { persistence: p } = await openForTest();
    await p.outgoingEnqueue({ clientId: alice.id }, publish('a/1', 'x', { brokerCounter: 1 }));
    await p.outgoingUpdate(alice, { ...publish('a/1', 'x', { brokerCounter: 1 }), messageId: 5 });
    const before = p.txnCommits;
    const started = performance.now();
    // Stages nothing (bob has no subscriptions), but waits for the batch holding the lazy update.
    await p.cleanSubscriptions(bob);
    expect(performance.now() - started).toBeLessThan(LAZY_TXN_MS / 2);
    expect(p.txnCommits).toBe(before + 1);
  });

  it('commits the writes of one event-loop turn in one transaction and serves reads from them before', async () => {
    const { persistence: p } = await openForTest();
    const before = p.txnCommits;
    const writes = [
      p.addSubscriptions(alice, [{ topic: 'a/+', qos: 1 }]),
      p.storeRetained(publish('a/1', 'first', { retain: true })),
      p.storeRetained(publish('a/1', 'second', { retain: true })),
      p.storeRetained(publish('a/2', 'kept', { retain: true })),
      p.storeRetained(publish('a/2', '', { retain: true })),
      p.storeRetained(publish('a/2', 'back', { retain: true })),
      p.incomingStorePacket(bob, { ...publish('up', 'x', { qos: 2 }), messageId: 7 }),
      p.putWill(bob, { cmd: 'publish', topic: 'status/bob', payload: Buffer.from('bye'), qos: 0, retain: false }),
      ...Array.from({ length: 100 }, (_, i) => p.outgoingEnqueue({ clientId: alice.id }, publish('a/1', `q${i}`, { brokerCounter: i + 1 }))),
    ];
    // Nothing committed yet, and every read already sees the writes.
    expect(p.txnCommits).toBe(before);
    expect((await p.subscriptionsByTopic('a/1')).map((s) => s.clientId)).toEqual(['alice']);
    expect((await p.incomingGetPacket(bob, { messageId: 7 })).payload!.toString()).toBe('x');
    expect((await p.getWill(bob))?.topic).toBe('status/bob');
    expect(p.txnCommits).toBe(before);
    const staged = await list(p.createRetainedStream('a/#'));
    expect(staged.map((m) => m.payload!.toString()).sort()).toEqual(['back', 'second']);
    expect(await list(p.outgoingStream(alice))).toHaveLength(100);

    await Promise.all(writes);
    expect(p.txnCommits - before).toBe(1);
    const committed = await list(p.createRetainedStream('a/#'));
    expect(committed.map((m) => m.payload!.toString()).sort()).toEqual(['back', 'second']);
    expect((await list(p.outgoingStream(alice))).map((m) => m.payload!.toString())).toEqual(Array.from({ length: 100 }, (_, i) => `q${i}`));
  });

  it('rejects every caller of a batch whose commit found no room with STORAGE_FULL, forgets the batch and keeps writing', async () => {
    const { store, persistence: p } = await openForTest();
    await p.addSubscriptions(alice, [{ topic: 'kept', qos: 1 }]);
    vi.spyOn(store.lmdb.env, 'transactionSync').mockImplementationOnce(() => {
      throw Object.assign(new Error('MDB_MAP_FULL: Environment mapsize limit reached'), { code: -30792 });
    });
    const results = await Promise.allSettled([
      p.addSubscriptions(alice, [{ topic: 'lost', qos: 1 }]),
      p.removeSubscriptions(alice, ['kept']),
      p.storeRetained(publish('lost', 'x', { retain: true })),
      p.outgoingEnqueue({ clientId: alice.id }, publish('lost', 'x')),
    ]);
    for (const r of results) expect(r.status === 'rejected' && isTributaryError(r.reason, 'STORAGE_FULL')).toBe(true);
    expect((await p.subscriptionsByClient(alice)).map((s) => s.topic)).toEqual(['kept']);
    expect(await p.subscriptionsByTopic('lost')).toEqual([]);
    expect(await list(p.createRetainedStream('#'))).toEqual([]);
    expect(await list(p.outgoingStream(alice))).toEqual([]);

    await p.storeRetained(publish('later', 'y', { retain: true }));
    expect((await list(p.createRetainedStream('#'))).map((m) => m.topic)).toEqual(['later']);
  });

  it('stops writing after a commit failed for another reason (STORAGE_FAILED)', async () => {
    const { store, persistence: p } = await openForTest();
    vi.spyOn(store.lmdb.env, 'transactionSync').mockImplementationOnce(() => {
      throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
    });
    const failed = p.putWill(alice, { cmd: 'publish', topic: 'status/alice', payload: Buffer.from('x'), qos: 0, retain: false });
    await expect(failed).rejects.toSatisfy((e) => isTributaryError(e, 'STORAGE_FAILED'));
    expect(await p.getWill(alice)).toBeUndefined();
    await expect(p.storeRetained(publish('t', 'y', { retain: true }))).rejects.toSatisfy((e) => isTributaryError(e, 'STORAGE_FAILED'));
    // One fail-stop for the environment: the log stops writing too (and /healthz reads store.failed).
    expect(store.failed?.codeName).toBe('STORAGE_FAILED');
    expect(() => store.createTopic({ name: 't', partitions: 1, retentionMs: -1, retentionBytes: -1 })).toThrow(expect.objectContaining({ codeName: 'STORAGE_FAILED' }));
  });

  it('refuses session writes with STORAGE_FULL while the disk has less than minFreeDiskBytes free, and keeps nothing of them', async () => {
    const dir = tempDir();
    const store = new LogStore(storeOptions(dir, { minFreeDiskBytes: Number.MAX_SAFE_INTEGER }));
    const p = new MqttPersistence(store, silentLogger);
    onCleanup(async () => {
      await p.destroy();
      await store.close();
    });
    await expect(p.addSubscriptions(alice, [{ topic: 'a/#', qos: 1 }])).rejects.toSatisfy((e) => isTributaryError(e, 'STORAGE_FULL'));
    expect(await p.subscriptionsByClient(alice)).toEqual([]);
    expect(store.failed).toBeNull();
  });
});

// The session store keeps what aedes needs to deliver an MQTT 5 message after a restart: its
// properties (user properties with repeated keys, binary correlation data...) and aedes' absolute
// expiry time `messageExpiry`, on queued and on retained packets.
describe('MqttPersistence and MQTT 5 messages', () => {
  it('keeps properties and messageExpiry of queued and retained packets across a restart', async () => {
    const dir = tempDir();
    const properties = {
      userProperties: { site: 'north', tag: ['a', 'b'] },
      contentType: 'application/json',
      payloadFormatIndicator: true,
      responseTopic: 'replies/r1',
      correlationData: Buffer.from([0xca, 0xfe, 0x00]),
      messageExpiryInterval: 600,
    };
    const messageExpiry = Date.now() + 600_000;
    const packet = { cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, brokerId: broker.id, brokerCounter: 7, properties, messageExpiry };
    const first = await open(dir);
    await first.persistence.outgoingEnqueue({ clientId: 'away' }, packet);
    await first.persistence.storeRetained({ ...packet, retain: true });
    await first.close();

    const second = await open(dir);
    try {
      const [queued] = await list(second.persistence.outgoingStream({ id: 'away' }));
      expect(queued).toMatchObject({ topic: 'a/b', properties, messageExpiry });
      expect(Buffer.isBuffer((queued!.properties as { correlationData: unknown }).correlationData)).toBe(true);
      const [retained] = await list(second.persistence.createRetainedStream('a/#'));
      expect(retained).toMatchObject({ topic: 'a/b', retain: true, properties, messageExpiry });
    } finally {
      await second.close();
    }
  });
});
