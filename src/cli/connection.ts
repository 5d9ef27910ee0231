// Where the client commands connect: the edge listener (--broker HOST:PORT or $TRIBUTARY_BROKER), or
// for `mirror` the HTTP listener (--http HOST:PORT or $TRIBUTARY_HTTP); --token for either.

import { Option, type Command } from 'commander';
import type { ConnectOptions } from '../client/index.ts';
import { UsageError } from './errors.ts';

const DEFAULT_BROKER = '127.0.0.1:7883';
const DEFAULT_HTTP = '127.0.0.1:8088';
const BROKER_ENV = 'TRIBUTARY_BROKER';
const HTTP_ENV = 'TRIBUTARY_HTTP';
const HTTP_TOKEN_ENV = 'TRIBUTARY_HTTP_TOKEN';
/** Environment variables read by client commands, not broker config keys. */
export const CLIENT_ENV = [BROKER_ENV, HTTP_ENV, HTTP_TOKEN_ENV] as const;

export interface ConnectionFlags {
  broker: string;
  token?: string;
}

export function addConnectionOptions(command: Command): Command {
  return command
    .addOption(new Option('-b, --broker <host:port>', 'edge listener of the broker').env(BROKER_ENV).default(DEFAULT_BROKER))
    .option('--token <token>', 'token, when the broker requires one (listeners.edge.token)');
}

export function addHttpOption(command: Command): Command {
  return command.addOption(new Option('--http <host:port>', 'HTTP listener of the broker (listeners.http)').env(HTTP_ENV).default(DEFAULT_HTTP));
}

/** --token for the HTTP listener's admin actions; from the environment so it stays out of `ps` and shell history. */
export function addHttpTokenOption(command: Command): Command {
  return command.addOption(new Option('--token <token>', "the HTTP listener's admin token, when the broker sets one (listeners.http.adminToken)").env(HTTP_TOKEN_ENV));
}

export function connectOptions(flags: ConnectionFlags): ConnectOptions {
  const { host, port } = parseAddress(flags.broker, '--broker', DEFAULT_BROKER);
  // A random id (the client default): in containers every CLI run is pid 1, and two producers with
  // one id evict each other.
  return { host, port, token: flags.token };
}

/** The --http listener as a URL's host:port. */
export function httpAddress(flags: { http: string }): string {
  const { host, port } = parseAddress(flags.http, '--http', DEFAULT_HTTP);
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** HOST:PORT, [IPv6]:PORT, or a bare host (the port of `defaultAddress`). */
function parseAddress(text: string, flag: string, defaultAddress: string): { host: string; port: number } {
  const defaultPort = Number(defaultAddress.split(':')[1]);
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(text.trim());
  const port = match?.[3] === undefined ? defaultPort : Number(match[3]);
  if (match === null || port < 1 || port > 65535) throw new UsageError(`${flag} ${JSON.stringify(text)} is not HOST:PORT (e.g. ${defaultAddress})`);
  return { host: match[1] ?? match[2], port };
}
