// The MQTT listener: an aedes broker (MQTT 3.1, 3.1.1 and 5; aedes-patches.mjs) on TCP, WebSocket and TLS, whose hooks
// authenticate, apply ACLs and make every routed PUBLISH a record (durable-publish.ts) before aedes
// acknowledges it. Owns the sockets, the connection limit and the per-connection gate, and the
// $SYS/ rules: a client's PUBLISH there is acknowledged and dropped, the broker's own $SYS/broker/...
// comes from sys-topics.ts, aedes' $SYS/<id>/... reaches no client. Never writes to storage except
// through broker.produce.

import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import v8 from 'node:v8';
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import { writeToStream } from 'mqtt-packet';
import type { Logger } from 'pino';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Broker } from '../../broker/broker.ts';
import { isTributaryError, TributaryError } from '../../errors.ts';
import { limits } from '../../limits.ts';
import { LINGER_MS, listenOn, refuseSocket } from '../listen.ts';
import { readPem } from '../read-pem.ts';
import { Acl, type AclRule } from '../../auth/acl.ts';
import type { Identity, UserSpec } from '../../auth/password.ts';
import { Authenticator, ConnackCode } from './auth.ts';
import { ConnectionGate } from './connection-gate.ts';
import { CONNACK_UNAVAILABLE_V4, CONNECT_HEAD_BYTES, refusalConnack } from './refusal-connack.ts';
import { DurablePublisher, type IncomingPackets } from './durable-publish.ts';
import { disconnectReason } from './mqtt5-reasons.ts';
import packageJson from '../../../package.json' with { type: 'json' };
import { MqttMetrics, type MqttMetricsSource, type MqttSessionStats } from './metrics.ts';
import { OutboundFlow, type OutboundPublish, type OutgoingStore, type WriteDone } from './outbound-flow.ts';
import { Router, type FallbackSpec, type RouteSpec } from './routes.ts';
import { addSubscriptionIds } from './subscription-ids.ts';
import { installSharedSubscriptions, sharedFilter } from './shared-subscriptions.ts';
import { SessionExpiry, type SessionExpiryStore } from './session-expiry.ts';
import { SubscriberQueues } from './subscriber-queue.ts';
import { SysTopics, type SysReading } from './sys-topics.ts';
import { WriteCoalescer } from './write-coalescer.ts';

// mqtt-packet's writer (aedes' and MQTT.js's), on the first packet it writes, builds a table of
// 65,536 two-byte Buffers, one per 16-bit number (packet ids, topic lengths), and keeps it for the
// life of the process: ~7 MB of heap, a fifth of an idle broker's, for saving one 2-byte
// allocation per number written (~0.1 µs a PUBLISH + PUBACK, measured).
writeToStream.cacheNumbers = false;

export interface MqttListenerOptions {
  host: string;
  port: number;
  ws: { enabled: boolean; port: number };
  tls: { enabled: boolean; port: number; certFile: string | null; keyFile: string | null; caFile: string | null };
  messageBytesMax: number;
  connectionsMax: number;
  inflightMax: number;
  topicLevelsMax: number;
  allowAnonymous: boolean;
  /** Per-subscriber and all-subscriber queue bounds, and the stall timeout (subscriber-queue.ts). */
  subscriberQueueBytesMax: number;
  subscriberQueueBytesTotalMax: number;
  subscriberStallMs: number;
  /** Seconds between $SYS/broker/... updates (sys-topics.ts); 0: none. */
  sysIntervalS: number;
  /** The longest MQTT 5 Session Expiry Interval granted (session-expiry.ts); 4294967295: never expires. */
  sessionExpiryMaxS: number;
  routes: readonly RouteSpec[];
  defaultRoute: FallbackSpec | null;
  users: readonly UserSpec[];
  acls: readonly AclRule[];
  broker: Broker;
  logger: Logger;
  /** An aedes persistence (sessions, retained messages, QoS queues); aedes' in-memory one when absent. */
  persistence?: unknown;
  /** Counts kept by that persistence; absent with aedes' in-memory one. */
  sessionStats?: MqttSessionStats;
  /** Where MQTT 5 session deadlines outlive a restart (that persistence); absent with aedes' in-memory one. */
  sessionExpiryStore?: SessionExpiryStore;
}

type Transport = 'tcp' | 'ws' | 'tls';

/** What authenticate and the logs need from a client's CONNECT: aedes fills `client.id` only later. */
interface ConnectSeen {
  clientId: string;
  clean: boolean;
  protocolVersion: number | undefined;
  willTopic: string | undefined;
}

export class MqttListener implements MqttMetricsSource {
  readonly metrics = new MqttMetrics();
  private readonly opts: MqttListenerOptions;
  private readonly log: Logger;
  private readonly authenticator: Authenticator;
  private readonly acl: Acl;
  private readonly durable: DurablePublisher;
  private readonly identities = new WeakMap<Client, Identity>();
  private readonly connects = new WeakMap<Client, ConnectSeen>();
  private readonly gates = new WeakMap<Duplex, ConnectionGate>();
  private readonly writes = new WriteCoalescer(this.metrics.sent);
  private readonly subscribers: SubscriberQueues;
  private readonly outbound: OutboundFlow;
  private readonly connections = new Set<Duplex>();
  /** PUBLISHes and wills to $SYS/... that aedes must acknowledge (as any) but not publish. */
  private readonly dropped = new WeakSet<PublishPacket>();
  private sys: SysTopics | null = null;
  private sessionExpiry!: SessionExpiry;
  private clientsMaximum = 0;
  /** `$SYS/<aedes' broker id>/`: what aedes publishes for itself (forward()). */
  private aedesSysPrefix = '';
  private aedes!: Aedes;
  private tcp: net.Server | null = null;
  private tlsServer: tls.Server | null = null;
  private wsHttp: http.Server | null = null;
  private wss: WebSocketServer | null = null;

  private constructor(opts: MqttListenerOptions) {
    this.opts = opts;
    this.log = opts.logger.child({ listener: 'mqtt' });
    this.authenticator = new Authenticator(opts.users, opts.allowAnonymous);
    this.acl = new Acl(opts.acls);
    this.durable = new DurablePublisher({
      broker: opts.broker,
      router: new Router(opts.routes, opts.defaultRoute),
      metrics: this.metrics,
      logger: this.log,
      inflightMax: opts.inflightMax,
      receiveMaximum: receiveMaximumOf(opts.inflightMax),
      incoming: () => (this.aedes as unknown as { persistence: IncomingPackets }).persistence,
      onFlow: (client, paused) => this.gates.get(client.conn)?.setPaused(paused),
    });
    this.subscribers = new SubscriberQueues({
      queueBytesMax: opts.subscriberQueueBytesMax,
      queueBytesTotalMax: opts.subscriberQueueBytesTotalMax,
      stallMs: opts.subscriberStallMs,
      metrics: this.metrics,
      logger: this.log,
    });
    this.outbound = new OutboundFlow({ metrics: this.metrics, logger: this.log });
  }

  static async start(opts: MqttListenerOptions): Promise<MqttListener> {
    const l = new MqttListener(opts);
    // Whether a persistent session subscribes to a topic, asked synchronously (mqtt-persistence.ts).
    const persistence = opts.persistence as { hasSubscriptions?: (topic: string) => boolean } | undefined;
    const persistentMatch = persistence?.hasSubscriptions?.bind(persistence);
    const sessionState = (persistence as { hasSessionState?: (clientId: string) => boolean } | undefined)?.hasSessionState?.bind(persistence);
    l.aedes = await Aedes.createBroker({
      persistence: opts.persistence,
      maxTopicLevels: opts.topicLevelsMax,
      // aedes refuses MQTT 3.1 ids over 23 characters by default; Mosquitto takes them, and so do
      // we: authenticate() bounds every id by limits.mqttClientIdBytesMax, and counts the refusal.
      maxClientsIdLength: Number.MAX_SAFE_INTEGER,
      // aedes closes a connection whose written packets wait longer than this for 'drain'.
      drainTimeout: opts.subscriberStallMs,
      // The gate hands aedes nothing after a CONNECT before its CONNACK, so aedes' queue for such
      // packets stays empty; 0 turns a packet that got there anyway into a closed connection.
      queueLimit: 0,
      preConnect: (client, packet, done) => l.preConnect(client, packet, done),
      authenticate: (client, username, password, done) => l.authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => l.authorizePublish(client, packet, done),
      authorizeSubscribe: (client, sub, done) => {
        // A shared subscription is checked by its filter: `$share/GROUP/` names no topic.
        const filter = sub.topic.startsWith('$share/') ? sharedFilter(sub.topic) : sub.topic;
        if (filter !== null && l.acl.canSubscribe(l.identityOf(client), filter)) return done(null, sub);
        l.metrics.denied.subscribe++;
        l.log.info({ clientId: client.id, filter: sub.topic }, 'MQTT subscribe denied by ACL (SUBACK 0x80)');
        done(null, null);
      },
      authorizeForward: (client, packet) => l.forward(client, packet),
      // MQTT 5 CONNACK properties. The gate refuses a packet over messageBytesMax whole, so that is
      // the Maximum Packet Size a client may send.
      maximumPacketSize: opts.messageBytesMax,
      receiveMaximum: receiveMaximumOf(opts.inflightMax),
      topicAliasMaximum: limits.mqttTopicAliasMax,
      pendingSessionsLimit: limits.mqttPendingSessionsMax,
      // A longer Session Expiry Interval (0xFFFFFFFF "never" too) is cut to this, and the CONNACK says so.
      sessionExpiryIntervalLimit: opts.sessionExpiryMaxS,
      // aedes-patches.mjs: QoS 2 PUBLISHes a client may leave stored awaiting PUBREL.
      maxInflightInbound: limits.mqttQos2AwaitingPubrelMax,
      // aedes-patches.mjs: every PUBLISH written to a client passes here (MQTT 5 Receive Maximum and
      // Maximum Packet Size of the client, outbound-flow.ts).
      outboundPublish: (client: Client, packet: OutboundPublish, done: WriteDone, send: () => void) => l.outbound.publish(client, packet, done, send),
      // aedes-patches.mjs: the window of a persistent session's stored queue as it drains.
      storedDrainMessages: limits.mqttStoredDrainMessages,
      storedDrainBytes: limits.mqttStoredDrainBytes,
      // aedes-patches.mjs: each message a persistent session gets from its stored queue.
      storedPublish: addSubscriptionIds,
      // aedes-patches.mjs: Session Present for a resumed session without subscriptions.
      hasSessionState: sessionState,
      // aedes-patches.mjs: a QoS 1 PUBLISH that is stored beyond the log (a retained message, a copy
      // queued for a persistent session) is stored before its PUBACK. Without a way to ask, always.
      pubackAfterPublish: (packet: PublishPacket) => packet.retain || (persistentMatch?.(packet.topic) ?? true),
    } as Parameters<typeof Aedes.createBroker>[0]);
    l.aedesSysPrefix = `$SYS/${l.aedes.id}/`;
    l.sessionExpiry = new SessionExpiry({ aedes: l.aedes, deadlines: opts.sessionExpiryStore, maxS: opts.sessionExpiryMaxS, metrics: l.metrics, logger: l.log });
    l.outbound.watchStore((l.aedes as unknown as { persistence: OutgoingStore }).persistence);
    await installSharedSubscriptions(l.aedes, l.log, opts.sessionStats?.persistentClientIds() ?? []);
    l.dropPublishes();
    l.aedes.on('clientError', (client, err) => l.onClientError(client, err));
    l.aedes.on('connectionError', (client, err) => l.onClientError(client, err));
    l.aedes.on('client', () => (l.clientsMaximum = Math.max(l.clientsMaximum, l.aedes.connectedClients)));
    // aedes 2 emits 'error' when a persistence call of a session or will sweep fails: unheard, that
    // would end the process.
    l.aedes.on('error' as 'clientError', (err: unknown) => l.log.error({ err }, 'MQTT broker error'));
    l.aedes.on('connackSent', (connack, client) => {
      // An MQTT 5 CONNACK carries reasonCode where 3.1.1 has returnCode.
      if ((connack.returnCode ?? (connack as { reasonCode?: number }).reasonCode) !== 0) return;
      l.gates.get(client.conn)?.connected();
      l.subscribers.connacked(client);
    });
    try {
      await l.sessionExpiry.sweep();
      await l.listen();
    } catch (err) {
      await l.close();
      throw err;
    }
    l.sys = new SysTopics({
      intervalS: opts.sysIntervalS,
      version: `tributary version ${packageJson.version}`,
      read: () => l.sysReading(),
      publish: (topic, payload) => l.publishSys(topic, payload),
    });
    l.sys.start();
    return l;
  }

  private async listen(): Promise<void> {
    const { host } = this.opts;
    this.tcp = net.createServer((socket) => this.accept(socket, 'tcp', undefined, socket.remoteAddress));
    await listenOn(this.tcp, host, this.opts.port, this.log, 'mqtt');
    if (this.opts.ws.enabled) {
      this.wsHttp = http.createServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' });
        res.end('MQTT over WebSocket: upgrade to a WebSocket\n');
      });
      // Bound first: ws re-emits its HTTP server's errors on the WebSocketServer, so a bind error
      // would also reach a WebSocketServer made before, with no listener (an uncaught 'error'),
      // instead of only listenOn's rejection, which names listeners.mqtt.ws.port.
      await listenOn(this.wsHttp, host, this.opts.ws.port, this.log, 'mqtt-ws');
      // [MQTT-6.0.0-2] a WebSocket message may carry several MQTT packets: leave room past one.
      this.wss = new WebSocketServer({ server: this.wsHttp, maxPayload: this.opts.messageBytesMax + 64 * 1024 });
      // ws re-emits its HTTP server's errors here, which listenOn already logs (server "mqtt-ws");
      // the listener only keeps them from being uncaught.
      this.wss.on('error', () => undefined);
      this.wss.on('connection', (ws, req) => {
        if (this.connections.size >= this.opts.connectionsMax) {
          this.refuseOverLimit('ws', req.socket.remoteAddress);
          // A WebSocket emits 'error' for a broken frame from its client: without a listener that
          // is an uncaught exception. The connection is being closed anyway.
          ws.on('error', (err) => this.log.debug({ err: err.message, remote: req.socket.remoteAddress }, 'MQTT WebSocket refused over the limit: error'));
          // The CONNECT's first bytes tell the CONNACK's form (refusal-connack.ts).
          ws.once('message', (data: Buffer) => ws.send(refusalConnack(Buffer.from(data)) ?? CONNACK_UNAVAILABLE_V4, () => ws.close()));
          setTimeout(() => ws.terminate(), LINGER_MS).unref();
          return;
        }
        this.accept(createWebSocketStream(ws), 'ws', req, req.socket.remoteAddress);
      });
    }
    const t = this.opts.tls;
    if (t.enabled) {
      const pem = (file: string | null, key: string) => readPem(file, 'listeners.mqtt.tls', key);
      this.tlsServer = tls.createServer(
        { cert: pem(t.certFile, 'certFile'), key: pem(t.keyFile, 'keyFile'), ca: t.caFile === null ? undefined : pem(t.caFile, 'caFile') },
        (socket) => this.accept(socket, 'tls', undefined, socket.remoteAddress),
      );
      this.tlsServer.on('tlsClientError', (err) => this.log.debug({ err: err.message }, 'TLS handshake failed'));
      await listenOn(this.tlsServer, host, t.port, this.log, 'mqtt-tls');
    }
    this.log.info({ host, port: this.port, wsPort: this.wsPort, tlsPort: this.tlsPort }, 'mqtt listening');
  }

  get port(): number {
    return (this.tcp!.address() as net.AddressInfo).port;
  }

  get wsPort(): number | null {
    return this.wsHttp === null ? null : (this.wsHttp.address() as net.AddressInfo).port;
  }

  get tlsPort(): number | null {
    return this.tlsServer === null ? null : (this.tlsServer.address() as net.AddressInfo).port;
  }

  /** Open connections on every transport, before and after CONNECT. */
  get connectionCount(): number {
    return this.connections.size;
  }

  get clientCount(): number {
    return this.aedes.connectedClients;
  }

  /** Ids of connected clients (past CONNACK), at most `max` (the status page). */
  clientIds(max: number): string[] {
    const ids: string[] = [];
    for (const [id, client] of Object.entries(this.clientsById)) {
      if (ids.length >= max) break;
      if (client.connected) ids.push(id);
    }
    return ids;
  }

  get subscriberQueued(): { messages: number; bytes: number } {
    return { messages: this.subscribers.queuedMessages, bytes: this.subscribers.queuedBytes };
  }

  get sessionStats(): MqttSessionStats | null {
    return this.opts.sessionStats ?? null;
  }

  /**
   * Subscriptions of connected clean sessions (aedes holds them per client), plus every persistent
   * session's (the session store holds those, connected or not). Counted when read: O(clients).
   */
  get subscriptionCount(): number {
    const stats = this.opts.sessionStats;
    let n = stats?.persistentSubscriptionCount ?? 0;
    for (const client of Object.values(this.clientsById)) {
      if (stats === undefined || client.clean) n += Object.keys((client as Client & { subscriptions: object }).subscriptions).length;
    }
    return n;
  }

  private sysReading(): SysReading {
    const m = this.metrics;
    const stats = this.opts.sessionStats;
    let disconnected: number | null = null;
    if (stats !== undefined) {
      disconnected = 0;
      for (const id of stats.persistentClientIds()) if (this.clientsById[id]?.connected !== true) disconnected++;
    }
    const storage = this.opts.broker.storageStats();
    let records = 0;
    for (const t of this.opts.broker.listTopics()) for (const p of t.partitions) records += p.nextOffset - p.logStartOffset;
    return {
      clientsConnected: this.aedes.connectedClients,
      clientsDisconnected: disconnected,
      clientsMaximum: this.clientsMaximum,
      connections: m.connectionsAccepted,
      received: m.received,
      sent: m.sent,
      publishReceived: m.publishesIn[0] + m.publishesIn[1] + m.publishesIn[2],
      publishSent: m.delivered,
      publishDropped: m.subscriberDropped[0] + m.subscriberDropped[1] + m.subscriberDropped[2],
      retained: stats?.retainedCount ?? null,
      subscriptions: this.subscriptionCount,
      storeMessages: records,
      storeBytes: storage.logBytes,
      heapBytes: v8.getHeapStatistics().used_heap_size,
    };
  }

  private publishSys(topic: string, payload: string): void {
    const packet = { cmd: 'publish' as const, topic, payload: Buffer.from(payload), qos: 0 as const, retain: true, dup: false };
    this.aedes.publish(packet, (err?: Error) => {
      if (err) this.log.debug({ mqttTopic: topic, err: err.message }, '$SYS publish failed');
    });
  }

  /**
   * aedes' authorizeForward, for every PUBLISH about to be written to a subscriber. aedes
   * publishes `$SYS/<random broker id>/heartbeat`, `/birth`, `/new/clients`, `/disconnect/clients`,
   * `/new/subscribes` and `/new/unsubscribes` for its clustering (a new id each start): its own
   * listeners still get them (the heartbeat keeps this broker's stored wills from being published as
   * if it were gone), subscribers no longer do; `$SYS/broker/...` replaces them.
   */
  private forward(_client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    if (packet.topic.startsWith(this.aedesSysPrefix)) return null;
    this.metrics.delivered++;
    return packet;
  }

  /** aedes' connected clients by id (not in its type declarations). */
  private get clientsById(): Record<string, Client> {
    return (this.aedes as unknown as { clients: Record<string, Client> }).clients;
  }

  /**
   * aedes publishes a client's PUBLISH (and a will) after authorizePublish called back, and writes
   * its PUBACK/PUBREC around that: a dropped one skips the publish and keeps the acknowledgement.
   */
  private dropPublishes(): void {
    // aedes' publish(packet, client, done) is declared as publish(packet, done).
    type Publish = (packet: PublishPacket, client: Client | null | ((err?: Error) => void), done?: (err?: Error) => void) => void;
    const broker = this.aedes as unknown as { publish: Publish };
    const publish = broker.publish.bind(this.aedes);
    broker.publish = (packet, client, done) => {
      if (this.dropped.has(packet)) return (typeof client === 'function' ? client : done)?.();
      publish(packet, client, done);
    };
  }

  private accept(conn: Duplex, transport: Transport, req: http.IncomingMessage | undefined, remote: string | undefined): void {
    if (conn instanceof net.Socket) {
      if (this.connections.size >= this.opts.connectionsMax) {
        this.refuseOverLimit(transport, remote);
        refuseBeforeConnect(conn);
        return;
      }
      conn.setNoDelay(true);
    }
    this.connections.add(conn);
    this.metrics.connectionsAccepted++;
    conn.once('close', () => this.connections.delete(conn));
    let client: Client | null = null;
    const gate = new ConnectionGate(
      conn,
      this.opts.messageBytesMax,
      (err, connectClientId) => {
        this.metrics.close(err.codeName === 'FRAME_TOO_LARGE' ? 'packet-too-large' : 'malformed');
        const clientId = (client === null ? null : this.clientIdOf(client)) ?? connectClientId?.slice(0, 64) ?? null;
        // An MQTT 5 client past its CONNACK is told why: DISCONNECT 0x95 or 0x81 [MQTT5-4.13.1], then closed.
        const v5 = client !== null && client.version === 5 && client.connected && !client.closed;
        const reasonCode = v5 ? disconnectReason(err) : null;
        this.log.info({ clientId, transport, remote, code: err.codeName, err: err.message, reasonCode }, 'closing MQTT connection');
        if (client === null || reasonCode === null) return false;
        (client as Client & { disconnect(opts: { reasonCode: number }): void }).disconnect({ reasonCode });
        return true;
      },
      this.metrics.received,
    );
    this.gates.set(conn, gate);
    this.writes.install(conn);
    client = this.aedes.handle(conn, req);
    this.subscribers.install(client);
    this.outbound.install(client);
  }

  private refuseOverLimit(transport: Transport, remote: string | undefined): void {
    this.metrics.refuse('connections-max');
    this.log.warn({ transport, remote, connectionsMax: this.opts.connectionsMax }, 'MQTT connection refused: limit reached (CONNACK server unavailable)');
  }

  private preConnect(client: Client, packet: { protocolVersion?: number; clientId: string; clean?: boolean; will?: { topic: string; qos?: number } }, done: (err: Error | null, ok: boolean) => void): void {
    if (packet.protocolVersion !== 3 && packet.protocolVersion !== 4 && packet.protocolVersion !== 5) {
      // aedes answers with CONNACK 1 "unacceptable protocol version" [MQTT-3.1.2-2].
      this.metrics.refuse('protocol-version');
      this.log.warn(
        { clientId: packet.clientId, protocolVersion: packet.protocolVersion, remote: remoteOf(client) },
        'MQTT CONNECT refused: only MQTT 3.1, 3.1.1 and 5 are supported (CONNACK 1, unacceptable protocol version)',
      );
    }
    if (packet.protocolVersion !== 5 && packet.clientId === '' && packet.clean === false) {
      // aedes 2 answers this one with CONNACK 2 itself, before authenticate runs [MQTT-3.1.3-8].
      this.metrics.refuse('identifier-rejected');
      this.log.info({ clientId: '', returnCode: 2, reason: 'zero-length client id with clean session 0 [MQTT-3.1.3-8]', remote: remoteOf(client) }, 'MQTT CONNECT refused');
    }
    if (packet.will !== undefined && (packet.will.qos ?? 0) > 2) {
      // [MQTT-3.1.2-14] Will QoS 3 is malformed: close without a CONNACK [MQTT-3.1.4-1]. mqtt-packet does not check it.
      const err = new TributaryError('MALFORMED_FRAME', 'CONNECT with Will QoS 3 [MQTT-3.1.2-14]');
      this.metrics.close('malformed');
      this.log.info({ clientId: packet.clientId.slice(0, 64), remote: remoteOf(client), code: err.codeName, err: err.message }, 'closing MQTT connection');
      return done(err, false);
    }
    this.connects.set(client, { clientId: packet.clientId, clean: packet.clean !== false, protocolVersion: packet.protocolVersion, willTopic: packet.will?.topic });
    done(null, true);
  }

  private authenticate(client: Client, username: string | undefined, password: Buffer | undefined, done: (err: AuthenticateError | null, ok: boolean | null) => void): void {
    const idBytes = Buffer.byteLength(client.id);
    if (idBytes > limits.mqttClientIdBytesMax) {
      return this.refuseConnect(client, username, ConnackCode.IDENTIFIER_REJECTED, `client id of ${idBytes} bytes (max ${limits.mqttClientIdBytesMax})`, done);
    }
    const connect = this.connects.get(client);
    // MQTT 3.1 §3.1 requires 1–23 characters; aedes would name the client. Mosquitto refuses it the same way.
    if (connect !== undefined && connect.clientId === '' && connect.protocolVersion === 3) {
      return this.refuseConnect(client, username, ConnackCode.IDENTIFIER_REJECTED, 'zero-length client id in MQTT 3.1', done);
    }
    this.authenticator.authenticate(client.id, username, password).then(
      (result) => {
        if (!result.ok) return this.refuseConnect(client, username, result.returnCode, result.reason, done);
        const willTopic = connect?.willTopic;
        // Mosquitto checks the will at CONNECT too: a will is published later, when the client is gone.
        if (willTopic !== undefined && !this.acl.canPublish(result.identity, willTopic)) {
          this.metrics.denied.publish++;
          return this.refuseConnect(client, username, ConnackCode.NOT_AUTHORIZED, `will topic ${willTopic} is denied by ACL`, done);
        }
        this.identities.set(client, result.identity);
        this.sessionExpiry.connecting(client).then(
          () => done(null, true),
          (err: unknown) => {
            this.log.error({ clientId: client.id, err }, 'MQTT CONNECT refused: the session expiry could not be stored');
            done(Object.assign(new Error('server unavailable'), { returnCode: ConnackCode.SERVER_UNAVAILABLE }), false);
          },
        );
      },
      (err: unknown) => {
        this.log.error({ clientId: client.id, err }, 'MQTT authentication failed');
        done(Object.assign(new Error('authentication failed'), { returnCode: ConnackCode.SERVER_UNAVAILABLE }), false);
      },
    );
  }

  private refuseConnect(client: Client, username: string | undefined, returnCode: 2 | 4 | 5, reason: string, done: (err: AuthenticateError | null, ok: boolean | null) => void): void {
    this.metrics.refuse(returnCode === ConnackCode.IDENTIFIER_REJECTED ? 'identifier-rejected' : returnCode === ConnackCode.BAD_CREDENTIALS ? 'bad-credentials' : 'not-authorized');
    // A client id can be as long as the packet: the log line keeps its start.
    this.log.info({ clientId: client.id.slice(0, 64), username: username ?? null, returnCode, reason, remote: remoteOf(client) }, 'MQTT CONNECT refused');
    done(Object.assign(new Error(reason), { returnCode }), false);
  }

  private authorizePublish(client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    // Authenticated clients, and the wills aedes publishes for them, are in `identities`. The gate
    // keeps every other packet away until the CONNACK; should one come anyway, it is closed, never appended.
    const identity = client === null ? undefined : this.identities.get(client);
    if (client !== null && identity === undefined) {
      const err = new TributaryError('NOT_AUTHORIZED', 'PUBLISH before the client was authenticated');
      this.metrics.close('protocol-error');
      this.log.error({ clientId: this.clientIdOf(client), mqttTopic: packet.topic, remote: remoteOf(client) }, 'MQTT PUBLISH reached the broker before CONNACK: closing the connection');
      return done(err);
    }
    // Topics under $SYS/ are the broker's. As Mosquitto does, a client's PUBLISH there is
    // acknowledged as any (PUBACK; PUBREC then PUBCOMP) and dropped: not logged, delivered to no one,
    // not retained; so is a will there, when its client goes away.
    if (packet.topic.startsWith('$SYS/')) {
      this.dropped.add(packet);
      this.metrics.sysPublishesDropped++;
      const will = client === null || client.closed;
      this.log.debug({ clientId: client?.id ?? (packet as { clientId?: string }).clientId ?? null, mqttTopic: packet.topic, qos: packet.qos, will }, 'MQTT publish to $SYS/ dropped: topics under $SYS/ are the broker’s');
      if (will) return done(null);
      return this.durable.publish(client, packet, done, true);
    }
    if (client !== null && identity !== undefined && !client.closed && !this.acl.canPublish(identity, packet.topic)) {
      this.metrics.denied.publish++;
      if (client.version === 5) {
        // MQTT 5 refuses this PUBLISH alone: PUBACK/PUBREC 0x87 in its place, QoS 0 dropped (durable.deny logs it).
        return this.durable.deny(client, packet, new TributaryError('NOT_AUTHORIZED', `publish to ${packet.topic} denied by ACL`), done);
      }
      this.metrics.close('publish-denied');
      this.log.info({ clientId: client.id, mqttTopic: packet.topic, qos: packet.qos }, 'MQTT publish denied by ACL: closing the connection');
      // MQTT 3.1.1 has no way to refuse a PUBLISH; aedes closes the connection [MQTT-3.3.5-2], once
      // the PUBLISHes ahead of this one are acknowledged.
      return this.durable.deny(client, packet, new TributaryError('NOT_AUTHORIZED', `publish to ${packet.topic} denied by ACL`), done);
    }
    this.durable.publish(client, packet, done);
  }

  /** `client.id`, or before aedes sets it, the id its CONNECT carried. */
  private clientIdOf(client: Client): string | null {
    return client.id ?? this.connects.get(client)?.clientId.slice(0, 64) ?? null;
  }

  private identityOf(client: Client): Identity {
    return this.identities.get(client) ?? { clientId: client.id, username: null };
  }

  // Errors this module raised (TributaryError) were counted and logged where they were raised.
  // CONNECT refusals carry aedes' errorCode and were counted in preConnect/authenticate.
  private onClientError(client: Client | null, err: Error & { errorCode?: number; code?: string }): void {
    if (isTributaryError(err) || err.errorCode !== undefined) return;
    const context = { clientId: client ? this.clientIdOf(client) : null, remote: client ? remoteOf(client) : undefined, err: err.message };
    if (typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code)) return this.log.debug(context, 'MQTT connection error');
    if (client !== null && this.subscribers.clientError(client, err)) return;
    // aedes' own wording for its timers; everything else it reports is a packet it refused.
    if (/keep alive timeout|did not arrive in time/.test(err.message)) {
      this.metrics.close('timeout');
      return this.log.debug(context, 'MQTT connection timed out');
    }
    this.metrics.close('protocol-error');
    this.log.info(context, 'MQTT connection closed: protocol error');
  }

  /**
   * Stops accepting connections, refuses new publishes, waits for the appends in flight and for
   * their PUBACKs to leave (durable.close), then disconnects every client.
   */
  async close(): Promise<void> {
    const servers = [this.tcp, this.tlsServer, this.wsHttp].filter((s): s is net.Server => s !== null && s.listening);
    const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    this.sys?.stop();
    await this.durable.close();
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    // Connections that never sent CONNECT are not aedes clients yet.
    for (const conn of this.connections) conn.destroy();
    this.wss?.close();
    await Promise.all(closed);
    this.log.info('mqtt stopped');
  }
}

/**
 * The Receive Maximum given to MQTT 5 clients: inflightMax, but no more than the QoS 2 PUBLISHes a
 * client may leave awaiting PUBREL, which close the connection past their own bound.
 */
function receiveMaximumOf(inflightMax: number): number {
  return Math.min(inflightMax, limits.mqttQos2AwaitingPubrelMax);
}

function remoteOf(client: Client): string | undefined {
  const conn = client.conn as Partial<net.Socket>;
  return conn.remoteAddress ?? client.req?.socket.remoteAddress;
}

/**
 * A connection refused before aedes reads it: the CONNACK goes out once the first bytes of its
 * CONNECT tell MQTT 5 from 3.1.1 (refusal-connack.ts), at most CONNECT_HEAD_BYTES of them kept.
 */
function refuseBeforeConnect(conn: net.Socket): void {
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk.subarray(0, CONNECT_HEAD_BYTES - head.length)]);
    const connack = refusalConnack(head) ?? (head.length >= CONNECT_HEAD_BYTES ? CONNACK_UNAVAILABLE_V4 : null);
    if (connack === null) return;
    conn.off('data', onData);
    refuseSocket(conn, connack);
  };
  conn.on('error', () => undefined);
  conn.on('data', onData);
  // A client that sends nothing is closed as refuseSocket closes one that does not go.
  setTimeout(() => conn.destroy(), LINGER_MS).unref();
}
