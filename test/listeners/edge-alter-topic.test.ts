// [EDGE-5.18] ALTER_TOPIC on the wire: version 4 only; changes an existing topic and answers OK, or
// ERROR with nothing changed.

import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.ts';
import type { ErrorFrame, Frame, MetadataResultFrame } from '../../src/protocol/edge/frames.ts';
import { RawPeer, startEdgeBroker } from '../helpers/raw-edge.ts';

const alter = (corr: number, name: string, over: { partitions?: number; retentionMs?: number; retentionBytes?: number } = {}): Frame => ({
  type: 'alter-topic',
  corr,
  name,
  partitions: 0,
  retentionMs: -2,
  retentionBytes: -2,
  ...over,
});

describe('ALTER_TOPIC [EDGE-5.18]', () => {
  it('changes what its fields say, leaves the rest, and refuses a missing topic, a lower count and a bad retention', async () => {
    const { edge } = await startEdgeBroker();
    const peer = await RawPeer.hello(edge!.port, { version: 4 });
    expect(peer.frames[0]).toMatchObject({ type: 'welcome', version: 4 });
    peer.send({ type: 'create-topic', corr: 1, name: 'alt', partitions: 2, retentionMs: 60_000, retentionBytes: 4096, grow: false });
    await peer.waitFor((f) => f.type === 'ok' && f.corr === 1);

    peer.send(alter(2, 'alt', { retentionMs: -1 }), alter(3, 'alt', { partitions: 3, retentionBytes: 1_000_000 }), alter(4, 'alt'));
    for (const corr of [2, 3, 4]) await peer.waitFor((f) => f.type === 'ok' && f.corr === corr);

    peer.send(
      alter(5, 'nope', { partitions: 4 }),
      alter(6, 'alt', { partitions: 2 }),
      alter(7, 'alt', { retentionMs: -3 }),
      alter(8, 'bad/name', { retentionMs: 1 }),
      alter(9, 'alt', { partitions: 1025, retentionMs: 5 }),
      alter(10, 'alt', { retentionBytes: -4, partitions: 5 }),
    );
    const codes = new Map<number, number>();
    for (const corr of [5, 6, 7, 8, 9, 10]) codes.set(corr, (await peer.waitFor<ErrorFrame>((f) => f.type === 'error' && f.ref === corr)).code);
    expect(Object.fromEntries(codes)).toEqual({
      5: ErrorCode.UNKNOWN_TOPIC,
      6: ErrorCode.INVALID_REQUEST,
      7: ErrorCode.INVALID_REQUEST,
      8: ErrorCode.INVALID_TOPIC,
      9: ErrorCode.INVALID_REQUEST,
      10: ErrorCode.INVALID_REQUEST,
    });

    peer.send({ type: 'metadata', corr: 11, topics: ['alt', 'nope'] });
    const meta = await peer.waitFor<MetadataResultFrame>((f) => f.type === 'metadata-result');
    expect(meta.topics).toEqual([
      { name: 'alt', retentionMs: -1, retentionBytes: 1_000_000, partitions: [0, 1, 2].map((partition) => ({ partition, logStartOffset: 0, nextOffset: 0 })) },
    ]);
  });

  it.each([1, 2, 3])('is an unknown frame type on a version %d connection: MALFORMED_FRAME and close', async (version) => {
    const { edge } = await startEdgeBroker();
    const peer = await RawPeer.hello(edge!.port, { version });
    peer.send(alter(1, 'alt', { retentionMs: 1 }));
    const error = await peer.waitFor<ErrorFrame>((f) => f.type === 'error');
    expect(error).toMatchObject({ refKind: 'connection', code: ErrorCode.MALFORMED_FRAME });
    await peer.waitClosed();
  });
});
