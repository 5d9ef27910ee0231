// A bounded flood of edge clients that never read, against the built broker in a child process: a few
// connections negotiate 4 MiB frames, pipeline many 4 MiB FETCHes on a topic of tens of MB and stop
// reading, others stall in the middle of a 4 MiB frame. The broker must stay up, keep acknowledging
// a well-behaved producer, and keep its RSS within what the edge buffer limits allow.
import fs from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { limits } from '../../src/limits.ts';
import { encodeFrame, FrameDecoder } from '../../src/protocol/edge/codec.ts';
import type { Frame } from '../../src/protocol/edge/frames.ts';
import { freePort, startChildBroker } from '../helpers/child-broker.ts';
import { produceFrame, RawPeer } from '../helpers/raw-edge.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

const MiB = 1024 * 1024;
const FRAME = 4 * MiB;
/** The scenario, scaled for CI; TRIBUTARY_FLOOD_SCALE=full runs it as reported (8 × 64, 100 stalled). */
const full = process.env.TRIBUTARY_FLOOD_SCALE === 'full';
const HOGS = full ? 8 : 4;
const FETCHES_PER_HOG = full ? 64 : 32;
const STALLED = full ? 100 : 24;
/** 6 batches of ~4 MB: a 24 MB topic, as in the issue. */
const BATCHES = 6;
const RECORD_BYTES = FRAME - 4096;
/**
 * What the broker may grow by: the totals across edge connections (answers and partial frames),
 * plus the transient copies of the reads being served (a read returns up to maxBytes plus one
 * batch, and the answer is encoded once) and allocator slack.
 */
const SLACK = 96 * MiB;

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** A raw socket that completes the handshake and registers `topic` as alias 1, then is left to the test. */
async function handshake(port: number, clientId: string, topic: string | null): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  onCleanup(async () => {
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const decoder = new FrameDecoder(16 * MiB);
  const next = (type: Frame['type']) =>
    new Promise<Frame>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        const f = decoder.push(chunk).frames.find((x) => x.type === type || x.type === 'error');
        if (!f) return;
        socket.off('data', onData);
        if (f.type === 'error') reject(new Error(`${clientId}: ${f.message}`));
        else resolve(f);
      };
      socket.on('data', onData);
    });
  socket.write(encodeFrame({ type: 'hello', version: 1, idempotent: false, keepaliveMs: 0, frameBytesMax: FRAME, clientId, token: null }));
  await next('welcome');
  if (topic !== null) {
    socket.write(encodeFrame({ type: 'register', corr: 1, alias: 1, topic, create: false }));
    await next('registered');
  }
  return socket;
}

describe('edge flood: clients that never read', () => {
  it(
    'keeps the broker up, acks flowing and RSS bounded',
    async () => {
      const port = await freePort();
      const broker = await startChildBroker(tempDir(), port);
      const pid = broker.child.pid!;

      // The topic: ~24 MB in 4 MB batches, written with 4 MiB frames.
      const writer = await RawPeer.hello(port, { frameBytesMax: FRAME, clientId: 'writer' });
      writer.send({ type: 'register', corr: 1, alias: 1, topic: 'big', create: true });
      await writer.waitFor((f) => f.type === 'registered');
      for (let seq = 1; seq <= BATCHES; seq++) {
        writer.send(produceFrame(seq, ['x'.repeat(RECORD_BYTES)]));
        await writer.waitFor((f) => f.type === 'ack' && f.entries.some((e) => e.seq === seq), 20_000);
      }
      const producer = await RawPeer.hello(port, { clientId: 'good' });
      producer.send({ type: 'register', corr: 1, alias: 1, topic: 'small', create: true });
      await producer.waitFor((f) => f.type === 'registered');
      let seq = 0;
      const produceOne = async () => {
        const s = ++seq;
        producer.send(produceFrame(s, [`v${s}`]));
        await producer.waitFor((f) => (f.type === 'ack' && f.entries.some((e) => e.seq === s)) || (f.type === 'error' && f.ref === s), 30_000);
        expect(producer.frames.find((f) => f.type === 'error')).toBeUndefined();
      };
      await produceOne();
      const baseline = rssBytes(pid);
      let peak = baseline;
      const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 20);
      onCleanup(async () => clearInterval(sampler));

      // Hogs: many 4 MiB fetches of the big topic, never a byte read back.
      const hogs: net.Socket[] = [];
      for (let h = 0; h < HOGS; h++) {
        const s = await handshake(port, `hog-${h}`, 'big');
        s.pause();
        const fetches: Buffer[] = [];
        for (let i = 0; i < FETCHES_PER_HOG; i++) {
          fetches.push(encodeFrame({ type: 'fetch', corr: 10 + i, alias: 1, partition: 0, offset: i % BATCHES, maxBytes: FRAME, maxWaitMs: 0 }));
        }
        s.write(Buffer.concat(fetches));
        hogs.push(s);
      }
      // Stalled: the header and all but the last bytes of a 4 MiB PRODUCE frame, then silence.
      const stalledWrites: Promise<void>[] = [];
      const stalled: net.Socket[] = [];
      const prefix = Buffer.from([0x80, 0x80, 0x80, 0x02, 0x05]);
      for (let i = 0; i < STALLED; i++) {
        const s = await handshake(port, `stalled-${i}`, null);
        s.pause();
        stalled.push(s);
        const body = Buffer.alloc(FRAME - 64, 1);
        stalledWrites.push(new Promise<void>((resolve) => s.write(Buffer.concat([prefix, body]), () => resolve())));
      }

      // The well-behaved producer keeps getting its acks while all that is held.
      for (let i = 0; i < 50; i++) await produceOne();
      // Once the stalled frames are in (or refused room: the broker stops reading them), and again.
      await Promise.race([Promise.all(stalledWrites), (async () => { for (let i = 0; i < 200; i++) await produceOne(); })()]);
      for (let i = 0; i < 50; i++) await produceOne();
      clearInterval(sampler);
      peak = Math.max(peak, rssBytes(pid));

      expect(broker.child.exitCode).toBeNull();
      const fresh = await RawPeer.hello(port, { clientId: 'fresh' });
      expect(fresh.frames[0]?.type).toBe('welcome');

      const bound = limits.edgeWriteBytesTotalDefault + limits.edgePartialFrameBytesTotalDefault + SLACK;
      const growth = peak - baseline;
      // After they are gone: what the process gives back is the allocator's business, so only reported.
      for (const s of [...hogs, ...stalled]) s.destroy();
      for (let i = 0; i < 50; i++) await produceOne();
      const after = rssBytes(pid);
      console.log(
        `edge flood: ${HOGS} hogs × ${FETCHES_PER_HOG} fetches, ${STALLED} stalled; RSS baseline ${(baseline / MiB).toFixed(0)} MiB, ` +
          `peak ${(peak / MiB).toFixed(0)} MiB (+${(growth / MiB).toFixed(0)} MiB, bound +${(bound / MiB).toFixed(0)} MiB), after close ${(after / MiB).toFixed(0)} MiB`,
      );
      expect(growth).toBeLessThanOrEqual(bound);
    },
    180_000,
  );
});
