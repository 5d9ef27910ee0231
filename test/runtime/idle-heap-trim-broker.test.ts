// `tributary start` gives back the young generation a load grew, once the load has stopped: the edge
// ingest path's records die young, so V8 runs no full GC during the load and would otherwise keep
// its grown semi-spaces committed for good. The mirror thread, a heap of its own, does the same after
// shipping a backlog.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AckFrame } from '../../src/protocol/edge/frames.ts';
import { idleHeapTrimDefaults } from '../../src/runtime/idle-heap-trim.ts';
import { freePort, startChildBroker, type ChildBroker } from '../helpers/child-broker.ts';
import { mosquittoBinary } from '../helpers/mosquitto-upstream.ts';
import { produceFrame, RawPeer } from '../helpers/raw-edge.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

interface TrimLine {
  thread: string;
  newSpaceBytesBefore: number;
  newSpaceBytesAfter: number;
}

const values = Array.from({ length: 500 }, (_, i) => `${i}`.padEnd(100, 'x'));

/** Sends `frames` PRODUCE frames of 500 records of 100 bytes, 32 in flight as the edge-1 bench sends them. */
async function produce(port: number, topic: string, frames: number): Promise<void> {
  const peer = await RawPeer.hello(port);
  peer.send({ type: 'register', corr: 1, alias: 1, topic, create: true });
  await peer.waitFor((f) => f.type === 'registered');
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
  peer.socket.destroy();
}

/** The trims `thread` logged after the first `from` characters of the broker's output. */
function trims(broker: ChildBroker, thread: string, from: number): TrimLine[] {
  return broker
    .output()
    .slice(from)
    .split('\n')
    .filter((l) => l.startsWith('{') && l.includes('shrink the young generation'))
    .map((l) => JSON.parse(l) as TrimLine)
    .filter((t) => t.thread === thread);
}

/** Resolves once `thread` logged, after `from`, a trim that left its young generation at or below the floor. */
function shrunk(broker: ChildBroker, thread: string, from: number): Promise<TrimLine> {
  return new Promise((resolve) => {
    const check = () => {
      const done = trims(broker, thread, from).find((t) => t.newSpaceBytesAfter <= idleHeapTrimDefaults.newSpaceBytesMin);
      if (done !== undefined) {
        broker.child.stdout!.off('data', check);
        resolve(done);
      }
    };
    broker.child.stdout!.on('data', check);
    check();
  });
}

/** A plain Mosquitto on 127.0.0.1:`port`, for the mirror to ship to. */
async function startMosquitto(port: number): Promise<void> {
  const dir = tempDir();
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'max_queued_messages 0', ''].join('\n'));
  const child = spawn(mosquittoBinary() ?? 'mosquitto', ['-c', conf], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  onCleanup(async () => {
    child.kill('SIGTERM');
    await exited;
  });
}

describe('tributary start after a load', () => {
  it('shrinks the main thread young generation once ingest has stopped', async () => {
    const port = await freePort();
    const broker = await startChildBroker(tempDir(), port, { TRIBUTARY_LOG__LEVEL: 'debug' });
    await produce(port, 'load', 800);
    const loaded = broker.output().length;

    const done = await shrunk(broker, 'main', loaded);
    // The first GC after the load found the young generation the load grew.
    expect(trims(broker, 'main', loaded)[0]!.newSpaceBytesBefore).toBeGreaterThan(idleHeapTrimDefaults.newSpaceBytesMin);
    expect(done.newSpaceBytesAfter).toBeLessThan(done.newSpaceBytesBefore);

    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
  }, 90_000);

  it('shrinks the mirror thread young generation once it has shipped the backlog', async () => {
    const upstreamPort = await freePort();
    await startMosquitto(upstreamPort);
    const port = await freePort();
    const broker = await startChildBroker(tempDir(), port, {
      TRIBUTARY_LOG__LEVEL: 'debug',
      TRIBUTARY_MIRRORS: JSON.stringify([{ name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${upstreamPort}`, topics: ['telemetry'] }]),
    });
    await produce(port, 'telemetry', 400);

    const done = await shrunk(broker, 'mirror', broker.output().length);
    expect(done.newSpaceBytesBefore).toBeGreaterThan(idleHeapTrimDefaults.newSpaceBytesMin);
    expect(done.newSpaceBytesAfter).toBeLessThan(done.newSpaceBytesBefore);

    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
  }, 90_000);
});
