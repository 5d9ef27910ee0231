// A listening server's own 'error' (accept failing with EMFILE, …) must be logged, rate-limited, and
// never end the process. Node's libuv answers EMFILE on accept itself on Linux (it accepts and closes
// the connection with a spare descriptor) and emits nothing, so these tests emit the error Node
// would emit when that trick fails; fd-exhaustion.test.ts runs the real exhaustion against the bundle.
import net from 'node:net';
import tls from 'node:tls';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { startTributary } from '../../src/main.ts';
import { logServerErrors } from '../../src/listeners/server-errors.ts';
import { merge } from '../helpers/broker.ts';
import { selfSigned } from '../helpers/certs.ts';
import { connectMqtt } from '../helpers/mqtt.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

interface Line {
  msg: string;
  server?: string;
  code?: string;
  errors?: number;
}

function capture(): { logger: pino.Logger; lines: Line[]; next: (pred: (l: Line) => boolean) => Promise<Line> } {
  const lines: Line[] = [];
  const waiters: { pred: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];
  const logger = pino({ level: 'info' }, {
    write: (s: string) => {
      const line = JSON.parse(s) as Line;
      lines.push(line);
      for (const w of waiters.splice(0)) (w.pred(line) ? w.resolve(line) : waiters.push(w));
    },
  });
  const next = (pred: (l: Line) => boolean) => new Promise<Line>((resolve) => waiters.push({ pred, resolve }));
  return { logger, lines, next };
}

function emfile(): Error {
  return Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' });
}

function connects(port: number, host = '127.0.0.1'): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host, () => {
      s.destroy();
      resolve();
    });
    s.once('error', reject);
  });
}

afterEach(() => vi.restoreAllMocks());

describe('server errors after listen', () => {
  it('logs a burst of errors once, then once more with their count, and keeps serving', async () => {
    const { logger, lines, next } = capture();
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise((resolve) => server.close(() => resolve())));
    logServerErrors(server, logger, 'mqtt', 50);

    for (let i = 0; i < 1000; i++) server.emit('error', emfile());
    expect(lines).toEqual([expect.objectContaining({ msg: 'listener error: still serving', server: 'mqtt', code: 'EMFILE', errors: 1 })]);
    const summary = await next(() => true);
    expect(summary).toMatchObject({ server: 'mqtt', code: 'EMFILE', errors: 999 });
    await connects((server.address() as net.AddressInfo).port);
  });

  it('every listener (MQTT TCP, WebSocket, TLS, edge, Kafka, HTTP) survives an error on its server', async () => {
    const servers: net.Server[] = [];
    const listen = net.Server.prototype.listen;
    vi.spyOn(net.Server.prototype, 'listen').mockImplementation(function (this: net.Server, ...args: unknown[]) {
      servers.push(this);
      return (listen as (...a: unknown[]) => net.Server).apply(this, args);
    });
    const { certFile, keyFile } = selfSigned();
    const { logger, lines } = capture();
    const config = parseConfig(
      merge(
        { dataDir: tempDir() },
        {
          listeners: {
            edge: { host: '127.0.0.1', port: 0 },
            http: { host: '127.0.0.1', port: 0 },
            mqtt: { enabled: true, host: '127.0.0.1', port: 0, ws: { enabled: true, port: 0 }, tls: { enabled: true, port: 0, certFile, keyFile } },
            kafka: { host: '127.0.0.1', port: 0 },
          },
        },
      ),
      'test',
    );
    const running = await startTributary(config, logger);
    onCleanup(() => running.close());
    vi.restoreAllMocks();
    expect(servers).toHaveLength(6);

    for (const server of servers) server.emit('error', emfile());
    const logged = lines.filter((l) => l.msg === 'listener error: still serving').map((l) => l.server).sort();
    expect(logged).toEqual(['edge', 'http', 'kafka', 'mqtt', 'mqtt-tls', 'mqtt-ws']);

    await connects(running.edge!.port);
    await connects(running.kafka!.port);
    expect((await fetch(`http://127.0.0.1:${running.http!.port}/healthz`)).status).toBe(200);
    const client = await connectMqtt(running.mqtt!.port);
    await client.publishAsync('after/error', 'x', { qos: 1 });
    const ws = await connectMqtt(0, { protocol: 'ws', port: running.mqtt!.wsPort!, host: '127.0.0.1' });
    await ws.publishAsync('after/error', 'y', { qos: 1 });
    await new Promise<void>((resolve, reject) => {
      const s = tls.connect({ port: running.mqtt!.tlsPort!, host: '127.0.0.1', rejectUnauthorized: false }, () => {
        s.destroy();
        resolve();
      });
      s.once('error', reject);
    });
  });
});
