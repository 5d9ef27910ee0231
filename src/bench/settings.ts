// Run sizes. Full runs are long enough, and repeated often enough, for a median and a spread on a
// shared 2-core machine (../shared/BENCHMARKING.md); --quick runs exercise every code path in about
// half a minute and their figures mean little.

import { KAFKA_MESSAGE_MAX_BYTES_DEFAULT } from '../mirror/sinks/kafka/config.ts';
import type { AppendSettings } from './append.ts';
import type { CodecSettings } from './codec.ts';
import type { DeviceWireSettings } from './device-wire.ts';
import type { EdgeSettings } from './edge-throughput.ts';
import type { GroupCommitSettings } from './group-commit.ts';
import type { GroupConsumeSettings } from './group-consume.ts';
import type { GroupRebalanceSettings } from './group-rebalance.ts';
import type { KafkaMirrorDrainSettings } from './kafka-mirror-drain.ts';
import type { KafkaSettings } from './kafka-throughput.ts';
import type { LatencySettings } from './latency.ts';
import type { MirrorDrainSettings } from './mirror-drain.ts';
import type { MqttSettings } from './mqtt-throughput.ts';
import type { MqttIdleSettings } from './mqtt-idle.ts';
import type { MqttSessionSettings } from './mqtt-session.ts';
import type { MqttSharedSettings } from './mqtt-shared.ts';

export interface BenchSettings {
  append: AppendSettings;
  codec: CodecSettings;
  edge: EdgeSettings;
  latency: LatencySettings;
  mqtt: MqttSettings;
  mqttIdle: MqttIdleSettings;
  mqttSession: MqttSessionSettings;
  mqttShared: MqttSharedSettings;
  mirrorDrain: MirrorDrainSettings;
  kafkaMirrorDrain: KafkaMirrorDrainSettings;
  groupRebalance: GroupRebalanceSettings;
  groupCommit: GroupCommitSettings;
  groupConsume: GroupConsumeSettings;
  kafka: KafkaSettings;
  deviceWire: DeviceWireSettings;
  /** Time the broker gets after startup before its idle RSS is read. */
  idleSettleMs: number;
  /**
   * Then the window over which its idle RSS is sampled once a second, the lowest sample kept: V8's
   * memory reducer shrinks the heap some seconds after allocation stops (~16 s after start here).
   */
  idleSettledMs: number;
}

const VALUE_BYTES = 100;

export const fullSettings: BenchSettings = {
  append: { records: 2_000_000, recordsPerBatch: 1000, valueBytes: VALUE_BYTES, partitions: 4, inflightMax: 64, repeats: 3 },
  codec: { recordsPerFrame: 500, valueBytes: VALUE_BYTES, durationMs: 1000 },
  edge: { recordsPerFrame: 500, valueBytes: VALUE_BYTES, window: 32, partitions: 4, durationMs: 5000, repeats: 3 },
  latency: { ratePerSec: 5000, durationMs: 5000, warmupMs: 1000, valueBytes: VALUE_BYTES },
  mqtt: { publishers: 4, window: 100, payloadBytes: VALUE_BYTES, durationMs: 5000, repeats: 3 },
  mqttIdle: { connections: [1000, 10_000], settleMs: 2000, timeoutMs: 60_000 },
  mqttSession: { publishers: 4, window: 100, durationMs: 5000, messages: 50_000, payloadBytes: VALUE_BYTES, repeats: 3 },
  mqttShared: { members: 3, publishers: 4, window: 100, payloadBytes: VALUE_BYTES, durationMs: 5000, repeats: 3 },
  mirrorDrain: {
    records: 1_000_000,
    payloadBytes: VALUE_BYTES,
    partitions: 4,
    windowMax: 100,
    fillRecordsPerFrame: 500,
    fillWindow: 32,
    ingest: { recordsPerFrame: 500, valueBytes: VALUE_BYTES, window: 32, durationMs: 5000 },
    ingestBacklogRecords: 500_000,
    pollMs: 100,
    stallTimeoutMs: 15_000,
  },
  kafkaMirrorDrain: {
    records: 1_000_000,
    valueBytes: VALUE_BYTES,
    partitions: 4,
    keyEvery: 4,
    windowMax: null,
    readBytesMax: null,
    compression: 'none',
    // The Kafka sink's maxMessageBytes default: the direct clients pack their batches below it too.
    batchBytes: KAFKA_MESSAGE_MAX_BYTES_DEFAULT,
    fillRecordsPerFrame: 500,
    fillWindow: 32,
    repeats: 3,
    wireCompressions: ['none', 'gzip', 'lz4', 'snappy'],
    wireRecords: 200_000,
    pollMs: 100,
    stallTimeoutMs: 15_000,
  },
  groupRebalance: { members: [1, 3], partitions: 3, sessionTimeoutMs: 1000, runs: 11 },
  groupCommit: {
    cases: [
      { members: 1, window: 1 },
      { members: 1, window: 32 },
      { members: 3, window: 32 },
    ],
    partitions: 3,
    records: 3000,
    sessionTimeoutMs: 10_000,
    durationMs: 5000,
    repeats: 5,
  },
  groupConsume: { records: 1_000_000, partitions: 3, valueBytes: VALUE_BYTES, members: [1, 3], sessionTimeoutMs: 1000, repeats: 5, stallTimeoutMs: 15_000 },
  kafka: { records: 1_000_000, valueBytes: VALUE_BYTES, kafkajsBatchRecords: 1000, kafkajsInflight: 5, edgeRecordsPerFrame: 500, edgeWindow: 32, partitionFetchBytes: 1024 * 1024, repeats: 3, stallTimeoutMs: 15_000 },
  deviceWire: { steadyReadings: 1000, sessionReadings: 50 },
  idleSettleMs: 2000,
  idleSettledMs: 20_000,
};

export const quickSettings: BenchSettings = {
  append: { ...fullSettings.append, records: 100_000, repeats: 1 },
  codec: { ...fullSettings.codec, durationMs: 100 },
  edge: { ...fullSettings.edge, durationMs: 1000, repeats: 1 },
  latency: { ...fullSettings.latency, durationMs: 1000, warmupMs: 200 },
  mqtt: { ...fullSettings.mqtt, durationMs: 1000, repeats: 1 },
  mqttIdle: { ...fullSettings.mqttIdle, connections: [100], settleMs: 300 },
  mqttSession: { ...fullSettings.mqttSession, durationMs: 1000, messages: 2_000, repeats: 1 },
  mqttShared: { ...fullSettings.mqttShared, durationMs: 1000, repeats: 1 },
  mirrorDrain: { ...fullSettings.mirrorDrain, records: 20_000, ingest: { ...fullSettings.mirrorDrain.ingest, durationMs: 1000 }, ingestBacklogRecords: 50_000 },
  kafkaMirrorDrain: { ...fullSettings.kafkaMirrorDrain, records: 50_000, repeats: 1, wireRecords: 20_000 },
  groupRebalance: { ...fullSettings.groupRebalance, runs: 2 },
  groupCommit: { ...fullSettings.groupCommit, durationMs: 1000, repeats: 1 },
  groupConsume: { ...fullSettings.groupConsume, records: 60_000, repeats: 1 },
  kafka: { ...fullSettings.kafka, records: 50_000, repeats: 1 },
  deviceWire: { ...fullSettings.deviceWire, steadyReadings: 100 },
  idleSettleMs: 300,
  idleSettledMs: 1000,
};
