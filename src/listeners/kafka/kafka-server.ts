// The Kafka wire-protocol TCP listener (listeners.kafka): accepts connections up to connectionsMax
// and hands each to a KafkaConnection. Kafka has no way to refuse a connection with a message, so
// one over the limit is closed at once, with a log line.

import net from 'node:net';
import type { Logger } from 'pino';
import type { Broker } from '../../broker/broker.ts';
import { ByteBudget } from '../edge/byte-budget.ts';
import { listenOn } from '../listen.ts';
import { KafkaConnection } from './kafka-connection.ts';

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

  private constructor(opts: KafkaServerOptions) {
    this.opts = opts;
    this.fetchBudget = new ByteBudget(opts.fetchBytesTotalMax);
    this.log = opts.logger.child({ listener: 'kafka' });
    this.server = net.createServer((socket) => this.accept(socket));
  }

  static async start(opts: KafkaServerOptions): Promise<KafkaServer> {
    const s = new KafkaServer(opts);
    await listenOn(s.server, opts.host, opts.port, s.log, 'kafka');
    s.log.info({ host: opts.host, port: s.port }, 'kafka listening');
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
