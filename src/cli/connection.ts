// Where the client commands connect: --broker HOST:PORT (or $TRIBUTARY_BROKER) and --token.

import { Option, type Command } from 'commander';
import type { ConnectOptions } from '../client/index.ts';
import { UsageError } from './errors.ts';

export const DEFAULT_BROKER = '127.0.0.1:7883';
const BROKER_ENV = 'TRIBUTARY_BROKER';
/** Environment variables read by client commands, not broker config keys. */
export const CLIENT_ENV = [BROKER_ENV] as const;

export interface ConnectionFlags {
  broker: string;
  token?: string;
}

export function addConnectionOptions(command: Command): Command {
  return command
    .addOption(new Option('-b, --broker <host:port>', 'edge listener of the broker').env(BROKER_ENV).default(DEFAULT_BROKER))
    .option('--token <token>', 'token, when the broker requires one (listeners.edge.token)');
}

export function connectOptions(flags: ConnectionFlags): ConnectOptions {
  const { host, port } = parseBrokerAddress(flags.broker);
  return { host, port, token: flags.token, clientId: `tributary-cli-${process.pid}` };
}

/** HOST:PORT, [IPv6]:PORT, or a bare host (default port). */
export function parseBrokerAddress(text: string): { host: string; port: number } {
  const defaultPort = Number(DEFAULT_BROKER.split(':')[1]);
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(text.trim());
  const port = match?.[3] === undefined ? defaultPort : Number(match[3]);
  if (match === null || port < 1 || port > 65535) throw new UsageError(`--broker ${JSON.stringify(text)} is not HOST:PORT (e.g. ${DEFAULT_BROKER})`);
  return { host: match[1] ?? match[2], port };
}
