// Prometheus metrics, read from the broker's plain counters at scrape time: the hot paths only bump
// integers, and prom-client formats the text exposition.

import client from 'prom-client';
import type { Broker } from '../broker/broker.ts';
import type { MqttMetricsSource } from '../listeners/mqtt/metrics.ts';

export interface MetricsSources {
  broker: Broker;
  /** Open connections per listener name (edge, mqtt, ...). */
  connections: () => Record<string, number>;
  mqtt?: MqttMetricsSource;
  mirrors?: MirrorMetricsSource;
}

/** What the mirrors (src/mirror/) expose; read at scrape time. */
export interface MirrorMetricsSource {
  mirrorStatuses(): readonly { name: string; state: string; shippedRecords: number; resentRecords: number; backlogRecords: number }[];
}

export function createMetricsRegistry(src: MetricsSources): client.Registry {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'tributary_' });
  const { broker } = src;

  const counter = (name: string, help: string, read: () => number) =>
    new client.Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  counter('tributary_records_in_total', 'Records appended to partition logs.', () => broker.counters.recordsIn);
  counter('tributary_bytes_in_total', 'Bytes of record batches appended.', () => broker.counters.bytesIn);
  counter('tributary_records_out_total', 'Records returned by fetches (whole batches).', () => broker.counters.recordsOut);
  counter('tributary_bytes_out_total', 'Bytes of record batches returned by fetches.', () => broker.counters.bytesOut);
  counter('tributary_produce_requests_total', 'Produce requests (appends asked for).', () => broker.counters.produceRequests);
  counter('tributary_fetch_requests_total', 'Fetch requests.', () => broker.counters.fetchRequests);
  counter('tributary_appends_total', 'Batches written to storage.', () => broker.store.stats().appends);
  counter('tributary_group_commits_total', 'Storage transactions that wrote appends (group commits).', () => broker.store.stats().groupCommits);
  counter('tributary_retention_deleted_records_total', 'Records deleted by retention and the disk budget.', () => broker.store.stats().evictedRecords);

  new client.Counter({
    name: 'tributary_errors_total',
    help: 'Errors returned to clients, by stable error code.',
    labelNames: ['code'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [code, n] of broker.counters.errors) this.inc({ code }, n);
    },
  });

  const gauge = (name: string, help: string, read: () => number) =>
    new client.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  gauge('tributary_storage_log_bytes', 'Bytes of stored record batches (what the disk budget counts).', () => broker.store.stats().logBytes);
  gauge('tributary_storage_file_bytes', 'Size of the LMDB data file.', () => broker.store.stats().fileBytes);
  gauge('tributary_storage_failed', '1 when storage stopped accepting writes after a failure (fail-stop).', () => (broker.store.failed ? 1 : 0));
  gauge('tributary_topics', 'Topics.', () => broker.store.stats().topics);
  gauge('tributary_fetches_parked', 'Long-poll fetches waiting for data.', () => broker.parkedFetches);

  new client.Gauge({
    name: 'tributary_connections',
    help: 'Open client connections by listener.',
    labelNames: ['listener'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [listener, n] of Object.entries(src.connections())) this.set({ listener }, n);
    },
  });

  if (src.mqtt) registerMqttMetrics(registry, src.mqtt);
  if (src.mirrors) registerMirrorMetrics(registry, src.mirrors);

  const partitionGauge = (name: string, help: string, field: 'nextOffset' | 'logStartOffset' | 'bytes') =>
    new client.Gauge({
      name,
      help,
      labelNames: ['topic', 'partition'],
      registers: [registry],
      collect() {
        this.reset();
        for (const t of broker.listTopics()) for (const p of t.partitions) this.set({ topic: t.name, partition: String(p.partition) }, p[field]);
      },
    });
  partitionGauge('tributary_partition_next_offset', 'Next offset (log end) per partition.', 'nextOffset');
  partitionGauge('tributary_partition_log_start_offset', 'First retained offset per partition.', 'logStartOffset');
  partitionGauge('tributary_partition_bytes', 'Stored bytes per partition.', 'bytes');
  return registry;
}

function registerMqttMetrics(registry: client.Registry, src: MqttMetricsSource): void {
  const m = src.metrics;
  const labelled = (name: string, help: string, label: string, read: () => Iterable<[string, number]>) =>
    new client.Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [value, n] of read()) this.inc({ [label]: value }, n);
      },
    });
  labelled('tributary_mqtt_publishes_in_total', 'MQTT PUBLISH packets received from clients, by QoS.', 'qos', () => m.publishesIn.map((n, qos) => [String(qos), n]));
  labelled('tributary_mqtt_denied_total', 'MQTT publishes and subscriptions refused by ACLs.', 'action', () => Object.entries(m.denied));
  labelled('tributary_mqtt_connects_refused_total', 'MQTT connections refused before or at CONNACK, by reason.', 'reason', () => m.refused);
  labelled('tributary_mqtt_connections_closed_total', 'MQTT connections the broker closed, by reason.', 'reason', () => m.closed);
  new client.Counter({
    name: 'tributary_mqtt_unrouted_total',
    help: 'MQTT publishes that matched no route: delivered to subscribers, not logged.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(m.unrouted);
    },
  });
  new client.Counter({
    name: 'tributary_mqtt_wills_logged_total',
    help: 'MQTT wills appended to a log when their client went away.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(m.willsLogged);
    },
  });
  new client.Gauge({
    name: 'tributary_mqtt_clients',
    help: 'MQTT clients connected (past CONNACK).',
    registers: [registry],
    collect() {
      this.set(src.clientCount);
    },
  });
  registry.registerMetric(m.pubackLatency);
}

function registerMirrorMetrics(registry: client.Registry, src: MirrorMetricsSource): void {
  type Status = ReturnType<MirrorMetricsSource['mirrorStatuses']>[number];
  const gauge = (name: string, help: string, read: (s: Status) => number) =>
    new client.Gauge({
      name,
      help,
      labelNames: ['mirror'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of src.mirrorStatuses()) this.set({ mirror: s.name }, read(s));
      },
    });
  const counter = (name: string, help: string, read: (s: Status) => number) =>
    new client.Counter({
      name,
      help,
      labelNames: ['mirror'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of src.mirrorStatuses()) this.inc({ mirror: s.name }, read(s));
      },
    });
  gauge('tributary_mirror_connected', '1 while the mirror is connected upstream, 0 while connecting or backing off.', (s) => (s.state === 'connected' ? 1 : 0));
  gauge('tributary_mirror_backlog_records', 'Records in mirrored partitions not yet acknowledged upstream.', (s) => s.backlogRecords);
  counter('tributary_mirror_shipped_records_total', 'Records acknowledged by the upstream (resends included).', (s) => s.shippedRecords);
  counter('tributary_mirror_resent_records_total', 'Records published again after a lost connection.', (s) => s.resentRecords);
}
