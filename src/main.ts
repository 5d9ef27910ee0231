// Wires config → storage → broker → listeners, and tears them down in the reverse order.

import type { Logger } from 'pino';
import { Broker } from './broker/broker.ts';
import type { Config } from './config/schema.ts';
import { EdgeServer } from './listeners/edge/edge-server.ts';
import { startHttpListener, type HttpListener } from './listeners/http.ts';
import { KafkaServer } from './listeners/kafka/kafka-server.ts';
import { MqttListener } from './listeners/mqtt/mqtt-listener.ts';
import type { StorageReading } from './listeners/status-page/snapshot.ts';
import { StatusPage } from './listeners/status-page/status-page.ts';
import { limits } from './limits.ts';
import type { MirrorThread } from './mirror/thread/mirror-thread.ts';
import { createMetricsRegistry } from './observability/metrics.ts';
import type { RecentLogs } from './observability/recent-logs.ts';
import { lockDataDir } from './storage/data-dir-lock.ts';
import { filesystemFreeBytes } from './storage/lmdb-env.ts';
import { LogStore } from './storage/log-store.ts';
import { MqttPersistence } from './storage/mqtt-persistence.ts';

export interface RunningTributary {
  broker: Broker;
  edge: EdgeServer | null;
  kafka: KafkaServer | null;
  mqtt: MqttListener | null;
  http: HttpListener | null;
  /** The configured mirrors, running on their thread; null when none is configured. */
  mirrors: MirrorThread | null;
  /** Stops accepting, answers in-flight requests, finishes the last transaction and flushes, closes LMDB. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** An aedes persistence for MQTT sessions, retained messages and QoS queues; by default the LMDB one. */
  mqttPersistence?: unknown;
  /** The ring the logger feeds with its warn and error lines (createLogger's recentLogs): the status page lists them. */
  recentLogs?: RecentLogs;
}

export async function startTributary(config: Config, logger: Logger, options: StartOptions = {}): Promise<RunningTributary> {
  // One broker per data dir: taken before LMDB opens, released after it closed (or at our death).
  const lock = lockDataDir(config.dataDir);
  let running: RunningTributary;
  try {
    running = await startLocked(config, logger, options);
  } catch (err) {
    lock.release();
    throw err;
  }
  return {
    ...running,
    close: async () => {
      try {
        await running.close();
      } finally {
        lock.release();
      }
    },
  };
}

async function startLocked(config: Config, logger: Logger, options: StartOptions): Promise<RunningTributary> {
  const store = new LogStore({
    dataDir: config.dataDir,
    mapSizeBytes: config.storage.mapSizeBytes,
    maxMapSizeBytes: config.storage.maxMapSizeBytes,
    diskBudgetBytes: config.storage.diskBudgetBytes,
    diskBudgetPolicy: config.storage.diskBudgetPolicy,
    minFreeDiskBytes: config.storage.minFreeDiskBytes,
    txnQueueBytesMax: config.storage.txnQueueBytesMax,
    logger,
  });
  const broker = new Broker(
    store,
    {
      autoCreate: config.topics.autoCreate,
      defaultPartitions: config.topics.defaultPartitions,
      defaultRetentionMs: config.topics.defaultRetentionMs,
      defaultRetentionBytes: config.topics.defaultRetentionBytes,
      retentionCheckIntervalMs: config.retention.checkIntervalMs,
      retentionBatchesPerStep: config.retention.batchesPerStep,
      groups: config.groups,
    },
    logger,
  );

  let edge: EdgeServer | null = null;
  let kafka: KafkaServer | null = null;
  let mqtt: MqttListener | null = null;
  let http: HttpListener | null = null;
  // Built before the listeners so the metrics can read them; started after, so a broken listener
  // config fails the start before anything is shipped.
  // Every mirror runs on one thread of its own (mirror/thread/mirror-worker.ts), started only when one is
  // configured: shipping a backlog never competes with ingest for this loop.
  let mirrors: MirrorThread | null = null;
  try {
    if (config.mirrors.length > 0)
      mirrors = await (await import('./mirror/thread/mirror-thread.ts')).MirrorThread.create({
        configs: config.mirrors,
        edgeId: config.edgeId,
        store,
        dataDir: config.dataDir,
        mapSizeBytes: config.storage.mapSizeBytes,
        maxMapSizeBytes: config.storage.maxMapSizeBytes,
        minFreeDiskBytes: config.storage.minFreeDiskBytes,
        logger,
      });
  } catch (err) {
    await broker.close();
    throw err;
  }
  // Retention starts once the mirrors' floor is in place: no step may delete what they have not shipped.
  broker.start();
  // Sessions, subscriptions, retained messages and queued QoS 1/2 deliveries live in the log's LMDB
  // environment, so a restart loses none of them and there is still one file to back up.
  let ownPersistence: MqttPersistence | null = null;
  try {
    const e = config.listeners.edge;
    if (e.enabled)
      edge = await EdgeServer.start({ ...e, broker, logger });
    const k = config.listeners.kafka;
    if (k.enabled) kafka = await KafkaServer.start({ ...k, users: config.auth.users, acls: config.auth.acls, clusterId: config.edgeId, broker, logger });
    const m = config.listeners.mqtt;
    if (m.enabled) {
      if (options.mqttPersistence === undefined) ownPersistence = new MqttPersistence(store, logger);
      const { enabled: defaultRouteOn, ...defaultRoute } = config.defaultRoute;
      mqtt = await MqttListener.start({
        ...m,
        routes: config.routes,
        defaultRoute: defaultRouteOn ? defaultRoute : null,
        users: config.auth.users,
        acls: config.auth.acls,
        broker,
        logger,
        persistence: options.mqttPersistence ?? ownPersistence,
        sessionStats: ownPersistence ?? undefined,
        sessionExpiryStore: ownPersistence ?? undefined,
      });
    }
    const h = config.listeners.http;
    if (h.enabled) {
      const registry = createMetricsRegistry({
        broker,
        connections: () => ({ edge: edge?.connectionCount ?? 0, mqtt: mqtt?.connectionCount ?? 0, kafka: kafka?.connectionCount ?? 0 }),
        mqtt: mqtt ?? undefined,
        mirrors: mirrors ?? undefined,
        edge: edge ?? undefined,
      });
      const statusPage = new StatusPage(
        {
          broker,
          mirrors,
          clients: () => ({
            mqtt: mqtt && { count: mqtt.clientCount, ids: mqtt.clientIds(limits.statusClientIdsMax) },
            edge: edge && { count: edge.connectionCount, ids: edge.clientIds(limits.statusClientIdsMax) },
            kafka: kafka && { connections: kafka.connectionCount },
          }),
          storage: () => storageReading(config, broker),
          recentLogs: options.recentLogs ?? null,
        },
        h.adminToken,
      );
      http = await startHttpListener({ host: h.host, port: h.port, broker, registry, mirrors, adminToken: h.adminToken, statusPage, logger });
    }
    mirrors?.start();
  } catch (err) {
    await mirrors?.stop();
    await mqtt?.close();
    await edge?.close();
    await kafka?.close();
    await http?.close();
    await ownPersistence?.destroy().catch((cleanupErr: unknown) => logger.error({ err: cleanupErr }, 'MQTT persistence failed to close'));
    await broker.close();
    throw err;
  }
  logger.info({ mirrors: config.mirrors.length, dataDir: config.dataDir, edgePort: edge?.port, kafkaPort: kafka?.port, mqttPort: mqtt?.port, httpPort: http?.port, topics: broker.listTopics().length }, 'tributary started');

  let closing: Promise<void> | null = null;
  return {
    broker,
    edge,
    kafka,
    mqtt,
    http,
    mirrors,
    close: () =>
      (closing ??= (async () => {
        await edge?.close();
        await kafka?.close();
        await mqtt?.close();
        await http?.close();
        // The mirror thread reads the log and persists its cursors in LMDB: it stops (exact cursors
        // written, its LMDB handle closed, the thread ended) before the store closes.
        await mirrors?.stop();
        // The persistence commits what aedes handed it while closing; LMDB closes after it, even when
        // that last transaction commit failed (the log's own final sync and close must still run).
        try {
          await ownPersistence?.destroy();
        } finally {
          await broker.close();
        }
        logger.info('tributary stopped');
      })()),
  };
}

/** Storage use against the configured limits, for the status page. */
function storageReading(config: Config, broker: Broker): StorageReading {
  const stats = broker.storageStats();
  const free = filesystemFreeBytes(config.dataDir);
  const failure = broker.storageFailure;
  return {
    logBytes: stats.logBytes,
    fileBytes: stats.fileBytes,
    mapUsedBytes: stats.mapUsedBytes,
    diskBudgetBytes: config.storage.diskBudgetBytes,
    diskBudgetPolicy: config.storage.diskBudgetPolicy,
    freeDiskBytes: Number.isFinite(free) ? free : null,
    minFreeDiskBytes: config.storage.minFreeDiskBytes,
    mapSizeBytes: config.storage.mapSizeBytes,
    maxMapSizeBytes: config.storage.maxMapSizeBytes,
    failed: failure === null ? null : { code: failure.codeName, message: failure.message },
  };
}
