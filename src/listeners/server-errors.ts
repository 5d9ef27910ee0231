// Keeps a listening server alive through its own errors. A net.Server (and the http and tls servers
// built on it) emits 'error' after it listens when accept fails (EMFILE, ENFILE, ENOBUFS…); with no
// listener Node turns that into an uncaught exception and the whole broker stops. The server stays
// open and Node keeps accepting once the cause is gone, so logging is the whole answer. When accept
// fails it fails per pending connection, as often as the event loop turns: one log line per error
// would flood the log, so the first error of a quiet listener is logged at once and those that
// follow within logIntervalMs are summed into one line at the end of that interval.

import type net from 'node:net';
import type { Logger } from 'pino';
import { limits } from '../limits.ts';

interface ServerError extends Error {
  code?: string;
  syscall?: string;
}

/** `server` names the server in each line (a listener may have several: mqtt, mqtt-ws, mqtt-tls). */
export function logServerErrors(server: net.Server, log: Logger, name: string, logIntervalMs: number = limits.serverErrorLogIntervalMs): void {
  let window: NodeJS.Timeout | null = null;
  let count = 0;
  let last: ServerError | null = null;
  const report = (err: ServerError, errors: number): void => {
    log.error({ server: name, code: err.code ?? null, syscall: err.syscall ?? null, errors, err: err.message }, 'listener error: still serving');
  };
  const closeWindow = (): void => {
    window = null;
    if (count === 0 || last === null) return;
    report(last, count);
    count = 0;
    openWindow();
  };
  const openWindow = (): void => {
    // unref: a summary still due must not keep a stopping broker alive.
    window = setTimeout(closeWindow, logIntervalMs).unref();
  };
  server.on('error', (err: ServerError) => {
    last = err;
    if (window !== null) {
      count++;
      return;
    }
    report(err, 1);
    openWindow();
  });
  server.once('close', () => {
    if (window !== null) clearTimeout(window);
  });
}
