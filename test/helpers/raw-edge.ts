// A raw edge-protocol peer for listener tests: writes frames or arbitrary bytes, collects what the
// broker answers, and reports when the broker closed the socket.
import net from 'node:net';
import pino from 'pino';
import { parseConfig } from '../../src/config/load.ts';
import { startTributary, type RunningTributary } from '../../src/main.ts';
import { decodeRecordBatch, splitBatches } from '../../src/format/record-batch.ts';
import { encodeFrame, FrameDecoder } from '../../src/protocol/edge/codec.ts';
import type { Frame, ProduceFrame, RecordsFrame } from '../../src/protocol/edge/frames.ts';
import { onCleanup, tempDir } from './temp.ts';

export async function startEdgeBroker(over: Record<string, unknown> = {}, dataDir = tempDir()): Promise<RunningTributary> {
  const { edge, ...rest } = over as { edge?: Record<string, unknown> };
  const config = parseConfig({ dataDir, listeners: { edge: { host: '127.0.0.1', port: 0, ...edge }, http: { enabled: false }, mqtt: { enabled: false }, kafka: { enabled: false } }, ...rest }, 'test');
  const running = await startTributary(config, pino({ level: 'silent' }));
  onCleanup(() => running.close());
  return running;
}

export class RawPeer {
  readonly frames: Frame[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder(16 * 1024 * 1024);
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      this.frames.push(...this.decoder.push(chunk).frames);
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    socket.on('error', () => undefined);
  }

  static async connect(port: number): Promise<RawPeer> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const peer = new RawPeer(socket);
    onCleanup(async () => {
      socket.destroy();
    });
    return peer;
  }

  /** Connects and completes the handshake. */
  static async hello(port: number, hello: Partial<Extract<Frame, { type: 'hello' }>> = {}): Promise<RawPeer> {
    const peer = await RawPeer.connect(port);
    peer.send({ type: 'hello', version: 1, idempotent: false, keepaliveMs: 0, frameBytesMax: 0, clientId: 'raw', token: null, ...hello });
    await peer.waitFor((f) => f.type === 'welcome' || f.type === 'error');
    return peer;
  }

  send(...frames: Frame[]): void {
    this.socket.write(Buffer.concat(frames.map((f) => encodeFrame(f))));
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits until a received frame matches; returns it. Fails after timeoutMs. */
  async waitFor<T extends Frame = Frame>(match: (f: Frame) => boolean, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found as T;
      if (this.closed) throw new Error(`socket closed; frames so far: ${JSON.stringify(this.frames.map((f) => f.type))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; frames so far: ${JSON.stringify(this.frames.map((f) => f.type))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('socket still open');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/** A PRODUCE frame for alias 1, partition 0, acks 1, unkeyed records with the given values. */
export function produceFrame(seq: number, values: string[], over: Partial<ProduceFrame> = {}): ProduceFrame {
  return {
    type: 'produce',
    seq,
    alias: 1,
    partition: 0,
    acks: 1,
    baseTimestampMs: 0,
    records: values.map((v) => ({ timestampDeltaMs: 0, key: null, value: Buffer.from(v), headers: [] })),
    ...over,
  };
}

/** Every record of a partition, read over the edge protocol from offset 0 to the log end. */
export async function readLog(port: number, topic: string, partition = 0): Promise<{ offset: number; value: string }[]> {
  const peer = await RawPeer.hello(port);
  peer.send({ type: 'register', corr: 1, alias: 1, topic, create: false });
  await peer.waitFor((f) => f.type === 'registered');
  const out: { offset: number; value: string }[] = [];
  for (let corr = 2; ; corr++) {
    peer.send({ type: 'fetch', corr, alias: 1, partition, offset: out.length, maxBytes: 1 << 20, maxWaitMs: 0 });
    const r = await peer.waitFor<RecordsFrame>((f) => f.type === 'records' && f.corr === corr);
    const records = splitBatches(r.batches)
      .flatMap((b) => decodeRecordBatch(b))
      .filter((x) => x.offset >= out.length);
    if (records.length === 0) return out;
    out.push(...records.map((x) => ({ offset: x.offset, value: x.value!.toString() })));
  }
}

/** Waits, a loop turn at a time, until `condition` holds: for state the broker changes as its sockets move. */
export async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}
