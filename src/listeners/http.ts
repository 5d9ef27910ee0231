// The HTTP listener: /healthz for supervisors, /metrics for Prometheus, and read-only admin views.
// Thin: it reads the broker and formats; it never writes.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type client from 'prom-client';
import type { Broker } from '../broker/broker.ts';
import { TributaryError } from '../errors.ts';
import { listenOn } from './listen.ts';

export interface HttpListener {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHttpListener(opts: { host: string; port: number; broker: Broker; registry: client.Registry; logger: Logger }): Promise<HttpListener> {
  const log = opts.logger.child({ listener: 'http' });
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err, url: req.url }, 'http request failed');
      if (!res.headersSent) send(res, 500, { error: 'UNKNOWN', message: 'internal error' });
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET') return send(res, 405, { error: 'INVALID_REQUEST', message: 'only GET is served' });
    if (url.pathname === '/healthz') {
      const failed = opts.broker.store.failed;
      return send(res, failed ? 503 : 200, failed ? { status: 'failed', error: failed.codeName, message: failed.message } : { status: 'ok' });
    }
    if (url.pathname === '/metrics') {
      const body = await opts.registry.metrics();
      res.writeHead(200, { 'content-type': opts.registry.contentType });
      res.end(body);
      return;
    }
    if (url.pathname === '/topics') return send(res, 200, opts.broker.listTopics());
    const topic = /^\/topics\/([^/]+)$/.exec(url.pathname);
    if (topic) {
      try {
        return send(res, 200, opts.broker.describeTopic(decodeTopic(topic[1])));
      } catch (err) {
        if (err instanceof TributaryError) return send(res, err.codeName === 'UNKNOWN_TOPIC' ? 404 : 400, { error: err.codeName, message: err.message });
        throw err;
      }
    }
    send(res, 404, { error: 'NOT_FOUND', message: `no route ${url.pathname}; try /healthz, /metrics, /topics` });
  }

  await listenOn(server, opts.host, opts.port);
  const port = (server.address() as AddressInfo).port;
  log.info({ host: opts.host, port }, 'http listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function decodeTopic(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new TributaryError('INVALID_TOPIC', `topic in the path is not valid percent-encoding: ${raw}`);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
