// The status page's routes on the HTTP listener: GET / (HTML), GET /status.json (the same snapshot as
// JSON) and the static files under /status/ (page.js, page.css, favicon.svg, and uPlot's script and stylesheet,
// read from its npm package: a runtime dependency, so it is there from the sources and beside the
// bundle alike, and a gateway without internet access still draws its charts).
//
// Credentials: when listeners.http.adminToken is set, the page and its JSON need it, as
// `Authorization: Bearer <token>` or as the password of HTTP Basic (any user name), which a browser
// asks for by itself; the page shows client ids and log lines, more than the open /metrics does.
// The static files carry no data and stay open. Without a token the page is open like the other reads.

import fs from 'node:fs';
import type http from 'node:http';
import { createRequire } from 'node:module';
import { tokenMatches } from '../listen.ts';
import { assetBase, renderPage } from './render.ts';
import { StatusSampler, type StatusSources } from './snapshot.ts';

const pageCsp = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface Asset {
  file: URL | string;
  type: string;
}

/**
 * From the TypeScript sources the page's files sit in ./assets beside this module; in the bundle
 * (dist/tributary.mjs) build.mjs copies them to dist/status-page/.
 */
const ownFiles = import.meta.url.endsWith('.ts') ? new URL('./assets/', import.meta.url) : new URL('./status-page/', import.meta.url);

function uplotFile(name: string): string {
  return createRequire(import.meta.url).resolve(`uplot/dist/${name}`);
}

const assets: Record<string, () => Asset> = {
  'page.js': () => ({ file: new URL('page.js', ownFiles), type: 'text/javascript; charset=utf-8' }),
  'page.css': () => ({ file: new URL('page.css', ownFiles), type: 'text/css; charset=utf-8' }),
  'favicon.svg': () => ({ file: new URL('favicon.svg', ownFiles), type: 'image/svg+xml' }),
  'uPlot.iife.min.js': () => ({ file: uplotFile('uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' }),
  'uPlot.min.css': () => ({ file: uplotFile('uPlot.min.css'), type: 'text/css; charset=utf-8' }),
};

export class StatusPage {
  private readonly sampler: StatusSampler;
  private readonly adminToken: string | null;
  /** The five files, about 60 KB, read once on first request. */
  private readonly cache = new Map<string, Buffer>();

  constructor(sources: StatusSources, adminToken: string | null) {
    this.sampler = new StatusSampler(sources);
    this.adminToken = adminToken;
  }

  /** Serves `pathname` when it is one of the page's routes (GET only); false for any other path. */
  async serve(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): Promise<boolean> {
    if (pathname.startsWith(assetBase)) {
      const asset = assets[pathname.slice(assetBase.length)];
      if (asset === undefined) return false;
      const { file, type } = asset();
      const key = String(file);
      let body = this.cache.get(key);
      if (body === undefined) this.cache.set(key, (body = await fs.promises.readFile(file)));
      res.writeHead(200, { 'content-type': type, 'cache-control': 'max-age=300', 'x-content-type-options': 'nosniff' });
      res.end(body);
      return true;
    }
    if (pathname !== '/' && pathname !== '/status.json') return false;
    if (!this.authorized(req)) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="tributary", charset="UTF-8"' });
      res.end(JSON.stringify({ error: 'NOT_AUTHORIZED', message: 'the status page needs listeners.http.adminToken: Authorization: Bearer <token>, or HTTP Basic with the token as password' }));
      return true;
    }
    const snapshot = await this.sampler.snapshot();
    if (pathname === '/status.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(snapshot));
      return true;
    }
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': pageCsp,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
    res.end(renderPage(snapshot));
    return true;
  }

  private authorized(req: http.IncomingMessage): boolean {
    if (this.adminToken === null) return true;
    const header = req.headers.authorization ?? '';
    const bearer = /^Bearer (.+)$/i.exec(header)?.[1];
    if (bearer !== undefined) return tokenMatches(this.adminToken, bearer);
    const basic = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header)?.[1];
    if (basic === undefined) return false;
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 && tokenMatches(this.adminToken, decoded.slice(colon + 1));
  }
}
