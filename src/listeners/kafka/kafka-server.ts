// The Kafka wire-protocol TCP listener (listeners.kafka): accepts connections up to connectionsMax
// and hands each to a KafkaConnection. Kafka has no way to refuse a connection with a message, so
// one over the limit is closed at once, with a log line. With tls on, the port speaks TLS only (a
// Kafka listener has one security protocol: SSL, or SASL_SSL with sasl on); a connection counts once
// its handshake is done.

import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { Broker } from '../../broker/broker.ts';
import { ByteBudget } from '../edge/byte-budget.ts';
import { listenOn } from '../listen.ts';
import { readPem } from '../read-pem.ts';
import { Acl, type AclRule } from '../../auth/acl.ts';
import { KafkaConnection } from './kafka-connection.ts';
import type { SaslMechanismName } from './sasl/mechanism.ts';
import { SaslAuthority, type SaslUser } from './sasl/sasl-authority.ts';

export interface KafkaServerOptions {
  host: string;
  port: number;
  advertisedHost: string | null;
  advertisedPort: number | null;
  requestBytesMax: number;
  connectionsMax: number;
  inflightRequestsMax: number;
  fetchBytesTotalMax: number;
  writeStallMs: number;
  sasl: { enabled: boolean; mechanisms: SaslMechanismName[] };
  tls: { enabled: boolean; certFile: string | null; keyFile: string | null; caFile: string | null };
  /** auth.users and auth.acls. */
  users: readonly SaslUser[];
  acls: readonly AclRule[];
  /** Metadata's cluster id. */
  clusterId: string;
  broker: Broker;
  logger: Logger;
}

export class KafkaServer {
  private readonly server: net.Server;
  private readonly connections = new Set<KafkaConnection>();
  private readonly opts: KafkaServerOptions;
  private readonly log: Logger;
  /** Bounds the Fetch answers all connections together hold, whatever their number. */
  readonly fetchBudget: ByteBudget;
  private readonly sasl: SaslAuthority | null;
  private readonly acl: Acl;

  private constructor(opts: KafkaServerOptions) {
    this.opts = opts;
    this.fetchBudget = new ByteBudget(opts.fetchBytesTotalMax);
    this.log = opts.logger.child({ listener: 'kafka' });
    this.sasl = opts.sasl.enabled ? new SaslAuthority(opts.users, opts.sasl.mechanisms) : null;
    this.acl = new Acl(opts.acls);
    const t = opts.tls;
    if (t.enabled) {
      const pem = (file: string | null, key: string) => readPem(file, 'listeners.kafka.tls', key);
      this.server = tls.createServer({ cert: pem(t.certFile, 'certFile'), key: pem(t.keyFile, 'keyFile'), ca: t.caFile === null ? undefined : pem(t.caFile, 'caFile') }, (socket) => this.accept(socket));
      this.server.on('tlsClientError', (err, socket) => this.log.debug({ err: err.message, remote: socket.remoteAddress }, 'kafka TLS handshake failed'));
    } else this.server = net.createServer((socket) => this.accept(socket));
  }

  static async start(opts: KafkaServerOptions): Promise<KafkaServer> {
    const s = new KafkaServer(opts);
    await listenOn(s.server, opts.host, opts.port, s.log, 'kafka');
    const securityProtocol = `${opts.sasl.enabled ? 'SASL_' : ''}${opts.tls.enabled ? 'SSL' : 'PLAINTEXT'}`;
    s.log.info({ host: opts.host, port: s.port, securityProtocol, saslMechanisms: opts.sasl.enabled ? opts.sasl.mechanisms : [] }, 'kafka listening');
    for (const { mechanism, userKey, users } of s.sasl?.withoutScram ?? [])
      s.log.warn({ mechanism, users }, `kafka: these users have no ${userKey} credential in auth.users and cannot use SASL ${mechanism}`);
    return s;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  private accept(socket: net.Socket): void {
    if (this.connections.size >= this.opts.connectionsMax) {
      this.log.warn({ connectionsMax: this.opts.connectionsMax, remote: socket.remoteAddress }, 'kafka connection refused: limit reached');
      socket.on('error', () => undefined);
      socket.destroy();
      return;
    }
    const conn = new KafkaConnection(socket, {
      broker: this.opts.broker,
      log: this.log,
      requestBytesMax: this.opts.requestBytesMax,
      inflightRequestsMax: this.opts.inflightRequestsMax,
      advertisedHost: this.opts.advertisedHost,
      advertisedPort: this.opts.advertisedPort,
      clusterId: this.opts.clusterId,
      fetchBudget: this.fetchBudget,
      writeStallMs: this.opts.writeStallMs,
      sasl: this.sasl,
      acl: this.acl,
      closed: (c) => this.connections.delete(c),
    });
    this.connections.add(conn);
  }

  /** Stops accepting; every connection answers what it already took, then closes. Resolves once all closed. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.close();
    await closed;
  }
}
