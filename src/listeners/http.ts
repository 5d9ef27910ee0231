// The HTTP listener: the status page at / (status-page/), /healthz for supervisors, /metrics for
// Prometheus, read-only views of topics, consumer groups and mirrors, and the admin actions on a mirror
// (pause, resume, retry, reset: http-mirrors.ts). Thin: it formats what the broker and the mirrors
// report. Reads are open like /metrics (a Prometheus on another host scrapes them); an
// admin action needs the listener's own adminToken when one is set, and without one it is taken only
// from a client on this machine (a loopback peer), so binding 0.0.0.0 for scrapes opens no admin door.

import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type client from 'prom-client';
import type { Broker } from '../broker/broker.ts';
import { isTributaryError, TributaryError, type ErrorName } from '../errors.ts';
import type { GroupState } from '../groups/types.ts';
import type { MirrorControl } from '../mirror/status.ts';
import { mirrorAction, mirrorActionPath, type MirrorAction } from './http-mirrors.ts';
import { listenOn, tokenMatches } from './listen.ts';
import type { StatusPage } from './status-page/status-page.ts';

export interface HttpListener {
  readonly port: number;
  close(): Promise<void>;
}

export interface HttpListenerOptions {
  host: string;
  port: number;
  broker: Broker;
  registry: client.Registry;
  /** null when no mirror is configured: /mirrors is then empty and every name unknown. */
  mirrors: MirrorControl | null;
  /** listeners.http.adminToken: required as `Authorization: Bearer <token>` on admin routes when set; when null, only loopback clients may use them. */
  adminToken: string | null;
  /** GET /, /status.json and /status/* (status-page/); null: not served. */
  statusPage?: StatusPage | null;
  logger: Logger;
}

export async function startHttpListener(opts: HttpListenerOptions): Promise<HttpListener> {
  const log = opts.logger.child({ listener: 'http' });
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err, url: req.url }, 'http request failed');
      if (!res.headersSent) send(res, 500, err instanceof TributaryError ? { error: err.codeName, message: err.message } : { error: 'UNKNOWN', message: 'internal error' });
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = requestUrl(req.url ?? '/');
    const action = mirrorActionPath.exec(url.pathname);
    if (action) {
      if (req.method !== 'POST') return send(res, 405, { error: 'INVALID_REQUEST', message: `only POST is served on ${url.pathname}` }, { allow: 'POST' });
      const refusal = adminRefusal(req);
      if (refusal !== null) {
        log.warn({ url: url.pathname, remote: req.socket.remoteAddress }, `admin request refused: ${refusal.message}`);
        return send(res, refusal.status, { error: 'NOT_AUTHORIZED', message: refusal.message }, refusal.status === 401 ? { 'www-authenticate': 'Bearer' } : {});
      }
      return answer(res, async () => {
        const name = decodePathPart(action[1], 'mirror');
        const done = await mirrorAction(mirrorControl(name), name, action[2] as MirrorAction, req);
        log.info({ mirror: name, ...done.log, remote: req.socket.remoteAddress }, `mirror ${action[2]} requested over http`);
        return done.body;
      });
    }
    const unknownAction = /^\/mirrors\/[^/]+\/([^/]+)$/.exec(url.pathname);
    if (unknownAction)
      return send(res, 404, { error: 'NOT_FOUND', message: `no mirror action ${JSON.stringify(unknownAction[1])}; the actions are POST /mirrors/NAME/pause, resume, retry and reset` });
    if (req.method !== 'GET') return send(res, 405, { error: 'INVALID_REQUEST', message: 'only GET is served' }, { allow: 'GET' });
    if (opts.statusPage && (await opts.statusPage.serve(req, res, url.pathname))) return;
    if (url.pathname === '/healthz') {
      const failed = opts.broker.storageFailure;
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
    if (topic) return answer(res, () => opts.broker.describeTopic(decodePathPart(topic[1], 'topic')));
    if (url.pathname === '/groups') return send(res, 200, groupList(opts.broker));
    const group = /^\/groups\/([^/]+)$/.exec(url.pathname);
    if (group) return answer(res, () => opts.broker.groups.describeGroup(decodePathPart(group[1], 'group')));
    if (url.pathname === '/mirrors') return send(res, 200, (await opts.mirrors?.statuses()) ?? []);
    const mirror = /^\/mirrors\/([^/]+)$/.exec(url.pathname);
    if (mirror)
      return answer(res, () => {
        const name = decodePathPart(mirror[1], 'mirror');
        return mirrorControl(name).status(name);
      });
    send(res, 404, { error: 'NOT_FOUND', message: `no route ${url.pathname}; try /, /healthz, /metrics, /topics, /groups, /mirrors` });
  }

  function mirrorControl(name: string): MirrorControl {
    if (opts.mirrors === null) throw new TributaryError('UNKNOWN_MIRROR', `no mirror named ${name}; configured: none`, { mirror: name });
    return opts.mirrors;
  }

  /** Why an admin request is refused (401: token missing or wrong, 403: not from this machine), or null. */
  function adminRefusal(req: http.IncomingMessage): { status: 401 | 403; message: string } | null {
    if (opts.adminToken !== null) {
      const given = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      return tokenMatches(opts.adminToken, given) ? null : { status: 401, message: 'missing or wrong token (Authorization: Bearer <listeners.http.adminToken>)' };
    }
    if (isLoopback(req.socket.remoteAddress)) return null;
    return { status: 403, message: `admin actions are taken from this machine only (the client is ${req.socket.remoteAddress ?? 'unknown'}); set listeners.http.adminToken to allow them from elsewhere with that token` };
  }

  await listenOn(server, opts.host, opts.port, log, 'http');
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

const errorStatus: Partial<Record<ErrorName, number>> = {
  UNKNOWN_TOPIC: 404,
  INVALID_PARTITION: 400,
  UNKNOWN_MIRROR: 404,
  UNKNOWN_GROUP: 404,
  INVALID_TOPIC: 400,
  INVALID_REQUEST: 400,
  // A pause is written to disk before it is answered.
  STORAGE_FULL: 507,
  STORAGE_FAILED: 503,
  SHUTTING_DOWN: 503,
};

/** 200 with what `fn` returns, 404 or 400 for a bad name, 507/503 when storage refused; anything else is the server's fault (500). */
async function answer(res: http.ServerResponse, fn: () => unknown): Promise<void> {
  try {
    send(res, 200, await fn());
  } catch (err) {
    if (!(err instanceof TributaryError) || errorStatus[err.codeName] === undefined) throw err;
    send(res, errorStatus[err.codeName]!, { error: err.codeName, message: err.message });
  }
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped form: a peer on this machine. */
function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || (net.isIPv4(v4) && v4.startsWith('127.'));
}

/** Every group with its state, member count and lag summed over its partitions. */
function groupList(broker: Broker): { group: string; state: GroupState; members: number; lag: number }[] {
  return broker.groups.listGroups().flatMap((g) => {
    try {
      const lag = broker.groups.describeGroup(g.group).partitions.reduce((sum, p) => sum + p.lag, 0);
      return [{ ...g, lag }];
    } catch (err) {
      // Listed for an offset of a topic deleted since: nothing left to show.
      if (isTributaryError(err, 'UNKNOWN_GROUP')) return [];
      throw err;
    }
  });
}

function decodePathPart(raw: string, what: 'topic' | 'mirror' | 'group'): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new TributaryError(what === 'topic' ? 'INVALID_TOPIC' : 'INVALID_REQUEST', `${what} in the path is not valid percent-encoding: ${raw}`);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/**
 * The request target as a URL. An absolute-form target (`http://host/path`) is taken as it is; any
 * other is a path, also one starting `//`, which `new URL(target, base)` would read as a host name.
 */
function requestUrl(target: string): URL {
  if (URL.canParse(target)) return new URL(target);
  return new URL(`http://localhost${target.startsWith('/') ? '' : '/'}${target}`);
}
