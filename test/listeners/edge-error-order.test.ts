// [EDGE-10.3] which error wins: each frame below breaks two or more rules, and gets the error of the
// rule that comes first in the SPEC's order.

import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.ts';
import type { ErrorFrame } from '../../src/protocol/edge/frames.ts';
import { produceFrame, RawPeer, startEdgeBroker } from '../helpers/raw-edge.ts';

describe('error precedence [EDGE-10.3]', () => {
  it('PRODUCE and FETCH report the first failing check', async () => {
    const { edge } = await startEdgeBroker();
    const peer = await RawPeer.hello(edge!.port, { version: 3 });
    peer.send({ type: 'register', corr: 1, alias: 1, topic: 'order', create: true });
    await peer.waitFor((f) => f.type === 'registered');
    const negative = { baseTimestampMs: 1, records: [{ timestampDeltaMs: -5, key: null, value: Buffer.from('x'), headers: [] }] };
    const tooMany = Array.from({ length: 100_001 }, () => 'r');
    peer.send(
      // seq 0 before the unregistered alias
      produceFrame(0, ['x'], { alias: 9 }),
      // unregistered alias before the negative timestamp
      produceFrame(1, [], { alias: 9, ...negative }),
      // negative timestamp before the partition
      produceFrame(2, [], { partition: 99, ...negative }),
      // no records before the partition
      produceFrame(3, [], { partition: 99 }),
      // too many records before the partition
      produceFrame(4, tooMany, { partition: 99 }),
    );
    const produceErrors = new Map<number, number>();
    for (let seq = 0; seq <= 4; seq++) {
      const e = await peer.waitFor<ErrorFrame>((f) => f.type === 'error' && f.refKind === 'produce' && f.ref === seq);
      produceErrors.set(seq, e.code);
    }
    expect(Object.fromEntries(produceErrors)).toEqual({
      0: ErrorCode.INVALID_REQUEST,
      1: ErrorCode.UNKNOWN_ALIAS,
      2: ErrorCode.INVALID_REQUEST,
      3: ErrorCode.INVALID_REQUEST,
      4: ErrorCode.RECORD_TOO_LARGE,
    });

    peer.send(
      // unregistered alias before anything about partition or offset
      { type: 'fetch', corr: 10, alias: 9, partition: 99, offset: 1000, maxBytes: 1024, maxWaitMs: 0 },
      // partition before the offset
      { type: 'fetch', corr: 11, alias: 1, partition: 99, offset: 1000, maxBytes: 1024, maxWaitMs: 0 },
    );
    const unknownAlias = await peer.waitFor<ErrorFrame>((f) => f.type === 'error' && f.ref === 10);
    const badPartition = await peer.waitFor<ErrorFrame>((f) => f.type === 'error' && f.ref === 11);
    expect(unknownAlias.code).toBe(ErrorCode.UNKNOWN_ALIAS);
    expect(badPartition.code).toBe(ErrorCode.INVALID_PARTITION);
    expect(peer.frames.some((f) => f.type === 'out-of-range')).toBe(false);
  });

  it('HELLO: the version before the token, the token before the clientId', async () => {
    const { edge } = await startEdgeBroker({ edge: { token: 's3cret' } });
    const v0 = await RawPeer.hello(edge!.port, { version: 0, idempotent: true, clientId: '' });
    expect(v0.frames[0]).toMatchObject({ type: 'error', code: ErrorCode.UNSUPPORTED_VERSION });
    const noToken = await RawPeer.hello(edge!.port, { version: 3, idempotent: true, clientId: '' });
    expect(noToken.frames[0]).toMatchObject({ type: 'error', code: ErrorCode.NOT_AUTHORIZED });
    const noId = await RawPeer.hello(edge!.port, { version: 3, idempotent: true, clientId: '', token: Buffer.from('s3cret') });
    expect(noId.frames[0]).toMatchObject({ type: 'error', code: ErrorCode.INVALID_REQUEST });
  });
});
