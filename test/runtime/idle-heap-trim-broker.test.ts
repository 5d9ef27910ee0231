// `tributary start` gives back the young generation a load grew, once the load has stopped: the edge
// ingest path's records die young, so V8 runs no full GC during the load and would otherwise keep
// its grown semi-spaces committed for good.
import { describe, expect, it } from 'vitest';
import type { AckFrame } from '../../src/protocol/edge/frames.ts';
import { idleHeapTrimDefaults } from '../../src/runtime/idle-heap-trim.ts';
import { freePort, startChildBroker } from '../helpers/child-broker.ts';
import { produceFrame, RawPeer } from '../helpers/raw-edge.ts';
import { tempDir } from '../helpers/temp.ts';

interface TrimLine {
  msg: string;
  thread: string;
  newSpaceBytesBefore: number;
  newSpaceBytesAfter: number;
}

const values = Array.from({ length: 500 }, (_, i) => `${i}`.padEnd(100, 'x'));

describe('tributary start after a load', () => {
  it('shrinks the young generation once ingest has stopped', async () => {
    const port = await freePort();
    const broker = await startChildBroker(tempDir(), port, { TRIBUTARY_LOG__LEVEL: 'debug' });
    const peer = await RawPeer.hello(port);
    peer.send({ type: 'register', corr: 1, alias: 1, topic: 'load', create: true });
    await peer.waitFor((f) => f.type === 'registered');

    // 400,000 records of 100 bytes, 32 frames in flight, as the edge-1 bench sends them.
    const frames = 800;
    let sent = 0;
    let acked = 0;
    await new Promise<void>((resolve) => {
      const refill = () => {
        while (sent < frames && sent - acked < 32) peer.send(produceFrame(++sent, values));
      };
      peer.socket.on('data', () => {
        for (const f of peer.frames.splice(0)) if (f.type === 'ack') acked += (f as AckFrame).entries.length;
        if (acked >= frames) resolve();
        else refill();
      });
      refill();
    });

    const trims = (): TrimLine[] =>
      broker
        .output()
        .split('\n')
        .filter((l) => l.includes('shrink the young generation'))
        .map((l) => JSON.parse(l) as TrimLine);
    const shrunk = () => trims().find((t) => t.newSpaceBytesAfter <= idleHeapTrimDefaults.newSpaceBytesMin);
    await new Promise<void>((resolve) => {
      const check = () => (shrunk() !== undefined ? resolve() : undefined);
      broker.child.stdout!.on('data', check);
      check();
    });
    const first = trims()[0]!;
    expect(first.thread).toBe('main');
    expect(first.newSpaceBytesBefore).toBeGreaterThan(idleHeapTrimDefaults.newSpaceBytesMin);
    expect(shrunk()!.newSpaceBytesAfter).toBeLessThan(first.newSpaceBytesBefore);

    peer.socket.destroy();
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
  }, 90_000);
});
