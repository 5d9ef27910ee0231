// Live faults under the C library's POSIX sensor (firmware-samples/c, issue 12): the link dropped
// and restored mid-stream, the broker killed with SIGKILL while frames are in flight, and the device
// rebooted between a PRODUCE and its ACK (the frames stored but their ACKs withheld, or the frames
// lost on the way). Every wait is on the sensor's progress lines; every run ends by itself (bounded
// counts); what was stored is read back with the TypeScript consumer.
import path from 'node:path';
import { Transform } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ConsumedRecord } from '../../src/client/index.ts';
import { decodeFrame } from '../../src/protocol/edge/codec.ts';
import { FrameType, type AckFrame, type Frame } from '../../src/protocol/edge/frames.ts';
import { readUvarint } from '../../src/protocol/edge/varint.ts';
import { startTestBroker } from '../helpers/broker.ts';
import { cSamples, readAll, reading, type Endpoint } from '../helpers/c-samples.ts';
import { freePort, startChildBroker } from '../helpers/child-broker.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { tempDir } from '../helpers/temp.ts';

// A build directory of this file's own: c-library.test.ts builds into build/ at the same time.
const c = cSamples('build/faults');

const via = (proxy: TcpProxy): Endpoint => ({ url: { host: '127.0.0.1', port: proxy.port } });

interface Sent {
  seq: number;
  readings: number;
  resend: boolean;
}
interface Acked {
  seq: number;
  partition: number;
  offset: number;
  readings: number;
  duplicate: boolean;
}

function sentLines(out: string): Sent[] {
  return [...out.matchAll(/^sent seq=(\d+) readings=(\d+) resend=([01])$/gm)].map((m) => ({ seq: Number(m[1]), readings: Number(m[2]), resend: m[3] === '1' }));
}

function ackedLines(out: string): Acked[] {
  return [...out.matchAll(/^acked seq=(\d+) partition=(\d+) offset=(\d+) readings=(\d+) duplicate=([01]) total=\d+$/gm)].map((m) => ({
    seq: Number(m[1]),
    partition: Number(m[2]),
    offset: Number(m[3]),
    readings: Number(m[4]),
    duplicate: m[5] === '1',
  }));
}

/** Seqs sent in `out` whose ACK has not been printed. */
function unacked(out: string): number[] {
  const acked = new Set(ackedLines(out).map((a) => a.seq));
  return [...new Set(sentLines(out).map((s) => s.seq))].filter((s) => !acked.has(s));
}

/** `sent` lines after the last `acked` line: frames in flight as the sensor last reported. */
function sentSinceLastAck(out: string): number {
  const last = out.lastIndexOf('\nacked ');
  return last < 0 ? 0 : sentLines(out.slice(last + 1)).length;
}

/** Each connection's part of the output: from one `connected` line to the next. */
function connections(out: string): string[] {
  return out.split(/^(?=connected )/m).filter((part) => part.startsWith('connected '));
}

function lastSeqOf(connection: string): number {
  return Number(/^connected lastSeq=(\d+) /.exec(connection)![1]);
}

/** Readings get seqs in the order they were made, frame after frame: seq → index of its first reading. */
function firstReadings(outputs: string[]): Map<number, number> {
  const first = new Map<number, number>();
  let next = 0;
  for (const s of outputs.flatMap(sentLines)) {
    if (s.resend || first.has(s.seq)) continue;
    first.set(s.seq, next);
    next += s.readings;
  }
  return first;
}

/** Readings 0..n-1, each stored once, in order. */
function expectExactlyOnce(got: ConsumedRecord[], n: number): void {
  const values = got.map((r) => r.value?.toString());
  expect(values.length, 'records stored').toBe(n);
  expect(new Set(values).size, 'distinct readings stored').toBe(n);
  expect(values).toEqual(Array.from({ length: n }, (_, i) => reading(i)));
  expect(got.map((r) => r.offset)).toEqual(Array.from({ length: n }, (_, i) => i));
}

/** Every ACK the sensor printed names the offsets where that frame's readings are now stored. */
function expectAcksStored(got: ConsumedRecord[], outputs: string[]): void {
  const first = firstReadings(outputs);
  const acks = outputs.flatMap(ackedLines);
  expect(acks.length).toBeGreaterThan(0);
  for (const a of acks) {
    expect(a.partition).toBe(0);
    const start = first.get(a.seq);
    expect(start, `first send of seq ${a.seq}`).toBeDefined();
    for (let j = 0; j < a.readings; j++) expect(got[a.offset + j]?.value?.toString(), `seq ${a.seq} at offset ${a.offset + j}`).toBe(reading(start! + j));
  }
}

/**
 * Every frame left without an ACK on a connection that broke was either stored (WELCOME's lastSeq of
 * the next connection covers it) or sent again unchanged, under its seq, on the next connection.
 */
function expectUnackedRecovered(out: string): void {
  const conns = connections(out);
  for (let i = 0; i + 1 < conns.length; i++) {
    const lastSeq = lastSeqOf(conns[i + 1]);
    const resent = new Set(sentLines(conns[i + 1]).filter((s) => s.resend).map((s) => s.seq));
    for (const seq of unacked(conns[i])) expect(seq <= lastSeq || resent.has(seq), `seq ${seq} unacked on connection ${i + 1}`).toBe(true);
  }
}

/**
 * One direction of the proxied connection: whole frames pass until `count` frames of type `type`
 * have passed; every later byte is withheld (dropped: the connection dies before it could go on).
 * `passed` keeps those frames, decoded.
 */
function frameValve(type: number, count: number) {
  const state = { holding: false, passed: [] as Frame[] };
  const slot = { value: 0 };
  let pending = Buffer.alloc(0);
  const stream = () =>
    new Transform({
      transform(chunk: Buffer, _encoding, done) {
        if (state.holding) return done();
        pending = Buffer.concat([pending, chunk]);
        let pos = 0;
        while (!state.holding) {
          const body = readUvarint(pending, pos, slot);
          if (body < 0 || body + slot.value > pending.length) break;
          if (pending[body] === type) {
            state.passed.push(decodeFrame(pending.subarray(body + 1, body + slot.value), type) as Frame);
            state.holding = state.passed.length === count;
          }
          pos = body + slot.value;
        }
        const out = pending.subarray(0, pos);
        pending = state.holding ? Buffer.alloc(0) : pending.subarray(pos);
        if (out.length > 0) done(null, out);
        else done();
      },
    });
  return { state, stream };
}

describe('C sensor under faults', () => {
  beforeAll(async () => {
    const built = await c.make('all');
    expect(built.code, built.stderr).toBe(0);
  }, 300_000);

  it('link dropped mid-stream and restored: the sensor reconnects, and every reading is stored exactly once', async () => {
    const broker = await startTestBroker();
    const proxy = await startTcpProxy({ targetPort: broker.url.port });
    const n = 3000;
    const s = c.startSensor(via(proxy), ['--topic', 'link', '--count', String(n), '--client-id', 'dev-link', '--per-frame', '2', '--window', '8']);

    // some readings acknowledged, and frames sent beyond the last ACK: the cut catches them in flight
    await s.waitUntil((o) => ackedLines(o).length >= 10 && sentSinceLastAck(o) >= 2);
    await proxy.stop();
    // the drop, then at least one reconnect refused while the link is down
    await s.waitUntil((o) => (o.match(/^link down rc=/gm)?.length ?? 0) >= 2);
    await proxy.start();

    expect(await s.exited).toBe(0);
    const out = s.output();
    expect(out).toMatch(new RegExp(`^done acked=${n}$`, 'm'));
    expect(connections(out).length).toBeGreaterThanOrEqual(2);
    expectUnackedRecovered(out);
    const got = await readAll(broker, 'link', n);
    expectExactlyOnce(got, n);
    expectAcksStored(got, [out]);
  }, 180_000);

  it('broker killed with SIGKILL while frames are in flight: every acknowledged reading is stored, none twice after the retransmit', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const at: Endpoint = { url: { host: '127.0.0.1', port } };
    let broker = await startChildBroker(dataDir, port);
    const n = 3000;
    const s = c.startSensor(at, ['--topic', 'kill9', '--count', String(n), '--client-id', 'dev-kill9', '--per-frame', '2', '--window', '8']);

    // some readings acknowledged, and frames sent beyond the last ACK: in flight
    await s.waitUntil((o) => ackedLines(o).length >= 10 && sentSinceLastAck(o) >= 2);
    broker.child.kill('SIGKILL');
    await broker.exited;
    await s.waitFor(/^link down rc=/m);
    broker = await startChildBroker(dataDir, port);

    expect(await s.exited).toBe(0);
    const out = s.output();
    expect(out).toMatch(new RegExp(`^done acked=${n}$`, 'm'));
    expect(out).not.toMatch(/^error /m);
    expect(connections(out).length).toBeGreaterThanOrEqual(2);
    expectUnackedRecovered(out);
    const got = await readAll(at, 'kill9', n);
    expectExactlyOnce(got, n);
    expectAcksStored(got, [out]);
  }, 180_000);

  it('device rebooted between produce and ack: started again from its state file, the frame is recognised as stored and kept once', async () => {
    const broker = await startTestBroker();
    const window = 4;
    // the broker's answers stop after its 3rd ACK frame: frames sent later are stored, never acknowledged
    const valve = frameValve(FrameType.ACK, 3);
    const proxy = await startTcpProxy({ targetPort: broker.url.port, downstream: valve.stream });
    const state = path.join(tempDir(), 'sensor.state');
    const n = 200;
    const args = ['--topic', 'reboot-ack', '--count', String(n), '--state', state, '--client-id', 'dev-reboot', '--per-frame', '2', '--window', String(window), '--ring', '32'];
    const first = c.startSensor(via(proxy), args);
    const acksPassed = () => (valve.state.passed as AckFrame[]).reduce((sum, f) => sum + f.entries.length, 0);

    // every ACK that passed is printed and the window is full of frames whose ACK never comes:
    // the sensor waits, and nothing changes until it is killed
    await first.waitUntil((o) => valve.state.holding && ackedLines(o).length === acksPassed() && unacked(o).length === window);
    const out1 = first.output();
    const inFlight = unacked(out1);
    const sent = sentLines(out1);
    const sentReadings = sent.reduce((sum, x) => sum + x.readings, 0);
    const inFlightReadings = sent.filter((x) => inFlight.includes(x.seq)).reduce((sum, x) => sum + x.readings, 0);
    // the broker has stored every frame sent, those in flight included
    expect((await readAll(broker, 'reboot-ack', sentReadings)).length).toBe(sentReadings);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe(null);

    const second = await c.runSensor(broker, args);
    expect(second.code, second.stderr).toBe(0);
    const out2 = second.stdout;
    const loaded = /^state loaded pending=(\d+) made=(\d+) nextSeq=(\d+)$/m.exec(out2);
    expect(loaded).not.toBeNull();
    expect(Number(loaded![1])).toBeGreaterThanOrEqual(inFlightReadings);
    expect(Number(loaded![3])).toBe(Math.max(...inFlight) + 1);
    // WELCOME's lastSeq covers the frames stored before the reboot: confirmed, not sent again
    const lastSeq = lastSeqOf(connections(out2)[0]);
    expect(lastSeq).toBe(Math.max(...inFlight));
    expect(Number(/^confirmed lastSeq=\d+ readings=(\d+) /m.exec(out2)?.[1])).toBeGreaterThanOrEqual(inFlightReadings);
    for (const seq of inFlight) expect(sentLines(out2).map((x) => x.seq)).not.toContain(seq);
    expect(out2).toMatch(/^done acked=\d+$/m);

    const got = await readAll(broker, 'reboot-ack', n);
    expectExactlyOnce(got, n);
    expectAcksStored(got, [out1, out2]);
  }, 180_000);

  it('device rebooted after sending frames the broker never got: started again from its state file, it resends them under the same seqs, each stored once', async () => {
    const broker = await startTestBroker();
    const window = 4;
    // the device's frames stop reaching the broker after its 3rd PRODUCE: later ones are lost in the network
    const valve = frameValve(FrameType.PRODUCE, 3);
    const proxy = await startTcpProxy({ targetPort: broker.url.port, upstream: valve.stream });
    const state = path.join(tempDir(), 'sensor.state');
    const n = 200;
    const args = ['--topic', 'reboot-lost', '--count', String(n), '--state', state, '--client-id', 'dev-lost', '--per-frame', '2', '--window', String(window), '--ring', '32'];
    const first = c.startSensor(via(proxy), args);

    // the 3 frames that got through are acknowledged, and the window is full of frames that did not
    await first.waitUntil((o) => valve.state.holding && ackedLines(o).length === 3 && unacked(o).length === window);
    const out1 = first.output();
    const inFlight = unacked(out1);
    const inFlightSent = sentLines(out1).filter((x) => inFlight.includes(x.seq));
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe(null);

    const second = await c.runSensor(broker, args);
    expect(second.code, second.stderr).toBe(0);
    const out2 = second.stdout;
    expect(lastSeqOf(connections(out2)[0])).toBe(3);
    // sent again under the same seqs (expectAcksStored below checks they carry the same readings), stored once
    const resent = sentLines(out2).filter((x) => x.resend);
    expect(resent).toEqual(inFlightSent.map((x) => ({ ...x, resend: true })));
    const acked2 = ackedLines(out2);
    for (const seq of inFlight) expect(acked2.filter((a) => a.seq === seq).map((a) => a.duplicate)).toEqual([false]);
    expect(out2).toMatch(/^done acked=\d+$/m);

    const got = await readAll(broker, 'reboot-lost', n);
    expectExactlyOnce(got, n);
    expectAcksStored(got, [out1, out2]);
  }, 180_000);
});
