// [EDGE-2.2] the partial-frame budget cannot be held hostage: small frames never wait for it, a
// frame that holds part of it must keep arriving, and a wait for room ends. Real sockets throughout.
import { describe, expect, it } from 'vitest';
import { limits } from '../../src/limits.ts';
import { reservedFrameDeadlineMs } from '../../src/listeners/edge/edge-connection.ts';
import { encodeFrame } from '../../src/protocol/edge/codec.ts';
import type { ErrorFrame } from '../../src/protocol/edge/frames.ts';
import { ErrorCode } from '../../src/errors.ts';
import { produceFrame, RawPeer, startEdgeBroker, until } from '../helpers/raw-edge.ts';

const MiB = 1024 * 1024;
const FRAME = 4 * MiB;

/** The first `bytes` bytes of a PRODUCE frame whose one record has `valueBytes` bytes. */
function frameStart(valueBytes: number, bytes: number): Buffer {
  return encodeFrame(produceFrame(1, ['x'.repeat(valueBytes)])).subarray(0, bytes);
}

/** A peer past HELLO (4 MiB frames) that has sent the start of a frame of about `valueBytes`. */
async function midFrame(port: number, clientId: string, valueBytes: number, keepaliveMs = 0): Promise<RawPeer> {
  const peer = await RawPeer.hello(port, { frameBytesMax: FRAME, clientId, keepaliveMs });
  peer.write(frameStart(valueBytes, 1000));
  return peer;
}

/** One PING round trip on a connection of its own: the server has read what was written before. */
async function serverCaughtUp(peer: RawPeer, corr: number): Promise<void> {
  peer.send({ type: 'ping', corr });
  await peer.waitFor((f) => f.type === 'pong' && f.corr === corr);
}

describe('edge partial-frame budget', () => {
  it('assembles small frames split over reads without the budget, while large ones wait for it', async () => {
    const { edge, broker } = await startEdgeBroker({ edge: { partialFrameBytesTotalMax: '4MiB' } });
    const budget = edge!.partialBudget;
    broker.createTopic({ name: 'small' });
    const other = await RawPeer.hello(edge!.port, { clientId: 'other' });
    // A holds most of the budget, B waits for room behind it.
    await midFrame(edge!.port, 'a', 3.5 * MiB);
    await until(() => budget.usedBytes > 3 * MiB, 'A holding the budget');
    await midFrame(edge!.port, 'b', MiB);
    await until(() => budget.waiters === 1, 'B waiting for room');
    const held = budget.usedBytes;

    // C's HELLO arrives in two reads: once the server accepted C, the other connection's round trip
    // in between is read after C's first half.
    const c = await RawPeer.connect(edge!.port);
    await until(() => edge!.connectionCount === 4, 'C accepted');
    const hello = encodeFrame({ type: 'hello', version: 1, idempotent: false, keepaliveMs: 0, frameBytesMax: 0, clientId: 'split-hello', token: null });
    c.write(hello.subarray(0, 5));
    await serverCaughtUp(other, 1);
    c.write(hello.subarray(5));
    await c.waitFor((f) => f.type === 'welcome');
    c.send({ type: 'register', corr: 1, alias: 1, topic: 'small', create: false });
    await c.waitFor((f) => f.type === 'registered');

    // A 23-byte PRODUCE in two writes; C's own PONG shows the server read the first half alone.
    const produce = encodeFrame(produceFrame(1, ['temp=21.5 °C']));
    expect(produce.length).toBe(23);
    c.write(Buffer.concat([encodeFrame({ type: 'ping', corr: 2 }), produce.subarray(0, 12)]));
    await c.waitFor((f) => f.type === 'pong' && f.corr === 2);
    c.write(Buffer.concat([produce.subarray(12), encodeFrame({ type: 'ping', corr: 3 })]));
    expect(await c.waitFor((f) => f.type === 'ack' || f.type === 'error')).toMatchObject({ type: 'ack', entries: [{ seq: 1 }] });
    await c.waitFor((f) => f.type === 'pong' && f.corr === 3);
    // The large frames are where they were: the small ones took nothing from the budget.
    expect(budget.waiters).toBe(1);
    expect(budget.usedBytes).toBe(held);
  });

  it('times out a frame holding a reservation that stops arriving, however often single bytes come', async () => {
    const { edge } = await startEdgeBroker();
    const budget = edge!.partialBudget;
    // Keepalive 1 s (1.5 s idle): a byte every 200 ms keeps it from ever running.
    const peer = await RawPeer.hello(edge!.port, { frameBytesMax: FRAME, keepaliveMs: 1000, clientId: 'trickle' });
    const frame = frameStart(limits.edgeUnreservedFrameBytesMax + 1000, 100_000);
    // Its length field: the encoded frame without its 3-byte length prefix.
    const frameBytes = encodeFrame(produceFrame(1, ['x'.repeat(limits.edgeUnreservedFrameBytesMax + 1000)])).length - 3;
    peer.write(frame.subarray(0, 100));
    const started = Date.now();
    await until(() => budget.usedBytes === frameBytes, 'the frame holding a reservation');
    let sent = 100;
    const trickle = setInterval(() => {
      if (!peer.closed) peer.write(frame.subarray(sent, ++sent));
    }, 200);
    try {
      const error = await peer.waitFor<ErrorFrame>((f) => f.type === 'error', 25_000);
      expect(error).toMatchObject({ refKind: 'connection', code: ErrorCode.TIMEOUT });
      expect(error.message).toContain('not received within');
      // Not cut short: the whole deadline ran (timers may round down by a millisecond).
      expect(Date.now() - started).toBeGreaterThanOrEqual(reservedFrameDeadlineMs(frameBytes, 1500) - 2);
    } finally {
      clearInterval(trickle);
    }
    await until(() => budget.usedBytes === 0, 'the reservation given back');
    await peer.waitClosed();
  }, 60_000);

  it('ends a wait for room that is not granted in time, also for a peer that left while it waited', async () => {
    const { edge } = await startEdgeBroker({ edge: { partialFrameBytesTotalMax: '4MiB' } });
    const budget = edge!.partialBudget;
    // The holder's deadline (its idle time plus 256 s) outlasts the test.
    await midFrame(edge!.port, 'holder', 4 * MiB - 100);
    await until(() => budget.usedBytes > 3 * MiB, 'the holder holding the budget');
    const waiting = await midFrame(edge!.port, 'waiting', limits.edgeUnreservedFrameBytesMax + 1000, 1000);
    await until(() => budget.waiters === 1, 'a connection waiting for room');
    const gone = await midFrame(edge!.port, 'gone', limits.edgeUnreservedFrameBytesMax + 1000, 1000);
    await until(() => budget.waiters === 2, 'a second one waiting');
    gone.socket.destroy();

    const error = await waiting.waitFor<ErrorFrame>((f) => f.type === 'error', 25_000);
    expect(error).toMatchObject({ refKind: 'connection', code: ErrorCode.TIMEOUT });
    expect(error.message).toContain('no room');
    await until(() => budget.waiters === 0 && edge!.connectionCount === 1, 'both waiters closed', 15_000);
    expect(budget.usedBytes).toBeGreaterThan(3 * MiB);
  }, 60_000);
});
