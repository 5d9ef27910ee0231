// [EDGE-2.2] the server never sends a frame above the negotiated frameBytesMax, also when that limit
// is small: acks are split over several ACK frames, and the limit itself has a floor.
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.ts';
import { limits } from '../../src/limits.ts';
import { frameLength } from '../../src/protocol/edge/codec.ts';
import type { AckFrame, ErrorFrame, Frame } from '../../src/protocol/edge/frames.ts';
import { produceFrame, RawPeer, readLog, startEdgeBroker } from '../helpers/raw-edge.ts';

const isAck = (f: Frame): f is AckFrame => f.type === 'ack';
const isError = (f: Frame): f is ErrorFrame => f.type === 'error';

describe('edge listener with a small frame limit', () => {
  it('acknowledges 1000 pipelined produce frames in ACK frames that each fit frameBytesMax 1024', async () => {
    const { edge } = await startEdgeBroker();
    const peer = await RawPeer.hello(edge!.port, { frameBytesMax: 1024 });
    expect(peer.frames[0]).toMatchObject({ type: 'welcome', frameBytesMax: 1024 });
    peer.send({ type: 'register', corr: 1, alias: 1, topic: 'many', create: true });
    await peer.waitFor((f) => f.type === 'registered');

    // Below the in-flight limit of 1024 frames, so all of them are in flight at once and settle in
    // a few group transactions: one unsplit ACK for them would be about 5 KB.
    const n = 1000;
    peer.send(...Array.from({ length: n }, (_, i) => produceFrame(i + 1, [`v${i}`])));
    await peer.waitFor((f) => (isAck(f) && f.entries.at(-1)!.seq === n) || isError(f), 10_000);

    expect(peer.frames.filter(isError)).toEqual([]);
    const acks = peer.frames.filter(isAck);
    expect(acks.length).toBeGreaterThan(1);
    for (const ack of acks) expect(frameLength(ack)).toBeLessThanOrEqual(1024);
    const entries = acks.flatMap((a) => a.entries);
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(entries.map((e) => e.baseOffset)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect((await readLog(edge!.port, 'many')).length).toBe(n);
  });

  it('raises a proposal below the floor to the floor, and the connection works', async () => {
    const { edge } = await startEdgeBroker();
    const peer = await RawPeer.hello(edge!.port, { frameBytesMax: 5 });
    expect(peer.frames[0]).toMatchObject({ type: 'welcome', frameBytesMax: limits.edgeFrameBytesMin });
    peer.send({ type: 'register', corr: 1, alias: 1, topic: 'tiny', create: true }, produceFrame(1, ['x']), { type: 'ping', corr: 2 });
    await peer.waitFor((f) => f.type === 'pong');
    expect(peer.frames.filter(isError)).toEqual([]);
    expect(await peer.waitFor(isAck)).toMatchObject({ entries: [{ seq: 1, baseOffset: 0 }] });
  });

  it('shortens an error message by UTF-8 bytes so the ERROR frame fits, without splitting a character', async () => {
    const { edge } = await startEdgeBroker();
    const peer = await RawPeer.hello(edge!.port, { frameBytesMax: limits.edgeFrameBytesMin });
    // Two UTF-8 bytes per character: a cut by characters would leave the frame too long. The
    // REGISTER itself (246 bytes) fits the limit; the error naming the topic does not.
    const topic = 'é'.repeat(120);
    peer.send({ type: 'register', corr: 1, alias: 1, topic, create: true });
    const error = await peer.waitFor<ErrorFrame>(isError);
    expect(error).toMatchObject({ refKind: 'request', ref: 1, code: ErrorCode.INVALID_TOPIC });
    expect(frameLength(error)).toBeLessThanOrEqual(limits.edgeFrameBytesMin);
    expect(error.message.length).toBeGreaterThan(50);
    expect(`invalid topic name ${JSON.stringify(topic)}`.startsWith(error.message)).toBe(true);
  });

  // [EDGE-2.2] below 4096 too, the negotiated limit is what incoming frames are held to.
  it('closes a 1024-byte connection that sends a 3012-byte PRODUCE, and stores nothing of it', async () => {
    const { edge } = await startEdgeBroker();
    const peer = await RawPeer.hello(edge!.port, { frameBytesMax: 1024 });
    peer.send({ type: 'register', corr: 1, alias: 1, topic: 'small', create: true });
    await peer.waitFor((f) => f.type === 'registered');
    const frame = produceFrame(1, ['x'.repeat(3002)]);
    expect(frameLength(frame)).toBe(3012);
    peer.send(frame);
    expect(await peer.waitFor(isError)).toMatchObject({ refKind: 'connection', code: ErrorCode.FRAME_TOO_LARGE });
    await peer.waitClosed();
    expect(await readLog(edge!.port, 'small')).toEqual([]);
  });

  it('answers a length of 1025 on a 1024-byte connection at once, before any body arrives', async () => {
    const { edge } = await startEdgeBroker();
    const peer = await RawPeer.hello(edge!.port, { frameBytesMax: 1024 });
    // The length alone (1025 = 0x81 0x08) and the type byte; no body follows.
    peer.write(Buffer.from([0x81, 0x08, 0x05]));
    expect(await peer.waitFor(isError)).toMatchObject({ refKind: 'connection', code: ErrorCode.FRAME_TOO_LARGE, message: expect.stringContaining('1025') });
    await peer.waitClosed();
  });
});
