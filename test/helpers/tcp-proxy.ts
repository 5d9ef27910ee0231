// A loopback TCP proxy for tests that need to cut a link to a server they do not control (a real
// mosquitto, say): stop() closes the listener and destroys every proxied connection at once, as a
// network cut would; the server behind it keeps running. start() listens again on the same port.
//
// Piping is stream.pipe() both ways, so backpressure holds (a slow reader pauses the other side's
// socket instead of buffering without bound). Sockets are half-open capable: a FIN from one side is
// forwarded as a FIN to the other, and a connection ends once both directions have. An error or a
// reset on either side destroys both. An optional per-connection `downstream` stream sits between the
// server and the client (server → downstream → client), e.g. to hold some packets back; `upstream`
// likewise between the client and the server (client → upstream → server).
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { onCleanup } from './temp.ts';

export interface TcpProxyOptions {
  /** The server behind the proxy. */
  targetPort: number;
  targetHost?: string;
  /** The proxy's own port on 127.0.0.1; 0 or absent picks a free one, kept across stop()/start(). */
  port?: number;
  /** Called once per accepted connection, before it is piped. */
  onAccept?: (client: net.Socket) => void;
  /** Per connection: a stream the server→client bytes pass through; destroyed with the connection. */
  downstream?: () => Duplex;
  /** Per connection: a stream the client→server bytes pass through; destroyed with the connection. */
  upstream?: () => Duplex;
}

export interface TcpProxy {
  /** The port the proxy listens on (127.0.0.1). */
  readonly port: number;
  /** Connections accepted since the proxy was created (across stop()/start()). */
  readonly accepted: number;
  /** Proxied connections currently open. */
  readonly open: number;
  readonly listening: boolean;
  /** Closes the listener and destroys every proxied connection, both sides. Idempotent. */
  stop(): Promise<void>;
  /** Listens again on the same port. Idempotent. */
  start(): Promise<void>;
}

/** Starts the proxy listening on 127.0.0.1; it is stopped after the test (onCleanup). */
export async function startTcpProxy(opts: TcpProxyOptions): Promise<TcpProxy> {
  const targetHost = opts.targetHost ?? '127.0.0.1';
  const pairs = new Set<[net.Socket, net.Socket]>();
  let server: net.Server | null = null;
  let port = opts.port ?? 0;
  let accepted = 0;

  function accept(client: net.Socket): void {
    accepted++;
    opts.onAccept?.(client);
    const upstream = net.connect({ host: targetHost, port: opts.targetPort, allowHalfOpen: true });
    const middle = opts.downstream?.();
    const inward = opts.upstream?.();
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const kill = () => {
      client.destroy();
      upstream.destroy();
      middle?.destroy();
      inward?.destroy();
    };
    let closedSides = 0;
    for (const socket of pair) {
      socket.setNoDelay(true);
      socket.on('error', kill);
      socket.on('close', (hadError) => {
        if (hadError) kill();
        if (++closedSides === 2) {
          pairs.delete(pair);
          middle?.destroy();
          inward?.destroy();
        }
      });
    }
    // pipe() ends the destination once the source ended, and pauses the source while the
    // destination cannot take more.
    if (inward) {
      inward.on('error', kill);
      client.pipe(inward).pipe(upstream);
    } else {
      client.pipe(upstream);
    }
    if (middle) {
      middle.on('error', kill);
      upstream.pipe(middle).pipe(client);
    } else {
      upstream.pipe(client);
    }
  }

  const proxy: TcpProxy = {
    get port() {
      return port;
    },
    get accepted() {
      return accepted;
    },
    get open() {
      return pairs.size;
    },
    get listening() {
      return server !== null;
    },
    async stop() {
      if (server === null) return;
      const s = server;
      server = null;
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      await closed;
    },
    async start() {
      if (server !== null) return;
      const s = net.createServer({ allowHalfOpen: true }, accept);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => {
          s.off('error', reject);
          resolve();
        });
      });
      s.on('error', () => undefined);
      port = (s.address() as net.AddressInfo).port;
      server = s;
    },
  };

  await proxy.start();
  onCleanup(() => proxy.stop());
  return proxy;
}
