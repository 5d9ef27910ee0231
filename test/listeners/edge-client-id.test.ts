// [EDGE-4.1] clientId rules: an idempotent client's id keys its duplicate state, so it must name one
// device. An empty id would make every device without one share a seq space (device B's seq 1 taken
// for a duplicate of device A's, and its records dropped: seen before this check), and an id too
// long for a storage key failed the storage transaction and stopped every write of the broker
// (seen before this check): both are refused at HELLO. Without the idempotent flag the id is only a name.

import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.ts';
import { limits } from '../../src/limits.ts';
import type { AckFrame } from '../../src/protocol/edge/frames.ts';
import { produceFrame, RawPeer, readLog, startEdgeBroker } from '../helpers/raw-edge.ts';

async function producer(port: number, clientId: string, idempotent: boolean): Promise<RawPeer> {
  const peer = await RawPeer.hello(port, { clientId, idempotent });
  peer.send({ type: 'register', corr: 1, alias: 1, topic: 'ids', create: true });
  await peer.waitFor((f) => f.type === 'registered');
  return peer;
}

describe('HELLO clientId [EDGE-4.1]', () => {
  it.each([
    ['empty', ''],
    ['longer than edgeClientIdBytesMax', 'é'.repeat(limits.edgeClientIdBytesMax / 2) + 'x'],
    // Before the check, this one's first PRODUCE failed the storage transaction (LMDB keys stop at
    // 1978 bytes) and stopped every write of the broker: STORAGE_FAILED for all clients.
    ['3000 bytes, above an LMDB key', 'x'.repeat(3000)],
  ])('refuses an idempotent HELLO whose clientId is %s, and closes; other producers keep storing', async (_what, clientId) => {
    const { edge } = await startEdgeBroker();
    const peer = await RawPeer.hello(edge!.port, { clientId, idempotent: true });
    expect(peer.frames[0]).toMatchObject({ type: 'error', refKind: 'connection', ref: 0, code: ErrorCode.INVALID_REQUEST });
    await peer.waitClosed();
    const healthy = await producer(edge!.port, 'device-1', true);
    healthy.send(produceFrame(1, ['stored']));
    expect(await healthy.waitFor((f) => f.type === 'ack' || f.type === 'error')).toMatchObject({ type: 'ack' });
  });

  it('takes an idempotent clientId of exactly edgeClientIdBytesMax bytes and stores its records', async () => {
    const { edge } = await startEdgeBroker();
    const clientId = 'é'.repeat(limits.edgeClientIdBytesMax / 2);
    const peer = await producer(edge!.port, clientId, true);
    peer.send(produceFrame(1, ['long-id']));
    await peer.waitFor<AckFrame>((f) => f.type === 'ack');
    expect(await readLog(edge!.port, 'ids')).toEqual([{ offset: 0, value: 'long-id' }]);
  });

  it('lets clients without the idempotent flag share the empty clientId: each frame is stored', async () => {
    const { edge } = await startEdgeBroker();
    const a = await producer(edge!.port, '', false);
    const b = await producer(edge!.port, '', false);
    a.send(produceFrame(1, ['from-a']));
    await a.waitFor((f) => f.type === 'ack');
    b.send(produceFrame(1, ['from-b']));
    const ack = await b.waitFor<AckFrame>((f) => f.type === 'ack');
    expect(ack.entries[0].duplicate).toBe(false);
    expect((await readLog(edge!.port, 'ids')).map((r) => r.value)).toEqual(['from-a', 'from-b']);
  });
});
