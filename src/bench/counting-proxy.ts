// A TCP proxy on loopback that counts what passes through it: bytes each way, and whatever the
// caller's observers make of the byte streams (frames or packets by type). Benchmarks put it between
// a client and the broker child process to measure what a protocol costs on the wire, without
// touching either side. It forwards with backpressure (pipe) and holds nothing itself.

import net from 'node:net';

export interface StreamObservers {
  /** Each chunk the client sent, in order, before it is forwarded to the broker. */
  up(chunk: Buffer): void;
  /** Each chunk the broker sent, in order, before it is forwarded to the client. */
  down(chunk: Buffer): void;
}

/** The client-facing socket of a proxied connection, as `ss` names it. */
export interface ClientSide {
  proxyPort: number;
  clientPort: number;
}

export class CountingProxy {
  /** Bytes from clients to the broker (TCP payload). */
  upBytes = 0;
  /** Bytes from the broker to clients (TCP payload). */
  downBytes = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private openConnections = 0;
  private idleWaiters: (() => void)[] = [];
  private lastClient: ClientSide | null = null;

  private constructor(server: net.Server) {
    this.server = server;
  }

  /** Listens on 127.0.0.1, port 0, forwarding every connection to 127.0.0.1:targetPort. */
  static async start(targetPort: number, observers: StreamObservers): Promise<CountingProxy> {
    const server = net.createServer();
    const proxy = new CountingProxy(server);
    server.on('connection', (client) => proxy.forward(client, targetPort, observers));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** The most recent connection's client-facing socket, or null before the first. */
  get client(): ClientSide | null {
    return this.lastClient;
  }

  /** Resolves once every proxied connection has closed on both sides: all their bytes are counted. */
  idle(): Promise<void> {
    if (this.openConnections === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private forward(client: net.Socket, targetPort: number, observers: StreamObservers): void {
    this.lastClient = { proxyPort: this.port, clientPort: client.remotePort! };
    const broker = net.connect({ host: '127.0.0.1', port: targetPort });
    // As the clients do (the TS client sets it; small devices send each frame as it is ready): a
    // proxy that held bytes back for Nagle would add segments and delay that are not the protocol's.
    client.setNoDelay(true);
    broker.setNoDelay(true);
    this.openConnections++;
    let closedSides = 0;
    for (const s of [client, broker]) {
      this.sockets.add(s);
      // Either side failing ends the connection; the other side sees its close.
      s.on('error', () => (s === client ? broker : client).destroy());
      s.once('close', () => {
        this.sockets.delete(s);
        (s === client ? broker : client).destroy();
        if (++closedSides === 2) this.connectionClosed();
      });
    }
    client.on('data', (chunk: Buffer) => {
      this.upBytes += chunk.length;
      observers.up(chunk);
    });
    broker.on('data', (chunk: Buffer) => {
      this.downBytes += chunk.length;
      observers.down(chunk);
    });
    client.pipe(broker);
    broker.pipe(client);
  }

  private connectionClosed(): void {
    if (--this.openConnections > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
