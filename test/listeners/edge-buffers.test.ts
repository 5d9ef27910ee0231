// [EDGE-8.3] [EDGE-2.2] what edge connections hold in memory is bounded per connection and across
// connections: fetch answers wait for room instead of being read, frames being received wait for
// room instead of being buffered, and everything a connection held is given back when it closes.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/protocol/edge/codec.ts';
import type { ErrorFrame, Frame, RecordsFrame } from '../../src/protocol/edge/frames.ts';
import { produceFrame, RawPeer, startEdgeBroker, until } from '../helpers/raw-edge.ts';

const MiB = 1024 * 1024;
const FRAME = 4 * MiB;

/** Topic `big`: `batches` batches of one record of `bytes` bytes each. */
async function bigTopic(port: number, batches: number, bytes = 3_000_000): Promise<void> {
  const writer = await RawPeer.hello(port, { frameBytesMax: FRAME, clientId: 'writer' });
  writer.send({ type: 'register', corr: 1, alias: 1, topic: 'big', create: true });
  await writer.waitFor((f) => f.type === 'registered');
  for (let seq = 1; seq <= batches; seq++) writer.send(produceFrame(seq, ['x'.repeat(bytes)]));
  await writer.waitFor((f) => f.type === 'ack' && f.entries.some((e) => e.seq === batches), 20_000);
}

/** A raw socket past HELLO (4 MiB frames) and REGISTER of `big`, that reads nothing from now on. */
async function neverReading(port: number, clientId: string): Promise<net.Socket> {
  const peer = await RawPeer.hello(port, { frameBytesMax: FRAME, clientId });
  peer.send({ type: 'register', corr: 1, alias: 1, topic: 'big', create: false });
  await peer.waitFor((f) => f.type === 'registered');
  peer.socket.pause();
  peer.socket.removeAllListeners('data');
  return peer.socket;
}

const fetchBig = (corr: number, offset: number): Frame => ({ type: 'fetch', corr, alias: 1, partition: 0, offset, maxBytes: FRAME, maxWaitMs: 0 });

describe('edge connection buffers', () => {
  it('holds at most writeBytesTotalMax of fetch answers for clients that never read, and gives it all back when they close', async () => {
    const { edge } = await startEdgeBroker({ edge: { writeBytesTotalMax: '16MiB' } });
    await bigTopic(edge!.port, 4);
    const hogs: net.Socket[] = [];
    for (let h = 0; h < 6; h++) {
      const s = await neverReading(edge!.port, `hog-${h}`);
      s.write(Buffer.concat(Array.from({ length: 32 }, (_, i) => encodeFrame(fetchBig(10 + i, (i % 4) * 1)))));
      hogs.push(s);
    }
    const budget = edge!.writeBudget;
    // The hogs' answers fill the kernel's socket buffers, then the budget: a hog with room of its
    // own (writeQueueBytesMax) waits for the budget, one without it waits for its own queue.
    await until(() => budget.waiters > 0, 'a hog waiting for room');
    expect(budget.usedBytes).toBeLessThanOrEqual(16 * MiB);

    // A reading consumer's fetch waits too, and is answered once the hogs are gone.
    const reader = await RawPeer.hello(edge!.port, { frameBytesMax: FRAME, clientId: 'reader' });
    reader.send({ type: 'register', corr: 1, alias: 1, topic: 'big', create: false });
    await reader.waitFor((f) => f.type === 'registered');
    reader.send(fetchBig(2, 0));
    await until(() => budget.waiters > 1 || reader.frames.some((f) => f.type === 'records'), 'the reader waiting');
    expect(reader.frames.some((f) => f.type === 'records')).toBe(false);
    for (const s of hogs) s.destroy();
    const records = await reader.waitFor<RecordsFrame>((f) => f.type === 'records', 10_000);
    expect(records.batches.length).toBeGreaterThan(2_000_000);
    await until(() => budget.usedBytes === 0 && budget.waiters === 0, 'the budget given back');
  });

  it('answers whole batches within maxBytes, at least one, and holds nothing once it is written', async () => {
    const { edge } = await startEdgeBroker();
    await bigTopic(edge!.port, 3, 1_000_000);
    const peer = await RawPeer.hello(edge!.port, { frameBytesMax: FRAME });
    peer.send({ type: 'register', corr: 1, alias: 1, topic: 'big', create: false });
    await peer.waitFor((f) => f.type === 'registered');
    // [EDGE-8.1] a second 1 MB batch would take the answer above maxBytes.
    peer.send({ type: 'fetch', corr: 2, alias: 1, partition: 0, offset: 0, maxBytes: 1_500_000, maxWaitMs: 0 });
    const r = await peer.waitFor<RecordsFrame>((f) => f.type === 'records');
    expect(r.batches.length).toBeGreaterThan(1_000_000);
    expect(r.batches.length).toBeLessThanOrEqual(1_500_000);
    // One batch above maxBytes still comes whole.
    peer.send({ type: 'fetch', corr: 3, alias: 1, partition: 0, offset: 1, maxBytes: 1, maxWaitMs: 0 });
    const one = await peer.waitFor<RecordsFrame>((f) => f.type === 'records' && f.corr === 3);
    expect(one.batches.length).toBeGreaterThan(1_000_000);
    await until(() => edge!.writeBudget.usedBytes === 0, 'the write budget given back');
  });

  it('does not read a connection whose frame finds no room, without timing it out, until a stalled frame is dropped', async () => {
    const { edge, broker } = await startEdgeBroker({ edge: { partialFrameBytesTotalMax: '4MiB' } });
    const budget = edge!.partialBudget;
    // Created here, not by B's REGISTER: A's 1.5 s must only cover B's handshake and first bytes.
    broker.createTopic({ name: 'waits' });
    // A: the first 3 MiB of a 4 MiB frame, then silence; its keepalive (1 s, so 1.5 s) ends it.
    const a = await RawPeer.hello(edge!.port, { frameBytesMax: FRAME, keepaliveMs: 1000, clientId: 'a' });
    a.write(Buffer.concat([Buffer.from([0x80, 0x80, 0x80, 0x02, 0x05]), Buffer.alloc(3 * MiB)]));
    await until(() => budget.usedBytes === FRAME, 'the stalled frame holding the budget');

    // B: keepalive 100 ms (150 ms idle); its 1 MiB frame arrives in pieces and has to wait for A.
    // REGISTER and the frame go in one write, so B is never silent for 150 ms before it waits: a
    // round trip in between would make the test depend on how fast a busy machine answers it.
    const b = await RawPeer.hello(edge!.port, { frameBytesMax: FRAME, keepaliveMs: 100, clientId: 'b' });
    b.send({ type: 'register', corr: 1, alias: 1, topic: 'waits', create: false }, produceFrame(2, ['y'.repeat(MiB)]));
    await until(() => budget.waiters === 1, 'B waiting for room');

    const timeout = await a.waitFor<ErrorFrame>((f) => f.type === 'error', 10_000);
    expect(timeout.message).toContain('keepalive');
    // Not TIMEOUT: B's keepalive did not run while it waited.
    expect(await b.waitFor((f) => f.type === 'ack' || f.type === 'error', 10_000)).toMatchObject({ type: 'ack' });
    await until(() => budget.usedBytes === 0, 'the partial budget given back');
  });
});
