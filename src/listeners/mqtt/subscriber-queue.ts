// Bounded delivery to MQTT subscribers: a subscriber that stops reading costs only itself.
//
// Why: aedes hands a live message to each matching subscriber through mqemitter, and the emit's
// callback — which the publisher's read loop waits on before it reads its next packets, so its next
// PUBACKs too (aedes lib/handlers/publish.js, lib/client.js nextBatch) — fires only once every
// subscriber's write is done. A write to a socket whose buffer is full is done at its 'drain'
// (lib/write.js → waitForDrain), so a subscriber that never reads held the emit forever; mqemitter
// runs 100 emits at once for the whole broker, so after 100 such messages every publisher stalled.
//
// What this module does instead, per connection (installed on each aedes Client before its first
// SUBSCRIBE, which captures client.deliver0 / deliverQoS):
// - the emit's callback is called in the next loop turn, whatever the write: no publisher waits on
//   another client's socket;
// - the subscriber's queue — messages handed to aedes for it whose write has not finished (aedes
//   calls back once the bytes are in the socket's buffer below its high-water mark, or at 'drain')
//   — is bounded by `queueBytesMax`; each message counts its topic and payload bytes plus
//   limits.mqttQueuedMessageOverheadBytes, so many small messages are bounded too;
// - all queues together are bounded by `queueBytesTotalMax`: once it is reached a subscriber may
//   still queue up to its share (the total divided by the subscribers with a queue), so the ones
//   that stopped reading are cut back and the ones that read keep their messages;
// - a QoS 0 message with no room is dropped and counted; a warning names the subscriber at most once
//   per limits.mqttSubscriberDropLogIntervalMs with the number dropped since its last one, and its
//   close logs those not reported yet: never a line per message;
// - a QoS 1/2 message with no room closes the connection: a persistent session (clean: false) keeps
//   the message and everything after it in its stored queue (aedes enqueues for every persistent
//   subscription before delivering) and gets them, in order, when it reconnects; a clean session ends
//   with its connection, so for it the message is dropped and counted, as every unacknowledged one;
// - retained messages sent on SUBSCRIBE keep aedes' own pace (the next after the previous write is
//   done): they hold no emit, only this client's retained stream.
// A subscriber whose socket does not drain within its stall timeout is closed by aedes itself (its
// drainTimeout, set from listeners.mqtt.subscriberStallMs by the listener).
//
// Never: let a delivery callback wait on a socket, or hold more than the bounds for a subscriber.

import type { AedesPublishPacket, Client } from 'aedes';
import type { Logger } from 'pino';
import { limits } from '../../limits.ts';
import type { MqttMetrics } from './metrics.ts';

type Deliver = (packet: AedesPublishPacket, cb: () => void) => void;

/** The deliver functions aedes sets on each Client; subscriptions capture them at SUBSCRIBE. */
interface Deliverable {
  deliver0: Deliver;
  deliverQoS: Deliver;
}

export interface SubscriberQueueOptions {
  queueBytesMax: number;
  queueBytesTotalMax: number;
  /** aedes' drainTimeout: reported by clientError() when it closes a connection. */
  stallMs: number;
  metrics: MqttMetrics;
  logger: Logger;
}

class Queue {
  messages = 0;
  bytes = 0;
  /** Messages dropped and not yet reported in a log line. */
  dropped = 0;
  /** performance.now() of the last drop warning; -Infinity before the first. */
  warnedAt = -Infinity;
  /** Deliveries that came before this client's CONNACK was written, in order; null once it was. */
  held: { deliver: Deliver; packet: AedesPublishPacket; cost: number }[] | null = [];
}

export class SubscriberQueues {
  private readonly opts: SubscriberQueueOptions;
  private readonly log: Logger;
  /** Bytes of every subscriber's queue, as counted by costOf(). */
  private totalBytes = 0;
  private totalMessages = 0;
  /** Subscribers whose queue holds at least one message. */
  private queued = 0;
  /** Clients aedes closed for not draining: its error comes once per waiting write. */
  private readonly stalled = new WeakSet<Client>();
  /**
   * Emit callbacks to call in the next loop turn, all from one setImmediate: a setImmediate per
   * delivery measured ~360 ns here, more than the rest of this module's work per delivery. Not
   * called in the same turn, so a publisher's chain (emit → callback → its next packet → emit…)
   * never recurses.
   */
  private emitsDone: (() => void)[] = [];
  private emitsScheduled = false;
  private readonly queues = new WeakMap<Client, Queue>();

  constructor(opts: SubscriberQueueOptions) {
    this.opts = opts;
    this.log = opts.logger;
  }

  get queuedBytes(): number {
    return this.totalBytes;
  }

  get queuedMessages(): number {
    return this.totalMessages;
  }

  /** Wraps the client's deliver functions; must run before the client's first SUBSCRIBE is handled. */
  install(client: Client): void {
    const c = client as Client & Deliverable;
    const q = new Queue();
    this.queues.set(client, q);
    const deliver0 = c.deliver0;
    const deliverQoS = c.deliverQoS;
    // deliver0 serves QoS 0 subscriptions and sends at QoS 0 whatever the packet's own QoS. aedes'
    // deliverQoS hands a QoS 0 message to client.deliver0, which is then the wrapper below: each
    // message passes the bound once. [MQTT-3.3.1-9] a message sent because it matches a subscription
    // has RETAIN 0 unless an MQTT 5 subscription asked for Retain As Published; the messages aedes
    // sends from the retained store on SUBSCRIBE carry RETAIN 1 and no brokerId (aedes' sendRetained
    // clears it; a live message always has one). Paced by aedes, those pass through untouched, to
    // aedes' deliverQoS so a retained QoS 1/2 message keeps its QoS (deliver0 would send it at QoS 0).
    // A live retained message to a Retain As Published subscription is bounded like any live one.
    c.deliver0 = (packet, cb) => (fromRetainedStore(packet) ? deliver0(packet, cb) : this.deliver(client, q, deliver0, packet, 0, cb));
    c.deliverQoS = (packet, cb) => (fromRetainedStore(packet) ? deliverQoS(packet, cb) : packet.qos === 0 ? c.deliver0(packet, cb) : this.deliver(client, q, deliverQoS, packet, packet.qos, cb));
    // Drops after the last warning are reported when the connection ends.
    client.conn.once('close', () => {
      // Held deliveries of a client that never got its CONNACK are never written: give back their room.
      for (const h of q.held?.splice(0) ?? []) this.written(q, h.cost);
      if (q.dropped > 0) this.log.info({ clientId: client.id, dropped: q.dropped }, 'MQTT subscriber gone: messages dropped for it since the last warning');
    });
  }

  private deliver(client: Client, q: Queue, deliver: Deliver, packet: AedesPublishPacket, qos: 0 | 1 | 2, cb: () => void): void {
    // A closed connection (this module closed it for an earlier message, or it is ending) takes
    // nothing more: aedes would still write to its socket until its close completes, so a later
    // message could reach the subscriber ahead of one its session keeps. A persistent session has
    // this one stored too; for the others the connection is gone.
    if (client.closed) {
      this.emitDone(cb);
      return;
    }
    const cost = costOf(packet);
    if (!this.hasRoom(q, cost)) {
      this.refuse(client, q, packet, qos, cost);
      this.emitDone(cb);
      return;
    }
    if (q.messages++ === 0) this.queued++;
    q.bytes += cost;
    this.totalMessages++;
    this.totalBytes += cost;
    // [MQTT-3.2.0-1] the CONNACK is the first packet a client gets. aedes restores a persistent
    // session's subscriptions before it writes the CONNACK (its connect steps in between wait for
    // storage), so live messages can come first: they wait, counted in the queue, until connacked().
    if (q.held !== null) q.held.push({ deliver, packet, cost });
    else this.send(q, deliver, packet, cost);
    // The emit (and the publisher behind it) goes on; the write finishes on this client's time.
    this.emitDone(cb);
  }

  /** The client's CONNACK was written: what came for it before goes out now, in arrival order. */
  connacked(client: Client): void {
    const q = this.queues.get(client);
    if (q === undefined || q.held === null) return;
    const held = q.held;
    q.held = null;
    for (const h of held) this.send(q, h.deliver, h.packet, h.cost);
  }

  private send(q: Queue, deliver: Deliver, packet: AedesPublishPacket, cost: number): void {
    deliver(packet, () => this.written(q, cost));
  }

  private emitDone(cb: () => void): void {
    this.emitsDone.push(cb);
    if (this.emitsScheduled) return;
    this.emitsScheduled = true;
    setImmediate(() => {
      this.emitsScheduled = false;
      const cbs = this.emitsDone;
      this.emitsDone = [];
      for (const done of cbs) done();
    });
  }

  private hasRoom(q: Queue, cost: number): boolean {
    // One message always fits an empty queue, however large: a bound below the largest packet would
    // otherwise starve the subscriber for good.
    if (q.messages === 0) return true;
    if (q.bytes + cost > this.opts.queueBytesMax) return false;
    if (this.totalBytes + cost <= this.opts.queueBytesTotalMax) return true;
    // The total is reached: each subscriber with a queue may hold its share of it, so the readers
    // (whose queues empty as they read) keep room and the stalled ones, at the top, are cut back.
    return q.bytes + cost <= this.opts.queueBytesTotalMax / this.queued;
  }

  private written(q: Queue, cost: number): void {
    q.bytes -= cost;
    this.totalBytes -= cost;
    this.totalMessages--;
    if (--q.messages === 0) this.queued--;
  }

  private refuse(client: Client, q: Queue, packet: AedesPublishPacket, qos: 0 | 1 | 2, cost: number): void {
    const { metrics } = this.opts;
    const persistent = !client.clean;
    if (qos === 0 || !persistent) {
      metrics.subscriberDropped[qos]++;
      q.dropped++;
      const now = performance.now();
      if (now - q.warnedAt >= limits.mqttSubscriberDropLogIntervalMs) {
        q.warnedAt = now;
        this.log.warn(
          { clientId: client.id, dropped: q.dropped, mqttTopic: packet.topic, qos, queuedMessages: q.messages, queuedBytes: q.bytes, messageBytes: cost, totalQueuedBytes: this.totalBytes, queueBytesMax: this.opts.queueBytesMax, queueBytesTotalMax: this.opts.queueBytesTotalMax },
          'MQTT subscriber not reading: dropping messages for it that do not fit its queue',
        );
        q.dropped = 0;
      }
    }
    if (qos === 0 || client.closed) return;
    metrics.close('subscriber-stalled');
    this.log.warn(
      { clientId: client.id, mqttTopic: packet.topic, qos, clean: client.clean, queuedMessages: q.messages, queuedBytes: q.bytes },
      persistent
        ? 'MQTT subscriber not reading: closing its connection; its session keeps this QoS > 0 message and those after it for its reconnect'
        : 'MQTT subscriber not reading: closing its connection; its clean session loses this QoS > 0 message',
    );
    client.close();
  }

  /**
   * aedes' errors about this client's writes: its drain timeout (counted and logged once, though
   * aedes reports it again for every write that was waiting) and the writes it failed because the
   * connection had closed already (no protocol error: a closed subscriber's pending deliveries).
   * True when the error was one of those.
   */
  clientError(client: Client, err: Error): boolean {
    if (err.message === 'connection closed') return true;
    if (err.message !== 'drain timeout') return false;
    if (this.stalled.has(client)) return true;
    this.stalled.add(client);
    this.opts.metrics.close('subscriber-stalled');
    this.log.warn({ clientId: client.id, stallMs: this.opts.stallMs }, 'MQTT connection closed: its socket did not drain within subscriberStallMs');
    return true;
  }
}

/** Sent by aedes on SUBSCRIBE from the retained store (lib/handlers/subscribe.js sendRetained). */
function fromRetainedStore(packet: AedesPublishPacket): boolean {
  return packet.retain && (packet as { brokerId?: string | null }).brokerId == null;
}

function costOf(packet: AedesPublishPacket): number {
  const payload = packet.payload;
  const payloadBytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  return Buffer.byteLength(packet.topic) + payloadBytes + limits.mqttQueuedMessageOverheadBytes;
}
