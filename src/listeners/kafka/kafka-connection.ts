// One Kafka client connection: cuts size-prefixed request frames (at most requestBytesMax each),
// runs up to inflightRequestsMax of them at once and writes their responses in request order, as
// Kafka requires of pipelined requests. The socket is not read while that many are unanswered or
// while more than limits.kafkaWriteQueueBytesMax of answers wait for the kernel, so what one
// connection holds is bounded whatever its client sends. Fetch answers also hold their bytes of the
// listener's shared fetch budget until the kernel took them; a client whose answers the kernel has
// taken none of for listeners.kafka.writeStallMs is closed, so one that stopped reading gives it back.
//
// Bad input is answered as Apache Kafka's broker answers it: ApiVersions of a version not served
// gets a v0 body with UNSUPPORTED_VERSION (35) and the served ranges; any other unknown API or
// version not served, a request larger than the limit and a request that does not decode close
// this connection, with a log line naming the client. Nothing else is affected.
//
// With SASL on (listeners.kafka.sasl), a connection serves only ApiVersions, SaslHandshake and
// SaslAuthenticate until it authenticated (sasl-gate.ts says what each gets); while one SASL step
// runs no further request is started, so nothing overtakes the authentication it depends on.

import type net from 'node:net';
import type { Logger } from 'pino';
import type { Broker } from '../../broker/broker.ts';
import { limits } from '../../limits.ts';
import { ApiKey, decodeRequest, decodeRequestHeader, encodeResponse, KafkaError, type ApiKeyNumber } from '../../protocol/kafka/index.ts';
import type { ByteBudget } from '../edge/byte-budget.ts';
import { LINGER_MS } from '../listen.ts';
import { servedApi } from './api-table.ts';
import type { KafkaContext } from './context.ts';
import { apiVersions } from './handlers/api-versions.ts';
import type { Acl, LogTopicRight } from '../../auth/acl.ts';
import type { SaslAuthority } from './sasl/sasl-authority.ts';
import { SaslGate } from './sasl/sasl-gate.ts';

const SIZE_PREFIX_BYTES = 4;

export interface KafkaConnectionHost {
  broker: Broker;
  log: Logger;
  requestBytesMax: number;
  inflightRequestsMax: number;
  advertisedHost: string | null;
  advertisedPort: number | null;
  clusterId: string;
  /** A connection whose answers the kernel takes nothing of this long is closed. */
  writeStallMs: number;
  /** Bytes of Fetch answers being read or written, shared by every Kafka connection. */
  fetchBudget: ByteBudget;
  /** null: SASL off, every client is anonymous. */
  sasl: SaslAuthority | null;
  /** auth.acls: log topic rights per user (no rules: everything allowed). */
  acl: Acl;
  closed: (conn: KafkaConnection) => void;
}

/** A request being answered; responses leave in this order. */
interface Slot {
  done: boolean;
  /** null: no response (Produce acks 0). */
  response: Buffer | null;
  /** Bytes of the fetch budget this request's answer holds. */
  reserved: number;
}

export class KafkaConnection {
  private readonly socket: net.Socket;
  private readonly host: KafkaConnectionHost;
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private readonly slots: Slot[] = [];
  private readonly abort = new AbortController();
  private clientId: string | null = null;
  private closing = false;
  private readonly remote: string;
  /** Fetch budget held by answers handed to the socket and not yet taken by the kernel. */
  private writtenReserved = 0;
  /** Running while answers wait in the socket: the kernel taking none for writeStallMs closes the connection. */
  private stallTimer: NodeJS.Timeout | null = null;
  /** The socket closed: requests still running give back what they reserve when they end. */
  private gone = false;
  private readonly sasl: SaslGate;

  constructor(socket: net.Socket, host: KafkaConnectionHost) {
    this.socket = socket;
    this.host = host;
    this.sasl = new SaslGate(host.sasl);
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.clearStall();
      this.pump();
    });
    socket.on('error', (err) => this.host.log.debug({ clientId: this.clientId, remote: this.remote, err: err.message }, 'kafka connection error'));
    socket.once('close', () => {
      // No request read before the close is started after it.
      this.closing = true;
      this.gone = true;
      this.abort.abort();
      this.clearStall();
      // Answers never written and those the kernel never took give their budget back.
      for (const slot of this.slots.splice(0)) this.releaseSlot(slot);
      this.host.fetchBudget.release(this.writtenReserved);
      this.writtenReserved = 0;
      this.host.closed(this);
    });
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.pump();
  }

  /** Starts every complete request the limits allow; pauses the socket when they do not. */
  private pump(): void {
    while (!this.closing) {
      if (this.sasl.busy) {
        this.socket.pause();
        return;
      }
      if (this.slots.length >= this.host.inflightRequestsMax || this.socket.writableLength > limits.kafkaWriteQueueBytesMax) {
        this.socket.pause();
        return;
      }
      if (this.buffered < SIZE_PREFIX_BYTES) break;
      const size = this.peekSize();
      if (size < 0 || size > this.host.requestBytesMax) {
        this.fail({ size, requestBytesMax: this.host.requestBytesMax }, 'kafka request larger than listeners.kafka.requestBytesMax: connection closed');
        return;
      }
      if (size > limits.kafkaSaslReceiveBytesMax && !this.sasl.open) {
        this.fail({ size, saslReceiveBytesMax: limits.kafkaSaslReceiveBytesMax }, 'kafka request before SASL authentication larger than limits.kafkaSaslReceiveBytesMax: connection closed');
        return;
      }
      if (this.buffered < SIZE_PREFIX_BYTES + size) break;
      this.take(SIZE_PREFIX_BYTES);
      this.start(this.take(size));
    }
    if (!this.closing) this.socket.resume();
  }

  private peekSize(): number {
    if (this.chunks[0]!.length >= SIZE_PREFIX_BYTES) return this.chunks[0]!.readInt32BE(0);
    return Buffer.concat(this.chunks, SIZE_PREFIX_BYTES).readInt32BE(0);
  }

  /** The next n buffered bytes as one buffer of their own (a request's batches are stored from it). */
  private take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0]!;
      const part = Math.min(head.length, n - filled);
      head.copy(out, filled, 0, part);
      filled += part;
      if (part === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(part);
    }
    this.buffered -= n;
    return out;
  }

  private start(frame: Buffer): void {
    // After SaslHandshake v0 the client sends bare SASL tokens, with no request header.
    if (this.sasl.expectsRawToken) return this.saslStep(this.sasl.rawToken(frame), null);
    const header = decodeRequestHeader(frame);
    if (!header.ok) {
      const h = header as { apiKey?: number; apiVersion?: number; correlationId?: number };
      this.clientId = headerClientId(frame) ?? this.clientId;
      if (header.reason === 'unsupported_version' && h.apiKey === ApiKey.ApiVersions) {
        this.answer(encodeResponse(ApiKey.ApiVersions, 0, h.correlationId!, apiVersions(KafkaError.UNSUPPORTED_VERSION)));
        return;
      }
      this.fail({ apiKey: h.apiKey, apiVersion: h.apiVersion, reason: header.reason, error: header.message }, 'kafka request refused: connection closed');
      return;
    }
    const { apiKey, apiVersion, correlationId, clientId, headerBytes } = header.value;
    this.clientId = clientId;
    const api = servedApi(apiKey);
    if (api === undefined || apiVersion < api.minVersion || apiVersion > api.maxVersion) {
      if (apiKey === ApiKey.ApiVersions) {
        this.answer(encodeResponse(ApiKey.ApiVersions, 0, correlationId, apiVersions(KafkaError.UNSUPPORTED_VERSION)));
        return;
      }
      const reason = api === undefined ? 'unknown_api' : 'unsupported_version';
      this.fail({ apiKey, apiVersion, reason }, 'kafka request for an API or version not served: connection closed');
      return;
    }
    const body = decodeRequest(apiKey, apiVersion, frame.subarray(headerBytes));
    if (!body.ok) {
      this.fail({ apiKey, apiVersion, reason: body.reason, error: body.message }, 'kafka request malformed: connection closed');
      return;
    }
    if (apiKey === ApiKey.SaslHandshake || apiKey === ApiKey.SaslAuthenticate) {
      const step = apiKey === ApiKey.SaslHandshake ? this.sasl.handshake(apiVersion, body.value as never) : this.sasl.authenticate(apiVersion, body.value as never);
      return this.saslStep(step, { apiKey, apiVersion, correlationId });
    }
    if (!this.sasl.admits(apiKey)) {
      this.fail({ apiKey, apiVersion, reason: 'not_authenticated' }, 'kafka request before SASL authentication: connection closed');
      return;
    }
    if (api.handler === undefined) {
      this.answer(encodeResponse(ApiKey.ApiVersions, apiVersion, correlationId, apiVersions()));
      return;
    }
    const slot: Slot = { done: false, response: null, reserved: 0 };
    this.slots.push(slot);
    const handler = api.handler;
    Promise.resolve()
      .then(() => handler(this.context(slot), apiVersion, body.value as never))
      // Encoded here, inside the chain: an answer the wire cannot carry ends in the failure branch below.
      .then((response) => (response === null ? null : encodeResponse(apiKey as ApiKeyNumber, apiVersion, correlationId, response as never)))
      .then(
        (response) => {
          if (this.gone) return this.releaseSlot(slot);
          slot.response = response;
          slot.done = true;
          this.flush();
        },
        (err: unknown) => {
          this.releaseSlot(slot);
          // The answers after this one could not keep their order: the connection ends now. A
          // RangeError is an answer the wire cannot carry: a name the client sent that no longer fits
          // a Kafka string once re-encoded (invalid UTF-8 becomes U+FFFD, 3 bytes per byte). Anything
          // else is a bug: a handler answers every refusal in its response.
          if (err instanceof RangeError)
            this.fail({ apiKey, apiVersion, reason: 'unencodable_answer', error: err.message }, 'kafka answer cannot be encoded: connection closed');
          else {
            this.host.log.error({ clientId: this.clientId, remote: this.remote, apiKey, apiVersion, err }, 'kafka request failed: connection closed');
            this.closing = true;
            this.socket.destroy();
          }
        },
      );
  }

  /**
   * Runs one SASL step (a promise of its answer body, or of raw token bytes after SaslHandshake v0)
   * in its turn; no other request starts until it is done. A step that ends the exchange in failure
   * is answered, then the connection closes, with a log line: as Kafka does.
   */
  private saslStep(step: ReturnType<SaslGate['handshake']>, request: { apiKey: number; apiVersion: number; correlationId: number } | null): void {
    const slot: Slot = { done: false, response: null, reserved: 0 };
    this.slots.push(slot);
    void step.then((outcome) => {
      if (this.gone) return;
      if (outcome.answer !== null)
        slot.response = request === null ? sizePrefixed(outcome.answer as Buffer) : encodeResponse(request.apiKey as ApiKeyNumber, request.apiVersion, request.correlationId, outcome.answer as never);
      slot.done = true;
      if (outcome.refusal !== null) {
        this.host.log.warn({ clientId: this.clientId, remote: this.remote, apiKey: request?.apiKey, ...outcome.refusal }, 'kafka SASL authentication refused: connection closed');
        this.closing = true;
        // Paused while the step ran: reading again lets the client's close through; one that keeps
        // its side open is cut after the linger, as at shutdown.
        this.socket.resume();
        setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
      } else if (outcome.authenticated !== null) this.host.log.info({ clientId: this.clientId, remote: this.remote, ...outcome.authenticated }, 'kafka client authenticated');
      this.flush();
    }, (err: unknown) => {
      // A bug (every refusal is an outcome): the exchange cannot go on, and an unhandled rejection would end the process.
      this.host.log.error({ clientId: this.clientId, remote: this.remote, apiKey: request?.apiKey, err }, 'kafka SASL step failed: connection closed');
      this.closing = true;
      this.socket.destroy();
    });
  }

  private context(slot: Slot): KafkaContext {
    const principal = { clientId: this.clientId ?? '', username: this.sasl.username };
    return {
      principal,
      may: (right: LogTopicRight, topic: string) => this.host.acl.canLogTopic(principal, right, topic),
      broker: this.host.broker,
      log: this.host.log,
      clientId: this.clientId,
      connection: this,
      clientHost: this.socket.remoteAddress ?? '',
      advertisedHost: this.host.advertisedHost ?? localHost(this.socket),
      advertisedPort: this.host.advertisedPort ?? this.socket.localPort!,
      clusterId: this.host.clusterId,
      signal: this.abort.signal,
      reserveAnswer: (bytes) => this.reserve(slot, bytes),
      releaseAnswer: () => this.releaseSlot(slot),
    };
  }

  private reserve(slot: Slot, bytes: number): Promise<boolean> {
    const budget = this.host.fetchBudget;
    const take = Math.min(bytes, budget.bytesMax);
    if (this.gone) return Promise.resolve(false);
    // A closing connection still answers a long-poll with what is there when the budget has room now.
    if (budget.tryTake(take)) {
      slot.reserved += take;
      return Promise.resolve(true);
    }
    if (this.abort.signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        cancel();
        resolve(false);
      };
      const cancel = budget.wait(take, () => {
        this.abort.signal.removeEventListener('abort', onAbort);
        // Granted after the connection closed: nothing will answer, give it back at once.
        if (this.abort.signal.aborted) {
          budget.release(take);
          return resolve(false);
        }
        slot.reserved += take;
        resolve(true);
      });
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private releaseSlot(slot: Slot): void {
    if (slot.reserved === 0) return;
    const bytes = slot.reserved;
    slot.reserved = 0;
    this.host.fetchBudget.release(bytes);
  }

  /** An answer made at once, in turn with those still being made. */
  private answer(response: Buffer): void {
    this.slots.push({ done: true, response, reserved: 0 });
    this.flush();
  }

  private flush(): void {
    while (this.slots.length > 0 && this.slots[0]!.done) {
      const slot = this.slots.shift()!;
      if (slot.response === null || this.socket.destroyed) {
        this.releaseSlot(slot);
        continue;
      }
      // The answer holds its budget until the kernel took it: what a client that does not read keeps.
      const held = Math.min(slot.reserved, slot.response.length);
      slot.reserved -= held;
      this.releaseSlot(slot);
      this.writtenReserved += held;
      this.socket.write(slot.response, () => {
        if (this.socket.destroyed) return;
        this.writtenReserved -= held;
        this.host.fetchBudget.release(held);
        // The kernel took this answer: the stall clock starts again for what is still queued.
        this.clearStall();
        this.watchStall();
      });
      this.watchStall();
    }
    if (this.closing) {
      if (this.slots.length === 0) this.socket.end();
      return;
    }
    this.pump();
  }

  private watchStall(): void {
    if (this.socket.writableLength > 0 && this.stallTimer === null && !this.socket.destroyed) this.stallTimer = setTimeout(() => this.stalled(), this.host.writeStallMs).unref();
  }

  private stalled(): void {
    this.stallTimer = null;
    if (this.socket.writableLength === 0) return;
    this.fail({ writableBytes: this.socket.writableLength, stallMs: this.host.writeStallMs }, 'kafka client stopped reading its answers: connection closed');
  }

  private clearStall(): void {
    if (this.stallTimer === null) return;
    clearTimeout(this.stallTimer);
    this.stallTimer = null;
  }

  private fail(context: Record<string, unknown>, msg: string): void {
    this.host.log.warn({ clientId: this.clientId, remote: this.remote, ...context }, msg);
    this.socket.destroy();
    this.closing = true;
  }

  /** Stops reading, ends long-polls, answers what is in flight, then ends the connection. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.socket.pause();
    this.abort.abort();
    if (this.slots.length === 0) this.socket.end();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }
}

function sizePrefixed(token: Buffer): Buffer {
  const out = Buffer.allocUnsafe(SIZE_PREFIX_BYTES + token.length);
  out.writeInt32BE(token.length, 0);
  token.copy(out, SIZE_PREFIX_BYTES);
  return out;
}

/** The address this client reached, as a client can dial it (no IPv4-mapped prefix). */
function localHost(socket: net.Socket): string {
  const address = socket.localAddress ?? '127.0.0.1';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * The client id of a request header the codec refused (unknown API key or version): every request
 * header version has it at the same place, after api key, version and correlation id.
 */
function headerClientId(frame: Buffer): string | null {
  if (frame.length < 10) return null;
  const length = frame.readInt16BE(8);
  return length >= 0 && 10 + length <= frame.length ? frame.toString('utf8', 10, 10 + length) : null;
}
