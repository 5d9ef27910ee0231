// Shared by every listener: bind, and report only the bind error through the promise — a later
// server error (EMFILE on accept, …) goes to logServerErrors, which logs it and keeps serving.

import { timingSafeEqual } from 'node:crypto';
import type net from 'node:net';
import type { Logger } from 'pino';
import { logServerErrors } from './server-errors.ts';

/** The error listenOn rejects with: `listener` names the listener whose bind failed (ConfiguredListener.name in cli/start.ts). */
export type ListenError = NodeJS.ErrnoException & { listener?: string };

/**
 * Binds `server`; once it listens, its errors are logged under `name` instead of ending the process.
 * A bind error carries `name` (ListenError): two listeners configured on one port fail on the second,
 * which the port alone cannot tell.
 */
export function listenOn(server: net.Server, host: string, port: number, log: Logger, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (err: ListenError) => reject(Object.assign(err, { listener: name }));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      logServerErrors(server, log, name);
      resolve();
    });
  });
}

/** How long a refused or closing socket may linger for its last bytes before it is destroyed. */
export const LINGER_MS = 5_000;

/** Answers a connection refused at accept with `answer`, drains what it sends, destroys it after LINGER_MS. */
export function refuseSocket(socket: net.Socket, answer: Uint8Array): void {
  socket.on('error', () => undefined);
  socket.end(answer);
  socket.resume();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/** The broker token check every listener shares (edge HELLO, HTTP writes): constant time. */
export function tokenMatches(expected: string, given: Uint8Array | string | null | undefined): boolean {
  if (given === null || given === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
