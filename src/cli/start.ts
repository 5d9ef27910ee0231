// `tributary start`: the broker in the foreground until SIGINT/SIGTERM. The first signal shuts down
// gracefully (stop accepting, answer what is in flight, finish the last transaction, close LMDB) and exits 0; a second
// one exits at once, for when a shutdown hangs.

import os from 'node:os';
import type { Command } from 'commander';
import type { Config } from '../config/schema.ts';
import type { RunningTributary } from '../main.ts';
import { CLIENT_ENV } from './connection.ts';
import type { ListenError } from '../listeners/listen.ts';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the broker in the foreground (SIGINT/SIGTERM shut it down gracefully)')
    .option('-c, --config <file>', 'config file, YAML or JSON (default: $TRIBUTARY_CONFIG, else built-in defaults)')
    .addHelpText(
      'after',
      `
Settings come from the defaults, then the file, then TRIBUTARY_* environment variables
(TRIBUTARY_LISTENERS__EDGE__PORT=7884 sets listeners.edge.port).

One broker per data dir: start locks <dataDir>/.lock (flock) and exits 1 (EBUSY, naming the
holder's pid) while another broker holds it. The lock dies with its holder, also by kill -9.

Examples:
  $ tributary start
  $ tributary start --config /etc/tributary/tributary.yaml
  $ TRIBUTARY_DATA_DIR=/var/lib/tributary TRIBUTARY_LOG__LEVEL=debug tributary start`,
    )
    .action(async (opts: { config?: string }) => {
      await start(opts.config);
    });
}

async function start(file: string | undefined): Promise<void> {
  // Loaded here, not at the top: the broker's modules (LMDB, zod, pino, prom-client) would add
  // a third of a second to every client command.
  const [{ loadConfig }, { createLogger }, { startTributary }, { RecentLogs }, { startIdleHeapTrim }] = await Promise.all([
    import('../config/load.ts'),
    import('../observability/logger.ts'),
    import('../main.ts'),
    import('../observability/recent-logs.ts'),
    import('../runtime/idle-heap-trim.ts'),
  ]);
  const config = loadConfig({ file, env: brokerEnv() });
  const recentLogs = new RecentLogs();
  const logger = await createLogger({ ...config.log, recentLogs });
  let running: RunningTributary;
  try {
    running = await startTributary(config, logger, { recentLogs });
  } catch (err) {
    throw explainStartupError(err, config);
  }
  // Per process, not per startTributary: a test process runs many brokers and needs no forced GCs.
  const heapTrim = startIdleHeapTrim({ onTrim: (trim) => logger.debug({ ...trim, thread: 'main' }, 'idle: full GC to shrink the young generation') });
  if (!heapTrim.running) logger.warn('this Node.js does not hand out V8\'s gc: the young generation a load grows is not given back when idle');

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without finishing the shutdown');
      process.exit(128 + (os.constants.signals[signal] ?? 0));
    }
    stopping = true;
    heapTrim.stop();
    logger.info({ signal }, 'shutting down');
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

// The client commands' variables share the TRIBUTARY_ prefix, and the config loader rejects every
// TRIBUTARY_ variable that is not a config key: a shell set up for `topics` must still `start`.
export function brokerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of CLIENT_ENV) delete env[name];
  return env;
}

/** Bind failures name the config key to change instead of a bare errno message. */
function explainStartupError(err: unknown, config: Config): unknown {
  const e = err as ListenError & { address?: string; port?: number };
  if (e?.syscall !== 'listen' || (e.code !== 'EADDRINUSE' && e.code !== 'EACCES')) return err;
  const key = configuredListeners(config).find((l) => l.name === e.listener)?.key;
  if (key === undefined) return err;
  const reason = e.code === 'EADDRINUSE' ? 'address already in use' : 'permission denied';
  return Object.assign(new Error(`cannot listen on ${e.address}:${e.port}: ${reason} (change ${key} or stop the process using it)`), { code: e.code });
}

export interface ConfiguredListener {
  /** The name it binds and logs under (listenOn), e.g. mqtt-ws. */
  name: string;
  /** The config key of its port, e.g. listeners.mqtt.ws.port. */
  key: string;
  host: string;
  port: number;
}

/** Every enabled listener's socket, in the order start binds them. */
export function configuredListeners(config: Config): ConfiguredListener[] {
  const { edge, mqtt, http, kafka } = config.listeners;
  const all: [boolean, string, string, number, string][] = [
    [edge.enabled, 'edge', edge.host, edge.port, 'listeners.edge.port'],
    [kafka.enabled, 'kafka', kafka.host, kafka.port, 'listeners.kafka.port'],
    [mqtt.enabled, 'mqtt', mqtt.host, mqtt.port, 'listeners.mqtt.port'],
    [mqtt.enabled && mqtt.ws.enabled, 'mqtt-ws', mqtt.host, mqtt.ws.port, 'listeners.mqtt.ws.port'],
    [mqtt.enabled && mqtt.tls.enabled, 'mqtt-tls', mqtt.host, mqtt.tls.port, 'listeners.mqtt.tls.port'],
    [http.enabled, 'http', http.host, http.port, 'listeners.http.port'],
  ];
  return all.filter(([enabled]) => enabled).map(([, name, host, port, key]) => ({ name, key, host, port }));
}
