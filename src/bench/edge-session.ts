// A bare edge-protocol connection for load generation: handshake and the few requests the
// benchmarks need, then raw pre-encoded PRODUCE bytes out and ACK entries in. Deliberately not the
// client library: the generator must cost the broker's figures nothing it can avoid.

import net from 'node:net';
import { TributaryError } from '../errors.ts';
import { limits } from '../limits.ts';
import { encodeFrame, FrameDecoder } from '../protocol/edge/codec.ts';
import { EDGE_PROTOCOL_VERSION, type AckEntry, type Frame } from '../protocol/edge/frames.ts';

const REQUEST_TIMEOUT_MS = 10_000;

type Waiter = { resolve: (f: Frame) => void; reject: (e: Error) => void };

export class EdgeSession {
  /** Called for every ACK frame, with its entries in seq order. */
  onAck: (entries: AckEntry[]) => void = () => undefined;
  /** Called once when the connection fails: an ERROR frame for a PRODUCE or the connection, or a socket error. */
  onFailure: (err: Error) => void = () => undefined;
  private readonly socket: net.Socket;
  private readonly decoder = new FrameDecoder(limits.edgeFrameBytesMax);
  private readonly waiters = new Map<number, Waiter>();
  private welcome: Waiter | null = null;
  private nextCorr = 1;
  private failed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed by the broker')));
  }

  static async open(port: number, clientId: string): Promise<EdgeSession> {
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const session = new EdgeSession(socket);
    const welcome = new Promise<Frame>((resolve, reject) => (session.welcome = { resolve, reject }));
    socket.write(encodeFrame({ type: 'hello', version: EDGE_PROTOCOL_VERSION, idempotent: false, keepaliveMs: 0, frameBytesMax: limits.edgeFrameBytesMax, clientId, token: null }));
    await withTimeout(welcome, 'WELCOME');
    return session;
  }

  async createTopic(name: string, partitions: number): Promise<void> {
    await this.request((corr) => ({ type: 'create-topic', corr, name, partitions, retentionMs: -1, retentionBytes: -1, grow: false }));
  }

  async register(alias: number, topic: string): Promise<void> {
    await this.request((corr) => ({ type: 'register', corr, alias, topic, create: false }));
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  close(): void {
    this.failed = true;
    this.socket.destroy();
  }

  private request(frame: (corr: number) => Frame): Promise<Frame> {
    const corr = this.nextCorr++;
    const answer = new Promise<Frame>((resolve, reject) => this.waiters.set(corr, { resolve, reject }));
    this.socket.write(encodeFrame(frame(corr)));
    return withTimeout(answer, `the answer to request ${corr}`);
  }

  private onData(chunk: Buffer): void {
    const { frames, failure } = this.decoder.push(chunk);
    for (const frame of frames) this.onFrame(frame);
    if (failure) this.fail(new Error(`undecodable bytes from the broker: ${failure.reason}`));
  }

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case 'ack':
        return this.onAck(frame.entries);
      case 'welcome':
        this.welcome?.resolve(frame);
        this.welcome = null;
        return;
      case 'error': {
        const err = TributaryError.fromCode(frame.code, frame.message);
        const waiter = frame.refKind === 'request' ? this.waiters.get(frame.ref) : undefined;
        if (waiter === undefined) return this.fail(err);
        this.waiters.delete(frame.ref);
        return waiter.reject(err);
      }
      default:
        if ('corr' in frame) {
          this.waiters.get(frame.corr)?.resolve(frame);
          this.waiters.delete(frame.corr);
        }
    }
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.welcome?.reject(err);
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
    this.socket.destroy();
    this.onFailure(err);
  }
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${REQUEST_TIMEOUT_MS} ms`)), REQUEST_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
