// The durable publish path: an MQTT PUBLISH → route → one record appended to a partition log → only
// then aedes may acknowledge it. Runs inside aedes' authorizePublish hook, because aedes writes
// the acknowledgement right after that hook calls back (node_modules/aedes/lib/handlers/publish.js:
// handlePublish runs `publishActions = [authorizePublish, enqueuePublish]` in series, and
// enqueuePublish writes the PUBACK for QoS 1 before it even delivers to subscribers, and the PUBREC
// for QoS 2 after storing the packet). Calling back with an error makes aedes close the connection
// without an answer — MQTT 3.1.1 has no negative PUBACK — which is what a failed append must do.
//
// Per client:
// - records reach the log in the order the PUBLISH packets arrived, and acknowledgements leave in
//   that order too [MQTT-4.6.0-2], whatever order the transaction commits resolve in;
// - QoS 0 is appended without waiting: the callback (delivery to subscribers) does not wait for the
//   transaction commit, but the append still counts against the client's in-flight bound;
// - at most `inflightMax` appends are in flight; past it the listener stops reading the client's
//   socket (onFlow), so TCP pushes back on the device instead of the broker buffering;
// - QoS 2: a retransmission aedes already holds (same packet id, before PUBREL) is not appended
//   again; aedes answers it with PUBREC. QoS 1 retransmissions are appended again (at least once).
//
// When an append fails, the PUBLISHes ahead of it keep their normal path (acknowledged in order
// once committed); then it and every PUBLISH behind it get the failure, which closes the connection.
// Shutting down is the same failure, from the first PUBLISH of a connection not appended yet.
//
// MQTT 5 clients (client.version 5) differ: a failed append or an ACL denial answers only that
// PUBLISH, in its place in the order, with a PUBACK/PUBREC carrying a reason code (mqtt5-reasons.ts;
// aedes writes it when the callback fails); QoS 0 has no answer. The connection stays open and keeps
// its session, and the PUBLISHes behind it go on. A client with more QoS 1/2 PUBLISHes unanswered
// than the Receive Maximum the CONNACK gave it (QoS 2 counted until PUBREL) breaks [MQTT-3.3.4-8]:
// like a shutdown, the PUBLISHes ahead of it are answered, then it gets DISCONNECT 0x93 (0x8B from
// aedes for a shutdown) before the callbacks of the rest fail, so no PUBACK follows the DISCONNECT.
// Each callback aedes hands us is called exactly once, or aedes' per-client read loop
// (lib/client.js, nextBatch) keeps counting that packet as unanswered. A callback failed after the
// connection closed is harmless: aedes emits clientError again and writes nothing.
//
// Never: acknowledge before the record is committed at the route's acks level, or acknowledge a
// PUBLISH that arrived on a connection after one whose append failed.

import type { Client, PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import type { Broker } from '../../broker/broker.ts';
import { asTributaryError, TributaryError } from '../../errors.ts';
import type { RecordHeader, RecordInput } from '../../format/record-batch.ts';
import type { MqttMetrics } from './metrics.ts';
import { disconnectReason, publishRefusal, type PublishRefusal } from './mqtt5-reasons.ts';
import type { Router, RouteTarget } from './routes.ts';
import { MQTT_HEADERS, propertyHeaders } from '../../protocol/mqtt/record-headers.ts';

type Done = (err?: Error | null) => void;

/** The part of an aedes persistence the QoS 2 duplicate check reads. */
export interface IncomingPackets {
  incomingGetPacket(client: Client, packet: PublishPacket): Promise<unknown>;
}

export interface DurablePublishOptions {
  broker: Broker;
  router: Router;
  metrics: MqttMetrics;
  logger: Logger;
  inflightMax: number;
  /** The Receive Maximum MQTT 5 clients are given: QoS 1/2 PUBLISHes they may leave unanswered. */
  receiveMaximum: number;
  incoming: () => IncomingPackets;
  /** The client's appends reached inflightMax (paused) or fell back to half of it. */
  onFlow(client: Client, paused: boolean): void;
}

interface Entry {
  /** Arrival order on the client's connection. */
  seq: number;
  packet: PublishPacket;
  route: RouteTarget | null;
  receivedMs: number;
  /** performance.now() at receipt, for the PUBACK latency histogram. */
  receivedAt: number;
  /** False while the QoS 2 duplicate check runs. */
  ready: boolean;
  duplicate: boolean;
  txnCommitted: boolean;
  /** MQTT 5: what answers this PUBLISH instead of an acknowledgement (its append or ACL check failed). */
  refusal: PublishRefusal | null;
  done: Done;
}

class ClientFlow {
  /** Received, not yet appended (waiting for an earlier entry's duplicate check). */
  readonly admission: Entry[] = [];
  /** QoS 1/2 entries appended or appending, not yet acknowledged; in arrival order. */
  readonly unacked: Entry[] = [];
  appending = 0;
  paused = false;
  /** The next entry's seq. */
  received = 0;
  /** The append failure, or the shutdown, that is closing this connection. */
  failure: TributaryError | null = null;
  /** The first entry, by seq, that must not be acknowledged. */
  failedSeq = Infinity;
  /** The entries from failedSeq on are being answered with the failure. */
  refusing = false;
  /** QoS 1/2 PUBLISHes received and not answered yet (for the Receive Maximum). */
  unanswered = 0;
  /** MQTT 5 refusal codes already logged at warn on this connection; the rest go to debug. */
  readonly refusalsLogged = new Set<string>();
}

const QOS_VALUES = [Buffer.from('0'), Buffer.from('1'), Buffer.from('2')];
const RETAIN_VALUES = { true: Buffer.from('true'), false: Buffer.from('false') };

export class DurablePublisher {
  private readonly opts: DurablePublishOptions;
  private readonly log: Logger;
  private readonly flows = new WeakMap<Client, ClientFlow>();
  private appendsInflight = 0;
  private drained: (() => void) | null = null;
  /** The first close()'s promise, shared by later calls: `drained` holds a single resolver. */
  private closing: Promise<void> | null = null;

  constructor(opts: DurablePublishOptions) {
    this.opts = opts;
    this.log = opts.logger;
  }

  /**
   * aedes' authorizePublish, after ACLs. `client` is null or closed for a will. `dropped`: the
   * listener keeps aedes from delivering this PUBLISH ($SYS/...): it is acknowledged in its place,
   * in order, and neither logged nor counted as unrouted.
   */
  publish(client: Client | null, packet: PublishPacket, done: Done, dropped = false): void {
    const receivedMs = Date.now();
    const receivedAt = performance.now();
    if (client === null || client.closed) return this.publishWill(client, packet, done, receivedMs);
    this.opts.metrics.publishesIn[packet.qos]++;
    const flow = this.flowOf(client);
    if (this.closing !== null) this.shutDown(client, flow);
    this.countUnanswered(client, flow, packet, flow.received);
    if (flow.failure !== null) {
      // Refused by refuse(), not at once: a failed callback makes aedes destroy the socket, and the
      // acknowledgements of the entries ahead of this one must leave first.
      flow.admission.push({ seq: flow.received++, packet, route: null, receivedMs, receivedAt, ready: true, duplicate: false, txnCommitted: false, refusal: null, done });
      return this.release(client, flow);
    }
    const route = dropped ? null : this.opts.router.route(packet.topic, client.id);
    if (route === null && !dropped) {
      this.opts.metrics.unrouted++;
      if (this.log.isLevelEnabled('debug')) this.log.debug({ clientId: client.id, mqttTopic: packet.topic }, 'no route: delivered, not logged');
    }
    const entry: Entry = { seq: flow.received++, packet, route, receivedMs, receivedAt, ready: packet.qos !== 2 || route === null, duplicate: false, txnCommitted: false, refusal: null, done };
    flow.admission.push(entry);
    if (entry.ready) return this.pump(client, flow);
    this.opts
      .incoming()
      .incomingGetPacket(client, packet)
      .then(
        () => (entry.duplicate = true),
        () => undefined,
      )
      .finally(() => {
        entry.ready = true;
        this.pump(client, flow);
      });
  }

  /**
   * A PUBLISH refused before any append (an ACL denial): like a failed append at its place, the
   * PUBLISHes ahead of it are still appended and acknowledged, then it and everything after it get
   * `error`, which closes the connection. MQTT 5: only it is refused, in its place (PUBACK 0x87).
   */
  deny(client: Client, packet: PublishPacket, error: TributaryError, done: Done): void {
    const flow = this.flowOf(client);
    const seq = flow.received++;
    const refusal = isMqtt5(client) ? publishRefusal(error) : null;
    if (refusal !== null) this.logRefusal(client, flow, packet, refusal, {}, 'MQTT 5 publish denied by ACL: refused with a reason code, connection kept');
    this.countUnanswered(client, flow, packet, seq);
    flow.admission.push({ seq, packet, route: null, receivedMs: Date.now(), receivedAt: performance.now(), ready: true, duplicate: false, txnCommitted: false, refusal, done });
    if (refusal === null) this.failAt(client, flow, seq, error);
    this.pump(client, flow);
  }

  /**
   * Counts a QoS 1/2 PUBLISH (arrival `seq`) as unanswered. For an MQTT 5 client, one that takes
   * it past its Receive Maximum (its QoS 1/2 PUBLISHes not answered yet, plus the QoS 2 ones
   * answered with PUBREC and awaiting PUBREL: aedes' set, from aedes-patches.mjs) fails the
   * connection from this PUBLISH on [MQTT-3.3.4-8]. A QoS 2 resend of an id awaiting PUBREL is not
   * a new one.
   */
  private countUnanswered(client: Client, flow: ClientFlow, packet: PublishPacket, seq: number): void {
    if (packet.qos === 0) return;
    flow.unanswered++;
    if (flow.failure !== null || !isMqtt5(client)) return;
    const awaitingPubrel = (client as Client & { _inboundInflight?: Set<number> })._inboundInflight;
    if (packet.qos === 2 && awaitingPubrel?.has(packet.messageId!) === true) return;
    if (flow.unanswered + (awaitingPubrel?.size ?? 0) <= this.opts.receiveMaximum) return;
    this.failAt(client, flow, seq, new TributaryError('THROTTLED', `more than ${this.opts.receiveMaximum} QoS 1/2 PUBLISHes unacknowledged (Receive Maximum)`));
    this.opts.metrics.close('receive-maximum-exceeded');
    this.log.info({ clientId: client.id, mqttTopic: packet.topic, qos: packet.qos, receiveMaximum: this.opts.receiveMaximum }, 'MQTT 5 client exceeded its Receive Maximum [MQTT-3.3.4-8]: DISCONNECT 0x93');
  }

  private flowOf(client: Client): ClientFlow {
    let flow = this.flows.get(client);
    if (flow === undefined) this.flows.set(client, (flow = new ClientFlow()));
    return flow;
  }

  private pump(client: Client, flow: ClientFlow): void {
    // A QoS 2 duplicate check that finishes after close() must not start an append.
    if (this.closing !== null) this.shutDown(client, flow);
    // Entries ahead of a failure still go on: a denied PUBLISH fails before those ahead of it are appended.
    while (flow.admission.length > 0 && flow.admission[0].ready && flow.admission[0].seq < flow.failedSeq) {
      const e = flow.admission.shift()!;
      const qos = e.packet.qos;
      if (e.refusal !== null) {
        // Denied (MQTT 5): not appended; aedes drops a QoS 0 one, answers the others with the reason code.
        if (qos === 0) e.done(e.refusal);
        else {
          e.txnCommitted = true;
          flow.unacked.push(e);
        }
        continue;
      }
      const waitForTxn = qos > 0 && e.route !== null && e.route.acks !== 0 && !e.duplicate;
      if (e.route !== null && !e.duplicate) this.append(client, flow, e, e.route);
      if (qos === 0) {
        e.done(null);
        continue;
      }
      e.txnCommitted = !waitForTxn;
      flow.unacked.push(e);
    }
    this.release(client, flow);
  }

  private append(client: Client, flow: ClientFlow, e: Entry, route: RouteTarget): void {
    flow.appending++;
    this.appendsInflight++;
    if (flow.appending >= this.opts.inflightMax && !flow.paused) {
      flow.paused = true;
      this.opts.onFlow(client, true);
    }
    const { packet } = e;
    const acks = packet.qos === 0 ? 0 : route.acks;
    this.opts.broker.produce({ topic: route.topic, records: [toRecord(packet, client.id, route, e.receivedMs)], acks, shareBatch: true }).then(
      (r) => {
        this.appendSettled(client, flow);
        if (this.log.isLevelEnabled('debug'))
          this.log.debug({ clientId: client.id, mqttTopic: packet.topic, qos: packet.qos, topic: r.topic, partition: r.partition, offset: r.baseOffset, route: route.name }, 'mqtt publish appended');
        e.txnCommitted = true;
        this.release(client, flow);
      },
      (err: unknown) => {
        // Before appendSettled, which would otherwise resume reading a connection about to close.
        this.fail(client, flow, e, route, err);
        this.appendSettled(client, flow);
      },
    );
  }

  private appendSettled(client: Client, flow: ClientFlow): void {
    flow.appending--;
    if (flow.paused && flow.appending <= this.opts.inflightMax / 2 && flow.failure === null) {
      flow.paused = false;
      this.opts.onFlow(client, false);
    }
    this.appendDone();
  }

  private appendDone(): void {
    if (--this.appendsInflight === 0) this.drained?.();
  }

  /**
   * Acknowledges, in arrival order, every entry whose record is committed, up to a failed append;
   * once nothing ahead of that failure is left, refuses the rest.
   */
  private release(client: Client, flow: ClientFlow): void {
    while (flow.unacked.length > 0 && flow.unacked[0].txnCommitted && flow.unacked[0].seq < flow.failedSeq) {
      const e = flow.unacked.shift()!;
      flow.unanswered--;
      if (e.refusal !== null) {
        e.done(e.refusal);
        continue;
      }
      this.opts.metrics.pubackLatencyByQos[e.packet.qos].observe((performance.now() - e.receivedAt) / 1000);
      e.done(null);
    }
    if (flow.failure === null || flow.refusing) return;
    if ((flow.unacked.length > 0 && flow.unacked[0].seq < flow.failedSeq) || (flow.admission.length > 0 && flow.admission[0].seq < flow.failedSeq)) return;
    flow.refusing = true;
    // A failed callback makes aedes destroy the socket at once, while mqtt-packet holds the PUBACKs
    // just released corked until the next tick: they leave first.
    const error = flow.failure;
    setImmediate(() => this.refuse(client, flow, error));
  }

  /**
   * Answers every entry still waiting with the failure: aedes closes the connection on the first;
   * for the others it only emits clientError on the closed client. An MQTT 5 client gets a
   * DISCONNECT first, and the callbacks fail once it is closed: aedes answers a failed callback of
   * an MQTT 5 client with a PUBACK, which must not follow the DISCONNECT.
   */
  private refuse(client: Client, flow: ClientFlow, error: TributaryError): void {
    const entries = [...flow.unacked.splice(0), ...flow.admission.splice(0)];
    flow.unanswered = 0;
    if (isMqtt5(client)) {
      const answer = () => {
        for (const e of entries) e.done(error);
      };
      // Closing the listener, aedes' close() that follows sends every MQTT 5 client DISCONNECT 0x8B.
      if (this.closing !== null) return client.closed || client.conn.destroyed ? answer() : void client.conn.once('close', answer);
      client.disconnect({ reasonCode: disconnectReason(error) }, answer);
      return;
    }
    for (const e of entries) e.done(error);
    // A failed QoS 0 or acks 0 append with nothing behind it has no callback left to fail.
    client.close();
  }

  private fail(client: Client, flow: ClientFlow, e: Entry, route: RouteTarget, err: unknown): void {
    const error = asTributaryError(err);
    if (isMqtt5(client) && error.codeName !== 'SHUTTING_DOWN') return this.refuseOne(client, flow, e, route, error);
    if (this.failAt(client, flow, e.seq, error)) {
      this.opts.metrics.close('append-failed');
      this.log.error(
        { clientId: client.id, mqttTopic: e.packet.topic, qos: e.packet.qos, topic: route.topic, route: route.name, code: error.codeName, err: error.message, ...error.context },
        'append failed: closing the MQTT connection without acknowledging it or anything after it',
      );
    }
    this.release(client, flow);
  }

  /**
   * MQTT 5: a failed append answers its own PUBLISH only, in its place (release()), with a reason
   * code; a QoS 0 one, or one acknowledged already (acks 0), has nothing left to answer.
   */
  private refuseOne(client: Client, flow: ClientFlow, e: Entry, route: RouteTarget, error: TributaryError): void {
    e.refusal = publishRefusal(error);
    e.txnCommitted = true;
    this.opts.metrics.publishRefused(error.codeName);
    this.logRefusal(client, flow, e.packet, e.refusal, { topic: route.topic, route: route.name, ...error.context }, 'append failed: MQTT 5 PUBLISH refused with a reason code, connection kept');
    this.release(client, flow);
  }

  /**
   * Logs a refusal at warn the first time its code comes up on this connection, later ones at
   * debug: a client publishing on into a full disk or a denied topic would otherwise write a line
   * per message.
   */
  private logRefusal(client: Client, flow: ClientFlow, packet: PublishPacket, refusal: PublishRefusal, context: Record<string, unknown>, msg: string): void {
    const first = !flow.refusalsLogged.has(refusal.codeName);
    if (first) flow.refusalsLogged.add(refusal.codeName);
    if (!first && !this.log.isLevelEnabled('debug')) return;
    const cause = refusal.cause as TributaryError;
    this.log[first ? 'warn' : 'debug']({ clientId: client.id, mqttTopic: packet.topic, qos: packet.qos, code: refusal.codeName, reasonCode: refusal.reasonCode, err: cause.message, ...context }, msg);
  }

  /**
   * Closing: what this connection has appended is still acknowledged once committed; the entries
   * not appended yet, and every PUBLISH after them, are refused.
   */
  private shutDown(client: Client, flow: ClientFlow): void {
    // Entries still in admission (waiting for a QoS 2 duplicate check) are not appended any more,
    // also on a connection already failing after a denied PUBLISH.
    const seq = flow.admission[0]?.seq ?? flow.received;
    if (this.failAt(client, flow, seq, new TributaryError('SHUTTING_DOWN', 'the broker is shutting down'))) this.opts.metrics.close('shutting-down');
  }

  /**
   * Nothing from `seq` on is acknowledged: an earlier point stays, a failure ahead of it moves the
   * point up (or release() would wait forever for its transaction commit). True for the connection's first
   * failure, which is the one its entries are refused with; reading stops then.
   */
  private failAt(client: Client, flow: ClientFlow, seq: number, error: TributaryError): boolean {
    flow.failedSeq = Math.min(flow.failedSeq, seq);
    if (flow.failure !== null) return false;
    flow.failure = error;
    this.stopReading(client, flow);
    return true;
  }

  /** Whatever a failing connection still reads would only be refused. */
  private stopReading(client: Client, flow: ClientFlow): void {
    if (flow.paused) return;
    flow.paused = true;
    this.opts.onFlow(client, true);
  }

  private publishWill(client: Client | null, packet: PublishPacket, done: Done, receivedMs: number): void {
    const clientId = client?.id ?? (packet as { clientId?: string }).clientId ?? '';
    const route = this.opts.router.route(packet.topic, clientId);
    if (route === null) {
      this.opts.metrics.unrouted++;
      return done(null);
    }
    this.appendsInflight++;
    this.opts.broker.produce({ topic: route.topic, records: [toRecord(packet, clientId, route, receivedMs)], acks: route.acks, shareBatch: true }).then(
      () => {
        this.appendDone();
        this.opts.metrics.willsLogged++;
        done(null);
      },
      (err: unknown) => {
        this.appendDone();
        const error = asTributaryError(err);
        this.log.error({ clientId, mqttTopic: packet.topic, topic: route.topic, code: error.codeName, err: error.message }, 'will not appended, so not delivered either');
        done(error);
      },
    );
  }

  /**
   * Refuses new publishes (their connections are closed once what they appended before is
   * acknowledged) and waits for the appends in flight and for their acknowledgements to leave.
   */
  close(): Promise<void> {
    this.closing ??= this.drain();
    return this.closing;
  }

  private async drain(): Promise<void> {
    if (this.appendsInflight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    // The last transaction commits released their PUBACKs in this turn, and mqtt-packet holds them corked until
    // the next tick; the caller destroys the sockets next. The refusals release() scheduled run
    // before this, after those PUBACKs left.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function isMqtt5(client: Client): boolean {
  return (client as Client & { version?: number }).version === 5;
}

function toRecord(packet: PublishPacket, clientId: string, route: RouteTarget, timestampMs: number): RecordInput {
  const topic = Buffer.from(packet.topic);
  const headers: RecordHeader[] = [
    { key: MQTT_HEADERS.topic, value: topic },
    { key: MQTT_HEADERS.clientId, value: Buffer.from(clientId) },
    { key: MQTT_HEADERS.qos, value: QOS_VALUES[packet.qos] },
    { key: MQTT_HEADERS.retain, value: packet.retain ? RETAIN_VALUES.true : RETAIN_VALUES.false },
  ];
  if (packet.properties !== undefined) propertyHeaders(packet.properties, headers);
  const value = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
  // The default route keys by the MQTT topic: its bytes are already there (the batch encoder only reads them).
  const key = route.key === null ? null : route.key === packet.topic ? topic : Buffer.from(route.key);
  return { timestampMs, key, value, headers };
}
