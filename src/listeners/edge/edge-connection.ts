// One edge-protocol connection: handshake, topic aliases, admin frames, keepalive, the budget for the
// frame being received, and backpressure. PRODUCE is handled by Produces, FETCH by Fetches, and every
// write goes through ConnectionWriter. Translates frames into broker calls and answers; the codec does
// the bytes, the broker does the work. Section numbers cite SPEC.md.

import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Broker } from '../../broker/broker.ts';
import { asTributaryError, ErrorCode, TributaryError } from '../../errors.ts';
import { limits } from '../../limits.ts';
import { encodeFrame, FrameDecoder } from '../../protocol/edge/codec.ts';
import { EDGE_ALTER_TOPIC_VERSION, EDGE_GROUPS_VERSION, EDGE_OUT_OF_RANGE_VERSION, EDGE_PROTOCOL_VERSION, FrameType, type DecodeFailure, type ErrorRef, type FetchFrame, type Frame, type HelloFrame, type ProduceFrame } from '../../protocol/edge/frames.ts';
import { readUvarint, uvarintSize } from '../../protocol/edge/varint.ts';
import { LINGER_MS, tokenMatches } from '../listen.ts';
import { alterTopic, createTopic, deleteTopic, metadata, register } from './admin-requests.ts';
import { GroupRequests } from './group-requests.ts';
import type { ByteBudget } from './byte-budget.ts';
import { ConnectionWriter } from './connection-writer.ts';
import { Fetches } from './fetches.ts';
import { ProducerWindow } from './producer-window.ts';
import { Produces } from './produces.ts';

export interface EdgeSettings {
  token: string | null;
  frameBytesMax: number;
  keepaliveMs: number;
  /** Longest keepalive a client may ask for [EDGE-4.4]. */
  keepaliveMsMax: number;
  /** Bytes of answers one connection may hold for writing before its fetches wait [EDGE-8.3]. */
  writeQueueBytesMax: number;
  /** Bytes of RECORDS answers all connections together may hold [EDGE-8.3]. */
  writeBytesTotalMax: number;
  /** Bytes of incoming frames being assembled, all connections together [EDGE-2.2]. */
  partialFrameBytesTotalMax: number;
}

/** What a connection needs from its server. */
export interface EdgeConnectionHost {
  broker: Broker;
  settings: EdgeSettings;
  logger: Logger;
  /** Shared by every connection of the listener: RECORDS answers being read or written. */
  writeBudget: ByteBudget;
  /** Shared by every connection of the listener: incoming frames being assembled. */
  partialBudget: ByteBudget;
  /** Claims a client id for an idempotent producer; the previous holder is closed and its window returned. */
  claimClientId(clientId: string, conn: EdgeConnection): ProducerWindow | undefined;
  closed(conn: EdgeConnection): void;
}

/** Frames added by version 2 [EDGE-12], with their type bytes: unknown types on a version 1 connection [EDGE-4.2]. */
const GROUP_FRAME_TYPES: ReadonlyMap<Frame['type'], number> = new Map<Frame['type'], number>([
  ['join-group', FrameType.JOIN_GROUP],
  ['joined', FrameType.JOINED],
  ['heartbeat', FrameType.HEARTBEAT],
  ['leave-group', FrameType.LEAVE_GROUP],
  ['commit-offsets', FrameType.COMMIT_OFFSETS],
  ['fetch-offsets', FrameType.FETCH_OFFSETS],
  ['offsets', FrameType.OFFSETS],
  ['produce-commit', FrameType.PRODUCE_COMMIT],
  ['produced', FrameType.PRODUCED],
  ['list-groups', FrameType.LIST_GROUPS],
  ['groups', FrameType.GROUPS],
  ['describe-group', FrameType.DESCRIBE_GROUP],
  ['group-description', FrameType.GROUP_DESCRIPTION],
  ['reset-offsets', FrameType.RESET_OFFSETS],
  ['offsets-reset', FrameType.OFFSETS_RESET],
  ['delete-group', FrameType.DELETE_GROUP],
]);

/** Type, refKind, ref, code and message length of an ERROR frame, rounded up. */
const ERROR_HEADER_BYTES_MAX = 64;
const utf8 = new TextEncoder();

export class EdgeConnection {
  readonly socket: Socket;
  private readonly host: EdgeConnectionHost;
  private log: Logger;
  private readonly decoder = new FrameDecoder(limits.edgeHelloBytesMax);
  private readonly aliases = new Map<number, string>();
  private readonly abort = new AbortController();
  private hello: HelloFrame | null = null;
  /** The protocol version agreed in WELCOME ([EDGE-4.2]); 0 before it. */
  private version = 0;
  private frameBytesMax: number = limits.edgeHelloBytesMax;
  /** frameBytesMax plus its length prefix: an encoded frame fits if its bytes fit. */
  private encodedBytesMax: number = encodedBytesMax(limits.edgeHelloBytesMax);
  private clientId = '';
  private idleTimer: NodeJS.Timeout | null = null;
  private idleMs: number;
  private readonly writer: ConnectionWriter;
  private readonly fetches: Fetches;
  private readonly groupRequests: GroupRequests;
  /** Frames decoded but not yet handled: handling stops while the peer does not read its answers. */
  private backlog: Frame[] = [];
  private backlogHead = 0;
  /** A decode failure met after the backlog's frames: reported once they are handled. */
  private decodeFailure: DecodeFailure | null = null;
  /** Bytes of the shared partial-frame budget held for the frame being assembled (its length). */
  private partialHeld = 0;
  /** Cancels a wait for partial-frame budget; reading is paused meanwhile. */
  private cancelPartialWait: (() => void) | null = null;
  /** Ends a reserved frame that is not complete (or a wait for room not granted) in time. */
  private partialTimer: NodeJS.Timeout | null = null;
  private produces: Produces | null = null;
  /** What this idempotent client's recent frames became; null without the idempotent flag. */
  window: ProducerWindow | null = null;
  private pausedForInflight = false;
  private pausedForWrite = false;
  private closing = false;
  /** Set by close(): no more frames are read; the connection ends once its produce queue is empty. */
  private closeReason: TributaryError | null = null;

  constructor(socket: Socket, host: EdgeConnectionHost) {
    this.socket = socket;
    this.host = host;
    this.log = host.logger.child({ remote: `${socket.remoteAddress}:${socket.remotePort}` });
    socket.setNoDelay(true);
    this.writer = new ConnectionWriter(socket, host.writeBudget, host.settings.writeQueueBytesMax, () => this.fetches.admit());
    this.groupRequests = new GroupRequests({
      broker: host.broker,
      aliases: this.aliases,
      clientId: () => this.clientId,
      remoteAddress: socket.remoteAddress ?? '',
      send: (f) => this.send(f),
      sendError: (corr, err) => this.sendError('request', corr, err),
      signal: this.abort.signal,
    });
    this.fetches = new Fetches({
      broker: host.broker,
      budget: host.writeBudget,
      writer: this.writer,
      frameBytesMax: () => this.frameBytesMax,
      encodedBytesMax: () => this.encodedBytesMax,
      sendError: (frame, err) => this.sendFetchError(frame, err),
      signal: this.abort.signal,
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.pausedForWrite = false;
      this.handleBacklog();
      this.updateFlow();
    });
    socket.on('error', (err) => this.log.debug({ err }, 'socket error'));
    socket.on('close', () => this.onClose());
    // Until HELLO arrives, a silent peer is dropped after the server's keepalive [EDGE-4.1].
    this.idleMs = Math.min(host.settings.keepaliveMs, host.settings.keepaliveMsMax);
    this.armIdle();
  }

  get id(): string {
    return this.clientId;
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    this.idleTimer?.refresh();
    const assembling = this.decoder.partialFrameBytes > 0;
    const { frames, failure } = this.decoder.push(chunk);
    // Usually nothing is left from the last chunk: the decoder's fresh array becomes the backlog, uncopied.
    if (this.backlogHead === this.backlog.length) {
      this.backlog = frames;
      this.backlogHead = 0;
    } else for (const frame of frames) this.backlog.push(frame);
    if (failure) this.decodeFailure = failure;
    // Only a frame that completed, or one that began, changes what is held (and its deadline).
    else if (frames.length > 0 || !assembling) this.holdPartialFrame();
    this.handleBacklog();
  }

  /**
   * Handles decoded frames in order until the peer stops reading its answers: a chunk of small
   * requests (METADATA, FETCH) must not queue unbounded answers for a socket that is not drained.
   */
  private handleBacklog(): void {
    while (this.backlogHead < this.backlog.length) {
      if (this.closing || this.closeReason || this.pausedForWrite) return;
      this.onFrame(this.backlog[this.backlogHead++]);
    }
    this.backlog.length = 0;
    this.backlogHead = 0;
    if (this.decodeFailure && !this.closing) this.failConnection(failureError(this.decodeFailure));
  }

  /**
   * [EDGE-2.2] a frame being assembled that is larger than edgeUnreservedFrameBytesMax holds its
   * whole length of the listener's partial-frame budget until it is complete; when the budget is
   * spent, the socket is not read until it has room. Called when the previous frame completed or a
   * new one began. The wait for room, then the frame itself, each have the frame's deadline.
   */
  private holdPartialFrame(): void {
    this.releasePartialFrame();
    const need = this.decoder.partialFrameBytes;
    // Small frames are bounded per connection (limits.edgeUnreservedFrameBytesMax), not shared.
    if (need <= limits.edgeUnreservedFrameBytesMax) return;
    const budget = this.host.partialBudget;
    this.armPartialDeadline(need);
    if (budget.tryTake(need)) {
      this.partialHeld = need;
      return;
    }
    // Our pause, not the peer's silence: the keepalive waits too, so no waiter times out because
    // others hold the budget, and waiters hold nothing, so they cannot block each other. The
    // deadline bounds the wait instead: a peer that left is not seen (its FIN is not read) while
    // we do not read, and holders ahead let go within their own deadlines.
    this.clearIdle();
    this.cancelPartialWait = budget.wait(need, () => {
      this.cancelPartialWait = null;
      this.partialHeld = need;
      // The frame's own deadline starts with its reservation.
      this.partialTimer?.refresh();
      // A connection being closed reads nothing more, so its keepalive stays off (see close()).
      if (this.closeReason === null) this.armIdle();
      this.updateFlow();
    });
    this.log.debug({ frameBytes: need, budgetBytes: budget.bytesMax }, 'partial-frame budget spent; not reading until there is room');
    this.updateFlow();
  }

  /**
   * [EDGE-2.2] a frame holding a reservation must keep arriving: a peer trickling bytes would
   * otherwise hold them forever and stall every connection waiting behind it. One timer per
   * connection, set once per frame; the same time bounds the wait for room before it.
   */
  private armPartialDeadline(frameBytes: number): void {
    const ms = reservedFrameDeadlineMs(frameBytes, this.idleMs);
    this.partialTimer = setTimeout(() => {
      const waiting = this.cancelPartialWait !== null;
      this.log.info({ frameBytes, deadlineMs: ms, waiting }, 'edge frame deadline passed');
      // Given back now, not when the socket finally closes: others are waiting for it.
      this.releasePartialFrame();
      const message = waiting ? `no room to receive a frame of ${frameBytes} bytes within ${ms} ms` : `frame of ${frameBytes} bytes not received within ${ms} ms`;
      this.failConnection(new TributaryError('TIMEOUT', message));
    }, ms);
    this.partialTimer.unref();
  }

  private releasePartialFrame(): void {
    if (this.partialTimer) clearTimeout(this.partialTimer);
    this.partialTimer = null;
    this.cancelPartialWait?.();
    this.cancelPartialWait = null;
    if (this.partialHeld > 0) this.host.partialBudget.release(this.partialHeld);
    this.partialHeld = 0;
  }

  private onFrame(frame: Frame): void {
    if (this.hello === null) {
      if (frame.type !== 'hello') return this.failConnection(new TributaryError('HANDSHAKE_REQUIRED', `first frame must be HELLO, got ${frame.type}`));
      return this.onHello(frame);
    }
    const groupType = GROUP_FRAME_TYPES.get(frame.type);
    if (groupType !== undefined && this.version < EDGE_GROUPS_VERSION) {
      // [EDGE-4.2] the codec knows every version's frames; a version 1 connection must not see them,
      // so one is answered exactly as an unknown type is in version 1.
      return this.failConnection(new TributaryError('MALFORMED_FRAME', `unknown frame type 0x${groupType.toString(16)} in protocol version ${this.version}`));
    }
    if (frame.type === 'alter-topic' && this.version < EDGE_ALTER_TOPIC_VERSION)
      return this.failConnection(new TributaryError('MALFORMED_FRAME', `unknown frame type 0x${FrameType.ALTER_TOPIC.toString(16)} in protocol version ${this.version}`));
    switch (frame.type) {
      case 'produce':
        return this.onProduce(frame);
      case 'fetch':
        return this.onFetch(frame);
      case 'register':
        return this.request(frame.corr, () => register(this.host.broker, this.aliases, frame));
      case 'metadata':
        return this.request(frame.corr, () => metadata(this.host.broker, frame));
      case 'create-topic':
        return this.request(frame.corr, () => createTopic(this.host.broker, frame));
      case 'delete-topic':
        return this.request(frame.corr, () => deleteTopic(this.host.broker, frame));
      case 'alter-topic':
        return this.request(frame.corr, () => alterTopic(this.host.broker, frame));
      case 'ping':
        return this.send({ type: 'pong', corr: frame.corr });
      case 'join-group':
      case 'heartbeat':
      case 'leave-group':
      case 'commit-offsets':
      case 'fetch-offsets':
      case 'produce-commit':
      case 'list-groups':
      case 'describe-group':
      case 'reset-offsets':
      case 'delete-group':
        return this.groupRequests.handle(frame);
      default:
        // [EDGE-2.3] a second HELLO or a server-to-client frame is a protocol violation.
        return this.failConnection(new TributaryError('MALFORMED_FRAME', `a client may not send ${frame.type} frames here`));
    }
  }

  // [EDGE-4.1] handshake: version, token, negotiated frame size and keepalive.
  private onHello(frame: HelloFrame): void {
    const { settings } = this.host;
    // [EDGE-4.2] HELLO names the highest version the client implements; WELCOME answers the highest
    // this broker implements that is not above it. Only a client below every version is refused.
    if (frame.version < 1)
      return this.failConnection(new TributaryError('UNSUPPORTED_VERSION', `protocol version ${frame.version} is not supported; this broker speaks 1 to ${EDGE_PROTOCOL_VERSION}`));
    if (settings.token !== null && !tokenMatches(settings.token, frame.token)) return this.failConnection(new TributaryError('NOT_AUTHORIZED', 'missing or wrong token'));
    // [EDGE-4.1] an idempotent client's id keys its durable seq: an empty one would be shared by
    // every device without one (one device's frames taken for another's duplicates), and a long
    // one would not fit a storage key.
    if (frame.idempotent && (frame.clientId === '' || Buffer.byteLength(frame.clientId) > limits.edgeClientIdBytesMax))
      return this.failConnection(
        new TributaryError('INVALID_REQUEST', `an idempotent client needs a clientId of 1 to ${limits.edgeClientIdBytesMax} UTF-8 bytes unique to the device`),
      );
    // [EDGE-4.1] the floor keeps WELCOME and a one-entry ACK within the limit they announce.
    const proposed = frame.frameBytesMax > 0 ? frame.frameBytesMax : settings.frameBytesMax;
    const frameBytesMax = Math.min(Math.max(proposed, limits.edgeFrameBytesMin), limits.edgeFrameBytesMax);
    // [EDGE-4.4] the keepalive bounds how long a peer that stopped reading or sending holds its buffers.
    const proposedKeepaliveMs = frame.keepaliveMs > 0 ? Math.max(frame.keepaliveMs, limits.edgeKeepaliveMsMin) : settings.keepaliveMs;
    const keepaliveMs = Math.min(proposedKeepaliveMs, settings.keepaliveMsMax);
    this.hello = frame;
    this.clientId = frame.clientId;
    this.log = this.log.child({ client: frame.clientId });
    this.frameBytesMax = frameBytesMax;
    this.encodedBytesMax = encodedBytesMax(frameBytesMax);
    // [EDGE-2.2] from WELCOME on, the negotiated limit applies to every incoming frame, also below 4096.
    this.decoder.setFrameBytesMax(frameBytesMax);
    // [EDGE-7.5] a connection that replaces a live one under the same client id answers
    // retransmissions of that one's frames from what they became.
    const window = frame.idempotent ? (this.host.claimClientId(frame.clientId, this) ?? new ProducerWindow()) : null;
    this.window = window;
    this.produces = new Produces(
      {
        broker: this.host.broker,
        frameBytesMax: () => this.frameBytesMax,
        send: (f) => this.send(f),
        sendError: (seq, err) => this.sendError('produce', seq, err),
        answered: () => this.produceAnswered(),
      },
      window && { clientId: frame.clientId, window },
    );
    this.idleMs = Math.ceil(keepaliveMs * 1.5);
    this.armIdle();
    const lastSeq = frame.idempotent ? this.host.broker.lastProducerSeq(frame.clientId) : 0;
    this.version = Math.min(frame.version, EDGE_PROTOCOL_VERSION);
    this.send({ type: 'welcome', version: this.version, keepaliveMs, frameBytesMax, lastSeq });
    this.log.debug({ idempotent: frame.idempotent, frameBytesMax, keepaliveMs, lastSeq }, 'edge client connected');
  }

  // [EDGE-5.5] produce: answered in arrival order, after the durability its acks asks for.
  private onProduce(frame: ProduceFrame): void {
    this.produces!.start(frame, this.aliases.get(frame.alias));
    this.updateFlow();
  }

  /** After produce answers went out: reading may resume, and a closing connection may end now. */
  private produceAnswered(): void {
    if (this.closeReason && this.produces!.inflightFrames === 0) return this.failConnection(this.closeReason);
    this.updateFlow();
  }

  // [EDGE-5.7] fetch: whole batches as stored, long-polled up to maxWaitMs.
  private onFetch(frame: FetchFrame): void {
    const topic = this.aliases.get(frame.alias);
    if (topic === undefined) return this.sendError('request', frame.corr, new TributaryError('UNKNOWN_ALIAS', `alias ${frame.alias} is not registered on this connection`));
    this.fetches.start(frame, topic);
  }

  /** Runs a synchronous request; a TributaryError becomes an ERROR frame for its corr. */
  private request(corr: number, run: () => Frame): void {
    let answer: Frame;
    try {
      answer = run();
    } catch (err) {
      const error = asTributaryError(err);
      this.host.broker.countError(error);
      return this.sendError('request', corr, error);
    }
    this.send(answer);
  }

  // ---- flow control ----

  private updateFlow(): void {
    const frames = this.produces?.inflightFrames ?? 0;
    const bytes = this.produces?.inflightBytes ?? 0;
    const over = frames >= limits.edgeInflightFramesMax || bytes >= limits.edgeInflightBytesMax;
    const under = frames <= limits.edgeInflightFramesMax / 2 && bytes <= limits.edgeInflightBytesMax / 2;
    if (over) this.pausedForInflight = true;
    else if (under) this.pausedForInflight = false;
    if (this.closing) return;
    if (this.pausedForInflight || this.pausedForWrite || this.closeReason || this.cancelPartialWait) this.socket.pause();
    else this.socket.resume();
  }

  private send(frame: Frame): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    let bytes: Buffer;
    try {
      bytes = encodeFrame(frame);
      if (bytes.length > this.encodedBytesMax) bytes = encodeFrame(this.fitToFrame(frame, lengthField(bytes)));
    } catch (err) {
      // An answer the codec refuses is a broker bug; it costs this connection, never the process.
      this.log.error({ err, frame: frame.type }, 'cannot encode answer; closing connection');
      this.socket.destroy();
      return;
    }
    if (!this.writer.write([bytes], false) && !this.pausedForWrite) {
      // The peer is not reading its answers: stop reading its requests until it does.
      this.pausedForWrite = true;
      this.socket.pause();
    }
  }

  /**
   * [EDGE-2.2] no answer exceeds the negotiated frame size: shorten errors, refuse answers to a
   * request. ACK and WELCOME are sized to fit (Produces' AckBatcher, the floor of frameBytesMax), so one that
   * does not is a broker bug, and an ERROR without its corr would leave the client guessing.
   */
  private fitToFrame(frame: Frame, length: number): Frame {
    if (frame.type === 'error') return { ...frame, message: utf8Prefix(frame.message, this.frameBytesMax - ERROR_HEADER_BYTES_MAX) };
    if (!('corr' in frame)) throw new RangeError(`${frame.type} frame of ${length} bytes exceeds the frame limit of ${this.frameBytesMax}`);
    return { type: 'error', refKind: 'request', ref: frame.corr, code: ErrorCode.RECORD_TOO_LARGE, message: `answer of ${length} bytes exceeds the frame limit of ${this.frameBytesMax}` };
  }

  /**
   * [EDGE-5.17] from version 3 a FETCH outside the log gets OUT_OF_RANGE, which says which side it
   * fell off and the range to continue from; older connections get ERROR OFFSET_OUT_OF_RANGE.
   */
  private sendFetchError(frame: FetchFrame, err: TributaryError): void {
    const range = err.codeName === 'OFFSET_OUT_OF_RANGE' ? logRange(err) : null;
    if (range === null || this.version < EDGE_OUT_OF_RANGE_VERSION) return this.sendError('request', frame.corr, err);
    this.log.debug({ corr: frame.corr, offset: frame.offset, ...range }, 'fetch out of range');
    this.send({ type: 'out-of-range', corr: frame.corr, partition: frame.partition, offset: frame.offset, side: frame.offset < range.logStartOffset ? 'below' : 'above', ...range });
  }

  private sendError(refKind: ErrorRef, ref: number, err: TributaryError): void {
    this.log.debug({ refKind, ref, code: err.codeName, err: err.message }, 'request failed');
    this.send({ type: 'error', refKind, ref, code: err.code, message: err.message });
  }

  /** [EDGE-6] a connection-level error: answer once, flush, close; other connections are unaffected. */
  failConnection(err: TributaryError): void {
    if (this.closing) return;
    this.host.broker.countError(err);
    this.log.info({ code: err.codeName, err: err.message }, 'closing edge connection');
    this.send({ type: 'error', refKind: 'connection', ref: 0, code: err.code, message: err.message });
    this.closing = true;
    // Nothing more is read, so the frame being received will never complete.
    this.releasePartialFrame();
    this.socket.end();
    // A peer that never reads would keep the half-closed socket forever.
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  private armIdle(): void {
    this.clearIdle();
    const ms = this.idleMs;
    this.idleTimer = setTimeout(() => this.failConnection(new TributaryError('TIMEOUT', `nothing received for ${ms} ms (keepalive)`)), ms);
    this.idleTimer.unref();
  }

  /**
   * Ends the connection after acknowledging the produce frames it already took: their records are
   * being committed, and a client that never sees the ack would send them again.
   */
  close(reason: TributaryError): void {
    if (this.closing || this.closeReason) return;
    this.closeReason = reason;
    this.socket.pause();
    // Nothing more is read, so the keepalive would only cut the wait for the last acks with TIMEOUT,
    // and the frame being received will never complete: its reservation goes back now.
    this.clearIdle();
    this.releasePartialFrame();
    if ((this.produces?.inflightFrames ?? 0) === 0) this.failConnection(reason);
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private onClose(): void {
    this.closing = true;
    this.clearIdle();
    this.abort.abort();
    this.fetches.close();
    this.writer.end();
    this.releasePartialFrame();
    this.backlog = [];
    this.host.closed(this);
  }
}

/**
 * [EDGE-2.2] how long a frame of frameBytes that holds a reservation may take to arrive, and how long
 * a connection may wait for room for it: the idle time of the keepalive, at least the base, plus the
 * frame at the slowest rate an honest link is expected to sustain.
 */
export function reservedFrameDeadlineMs(frameBytes: number, idleMs: number): number {
  return Math.max(idleMs, limits.edgeReservedFrameBaseMs) + Math.ceil((frameBytes * 1000) / limits.edgeReservedFrameBytesPerSecondMin);
}

/** A frame's length prefix grows with its length, so comparing encoded sizes is exact. */
function encodedBytesMax(frameBytesMax: number): number {
  return uvarintSize(frameBytesMax) + frameBytesMax;
}

/** The length field of an encoded frame: what the peer compares with frameBytesMax [EDGE-2.2]. */
function lengthField(encoded: Buffer): number {
  const slot = { value: 0 };
  readUvarint(encoded, 0, slot);
  return slot.value;
}

/** The longest prefix of s whose UTF-8 encoding fits in maxBytes, never splitting a character. */
function utf8Prefix(s: string, maxBytes: number): string {
  return s.slice(0, utf8.encodeInto(s, new Uint8Array(Math.max(0, maxBytes))).read);
}

function failureError(failure: DecodeFailure): TributaryError {
  switch (failure.reason) {
    case 'frame-too-large':
      return new TributaryError('FRAME_TOO_LARGE', `frame of ${failure.frameBytes} bytes exceeds the negotiated maximum of ${failure.frameBytesMax}`);
    case 'unknown-type':
      return new TributaryError('MALFORMED_FRAME', `unknown frame type 0x${failure.frameType.toString(16)}`);
    default:
      return new TributaryError('MALFORMED_FRAME', `malformed frame: ${failure.detail}`);
  }
}

/** The log's range an OFFSET_OUT_OF_RANGE from the store carries in its context; null without one. */
function logRange(err: TributaryError): { logStartOffset: number; nextOffset: number } | null {
  const { logStartOffset, nextOffset } = err.context ?? {};
  return typeof logStartOffset === 'number' && typeof nextOffset === 'number' ? { logStartOffset, nextOffset } : null;
}
