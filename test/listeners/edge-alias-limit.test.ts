// [EDGE-6.1] the alias limit counts distinct aliases, not alias values: 4096 of them per connection,
// any value; a new one past the limit is refused and stays unregistered, an old one rebinds.

import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.ts';
import { limits } from '../../src/limits.ts';
import type { Frame } from '../../src/protocol/edge/frames.ts';
import { RawPeer, startEdgeBroker } from '../helpers/raw-edge.ts';

describe('aliases per connection [EDGE-6.1]', () => {
  it(`takes ${limits.edgeAliasesMax} distinct aliases of any value, refuses one more, still rebinds a registered one`, async () => {
    const { edge } = await startEdgeBroker();
    const peer = await RawPeer.hello(edge!.port, { version: 3 });
    peer.send({ type: 'create-topic', corr: 1, name: 'a', partitions: 1, retentionMs: -2, retentionBytes: -2, grow: false });
    peer.send({ type: 'create-topic', corr: 2, name: 'b', partitions: 1, retentionMs: -2, retentionBytes: -2, grow: false });
    await peer.waitFor((f) => f.type === 'ok' && f.corr === 2);
    // Alias values far above the count: the limit is on how many, not how large.
    const big = 2 ** 40;
    const frames: Frame[] = [];
    for (let i = 0; i < limits.edgeAliasesMax; i++) frames.push({ type: 'register', corr: 10 + i, alias: big + i, topic: 'a', create: false });
    peer.send(...frames);
    const lastCorr = 10 + limits.edgeAliasesMax - 1;
    await peer.waitFor((f) => f.type === 'registered' && f.corr === lastCorr, 30_000);
    expect(peer.frames.filter((f) => f.type === 'registered')).toHaveLength(limits.edgeAliasesMax);

    peer.send({ type: 'register', corr: 1, alias: 7, topic: 'a', create: false });
    expect(await peer.waitFor((f) => f.type === 'error' && f.ref === 1)).toMatchObject({ refKind: 'request', code: ErrorCode.INVALID_REQUEST });
    // The refused alias is not registered: a FETCH naming it is UNKNOWN_ALIAS.
    peer.send({ type: 'fetch', corr: 2, alias: 7, partition: 0, offset: 0, maxBytes: 1024, maxWaitMs: 0 });
    expect(await peer.waitFor((f) => f.type === 'error' && f.ref === 2)).toMatchObject({ code: ErrorCode.UNKNOWN_ALIAS });
    // A registered alias rebinds to another topic even at the limit.
    peer.send({ type: 'register', corr: 3, alias: big, topic: 'b', create: false });
    expect(await peer.waitFor((f) => (f.type === 'registered' || f.type === 'error') && (f.type === 'registered' ? f.corr : f.ref) === 3)).toMatchObject({ type: 'registered', alias: big });
  });
});
