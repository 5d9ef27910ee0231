// The edge-protocol TCP listener: accepts connections up to the configured maximum and hands each to
// an EdgeConnection. Holds the client-id registry that makes one idempotent producer one connection
// (and keeps what its recent frames became across reconnects), and the byte budgets all connections
// share.

import net from 'node:net';
import type { Logger } from 'pino';
import type { Broker } from '../../broker/broker.ts';
import { encodeFrame } from '../../protocol/edge/codec.ts';
import { ErrorCode, TributaryError } from '../../errors.ts';
import { limits } from '../../limits.ts';
import { listenOn, refuseSocket } from '../listen.ts';
import { ByteBudget } from './byte-budget.ts';
import type { ProducerWindow } from './producer-window.ts';
import { EdgeConnection, type EdgeSettings } from './edge-connection.ts';

export interface EdgeServerOptions extends EdgeSettings {
  host: string;
  port: number;
  connectionsMax: number;
  broker: Broker;
  logger: Logger;
}

export class EdgeServer {
  private readonly server: net.Server;
  private readonly connections = new Set<EdgeConnection>();
  private readonly byClientId = new Map<string, EdgeConnection>();
  /**
   * What the frames of recently disconnected idempotent clients became, oldest first, so a client
   * that reconnects and retransmits learns where its records are [EDGE-7.5].
   */
  private readonly recentWindows = new Map<string, ProducerWindow>();
  private readonly opts: EdgeServerOptions;
  private readonly log: Logger;
  /** Bounds what all connections together hold, whatever their number [EDGE-8.3] [EDGE-2.2]. */
  readonly writeBudget: ByteBudget;
  readonly partialBudget: ByteBudget;

  private constructor(opts: EdgeServerOptions) {
    this.opts = opts;
    this.writeBudget = new ByteBudget(opts.writeBytesTotalMax);
    this.partialBudget = new ByteBudget(opts.partialFrameBytesTotalMax);
    this.log = opts.logger.child({ listener: 'edge' });
    this.server = net.createServer((socket) => this.accept(socket));
  }

  static async start(opts: EdgeServerOptions): Promise<EdgeServer> {
    const s = new EdgeServer(opts);
    await listenOn(s.server, opts.host, opts.port, s.log, 'edge');
    s.log.info({ host: opts.host, port: s.port }, 'edge listening');
    return s;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Client ids of open connections past HELLO that gave one, at most `max` (the status page). */
  clientIds(max: number): string[] {
    const ids: string[] = [];
    for (const c of this.connections) {
      if (ids.length >= max) break;
      if (c.id !== '') ids.push(c.id);
    }
    return ids;
  }

  private accept(socket: net.Socket): void {
    if (this.connections.size >= this.opts.connectionsMax) {
      this.log.warn({ connectionsMax: this.opts.connectionsMax, remote: socket.remoteAddress }, 'edge connection refused: limit reached');
      refuseSocket(socket, encodeFrame({ type: 'error', refKind: 'connection', ref: 0, code: ErrorCode.THROTTLED, message: `connection limit of ${this.opts.connectionsMax} reached` }));
      return;
    }
    const host = {
      broker: this.opts.broker,
      settings: this.opts,
      logger: this.log,
      writeBudget: this.writeBudget,
      partialBudget: this.partialBudget,
      claimClientId: (clientId: string, conn: EdgeConnection) => {
        const previous = this.byClientId.get(clientId);
        this.byClientId.set(clientId, conn);
        const recent = this.recentWindows.get(clientId);
        this.recentWindows.delete(clientId);
        if (!previous || previous === conn) return recent;
        // Two live connections producing under one client id would interleave its sequence numbers
        // [EDGE-4.1]. The newer one inherits what the older one's frames became [EDGE-7.5].
        previous.close(new TributaryError('INVALID_REQUEST', `replaced by a newer connection with client id ${clientId}`));
        return previous.window ?? undefined;
      },
      closed: (conn: EdgeConnection) => {
        this.connections.delete(conn);
        if (this.byClientId.get(conn.id) !== conn) return;
        this.byClientId.delete(conn.id);
        if (conn.window === null) return;
        this.recentWindows.set(conn.id, conn.window);
        if (this.recentWindows.size > limits.edgeProducerWindowsRetained) this.recentWindows.delete(this.recentWindows.keys().next().value!);
      },
    };
    this.connections.add(new EdgeConnection(socket, host));
  }

  /**
   * Stops accepting and reading, lets every connection answer the produce frames it already took,
   * then tells it the broker is going away; resolves once every socket closed.
   */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.close(new TributaryError('SHUTTING_DOWN', 'broker is shutting down'));
    await closed;
  }
}
