// Prometheus metrics, read from plain counters at scrape time: the hot paths only bump integers, and
// prom-client formats the text exposition.

import client from 'prom-client';
import type { Broker } from '../broker/broker.ts';
import { isTributaryError } from '../errors.ts';
import { limits } from '../limits.ts';
import type { GroupDescription } from '../groups/types.ts';
import type { MqttMetricsSource } from '../listeners/mqtt/metrics.ts';
import { mirrorStates, type MirrorStatus } from '../mirror/status.ts';

export interface MetricsSources {
  broker: Broker;
  /** Open connections per listener name (edge, mqtt, ...). */
  connections: () => Record<string, number>;
  mqtt?: MqttMetricsSource;
  mirrors?: MirrorMetricsSource;
  edge?: EdgeMetricsSource;
}

/** A byte budget shared by the edge listener's connections (src/listeners/edge/byte-budget.ts). */
export interface BudgetReading {
  readonly usedBytes: number;
  readonly bytesMax: number;
  readonly waiters: number;
}

/** What the edge listener exposes: its budgets for fetch answers and for frames being received. */
export interface EdgeMetricsSource {
  readonly writeBudget: BudgetReading;
  readonly partialBudget: BudgetReading;
}

/** What the mirrors (src/mirror/) expose; asked of the mirror thread at scrape time. */
export interface MirrorMetricsSource {
  statuses(): Promise<readonly MirrorStatus[]>;
}

type Labels = Record<string, string>;
type SampleList = Iterable<readonly [Labels, number]>;
/** Read at each scrape; a promise for what another thread is asked (the mirrors'). */
type Samples = () => SampleList | Promise<SampleList>;

/** A counter or gauge whose samples are read at each scrape. */
function collected(registry: client.Registry, kind: 'counter' | 'gauge', name: string, help: string, labelNames: string[], samples: Samples): void {
  const Metric = kind === 'counter' ? client.Counter : client.Gauge;
  new Metric({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: client.Counter | client.Gauge) {
      const apply = (list: SampleList) => {
        this.reset();
        for (const [labels, value] of list) {
          if (this instanceof client.Gauge) this.set(labels, value);
          else this.inc(labels, value);
        }
      };
      const read = samples();
      if (read instanceof Promise) return read.then(apply);
      apply(read);
    },
  });
}

/**
 * `read` at most once per event-loop tick: a scrape collects every metric in one synchronous pass, so
 * the storage metrics share one stats() (which stats the data file) and the partition metrics one
 * topic listing.
 */
function oncePerTick<T>(read: () => T): () => T {
  let cached: { value: T } | null = null;
  return () => {
    if (cached === null) {
      cached = { value: read() };
      queueMicrotask(() => (cached = null));
    }
    return cached.value;
  };
}

const one = (value: number): Iterable<readonly [Labels, number]> => [[{}, value]];

export function createMetricsRegistry(src: MetricsSources): client.Registry {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'tributary_' });
  // prom-client adds gauges named ..._total beside its per-type gauges; the _total suffix is the
  // counters' (promtool check metrics fails the scrape), and sum(tributary_nodejs_active_handles) is the same number.
  for (const gauge of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(`tributary_${gauge}`);
  const { broker } = src;
  const c = broker.counters;
  const metric = (kind: 'counter' | 'gauge', name: string, help: string, labelNames: string[], samples: Samples) =>
    collected(registry, kind, name, help, labelNames, samples);

  metric('counter', 'tributary_records_in_total', 'Records appended to partition logs.', [], () => one(c.recordsIn));
  metric('counter', 'tributary_bytes_in_total', 'Bytes of record batches appended.', [], () => one(c.bytesIn));
  metric('counter', 'tributary_records_out_total', 'Records returned by fetches (whole batches).', [], () => one(c.recordsOut));
  metric('counter', 'tributary_bytes_out_total', 'Bytes of record batches returned by fetches.', [], () => one(c.bytesOut));
  metric('counter', 'tributary_produce_requests_total', 'Produce requests (appends asked for).', [], () => one(c.produceRequests));
  metric('counter', 'tributary_fetch_requests_total', 'Fetch requests.', [], () => one(c.fetchRequests));
  metric('counter', 'tributary_errors_total', 'Errors returned to clients, by stable error code.', ['code'], () => [...c.errors].map(([code, n]) => [{ code }, n] as const));

  const stats = oncePerTick(() => broker.storageStats());
  metric('counter', 'tributary_appends_total', 'Batches written to storage.', [], () => one(stats().appends));
  metric('counter', 'tributary_group_txns_total', 'Storage transactions that wrote appends (group transactions).', [], () => one(stats().groupTxns));
  metric('counter', 'tributary_retention_deleted_records_total', 'Records deleted by retention and the disk budget.', [], () => one(stats().evictedRecords));
  metric('gauge', 'tributary_storage_log_bytes', 'Bytes of stored record batches (what the disk budget counts).', [], () => one(stats().logBytes));
  metric('gauge', 'tributary_storage_file_bytes', 'Size of the LMDB data file.', [], () => one(stats().fileBytes));
  metric('gauge', 'tributary_storage_map_used_bytes', 'Bytes of the LMDB data file in use; the rest is free pages that writes reuse (the file never shrinks).', [], () => one(stats().mapUsedBytes));
  metric('gauge', 'tributary_storage_failed', '1 when storage stopped accepting writes after a failure (fail-stop).', [], () => one(stats().failed ? 1 : 0));
  metric('gauge', 'tributary_topics', 'Topics.', [], () => one(stats().topics));
  metric('gauge', 'tributary_fetches_parked', 'Long-poll fetches waiting for data.', [], () => one(broker.parkedFetches));
  metric('gauge', 'tributary_connections', 'Open client connections by listener.', ['listener'], () =>
    Object.entries(src.connections()).map(([listener, n]) => [{ listener }, n] as const),
  );

  if (src.mqtt) registerMqttMetrics(metric, registry, src.mqtt);
  if (src.mirrors) registerMirrorMetrics(metric, src.mirrors);
  if (src.edge) registerEdgeMetrics(metric, src.edge);

  const topics = oncePerTick(() => broker.listTopics());
  const perPartition = (field: 'nextOffset' | 'logStartOffset' | 'bytes') => () =>
    topics().flatMap((t) => t.partitions.map((p) => [{ topic: t.name, partition: String(p.partition) }, p[field]] as const));
  const partitionLabels = ['topic', 'partition'];
  metric('gauge', 'tributary_partition_next_offset', 'Next offset (log end) per partition.', partitionLabels, perPartition('nextOffset'));
  metric('gauge', 'tributary_partition_log_start_offset', 'First retained offset per partition.', partitionLabels, perPartition('logStartOffset'));
  metric('gauge', 'tributary_partition_bytes', 'Stored bytes per partition.', partitionLabels, perPartition('bytes'));
  registerGroupMetrics(metric, broker);
  return registry;
}

type MetricFactory = (kind: 'counter' | 'gauge', name: string, help: string, labelNames: string[], samples: Samples) => void;

function registerMqttMetrics(metric: MetricFactory, registry: client.Registry, src: MqttMetricsSource): void {
  const m = src.metrics;
  const by = (label: string, entries: Iterable<[string, number]>) => [...entries].map(([value, n]) => [{ [label]: value }, n] as const);
  metric('counter', 'tributary_mqtt_publishes_in_total', 'MQTT PUBLISH packets received from clients, by QoS.', ['qos'], () => by('qos', m.publishesIn.map((n, qos) => [String(qos), n])));
  metric('counter', 'tributary_mqtt_publishes_refused_total', 'MQTT 5 PUBLISHes whose append failed, answered with a reason code on an open connection, by error code.', ['code'], () => by('code', m.publishesRefused));
  metric('counter', 'tributary_mqtt_denied_total', 'MQTT publishes and subscriptions refused by ACLs.', ['action'], () => by('action', Object.entries(m.denied)));
  metric('counter', 'tributary_mqtt_connects_refused_total', 'MQTT connections refused before or at CONNACK, by reason.', ['reason'], () => by('reason', m.refused));
  metric('counter', 'tributary_mqtt_connections_closed_total', 'MQTT connections the broker closed, by reason.', ['reason'], () => by('reason', m.closed));
  metric('counter', 'tributary_mqtt_unrouted_total', 'MQTT publishes that matched no route: delivered to subscribers, not logged.', [], () => one(m.unrouted));
  metric('counter', 'tributary_mqtt_wills_logged_total', 'MQTT wills appended to a log when their client went away.', [], () => one(m.willsLogged));
  metric('gauge', 'tributary_mqtt_clients', 'MQTT clients connected (past CONNACK).', [], () => one(src.clientCount));
  metric('counter', 'tributary_mqtt_subscriber_dropped_total', 'Messages for an MQTT subscriber dropped because its queue was full (it stopped reading), by QoS.', ['qos'], () => by('qos', m.subscriberDropped.map((n, qos) => [String(qos), n])));
  metric('counter', 'tributary_mqtt_subscriber_oversize_dropped_total', 'Messages not sent to an MQTT 5 subscriber because they exceed the Maximum Packet Size its CONNECT gave, by QoS.', ['qos'], () => by('qos', m.oversizeDropped.map((n, qos) => [String(qos), n])));
  metric('gauge', 'tributary_mqtt_subscriber_queued_messages', 'Messages queued for MQTT subscribers, not yet written to their sockets.', [], () => one(src.subscriberQueued.messages));
  metric('gauge', 'tributary_mqtt_subscriber_queued_bytes', 'Bytes queued for MQTT subscribers (topic + payload + a fixed overhead per message), as bounded by subscriberQueueBytesTotalMax.', [], () => one(src.subscriberQueued.bytes));
  metric('counter', 'tributary_mqtt_delivered_total', 'MQTT PUBLISH packets handed to subscribers\' connections (live, retained and queued messages).', [], () => one(m.delivered));
  metric('counter', 'tributary_mqtt_sys_publishes_dropped_total', 'MQTT publishes and wills to $SYS/... from clients, acknowledged and dropped.', [], () => one(m.sysPublishesDropped));
  metric('counter', 'tributary_mqtt_sessions_expired_total', 'MQTT 5 persistent sessions removed because their Session Expiry Interval passed (also across restarts).', [], () => one(m.sessionsExpired));
  metric('gauge', 'tributary_mqtt_subscriptions', 'MQTT subscriptions: connected clients\' and those of persistent sessions whose client is away.', [], () => one(src.subscriptionCount));
  const stats = src.sessionStats;
  if (stats !== null) {
    metric('gauge', 'tributary_mqtt_retained_messages', 'MQTT retained messages held ($SYS/ ones included).', [], () => one(stats.retainedCount));
    const queues = oncePerTick(() => queueSummary(stats.queueDepths(), limits.mqttSessionQueueTopN));
    metric('gauge', 'tributary_mqtt_sessions_queued', 'Persistent MQTT sessions with QoS 1/2 messages queued (stored, not yet acknowledged).', [], () => one(queues().sessions));
    metric('gauge', 'tributary_mqtt_sessions_queued_messages', 'QoS 1/2 messages queued over all persistent MQTT sessions.', [], () => one(queues().messages));
    metric('gauge', 'tributary_mqtt_session_queued_messages', `QoS 1/2 messages queued for a persistent MQTT session: the ${limits.mqttSessionQueueTopN} deepest queues only, by client id.`, ['client_id'], () =>
      queues().top.map(([clientId, n]) => [{ client_id: clientId }, n] as const),
    );
  }
  registry.registerMetric(m.pubackLatency);
}

/**
 * Totals over every session's queue, and the `topN` deepest by client id: one sample per queue would
 * let the number of series grow with the number of devices; the deepest are the ones to look at.
 */
export function queueSummary(depths: Iterable<readonly [string, number]>, topN: number): { sessions: number; messages: number; top: (readonly [string, number])[] } {
  let sessions = 0;
  let messages = 0;
  const top: (readonly [string, number])[] = [];
  for (const entry of depths) {
    sessions++;
    messages += entry[1];
    if (top.length === topN && entry[1] <= top[topN - 1]![1]) continue;
    let i = top.length;
    while (i > 0 && top[i - 1]![1] < entry[1]) i--;
    top.splice(i, 0, entry);
    if (top.length > topN) top.pop();
  }
  return { sessions, messages, top };
}

function registerEdgeMetrics(metric: MetricFactory, src: EdgeMetricsSource): void {
  const budgets = () => [['write', src.writeBudget], ['partial-frame', src.partialBudget]] as const;
  const perBudget = (read: (b: BudgetReading) => number) => () => budgets().map(([budget, b]) => [{ budget }, read(b)] as const);
  // write: fetch answers held for all connections [EDGE-8.3]; partial-frame: frames above 64 KiB being received [EDGE-2.2].
  metric('gauge', 'tributary_edge_budget_used_bytes', 'Bytes edge connections hold now from a shared budget: write (fetch answers) or partial-frame (large frames being received).', ['budget'], perBudget((b) => b.usedBytes));
  metric('gauge', 'tributary_edge_budget_max_bytes', 'Size of each shared edge budget (writeBytesTotalMax, partialFrameBytesTotalMax).', ['budget'], perBudget((b) => b.bytesMax));
  metric('gauge', 'tributary_edge_budget_waiters', 'Edge fetches or frames waiting for room in a shared budget.', ['budget'], perBudget((b) => b.waiters));
}

function registerMirrorMetrics(metric: MetricFactory, src: MirrorMetricsSource): void {
  // One question to the mirror thread per scrape: every collect of a scrape starts in the same tick.
  // A thread being restarted, or stopping, leaves the mirror metrics out of that scrape.
  const asked = oncePerTick(() => src.statuses().catch(() => [] as readonly MirrorStatus[]));
  const perMirror = (read: (s: MirrorStatus) => number | null) => async () =>
    (await asked()).flatMap((s) => {
      const value = read(s);
      return value === null ? [] : [[{ mirror: s.name }, value] as const];
    });
  metric('gauge', 'tributary_mirror_state', 'The mirror state: 1 for the current one.', ['mirror', 'state'], async () =>
    (await asked()).flatMap((s) => mirrorStates.map((state) => [{ mirror: s.name, state }, s.state === state ? 1 : 0] as const)),
  );
  metric('gauge', 'tributary_mirror_connected', '1 while the mirror is connected upstream, else 0.', ['mirror'], perMirror((s) => (s.state === 'connected' ? 1 : 0)));
  metric('gauge', 'tributary_mirror_backlog_records', 'Records in mirrored partitions not yet acknowledged upstream.', ['mirror'], perMirror((s) => s.backlogRecords));
  metric('gauge', 'tributary_mirror_backlog_bytes', 'Stored bytes of the backlog (estimated from average record sizes).', ['mirror'], perMirror((s) => s.backlogBytes));
  metric('gauge', 'tributary_mirror_oldest_unshipped_age_seconds', 'Age of the oldest record not yet shipped; absent when the backlog is empty.', ['mirror'], perMirror((s) => (s.oldestUnshippedAgeMs === null ? null : s.oldestUnshippedAgeMs / 1000)));
  metric('counter', 'tributary_mirror_shipped_records_total', 'Records acknowledged by the upstream (resends included).', ['mirror'], perMirror((s) => s.shippedRecords));
  metric('counter', 'tributary_mirror_shipped_bytes_total', 'MQTT PUBLISH bytes of those records.', ['mirror'], perMirror((s) => s.shippedBytes));
  metric('counter', 'tributary_mirror_resent_records_total', 'Records published again after a lost connection.', ['mirror'], perMirror((s) => s.resentRecords));
  metric('counter', 'tributary_mirror_rejected_records_total', 'Records the upstream refused for good and onRejected: skip passed over.', ['mirror'], perMirror((s) => s.rejectedRecords));
  metric('counter', 'tributary_mirror_dropped_unshipped_records_total', 'Records the disk budget deleted before they were shipped.', ['mirror'], perMirror((s) => s.droppedUnshippedRecords));
  metric('counter', 'tributary_mirror_thread_restarts_total', 'Times the mirror thread died and was started again (the mirrors resumed from their persisted cursors).', ['mirror'], perMirror((s) => s.threadRestarts));
  // Mirrors × their partitions, from the same one question per scrape: nothing is counted per record.
  metric('gauge', 'tributary_mirror_partition_lag_records', 'Records of the partition not yet acknowledged upstream by the mirror (log end minus its cursor).', ['mirror', 'topic', 'partition'], async () =>
    (await asked()).flatMap((s) => s.partitions.map((p) => [{ mirror: s.name, topic: p.topic, partition: String(p.partition) }, p.backlogRecords] as const)),
  );
  metric('gauge', 'tributary_mirror_last_error_timestamp_seconds', 'When the last error happened, labelled with its code; absent before the first.', ['mirror', 'code'], async () =>
    (await asked()).flatMap((s) => (s.lastError === null ? [] : [[{ mirror: s.name, code: s.lastError.code }, s.lastError.atMs / 1000] as const])),
  );
}

/**
 * Consumer groups, named as kafka-exporter names them (kafka_consumergroup_* there). Read at scrape
 * time from the coordinator and the offset store: groups × partitions samples, nothing per message.
 */
function registerGroupMetrics(metric: MetricFactory, broker: Broker): void {
  const groups = oncePerTick(() => {
    const out: { members: number; description: GroupDescription }[] = [];
    for (const g of broker.groups.listGroups()) {
      try {
        out.push({ members: g.members, description: broker.groups.describeGroup(g.group) });
      } catch (err) {
        // Listed for an offset of a topic deleted since: nothing left to show.
        if (!isTributaryError(err, 'UNKNOWN_GROUP')) throw err;
      }
    }
    return out;
  });
  const perPartition = (read: (p: GroupDescription['partitions'][number]) => number) => () =>
    groups().flatMap(({ description: d }) => d.partitions.map((p) => [{ consumergroup: d.group, topic: p.topic, partition: String(p.partition) }, read(p)] as const));
  const labels = ['consumergroup', 'topic', 'partition'];
  metric('gauge', 'tributary_consumergroup_members', 'Members of the consumer group.', ['consumergroup'], () => groups().map(({ members, description: d }) => [{ consumergroup: d.group }, members] as const));
  metric('gauge', 'tributary_consumergroup_current_offset', 'Committed offset of the group per partition; -1 when nothing is committed.', labels, perPartition((p) => p.committed));
  metric('gauge', 'tributary_consumergroup_lag', 'Records between the committed offset (or the first retained record when none is, or retention passed it) and the log end.', labels, perPartition((p) => p.lag));
}
