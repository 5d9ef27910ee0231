// One edge-protocol connection from the client side: handshake, request/response correlation with
// timeouts, keepalive, and hand-off of ACKs and produce ERRORs to whoever produces on it. Producer,
// Consumer and Admin are built on it; it knows nothing about batching or offsets.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { TributaryError } from '../errors.ts';
import { limits } from '../limits.ts';
import { encodeFrame, FrameDecoder, frameLength } from '../protocol/edge/codec.ts';
import {
  EDGE_ALTER_TOPIC_VERSION,
  EDGE_GROUPS_VERSION,
  EDGE_PROTOCOL_VERSION,
  type AckEntry,
  type DecodeFailure,
  type Frame,
  type RecordsFrame,
  type TopicMetadata,
  type WelcomeFrame,
} from '../protocol/edge/frames.ts';

export interface ConnectOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 7883. */
  port?: number;
  /** Default `tributary-ts-<random hex>`. An idempotent producer keeps its sequence under this id. */
  clientId?: string;
  token?: string | null;
  /** Per request; a fetch gets its long-poll wait on top. Default 30 s. */
  requestTimeoutMs?: number;
  /** TCP connect plus handshake. Default 10 s. */
  connectTimeoutMs?: number;
  /** Proposed to the broker; 0 (default) takes the broker's. */
  keepaliveMs?: number;
  /** Proposed to the broker; 0 (default) takes the broker's. */
  frameBytesMax?: number;
}

export interface EdgeClientOptions extends ConnectOptions {
  /** Ask the broker to keep this client id's produce sequence (deduplicates retransmissions). */
  idempotent?: boolean;
}

export interface CreateTopicRequest {
  name: string;
  /** 0 = broker default. */
  partitions: number;
  /** -2 = broker default, -1 = unlimited. */
  retentionMs: number;
  /** -2 = broker default, -1 = unlimited. */
  retentionBytes: number;
  grow: boolean;
}

export interface AlterTopicRequest {
  name: string;
  /** 0 = unchanged. */
  partitions: number;
  /** -2 = unchanged, -1 = unlimited. */
  retentionMs: number;
  /** -2 = unchanged, -1 = unlimited. */
  retentionBytes: number;
}

/** In a failed connect's error context as `handshake`: the TCP connection was made, the HELLO/WELCOME handshake failed. */
export interface HandshakeFailure {
  /** host:port */
  address: string;
  /** The first bytes the peer sent (at most 64) before the connection failed; often none. */
  received: Buffer;
}

export interface EdgeClientEvents {
  ack: [entries: AckEntry[]];
  'produce-error': [seq: number, error: TributaryError];
  /** The socket's write buffer emptied after sendProduce() returned false. */
  drain: [];
  /** null when closed by close(). */
  close: [error: TributaryError | null];
}

type ResponseType = 'registered' | 'records' | 'metadata-result' | 'ok' | 'pong' | 'joined' | 'offsets' | 'produced' | 'groups' | 'group-description' | 'offsets-reset';

/** A request frame of the group API [EDGE-12], without its corr (the connection picks one). */
type GroupRequest<T extends Frame['type']> = Omit<Extract<Frame, { type: T }>, 'type' | 'corr'>;
type Response<T extends ResponseType> = Extract<Frame, { type: T }>;

interface PendingRequest {
  expect: ResponseType;
  resolve: (frame: Frame) => void;
  reject: (err: TributaryError) => void;
  timer: NodeJS.Timeout;
}

const DEFAULT_PORT = 7883;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const CLOSE_GRACE_MS = 2_000;
/** What is kept of the bytes a peer sends before WELCOME: enough to tell HTTP, TLS, Kafka or MQTT apart. */
const HANDSHAKE_BYTES_KEPT = 64;
/** setTimeout fires at once for anything longer, and WELCOME's keepalive may be up to 2^53−1. */
const TIMER_MS_MAX = 2 ** 31 - 1;

export function defaultClientId(): string {
  return `tributary-ts-${randomBytes(8).toString('hex')}`;
}

export class EdgeClient extends EventEmitter<EdgeClientEvents> {
  readonly clientId: string;
  readonly address: string;
  private readonly socket: net.Socket;
  private readonly decoder = new FrameDecoder(limits.edgeHelloBytesMax);
  private readonly pending = new Map<number, PendingRequest>();
  private readonly requestTimeoutMs: number;
  private welcomeFrame: WelcomeFrame | null = null;
  private handshake: { resolve: () => void; reject: (err: TributaryError) => void } | null = null;
  private keepalive: NodeJS.Timeout | null = null;
  private nextCorr = 1;
  private closeError: TributaryError | null = null;
  /** Set once TCP connected: the peer's first bytes, kept until WELCOME, say what it is when it is no edge listener. */
  private handshakeBytes: Buffer | null = null;
  private closing = false;
  private closedFlag = false;
  private readonly closedPromise: Promise<void>;

  private constructor(opts: EdgeClientOptions) {
    super();
    const host = opts.host ?? '127.0.0.1';
    const port = opts.port ?? DEFAULT_PORT;
    this.address = `${host}:${port}`;
    this.clientId = opts.clientId ?? defaultClientId();
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.socket = net.connect({ host, port, noDelay: true });
    this.closedPromise = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.socket.on('connect', () => {
      this.handshakeBytes = Buffer.alloc(0);
      this.write(
        encodeFrame({
          type: 'hello',
          version: EDGE_PROTOCOL_VERSION,
          idempotent: opts.idempotent ?? false,
          keepaliveMs: opts.keepaliveMs ?? 0,
          frameBytesMax: opts.frameBytesMax ?? 0,
          clientId: this.clientId,
          token: opts.token == null ? null : Buffer.from(opts.token, 'utf8'),
        }),
      );
    });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('drain', () => this.emit('drain'));
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      this.closeError ??= new TributaryError('UNKNOWN', `connection to ${this.address} failed: ${err.code ?? err.message}`, undefined, { cause: err });
    });
    this.socket.on('close', () => this.onClose());
  }

  /** Opens a TCP connection and completes the HELLO/WELCOME handshake. */
  static async connect(opts: EdgeClientOptions = {}): Promise<EdgeClient> {
    let client: EdgeClient;
    try {
      client = new EdgeClient(opts);
    } catch (err) {
      // net.connect throws synchronously for an impossible host or port.
      throw new TributaryError('INVALID_CONFIG', `cannot connect to ${opts.host}:${opts.port}: ${(err as Error).message}`, undefined, { cause: err });
    }
    const timeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const timer = setTimeout(() => client.destroy(new TributaryError('TIMEOUT', `no WELCOME from ${client.address} within ${timeoutMs} ms`)), timeoutMs);
    try {
      await new Promise<void>((resolve, reject) => (client.handshake = { resolve, reject }));
    } finally {
      clearTimeout(timer);
    }
    return client;
  }

  /** What the broker granted: its protocol version, keepalive, frame size and this client id's last stored seq. */
  get welcome(): WelcomeFrame {
    if (this.welcomeFrame === null) throw new TributaryError('HANDSHAKE_REQUIRED', 'the handshake has not completed');
    return this.welcomeFrame;
  }

  /**
   * The protocol version agreed in the handshake [EDGE-4.2]: HELLO offers the highest this client
   * implements, the broker answers the highest it implements that is not above it. Consumer-group
   * frames need 2 [EDGE-12]; a version 1 broker closes a connection that sends one.
   */
  get version(): number {
    return this.welcome.version;
  }

  /** True from close() or destroy() on, before the socket's 'close' event. */
  get closed(): boolean {
    return this.closedFlag || this.closing || this.socket.destroyed;
  }

  /** Binds `alias` to `topic` on this connection; resolves with the topic's partition count. */
  async register(alias: number, topic: string, create: boolean): Promise<number> {
    const r = await this.request({ type: 'register', corr: this.corr(), alias, topic, create }, 'registered');
    return r.partitions;
  }

  /** One long-polled read: whole batches from the one holding `offset`, or none after maxWaitMs. */
  fetch(alias: number, partition: number, offset: number, maxBytes: number, maxWaitMs: number): Promise<RecordsFrame> {
    return this.request({ type: 'fetch', corr: this.corr(), alias, partition, offset, maxBytes, maxWaitMs }, 'records', this.requestTimeoutMs + maxWaitMs);
  }

  /** Empty `topics` = every topic. */
  async metadata(topics: string[]): Promise<TopicMetadata[]> {
    return (await this.request({ type: 'metadata', corr: this.corr(), topics }, 'metadata-result')).topics;
  }

  async createTopic(req: CreateTopicRequest): Promise<void> {
    await this.request({ type: 'create-topic', corr: this.corr(), ...req }, 'ok');
  }

  async deleteTopic(name: string): Promise<void> {
    await this.request({ type: 'delete-topic', corr: this.corr(), name }, 'ok');
  }

  /** [EDGE-5.18], version 4: partitions 0 and retention -2 leave that setting as it is. */
  async alterTopic(req: AlterTopicRequest): Promise<void> {
    if (this.welcome.version < EDGE_ALTER_TOPIC_VERSION)
      throw new TributaryError('UNSUPPORTED_VERSION', `the broker at ${this.address} speaks edge protocol ${this.welcome.version}: altering a topic needs ${EDGE_ALTER_TOPIC_VERSION}`);
    await this.request({ type: 'alter-topic', corr: this.corr(), ...req }, 'ok');
  }

  // ---- consumer groups [EDGE-12]: version 2 ----

  /** Answered when the group is stable again: after up to the rebalance timeout (0 = the session timeout). */
  joinGroup(req: GroupRequest<'join-group'>): Promise<Response<'joined'>> {
    const waitMs = (req.rebalanceTimeoutMs || req.sessionTimeoutMs || limits.groupSessionTimeoutMsMax) + this.requestTimeoutMs;
    return this.groupRequest({ type: 'join-group', corr: this.corr(), ...req }, 'joined', waitMs);
  }

  async heartbeat(req: GroupRequest<'heartbeat'>): Promise<void> {
    await this.groupRequest({ type: 'heartbeat', corr: this.corr(), ...req }, 'ok');
  }

  async leaveGroup(req: GroupRequest<'leave-group'>): Promise<void> {
    await this.groupRequest({ type: 'leave-group', corr: this.corr(), ...req }, 'ok');
  }

  async commitOffsets(req: GroupRequest<'commit-offsets'>): Promise<void> {
    await this.groupRequest({ type: 'commit-offsets', corr: this.corr(), ...req }, 'ok');
  }

  async fetchOffsets(req: GroupRequest<'fetch-offsets'>): Promise<Response<'offsets'>['offsets']> {
    return (await this.groupRequest({ type: 'fetch-offsets', corr: this.corr(), ...req }, 'offsets')).offsets;
  }

  /** Records and an offset commit in one transaction: both stored or neither. */
  async produceCommit(req: GroupRequest<'produce-commit'>): Promise<Response<'produced'>['batches']> {
    return (await this.groupRequest({ type: 'produce-commit', corr: this.corr(), ...req }, 'produced')).batches;
  }

  async listGroups(): Promise<Response<'groups'>['groups']> {
    return (await this.groupRequest({ type: 'list-groups', corr: this.corr() }, 'groups')).groups;
  }

  describeGroup(group: string): Promise<Response<'group-description'>> {
    return this.groupRequest({ type: 'describe-group', corr: this.corr(), group }, 'group-description');
  }

  async resetOffsets(req: GroupRequest<'reset-offsets'>): Promise<Response<'offsets-reset'>['entries']> {
    return (await this.groupRequest({ type: 'reset-offsets', corr: this.corr(), ...req }, 'offsets-reset')).entries;
  }

  async deleteGroup(group: string): Promise<void> {
    await this.groupRequest({ type: 'delete-group', corr: this.corr(), group }, 'ok');
  }

  private groupRequest<T extends ResponseType>(frame: Frame & { corr: number }, expect: T, wantedMs?: number): Promise<Response<T>> {
    if (this.welcome.version < EDGE_GROUPS_VERSION)
      return Promise.reject(new TributaryError('UNSUPPORTED_VERSION', `the broker at ${this.address} speaks edge protocol ${this.welcome.version}: consumer groups need ${EDGE_GROUPS_VERSION}`));
    return this.request(frame, expect, wantedMs);
  }

  /** No PONG within 2 × keepaliveMs means the broker or the path to it is gone: the connection is dropped [EDGE-4.4]. */
  async ping(): Promise<void> {
    await this.request({ type: 'ping', corr: this.corr() }, 'pong', 2 * this.welcome.keepaliveMs);
  }

  /**
   * Writes an encoded PRODUCE frame. Returns false when the socket had to buffer it: wait for
   * drain() before writing more. A closed connection drops the frame and returns false.
   */
  sendProduce(frame: Buffer): boolean {
    if (this.closed) return false;
    return this.write(frame);
  }

  /** Resolves when the socket's write buffer has drained, or the connection closed. */
  drain(): Promise<void> {
    if (this.closed || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.off('drain', done);
        this.off('close', done);
        resolve();
      };
      this.on('drain', done);
      this.on('close', done);
    });
  }

  /** Ends the connection after what was written so far; pending requests are rejected. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closing = true;
      this.failPending(this.closedError());
      this.socket.end();
      setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
    }
    await this.closedPromise;
  }

  /** Drops the connection at once; pending requests are rejected with `error`. */
  destroy(error?: TributaryError): void {
    this.closeError ??= error ?? null;
    this.socket.destroy();
  }

  private corr(): number {
    const corr = this.nextCorr;
    this.nextCorr = corr >= Number.MAX_SAFE_INTEGER ? 1 : corr + 1;
    return corr;
  }

  private request<T extends ResponseType>(frame: Frame & { corr: number }, expect: T, wantedMs = this.requestTimeoutMs): Promise<Response<T>> {
    if (this.closed) return Promise.reject(this.closeError ?? this.closedError());
    // [EDGE-2.2] the broker closes a connection that sends a frame above the negotiated limit.
    const limit = this.welcomeFrame?.frameBytesMax;
    if (limit !== undefined) {
      const length = frameLength(frame);
      if (length > limit) return Promise.reject(new TributaryError('FRAME_TOO_LARGE', `${frame.type} request of ${length} bytes exceeds the negotiated frame limit of ${limit}`));
    }
    const timeoutMs = Math.min(wantedMs, TIMER_MS_MAX);
    return new Promise((resolve, reject) => {
      const corr = frame.corr;
      const timer = setTimeout(() => {
        this.pending.delete(corr);
        const error = new TributaryError('TIMEOUT', `${frame.type} request to ${this.address} got no answer within ${timeoutMs} ms`);
        reject(error);
        if (frame.type === 'ping') this.destroy(error);
      }, timeoutMs);
      timer.unref();
      this.pending.set(corr, { expect, resolve: resolve as (f: Frame) => void, reject, timer });
      this.write(encodeFrame(frame));
    });
  }

  private write(bytes: Buffer): boolean {
    this.keepalive?.refresh();
    return this.socket.write(bytes);
  }

  private onData(chunk: Buffer): void {
    if (this.welcomeFrame === null && this.handshakeBytes !== null && this.handshakeBytes.length < HANDSHAKE_BYTES_KEPT)
      this.handshakeBytes = Buffer.concat([this.handshakeBytes, chunk]).subarray(0, HANDSHAKE_BYTES_KEPT);
    const { frames, failure } = this.decoder.push(chunk);
    for (const frame of frames) {
      if (this.socket.destroyed) return;
      this.onFrame(frame);
    }
    if (failure) this.protocolError(describeFailure(failure));
  }

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case 'welcome':
        return this.onWelcome(frame);
      case 'ack':
        if (this.welcomeFrame === null) {
          this.protocolError('ACK before WELCOME');
          return;
        }
        this.emit('ack', frame.entries);
        return;
      case 'error': {
        const error = TributaryError.fromCode(frame.code, frame.message);
        if (frame.refKind === 'connection') return this.destroy(error);
        if (frame.refKind === 'produce') {
          this.emit('produce-error', frame.ref, error);
          return;
        }
        const pending = this.take(frame.ref);
        pending?.reject(error);
        return;
      }
      case 'out-of-range': {
        // [EDGE-5.17] the range travels in fields: nothing is read out of a message.
        const { corr, partition, offset, side, logStartOffset, nextOffset } = frame;
        const error = new TributaryError('OFFSET_OUT_OF_RANGE', `offset ${offset} is ${side} partition ${partition}'s log [${logStartOffset}, ${nextOffset}]`, {
          partition,
          offset,
          side,
          logStartOffset,
          nextOffset,
        });
        this.take(corr)?.reject(error);
        return;
      }
      case 'registered':
      case 'records':
      case 'metadata-result':
      case 'ok':
      case 'pong':
      case 'joined':
      case 'offsets':
      case 'produced':
      case 'groups':
      case 'group-description':
      case 'offsets-reset': {
        const pending = this.take(frame.corr);
        if (pending === undefined) return; // answer to a request that already timed out
        if (pending.expect === frame.type) return pending.resolve(frame);
        const error = this.protocolError(`expected ${pending.expect} for corr ${frame.corr}, got ${frame.type}`);
        pending.reject(error);
        return;
      }
      default:
        this.protocolError(`a broker may not send ${frame.type} frames`);
        return;
    }
  }

  private onWelcome(frame: WelcomeFrame): void {
    if (this.handshake === null || this.welcomeFrame !== null) {
      this.protocolError('unexpected WELCOME');
      return;
    }
    if (frame.version < 1 || frame.version > EDGE_PROTOCOL_VERSION)
      return this.destroy(new TributaryError('UNSUPPORTED_VERSION', `broker speaks protocol ${frame.version}, this client ${EDGE_PROTOCOL_VERSION}`));
    if (frame.frameBytesMax < 1) {
      this.protocolError('WELCOME with frameBytesMax 0');
      return;
    }
    this.welcomeFrame = frame;
    // [EDGE-2.2] the negotiated limit applies to what the broker sends too.
    this.decoder.setFrameBytesMax(frame.frameBytesMax);
    // The broker drops a connection silent for 1.5 × keepalive; pinging at half of it leaves room for a lost ping.
    this.keepalive = setInterval(() => this.ping().catch(() => undefined), Math.min(Math.max(1, Math.floor(frame.keepaliveMs / 2)), TIMER_MS_MAX));
    this.keepalive.unref();
    const handshake = this.handshake;
    this.handshake = null;
    handshake.resolve();
  }

  private take(corr: number): PendingRequest | undefined {
    const pending = this.pending.get(corr);
    if (pending === undefined) return undefined;
    this.pending.delete(corr);
    clearTimeout(pending.timer);
    return pending;
  }

  /** [EDGE-10.1] a stream that cannot be trusted any more is closed. */
  private protocolError(detail: string): TributaryError {
    const error = new TributaryError('MALFORMED_FRAME', `broker ${this.address} broke the protocol: ${detail}`);
    this.destroy(error);
    return error;
  }

  /**
   * A handshake that failed after TCP connected: the error's context gets `handshake` with what the
   * peer sent, so a tool can tell an MQTT, Kafka or HTTP listener from the edge listener.
   */
  private handshakeFailure(error: TributaryError): TributaryError {
    if (this.handshakeBytes === null || error.context?.handshake !== undefined) return error;
    const handshake: HandshakeFailure = { address: this.address, received: this.handshakeBytes };
    return new TributaryError(error.codeName, error.message, { ...error.context, handshake }, { cause: error.cause });
  }

  private closedError(): TributaryError {
    return new TributaryError('UNKNOWN', `connection to ${this.address} closed`);
  }

  private failPending(error: TributaryError): void {
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pending.clear();
  }

  private onClose(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    if (this.keepalive) clearInterval(this.keepalive);
    const error = this.closing ? null : (this.closeError ?? this.closedError());
    this.failPending(error ?? this.closedError());
    if (this.handshake) {
      this.handshake.reject(this.handshakeFailure(error ?? this.closedError()));
      this.handshake = null;
    }
    this.emit('close', error);
  }
}

function describeFailure(failure: DecodeFailure): string {
  switch (failure.reason) {
    case 'frame-too-large':
      return `frame of ${failure.frameBytes} bytes exceeds ${failure.frameBytesMax}`;
    case 'unknown-type':
      return `unknown frame type 0x${failure.frameType.toString(16)}`;
    default:
      return failure.detail;
  }
}
