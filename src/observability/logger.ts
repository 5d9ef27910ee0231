// The process logger. JSON lines for machines (journald, log shippers); human-readable lines when
// someone watches a terminal.
//
// pino-pretty runs in-process as a plain stream, not as a pino transport: transports load their
// target in a worker thread by module path, which breaks once esbuild has bundled the app into a
// single file. It is imported only when a logger is pretty: a gateway logging JSON (under systemd,
// not on a terminal) never needs its ~60 modules.

import pino from 'pino';
import type { RecentLogs } from './recent-logs.ts';

export interface CreateLoggerOptions {
  /** A pino level: fatal, error, warn, info, debug, trace or silent. */
  level: string;
  /** 'auto': pretty when the destination (stdout unless given) is a terminal. */
  pretty: 'auto' | boolean;
  name?: string;
  /** Defaults to stdout. */
  destination?: NodeJS.WritableStream;
  /** Also handed every warn, error and fatal line (the status page's recent errors). */
  recentLogs?: RecentLogs;
}

export async function createLogger(opts: CreateLoggerOptions): Promise<pino.Logger> {
  const isTTY = Boolean(((opts.destination ?? process.stdout) as { isTTY?: boolean }).isTTY);
  const options: pino.LoggerOptions = {
    level: opts.level,
    name: opts.name,
    // The hostname is the same on every line of a single gateway and only costs bytes on the SD card.
    base: { pid: process.pid },
  };
  let destination: pino.DestinationStream | NodeJS.WritableStream | undefined = opts.destination;
  if (opts.pretty === true || (opts.pretty === 'auto' && isTTY)) {
    const { default: pretty } = await import('pino-pretty');
    // sync: the last lines before a crash must reach the terminal.
    destination = pretty({ destination: opts.destination ?? 1, colorize: isTTY, sync: true });
  }
  if (opts.recentLogs === undefined) return pino(options, destination);
  // The logger's own level still decides what is written at all; the streams' levels only sort it.
  return pino(
    options,
    pino.multistream([
      { level: 'trace', stream: (destination ?? pino.destination(1)) as pino.DestinationStream },
      { level: 'warn', stream: opts.recentLogs },
    ]),
  );
}
