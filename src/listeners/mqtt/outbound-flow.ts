// What an MQTT 5 client's CONNECT asks of the server's PUBLISHes to it, enforced on every PUBLISH
// aedes writes (live, retained on SUBSCRIBE, a persistent session's stored queue): aedes 2.0.0-beta.1
// reads these CONNECT properties and ignores them (lib/handlers/connect.js: "ADVISORY").
//
// - Receive Maximum [MQTT-3.3.4-9]: at most `receiveMaximum` QoS 1/2 PUBLISHes sent and not yet
//   acknowledged (PUBACK, PUBCOMP, or a PUBREC with a reason code of 0x80 or more [MQTT-4.9.0-2]).
//   A QoS 1/2 PUBLISH past the window waits here, in order, and leaves when an acknowledgement frees
//   a place. QoS 0 never waits (MQTT 5 §4.6 orders messages per topic *and QoS*).
// - Message expiry of a waiting message [MQTT-3.3.2-5, MQTT-3.3.2-6]: one whose interval ran out
//   while it waited is not sent; one still alive is sent with the time it has left.
// - Maximum Packet Size [MQTT-3.1.2-25]: a PUBLISH larger than the client accepts is not sent to it;
//   the server behaves as if it had been sent (a persistent session's stored copy is removed too).
//   Counted by QoS and logged at warn at most once per limits.mqttSubscriberDropLogIntervalMs per client.
//
// Bounded without a limit of its own: a live message waiting here has not finished its write, so
// it counts in the subscriber's queue (subscriber-queue.ts) and past that bound the connection is
// closed (a persistent session keeps it); aedes sends the retained messages of a SUBSCRIBE one after
// the other, each once the previous write finished, so at most one of those waits here, and a stored
// queue through its drain window (aedes-patches.mjs: at most limits.mqttStoredDrainMessages messages
// and about limits.mqttStoredDrainBytes bytes between their read and their write's end). The ids in
// flight cost about 8 KiB at most per connection (InflightIds).
//
// MQTT 3.1 and 3.1.1 clients have neither property: their PUBLISHes pass untouched.
// Never: reorder QoS 1/2 messages to a client, or hold a delivery callback past the connection's end.

import type { Client } from 'aedes';
import mqttPacket from 'mqtt-packet';
import type { Logger } from 'pino';
import { limits } from '../../limits.ts';
import { remainingLengthBytes } from '../../protocol/mqtt/packet-scanner.ts';
import type { MqttMetrics } from './metrics.ts';

/** The PUBLISH aedes is about to write to a client (an aedes-packet, or its QoSPacket subclass). */
export interface OutboundPublish {
  cmd: 'publish';
  topic: string;
  payload: Buffer | Uint8Array | string;
  qos: 0 | 1 | 2;
  messageId?: number;
  /** aedes' absolute expiry time (ms since the epoch), from the Message Expiry Interval at publish. */
  messageExpiry?: number;
  properties?: Record<string, unknown>;
}

/** aedes' write callback: (error, client). */
export type WriteDone = (err: Error | null, client?: Client) => void;

/** What aedes 2 keeps on a Client that this module reads (not in its type declarations). */
interface FlowClient {
  id: string | null;
  version: number | null;
  clean: boolean;
  /** From the CONNECT's Receive Maximum; 65535 when absent. */
  receiveMaximum?: number;
  /** From the CONNECT's Maximum Packet Size; undefined when absent (no limit). */
  maximumPacketSize?: number;
  broker: { persistence: { outgoingClearMessageId(client: unknown, packet: { messageId?: number }): Promise<unknown> } };
  /** The client's mqtt-packet parser: emits every packet read from it. */
  _parser: { on(event: 'packet', listener: (packet: { cmd: string; messageId?: number; reasonCode?: number }) => void): void };
}

interface Waiting {
  packet: OutboundPublish;
  done: WriteDone;
  send: () => void;
  /** When it expires (ms since the epoch); undefined: never. */
  expiresAt: number | undefined;
}

/**
 * Packet ids (1..65535) in flight: a Set while few, an 8 KiB bitmap from SMALL_MAX on. A client that
 * allows many in flight and acknowledges none would otherwise cost ~30 bytes a message, 2 MB at the
 * 65,535 the protocol allows; the bitmap caps that at 8 KiB per connection.
 */
class InflightIds {
  private static readonly SMALL_MAX = 256;
  private small: Set<number> | null = new Set();
  private bits: Uint8Array | null = null;
  size = 0;

  has(id: number): boolean {
    return this.bits === null ? this.small!.has(id) : (this.bits[id >> 3]! & (1 << (id & 7))) !== 0;
  }

  add(id: number): void {
    if (this.has(id)) return;
    this.size++;
    if (this.bits !== null) {
      this.bits[id >> 3]! |= 1 << (id & 7);
      return;
    }
    this.small!.add(id);
    if (this.small!.size < InflightIds.SMALL_MAX) return;
    this.bits = new Uint8Array(8192);
    for (const x of this.small!) this.bits[x >> 3]! |= 1 << (x & 7);
    this.small = null;
  }

  /** True when the id was in flight. */
  delete(id: number): boolean {
    if (!this.has(id)) return false;
    this.size--;
    if (this.bits === null) this.small!.delete(id);
    else this.bits[id >> 3]! &= ~(1 << (id & 7));
    return true;
  }

  clear(): void {
    this.small = new Set();
    this.bits = null;
    this.size = 0;
  }
}

class Window {
  /** Packet ids of QoS 1/2 PUBLISHes written on this connection and not yet acknowledged. */
  readonly inflight = new InflightIds();
  /** QoS 1/2 PUBLISHes past the window, in arrival order; `head` is the next to leave. */
  waiting: Waiting[] = [];
  head = 0;
  /** Oversized messages dropped since the last warning. */
  dropped = 0;
  warnedAt = -Infinity;
  closed = false;

  get waitingCount(): number {
    return this.waiting.length - this.head;
  }

  peek(): Waiting | undefined {
    return this.waiting[this.head];
  }

  shift(): Waiting | undefined {
    const w = this.waiting[this.head];
    if (w === undefined) return undefined;
    this.waiting[this.head++] = undefined as unknown as Waiting;
    // Compacted once the consumed half dominates: amortised O(1) per message.
    if (this.head > 64 && this.head * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
    return w;
  }
}

/** [MQTT-4.9.0-2] a PUBREC with a reason code of 0x80 or more ends a QoS 2 flow: it frees its place. */
const PUBREC_FAILURE_MIN = 0x80;
/** The Receive Maximum a CONNECT without one means (§3.1.2.11.3). */
const RECEIVE_MAXIMUM_DEFAULT = 65_535;

/** The part of aedes' persistence this module watches and uses. */
export interface OutgoingStore {
  outgoingUpdate(client: unknown, packet: object): Promise<unknown>;
}

export class OutboundFlow {
  private readonly windows = new WeakMap<Client, Window>();
  /**
   * PUBLISHes aedes gave their packet id in a session's stored queue (outgoingUpdate): only those
   * are removed from it when not sent. A retained message sent on SUBSCRIBE is not stored, and its
   * id may be one a stored message kept from an earlier connection.
   */
  private readonly stored = new WeakSet<object>();
  private readonly metrics: MqttMetrics;
  private readonly log: Logger;

  constructor(opts: { metrics: MqttMetrics; logger: Logger }) {
    this.metrics = opts.metrics;
    this.log = opts.logger;
  }

  /** Wraps the store's outgoingUpdate to learn which PUBLISHes are stored; once, before any client. */
  watchStore(store: OutgoingStore): void {
    const update = store.outgoingUpdate.bind(store);
    store.outgoingUpdate = (client, packet) => {
      // Read for MQTT 5 clients only (publish() passes others untouched); a stored queue drains
      // through here once per message, and a WeakSet entry costs the garbage collector too.
      if ((client as FlowClient).version === 5) this.stored.add(packet);
      return update(client, packet);
    };
  }

  /** Watches the client's acknowledgements; must run when aedes made the Client, before its CONNECT is read. */
  install(client: Client): void {
    const w = new Window();
    this.windows.set(client, w);
    const c = client as unknown as FlowClient;
    c._parser.on('packet', (packet) => {
      if (packet.messageId === undefined) return;
      if (packet.cmd === 'puback' || packet.cmd === 'pubcomp' || (packet.cmd === 'pubrec' && (packet.reasonCode ?? 0) >= PUBREC_FAILURE_MIN)) {
        if (w.inflight.delete(packet.messageId)) this.release(c, w);
      }
    });
    // What still waits is never written: its write fails as aedes' own writes to a closed
    // connection do, so every delivery callback (and the subscriber queue's count) is released. A
    // persistent session keeps these messages in its stored queue for its next connection.
    client.conn.once('close', () => {
      w.closed = true;
      w.inflight.clear();
      const closedErr = new Error('connection closed');
      for (let next = w.shift(); next !== undefined; next = w.shift()) setImmediate(next.done, closedErr, client);
    });
  }

  /**
   * aedes' hook for every PUBLISH it writes to a client (aedes-patches.mjs, lib/write.js): `send`
   * writes it now; `done` is the write's callback, called here instead for a PUBLISH not sent.
   */
  publish(client: Client, packet: OutboundPublish, done: WriteDone, send: () => void): void {
    const c = client as unknown as FlowClient;
    const w = this.windows.get(client);
    if (c.version !== 5 || w === undefined) return send();
    if (c.maximumPacketSize !== undefined && publishBytes(packet) > c.maximumPacketSize) return this.dropOversized(c, w, packet, done);
    if (packet.qos === 0 || packet.messageId === undefined) return send();
    // An id still in flight waits too (aedes' ids wrap at 65535): two PUBLISHes in flight never share one.
    if (w.waitingCount === 0 && !w.inflight.has(packet.messageId) && w.inflight.size < (c.receiveMaximum ?? RECEIVE_MAXIMUM_DEFAULT)) {
      w.inflight.add(packet.messageId);
      return send();
    }
    // aedes stamps live and stored messages with their expiry time; a retained message sent on
    // SUBSCRIBE carries only the interval it had left, counted from now.
    const interval = packet.properties?.messageExpiryInterval;
    const expiresAt = packet.messageExpiry ?? (typeof interval === 'number' ? Date.now() + interval * 1000 : undefined);
    w.waiting.push({ packet, done, send, expiresAt });
  }

  /** Sends waiting PUBLISHes while the window has room, in order. */
  private release(c: FlowClient, w: Window): void {
    const max = c.receiveMaximum ?? RECEIVE_MAXIMUM_DEFAULT;
    while (!w.closed && w.inflight.size < max) {
      const next = w.peek();
      if (next === undefined) return;
      const { packet } = next;
      const leftMs = next.expiresAt === undefined ? Infinity : next.expiresAt - Date.now();
      if (leftMs <= 0) {
        w.shift();
        this.log.debug({ clientId: c.id, mqttTopic: packet.topic, qos: packet.qos }, 'MQTT message expired while it waited for the receive maximum: not sent');
        this.completeUnsent(c, packet, next.done);
        continue;
      }
      // Its id is still in flight: it waits for that PUBLISH's acknowledgement.
      if (w.inflight.has(packet.messageId!)) return;
      w.shift();
      // A new object: aedes shares a message's properties between its subscribers' copies.
      if (leftMs !== Infinity) packet.properties = { ...packet.properties, messageExpiryInterval: Math.ceil(leftMs / 1000) };
      w.inflight.add(packet.messageId!);
      next.send();
    }
  }

  private dropOversized(c: FlowClient, w: Window, packet: OutboundPublish, done: WriteDone): void {
    this.metrics.oversizeDropped[packet.qos]++;
    w.dropped++;
    const now = performance.now();
    if (now - w.warnedAt >= limits.mqttSubscriberDropLogIntervalMs) {
      w.warnedAt = now;
      this.log.warn(
        { clientId: c.id, dropped: w.dropped, mqttTopic: packet.topic, qos: packet.qos, maximumPacketSize: c.maximumPacketSize },
        'MQTT message larger than the subscriber’s Maximum Packet Size: not sent to it',
      );
      w.dropped = 0;
    }
    this.completeUnsent(c, packet, done);
  }

  /** [MQTT-3.1.2-25] as if sent and acknowledged: a persistent session's stored copy goes too. */
  private completeUnsent(c: FlowClient, packet: OutboundPublish, done: WriteDone): void {
    // The listener counted it as delivered when aedes asked to forward it (authorizeForward).
    this.metrics.delivered--;
    if (this.stored.has(packet)) {
      c.broker.persistence.outgoingClearMessageId(c, packet).then(
        () => undefined,
        (err: unknown) => this.log.error({ clientId: c.id, mqttTopic: packet.topic, err }, 'MQTT session: removing a message not sent failed'),
      );
    }
    setImmediate(done, null, c as unknown as Client);
  }
}

/** The PUBLISH's size on the wire in MQTT 5; one with properties is measured by encoding it into a counter. */
function publishBytes(packet: OutboundPublish): number {
  if (packet.properties !== undefined) {
    const counter = new ByteCounter();
    mqttPacket.writeToStream(packet as mqttPacket.IPublishPacket, counter as unknown as NodeJS.WritableStream, { protocolVersion: 5 });
    // Properties mqtt-packet cannot encode: aedes' own write fails the same way, so it decides.
    return counter.failed ? 0 : counter.bytes;
  }
  const payload = packet.payload;
  const payloadBytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  // Topic (length-prefixed), packet id for QoS > 0, the properties' length (one byte: 0), payload.
  const remaining = 2 + Buffer.byteLength(packet.topic) + (packet.qos > 0 ? 2 : 0) + 1 + payloadBytes;
  return 1 + remainingLengthBytes(remaining) + remaining;
}

/** The stream mqtt-packet's writer needs, counting bytes instead of keeping them. */
class ByteCounter {
  bytes = 0;
  failed = false;

  write(chunk: Buffer | Uint8Array | string): boolean {
    this.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    return true;
  }

  destroy(): void {
    this.failed = true;
  }
}
