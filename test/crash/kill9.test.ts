// kill -9 in the middle of an acks=1 stream: every acknowledged record must be in the log after a
// restart, offsets consecutive from 0, no record twice, order kept. Operations are recorded as ok
// (acked), or unknown (in flight at the kill); only ok operations are checked for lost-write.
import { describe, expect, it } from 'vitest';
import type { AckFrame } from '../../src/protocol/edge/frames.ts';
import { freePort, startChildBroker } from '../helpers/child-broker.ts';
import { produceFrame, RawPeer, readLog } from '../helpers/raw-edge.ts';
import { tempDir } from '../helpers/temp.ts';

const frame = (seq: number, acks: 1 | 'all') => produceFrame(seq, [0, 1, 2].map((i) => `${seq}.${i}`), { acks });

describe.each([1, 'all'] as const)('kill -9 during an acks=%s stream', (acks) => {
  it('keeps every acknowledged record, with consecutive offsets and no duplicates', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const broker = await startChildBroker(dataDir, port);
    const peer = await RawPeer.hello(port);
    peer.send({ type: 'register', corr: 1, alias: 1, topic: 'crash', create: true });
    await peer.waitFor((f) => f.type === 'registered');

    const acked = new Set<number>();
    let sent = 0;
    const window = 64;
    const killAfter = 1500;
    peer.socket.on('data', () => {
      for (const f of peer.frames.splice(0)) if (f.type === 'ack') for (const e of (f as AckFrame).entries) acked.add(e.seq);
      while (!peer.closed && sent - acked.size < window && sent < 100_000) peer.send(frame(++sent, acks));
      if (acked.size >= killAfter && broker.child.exitCode === null) broker.child.kill('SIGKILL');
    });
    for (; sent < window; ) peer.send(frame(++sent, acks));
    await broker.exited;
    await peer.waitClosed();

    const restarted = await startChildBroker(dataDir, port);
    const log = await readLog(port, 'crash');
    const values = log.map((r) => r.value);
    // inconsistent-offsets: offsets run 0, 1, 2, … with no gap.
    expect(log.map((r) => r.offset)).toEqual(log.map((_, i) => i));
    // duplicate: no record twice.
    expect(new Set(values).size).toBe(values.length);
    // lost-write: every acknowledged frame's three records are there.
    const stored = new Set(values);
    const lost = [...acked].filter((seq) => ![0, 1, 2].every((i) => stored.has(`${seq}.${i}`)));
    expect(lost).toEqual([]);
    // nonmonotonic: frames are stored in the order they were sent.
    const seqs = values.map((v) => Number(v.split('.')[0]));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(acked.size).toBeGreaterThanOrEqual(killAfter);
    expect(values.length).toBeLessThanOrEqual(sent * 3);
    restarted.child.kill('SIGTERM');
    expect(await restarted.exited).toBe(0);
  }, 60_000);
});
