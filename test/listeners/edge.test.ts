import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.ts';
import { decodeRecordBatch } from '../../src/format/record-batch.ts';
import { limits } from '../../src/limits.ts';
import { encodeFrame } from '../../src/protocol/edge/codec.ts';
import type { AckFrame, ErrorFrame, Frame, RecordsFrame, WelcomeFrame } from '../../src/protocol/edge/frames.ts';
import { produceFrame, RawPeer, readLog, startEdgeBroker } from '../helpers/raw-edge.ts';

const isError = (f: Frame): f is ErrorFrame => f.type === 'error';

async function registered(port: number, topic = 't', hello = {}) {
  const peer = await RawPeer.hello(port, hello);
  peer.send({ type: 'register', corr: 1, alias: 1, topic, create: true });
  await peer.waitFor((f) => f.type === 'registered' && f.corr === 1);
  return peer;
}

async function fetchAll(port: number, topic: string, partition = 0): Promise<string[]> {
  return (await readLog(port, topic, partition)).map((r) => r.value);
}

describe('edge listener', () => {
  it('answers HELLO with WELCOME and refuses any other first frame', async () => {
    const { edge } = await startEdgeBroker();
    const ok = await RawPeer.hello(edge!.port, { frameBytesMax: 64 * 1024 });
    expect(ok.frames[0]).toMatchObject({ type: 'welcome', version: 1, frameBytesMax: 64 * 1024, lastSeq: 0 });

    const bad = await RawPeer.connect(edge!.port);
    bad.send({ type: 'ping', corr: 1 });
    expect(await bad.waitFor(isError)).toMatchObject({ refKind: 'connection', code: ErrorCode.HANDSHAKE_REQUIRED });
    await bad.waitClosed();
  });

  it('refuses an unsupported version and a wrong token, closing the connection', async () => {
    const { edge } = await startEdgeBroker({ edge: { token: 's3cret' } });
    const v0 = await RawPeer.hello(edge!.port, { version: 0, token: Buffer.from('s3cret') });
    expect(v0.frames[0]).toMatchObject({ type: 'error', code: ErrorCode.UNSUPPORTED_VERSION });
    await v0.waitClosed();
    const wrong = await RawPeer.hello(edge!.port, { token: Buffer.from('nope') });
    expect(wrong.frames[0]).toMatchObject({ type: 'error', code: ErrorCode.NOT_AUTHORIZED });
    await wrong.waitClosed();
    const right = await RawPeer.hello(edge!.port, { token: Buffer.from('s3cret') });
    expect(right.frames[0].type).toBe('welcome');
  });

  // [EDGE-4.2] WELCOME answers min(client's version, 4): a device built for a newer protocol still
  // talks to this broker, in version 4, and one built for version 1, 2 or 3 keeps its version.
  it.each([
    [1, 1],
    [2, 2],
    [3, 3],
    [4, 4],
    [5, 4],
    [255, 4],
  ])('answers a HELLO of version %d with WELCOME version %d', async (version, agreed) => {
    const { edge } = await startEdgeBroker();
    const peer = await RawPeer.hello(edge!.port, { version });
    expect(peer.frames[0]).toMatchObject({ type: 'welcome', version: agreed });
    peer.send({ type: 'ping', corr: 1 });
    await peer.waitFor((f) => f.type === 'pong');
  });

  // [EDGE-4.2] a version 1 connection knows no group frames: each is answered as an unknown type.
  it.each<[string, Frame]>([
    ['JOIN_GROUP', { type: 'join-group', corr: 1, group: 'g', memberId: '', instanceId: '', sessionTimeoutMs: 0, rebalanceTimeoutMs: 0, strategy: 0, pattern: '', topics: ['t'] }],
    ['LIST_GROUPS', { type: 'list-groups', corr: 1 }],
    ['JOINED', { type: 'joined', corr: 1, generation: 1, memberId: 'm', sessionTimeoutMs: 10_000, heartbeatMs: 3333, assignment: [] }],
  ])('closes a version 1 connection that sends %s as an unknown frame type', async (_name, frame) => {
    const { edge } = await startEdgeBroker();
    const peer = await RawPeer.hello(edge!.port, { version: 1 });
    expect(peer.frames[0]).toMatchObject({ type: 'welcome', version: 1 });
    peer.send(frame);
    const error = await peer.waitFor(isError);
    const type = encodeFrame(frame)[1];
    expect(error).toMatchObject({ refKind: 'connection', ref: 0, code: ErrorCode.MALFORMED_FRAME, message: `unknown frame type 0x${type.toString(16)} in protocol version 1` });
    await peer.waitClosed();
  });

  it('acknowledges pipelined produce frames in order, many per ACK frame, with consecutive offsets', async () => {
    const { edge } = await startEdgeBroker();
    const peer = await registered(edge!.port, 'acks');
    const frames = Array.from({ length: 50 }, (_, i) => produceFrame(i + 1, [`a${i}`, `b${i}`]));
    peer.send(...frames);
    await peer.waitFor((f) => f.type === 'ack' && f.entries.some((e) => e.seq === 50));
    const acks = peer.frames.filter((f): f is AckFrame => f.type === 'ack');
    const entries = acks.flatMap((a) => a.entries);
    expect(entries.map((e) => e.seq)).toEqual(frames.map((f) => f.seq));
    expect(entries.map((e) => e.baseOffset)).toEqual(frames.map((_, i) => i * 2));
    expect(acks.length).toBeLessThan(frames.length);
    expect((await fetchAll(edge!.port, 'acks')).slice(0, 4)).toEqual(['a0', 'b0', 'a1', 'b1']);
  });

  it('answers acks=0 frames with nothing but still stores them', async () => {
    const { edge } = await startEdgeBroker();
    const peer = await registered(edge!.port, 'fire');
    peer.send(produceFrame(1, ['x'], { acks: 0 }), produceFrame(2, ['y'], { acks: 'all' }));
    const ack = await peer.waitFor<AckFrame>((f) => f.type === 'ack');
    expect(ack.entries.map((e) => e.seq)).toEqual([2]);
    expect(await fetchAll(edge!.port, 'fire')).toEqual(['x', 'y']);
  });

  it('parks a fetch at the log end until a produce arrives', async () => {
    const { edge } = await startEdgeBroker();
    const consumer = await registered(edge!.port, 'lp');
    consumer.send({ type: 'fetch', corr: 5, alias: 1, partition: 0, offset: 0, maxBytes: 1 << 20, maxWaitMs: 20_000 });
    await new Promise((r) => setTimeout(r, 100));
    expect(consumer.frames.some((f) => f.type === 'records')).toBe(false);
    const producer = await registered(edge!.port, 'lp');
    producer.send(produceFrame(1, ['wake']));
    const r = await consumer.waitFor<RecordsFrame>((f) => f.type === 'records' && f.corr === 5);
    expect(decodeRecordBatch(r.batches)[0].value!.toString()).toBe('wake');
    expect(r).toMatchObject({ logStartOffset: 0, nextOffset: 1 });
  });

  it('reports request errors by corr or seq and keeps the connection open', async () => {
    const { edge } = await startEdgeBroker({ topics: { autoCreate: false } });
    const peer = await RawPeer.hello(edge!.port);
    peer.send({ type: 'register', corr: 1, alias: 1, topic: 'missing', create: true });
    expect(await peer.waitFor(isError)).toMatchObject({ refKind: 'request', ref: 1, code: ErrorCode.UNKNOWN_TOPIC });
    peer.send(produceFrame(7, ['x'], { alias: 42 }));
    expect(await peer.waitFor((f) => isError(f) && f.refKind === 'produce')).toMatchObject({ ref: 7, code: ErrorCode.UNKNOWN_ALIAS });
    peer.send({ type: 'create-topic', corr: 2, name: 'here', partitions: 2, retentionMs: -2, retentionBytes: -2, grow: false });
    await peer.waitFor((f) => f.type === 'ok' && f.corr === 2);
    peer.send({ type: 'register', corr: 3, alias: 1, topic: 'here', create: false });
    expect(await peer.waitFor((f) => f.type === 'registered')).toMatchObject({ partitions: 2 });
    peer.send({ type: 'fetch', corr: 4, alias: 1, partition: 0, offset: 5, maxBytes: 1000, maxWaitMs: 0 });
    expect(await peer.waitFor((f) => isError(f) && f.ref === 4)).toMatchObject({ code: ErrorCode.OFFSET_OUT_OF_RANGE });
    peer.send({ type: 'fetch', corr: 6, alias: 1, partition: 2, offset: 0, maxBytes: 1000, maxWaitMs: 0 });
    expect(await peer.waitFor((f) => isError(f) && f.ref === 6)).toMatchObject({ code: ErrorCode.INVALID_PARTITION });
    peer.send({ type: 'ping', corr: 8 });
    await peer.waitFor((f) => f.type === 'pong' && f.corr === 8);
    expect(peer.closed).toBe(false);
  });

  it('closes a connection that sends an oversized frame, and keeps serving the others', async () => {
    const { edge } = await startEdgeBroker();
    const healthy = await registered(edge!.port, 'ok');
    const bad = await RawPeer.hello(edge!.port, { frameBytesMax: 8192 });
    // A length prefix claiming 2^40 bytes: rejected from the header alone, nothing is buffered.
    bad.write(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x05]));
    expect(await bad.waitFor(isError)).toMatchObject({ refKind: 'connection', code: ErrorCode.FRAME_TOO_LARGE });
    await bad.waitClosed();

    const big = await RawPeer.hello(edge!.port, { frameBytesMax: 8192 });
    big.send({ type: 'register', corr: 1, alias: 1, topic: 'ok', create: true });
    big.send(produceFrame(1, ['x'.repeat(9000)]));
    expect(await big.waitFor(isError)).toMatchObject({ code: ErrorCode.FRAME_TOO_LARGE });
    await big.waitClosed();

    healthy.send(produceFrame(1, ['still here']));
    await healthy.waitFor((f) => f.type === 'ack');
    expect(await fetchAll(edge!.port, 'ok')).toEqual(['still here']);
  });

  it('closes a connection that sends a malformed frame or an unknown frame type', async () => {
    const { edge } = await startEdgeBroker();
    const peer = await registered(edge!.port, 'm');
    const frame = encodeFrame(produceFrame(1, ['x']));
    frame[frame.length - 3] = 0xff; // the record's flags byte: reserved bits set
    peer.write(frame);
    expect(await peer.waitFor(isError)).toMatchObject({ refKind: 'connection', code: ErrorCode.MALFORMED_FRAME });
    await peer.waitClosed();

    const unknown = await RawPeer.hello(edge!.port);
    unknown.write(Buffer.from([0x01, 0x55]));
    expect(await unknown.waitFor(isError)).toMatchObject({ code: ErrorCode.MALFORMED_FRAME });
    await unknown.waitClosed();
  });

  it('appends nothing from a client that drops in the middle of a frame', async () => {
    const { edge } = await startEdgeBroker();
    const peer = await registered(edge!.port, 'half');
    peer.send(produceFrame(1, ['complete']));
    await peer.waitFor((f) => f.type === 'ack');
    const frame = encodeFrame(produceFrame(2, ['torn'.repeat(100)]));
    peer.write(frame.subarray(0, frame.length - 10));
    await new Promise((r) => setTimeout(r, 50));
    peer.socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(await fetchAll(edge!.port, 'half')).toEqual(['complete']);
  });

  it('drops idempotent retransmissions after a reconnect and reports the last stored sequence', async () => {
    const { edge } = await startEdgeBroker();
    const hello = { idempotent: true, clientId: 'sensor-7' };
    const first = await registered(edge!.port, 'idem', hello);
    first.send(produceFrame(1, ['one']), produceFrame(2, ['two']));
    await first.waitFor((f) => f.type === 'ack' && f.entries.some((e) => e.seq === 2));
    first.socket.destroy();

    const second = await registered(edge!.port, 'idem', hello);
    expect(second.frames.find((f): f is WelcomeFrame => f.type === 'welcome')!.lastSeq).toBe(2);
    second.send(produceFrame(2, ['two']), produceFrame(3, ['three']));
    await second.waitFor((f) => f.type === 'ack' && f.entries.some((e) => e.seq === 3));
    const entries = second.frames.filter((f): f is AckFrame => f.type === 'ack').flatMap((a) => a.entries);
    expect(entries.map((e) => [e.seq, e.duplicate])).toEqual([
      [2, true],
      [3, false],
    ]);
    expect(await fetchAll(edge!.port, 'idem')).toEqual(['one', 'two', 'three']);
  });

  it('closes a connection that stays silent past 1.5 x its keepalive', async () => {
    const { edge } = await startEdgeBroker();
    const peer = await RawPeer.hello(edge!.port, { keepaliveMs: 100 });
    const started = Date.now();
    expect(await peer.waitFor(isError)).toMatchObject({ code: ErrorCode.TIMEOUT });
    await peer.waitClosed();
    expect(Date.now() - started).toBeGreaterThanOrEqual(120);
  });

  it('refuses connections over connectionsMax with THROTTLED', async () => {
    const { edge } = await startEdgeBroker({ edge: { connectionsMax: 2 } });
    await RawPeer.hello(edge!.port);
    await RawPeer.hello(edge!.port);
    const third = await RawPeer.connect(edge!.port);
    expect(await third.waitFor(isError)).toMatchObject({ code: ErrorCode.THROTTLED });
    await third.waitClosed();
  });
});

describe('edge listener frame limits on the way out', () => {
  it('never sends a RECORDS frame above the negotiated size: RECORD_TOO_LARGE when one batch cannot fit', async () => {
    const { edge } = await startEdgeBroker();
    const producer = await registered(edge!.port, 'wide');
    producer.send(produceFrame(1, ['x'.repeat(6000)]), produceFrame(2, ['small']));
    await producer.waitFor((f) => f.type === 'ack' && f.entries.some((e) => e.seq === 2));
    const small = await registered(edge!.port, 'wide', { frameBytesMax: 4096 });
    small.send({ type: 'fetch', corr: 3, alias: 1, partition: 0, offset: 0, maxBytes: 1 << 20, maxWaitMs: 0 });
    expect(await small.waitFor((f) => isError(f) && f.ref === 3)).toMatchObject({ code: ErrorCode.RECORD_TOO_LARGE });
    small.send({ type: 'fetch', corr: 4, alias: 1, partition: 0, offset: 1, maxBytes: 1 << 20, maxWaitMs: 0 });
    const r = await small.waitFor<RecordsFrame>((f) => f.type === 'records' && f.corr === 4);
    expect(decodeRecordBatch(r.batches)[0].value!.toString()).toBe('small');
  });
});

/** Every ACK entry received so far, in order. */
const ackEntries = (peer: RawPeer) => peer.frames.filter((f): f is AckFrame => f.type === 'ack').flatMap((a) => a.entries);

describe('edge listener: sequence numbers and retransmission [EDGE-7.5]', () => {
  it('acknowledges a frame resent on the same connection as a duplicate, with the partition and offset holding it', async () => {
    const { edge, broker } = await startEdgeBroker();
    broker.createTopic({ name: 'rr', partitions: 3 });
    const peer = await registered(edge!.port, 'rr', { idempotent: true, clientId: 'dev-1' });
    // Unkeyed, partition −1: round robin spreads them, so where seq 2 went is not where the next goes.
    peer.send(...[1, 2, 3].map((seq) => produceFrame(seq, [`v${seq}`], { partition: -1 })));
    await peer.waitFor((f) => f.type === 'ack' && f.entries.some((e) => e.seq === 3));
    const original = ackEntries(peer).find((e) => e.seq === 2)!;
    peer.send(produceFrame(2, ['v2'], { partition: -1 }));
    await peer.waitFor(() => ackEntries(peer).length === 4);
    expect(peer.frames.filter(isError)).toEqual([]);
    expect(ackEntries(peer)[3]).toEqual({ ...original, duplicate: true });
    const stored = await Promise.all([0, 1, 2].map((p) => fetchAll(edge!.port, 'rr', p)));
    expect(stored.flat().sort()).toEqual(['v1', 'v2', 'v3']);
    expect(stored[original.partition]).toContain('v2');
  });

  it('answers a retransmission sent before the original was acknowledged after it, with the same location', async () => {
    const { edge } = await startEdgeBroker();
    const peer = await registered(edge!.port, 'early', { idempotent: true, clientId: 'dev-2' });
    peer.send(produceFrame(1, ['a']), produceFrame(1, ['a']), produceFrame(2, ['b']));
    await peer.waitFor(() => ackEntries(peer).length === 3);
    expect(ackEntries(peer)).toEqual([
      { seq: 1, partition: 0, baseOffset: 0, duplicate: false },
      { seq: 1, partition: 0, baseOffset: 0, duplicate: true },
      { seq: 2, partition: 0, baseOffset: 1, duplicate: false },
    ]);
    expect(await fetchAll(edge!.port, 'early')).toEqual(['a', 'b']);
  });

  // [EDGE-7.5] [EDGE-7.4] the early retransmission keeps its own place in arrival order.
  it('answers a retransmission that arrived after a later frame behind that frame\'s answer, with the original\'s offset', async () => {
    const { edge } = await startEdgeBroker();
    const peer = await registered(edge!.port, 'late', { idempotent: true, clientId: 'dev-6' });
    // Seq 2's records are at offset 1: a duplicate reported at 0 would be one not remembered.
    peer.send(produceFrame(1, ['a']), produceFrame(2, ['b']), produceFrame(3, ['c']), produceFrame(2, ['b']));
    await peer.waitFor(() => ackEntries(peer).length === 4);
    expect(peer.frames.filter(isError)).toEqual([]);
    expect(ackEntries(peer)).toEqual([
      { seq: 1, partition: 0, baseOffset: 0, duplicate: false },
      { seq: 2, partition: 0, baseOffset: 1, duplicate: false },
      { seq: 3, partition: 0, baseOffset: 2, duplicate: false },
      { seq: 2, partition: 0, baseOffset: 1, duplicate: true },
    ]);
    expect(await fetchAll(edge!.port, 'late')).toEqual(['a', 'b', 'c']);
  });

  it('after a reconnect, reports the partition that holds an unkeyed duplicate, not round robin\'s next pick', async () => {
    const { edge, broker } = await startEdgeBroker();
    broker.createTopic({ name: 'rr2', partitions: 4 });
    const first = await registered(edge!.port, 'rr2', { idempotent: true, clientId: 'dev-3' });
    first.send(produceFrame(1, ['x'], { partition: -1 }), produceFrame(2, ['y'], { partition: -1 }));
    await first.waitFor(() => ackEntries(first).length === 2);
    const original = ackEntries(first)[1];
    first.socket.destroy();
    await first.waitClosed();
    const second = await registered(edge!.port, 'rr2', { idempotent: true, clientId: 'dev-3' });
    expect(second.frames[0]).toMatchObject({ type: 'welcome', lastSeq: 2 });
    second.send(produceFrame(2, ['y'], { partition: -1 }));
    await second.waitFor((f) => f.type === 'ack');
    expect(ackEntries(second)).toEqual([{ ...original, duplicate: true }]);
  });

  // [EDGE-4.1] [EDGE-10.1] one live connection per idempotent client id.
  it('closes the older connection of an idempotent client id with INVALID_REQUEST (refKind connection)', async () => {
    const { edge } = await startEdgeBroker();
    const older = await registered(edge!.port, 'twice', { idempotent: true, clientId: 'dev-5' });
    older.send(produceFrame(1, ['first']));
    await older.waitFor((f) => f.type === 'ack');
    const newer = await RawPeer.hello(edge!.port, { idempotent: true, clientId: 'dev-5' });
    expect(newer.frames[0]).toMatchObject({ type: 'welcome' });
    expect(await older.waitFor(isError)).toMatchObject({ refKind: 'connection', code: ErrorCode.INVALID_REQUEST });
    expect(ackEntries(older).map((e) => e.seq)).toEqual([1]);
    await older.waitClosed();
    newer.send({ type: 'ping', corr: 9 });
    await newer.waitFor((f) => f.type === 'pong');
  });

  it('refuses seq 0 with INVALID_REQUEST, with or without the idempotent flag', async () => {
    const { edge } = await startEdgeBroker();
    for (const idempotent of [false, true]) {
      const peer = await registered(edge!.port, `zero-${idempotent}`, { idempotent, clientId: `zero-${idempotent}` });
      peer.send(produceFrame(0, ['z']), produceFrame(1, ['one']));
      await peer.waitFor((f) => f.type === 'ack');
      expect(peer.frames.filter(isError).map((e) => [e.refKind, e.ref, e.code])).toEqual([['produce', 0, ErrorCode.INVALID_REQUEST]]);
      expect(await fetchAll(edge!.port, `zero-${idempotent}`)).toEqual(['one']);
    }
  });

  it('stores every frame of a client without the idempotent flag, whatever its seqs, and answers in arrival order', async () => {
    const { edge } = await startEdgeBroker();
    const peer = await registered(edge!.port, 'seq');
    peer.send(produceFrame(5, ['a']), produceFrame(5, ['again']), produceFrame(3, ['back']), produceFrame(6, ['b']));
    await peer.waitFor(() => ackEntries(peer).length === 4);
    expect(peer.frames.filter(isError)).toEqual([]);
    expect(ackEntries(peer).map((e) => [e.seq, e.baseOffset, e.duplicate])).toEqual([
      [5, 0, false],
      [5, 1, false],
      [3, 2, false],
      [6, 3, false],
    ]);
    expect(await fetchAll(edge!.port, 'seq')).toEqual(['a', 'again', 'back', 'b']);
  });

  // [EDGE-7.4] an ERROR known at once still comes after the answers to earlier frames.
  it('answers an unknown alias after the ACK of the frame before it', async () => {
    const { edge } = await startEdgeBroker();
    const peer = await registered(edge!.port, 'order');
    peer.send(produceFrame(1, ['flushed'], { acks: 'all' }), produceFrame(2, ['lost'], { alias: 9 }));
    await peer.waitFor(isError);
    expect(peer.frames.slice(2).map((f) => (f.type === 'ack' ? `ack ${f.entries[0].seq}` : isError(f) ? `error ${f.ref} ${f.code}` : f.type))).toEqual([
      'ack 1',
      `error 2 ${ErrorCode.UNKNOWN_ALIAS}`,
    ]);
  });

  it('refuses a resend of a frame it refused on this connection: nothing is stored under that seq', async () => {
    const { edge } = await startEdgeBroker();
    const peer = await registered(edge!.port, 'refused', { idempotent: true, clientId: 'dev-4' });
    peer.send(produceFrame(1, ['p'], { partition: 7 }));
    expect(await peer.waitFor((f) => isError(f) && f.ref === 1)).toMatchObject({ code: ErrorCode.INVALID_PARTITION });
    peer.send(produceFrame(1, ['p'], { partition: 7 }), produceFrame(2, ['p']));
    await peer.waitFor((f) => f.type === 'ack');
    expect(peer.frames.filter(isError).map((e) => [e.ref, e.code])).toEqual([
      [1, ErrorCode.INVALID_PARTITION],
      [1, ErrorCode.INVALID_REQUEST],
    ]);
    expect(await fetchAll(edge!.port, 'refused')).toEqual(['p']);
  });
});

describe('edge listener negotiation bounds', () => {
  // Above: a timer of 2e9 ms would overflow and fire at once, and a long keepalive lets a dead peer
  // hold its buffers for as long [EDGE-4.4]. Below: a client could have the broker time it out at
  // once. Unclamped, either would close the connection before the PING.
  it.each([
    [2e9, limits.edgeKeepaliveMsMaxDefault],
    [86_400_000, limits.edgeKeepaliveMsMaxDefault],
    [1, 100],
  ])('clamps a HELLO keepalive of %d ms to %d ms and keeps the connection', async (asked, granted) => {
    const { edge } = await startEdgeBroker();
    const peer = await RawPeer.hello(edge!.port, { keepaliveMs: asked });
    expect(peer.frames[0]).toMatchObject({ type: 'welcome', keepaliveMs: granted });
    // Well inside 1.5 × 100 ms, well past what a misfiring or 1 ms timer allows.
    await new Promise((r) => setTimeout(r, 20));
    peer.send({ type: 'ping', corr: 1 });
    await peer.waitFor((f) => f.type === 'pong');
  });

  it('refuses an answer that would exceed the negotiated frame size', async () => {
    const { edge, broker } = await startEdgeBroker();
    for (let i = 0; i < 200; i++) broker.createTopic({ name: `topic-with-a-long-name-${i}` });
    const peer = await RawPeer.hello(edge!.port, { frameBytesMax: 4096 });
    peer.send({ type: 'metadata', corr: 2, topics: [] });
    expect(await peer.waitFor((f) => isError(f) && f.ref === 2)).toMatchObject({ code: ErrorCode.RECORD_TOO_LARGE });
    expect(peer.closed).toBe(false);
  });

  it('refuses to store a batch larger than any fetch could return', async () => {
    const { edge } = await startEdgeBroker({ edge: { frameBytesMax: '4MiB' } });
    const peer = await registered(edge!.port, 'huge', { frameBytesMax: 4 * 1024 * 1024 });
    const value = 'v'.repeat(90);
    peer.send(produceFrame(1, Array.from({ length: 45_000 }, () => value)));
    expect(await peer.waitFor((f) => isError(f) && f.ref === 1, 15_000)).toMatchObject({ refKind: 'produce', code: ErrorCode.RECORD_TOO_LARGE });
  });
});

describe('edge listener shutdown', () => {
  it('acknowledges every produce frame it took before telling the client it is shutting down', async () => {
    const running = await startEdgeBroker();
    const peer = await registered(running.edge!.port, 'bye');
    // Shut down right after the broker took the frames (a microtask after the first one: the rest of
    // that socket read is handled first), before any is committed.
    const produce = running.broker.produce.bind(running.broker);
    let closed: Promise<void> | undefined;
    running.broker.produce = (req) => {
      const result = produce(req);
      closed ??= Promise.resolve().then(() => running.close());
      return result;
    };
    peer.send(...Array.from({ length: 50 }, (_, i) => produceFrame(i + 1, [`v${i}`], { acks: 'all' })));
    await peer.waitClosed();
    await closed;
    const acked = peer.frames.filter((f): f is AckFrame => f.type === 'ack').flatMap((a) => a.entries.map((e) => e.seq));
    const stored = running.broker.store.partitionState(running.broker.store.getTopic('bye')!.id, 0)!.nextOffset;
    // Everything the broker took was stored and acknowledged, and the last word is SHUTTING_DOWN.
    expect(stored).toBe(50);
    expect(acked).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(peer.frames.at(-1)).toMatchObject({ type: 'error', refKind: 'connection', code: ErrorCode.SHUTTING_DOWN });
  });
});
