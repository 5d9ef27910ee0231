// The Kafka sink against a second Tributary as the central cluster, through its Kafka listener: what
// a record looks like upstream, and which partition it lands on.
import { describe, expect, it } from 'vitest';
import { partitionForKey } from '../../../src/broker/partitioner.ts';
import type { ConsumedRecord } from '../../../src/client/index.ts';
import { consumer, startTestBroker } from '../../helpers/broker.ts';
import { startKafkaBroker } from '../../helpers/kafka.ts';
import { until } from '../../helpers/upstream.ts';

const REMOTE = 'edge.gw-1.telemetry';

describe('kafka sink', () => {
  it('ships keys, values, timestamps and headers (duplicates and nulls too) with an origin header; a keyed record lands on the murmur2 partition', async () => {
    const central = await startKafkaBroker();
    central.running.broker.createTopic({ name: REMOTE, partitions: 3 });
    const edge = await startTestBroker({
      edgeId: 'gw-1',
      mirrors: [{ name: 'central', sink: 'kafka', brokers: [`127.0.0.1:${central.kafkaPort}`], topics: ['telemetry'], backoff: { initialMs: 50, maxMs: 200 } }],
    });
    edge.running.broker.createTopic({ name: 'telemetry', partitions: 2 });
    const sent = Array.from({ length: 30 }, (_, i) => ({
      partition: i % 2,
      key: i % 3 ? Buffer.from(`k${i}`) : null,
      value: i === 5 ? null : Buffer.from(`v${i}`),
      headers: [{ key: 'h', value: Buffer.from(`x${i}`) }, { key: 'h', value: null }],
      timestampMs: 1_700_000_000_000 + i,
    }));
    for (const { partition, ...record } of sent) await edge.running.broker.produce({ topic: 'telemetry', partition, records: [record], acks: 1 });
    await until(async () => (await edge.running.mirrors!.status('central')).backlogRecords === 0, 'the backlog to drain');

    const c = await consumer(central);
    await c.assign([0, 1, 2].map((partition) => ({ topic: REMOTE, partition, offset: 0 })));
    const got: ConsumedRecord[] = [];
    const deadline = Date.now() + 15_000;
    while (got.length < sent.length && Date.now() < deadline) got.push(...(await c.poll()));
    expect(got).toHaveLength(sent.length);
    const byOrigin = new Map(got.map((r) => [r.headers.find((h) => h.key === 'origin')!.value!.toString(), r]));
    const perSource = [0, 0];
    sent.forEach((s, i) => {
      const offset = perSource[s.partition]!++;
      const r = byOrigin.get(`gw-1/telemetry/${s.partition}/${offset}`);
      expect(r, `record ${i}`).toBeDefined();
      expect(r!.key).toEqual(s.key);
      expect(r!.value).toEqual(s.value);
      expect(r!.timestampMs).toBe(s.timestampMs);
      expect(r!.headers.slice(0, 2)).toEqual(s.headers);
      // Keyed: Kafka's default partitioner; unkeyed: the log partition (modulo the remote count).
      expect(r!.partition).toBe(s.key !== null ? partitionForKey(s.key, 3) : s.partition % 3);
    });
    // In order per log partition within each remote partition.
    for (let p = 0; p < 3; p++) {
      const offsets = got.filter((r) => r.partition === p).map((r) => r.headers.find((h) => h.key === 'origin')!.value!.toString().split('/'));
      for (const source of [0, 1]) {
        const mine = offsets.filter((o) => o[2] === String(source)).map((o) => Number(o[3]));
        expect(mine).toEqual([...mine].sort((a, b) => a - b));
      }
    }
  });

  it('keeps to the byte-rate limit, counting each record with its headers', async () => {
    const rate = 40 * 1024;
    const central = await startKafkaBroker();
    central.running.broker.createTopic({ name: REMOTE, partitions: 1 });
    const edge = await startTestBroker({
      edgeId: 'gw-1',
      mirrors: [{ name: 'central', sink: 'kafka', brokers: [`127.0.0.1:${central.kafkaPort}`], topics: ['telemetry'], rateLimitBytesPerSec: rate }],
    });
    edge.running.broker.createTopic({ name: 'telemetry', partitions: 1 });
    const started = performance.now();
    await edge.running.broker.produce({ topic: 'telemetry', partition: 0, records: Array.from({ length: 100 }, () => ({ key: null, value: Buffer.alloc(1000, 120), headers: [], timestampMs: Date.now() })), acks: 1 });
    await until(async () => (await edge.running.mirrors!.status('central')).backlogRecords === 0, 'the backlog to drain', 20_000);
    const elapsedMs = performance.now() - started;
    const { shippedBytes, shippedRecords } = (await edge.running.mirrors!.status('central'));
    expect(shippedRecords).toBe(100);
    // Value, the origin header and the record's framing.
    expect(shippedBytes).toBeGreaterThan(100 * (1000 + 'origin'.length + 'gw-1/telemetry/0/0'.length));
    // A full bucket (one second's worth) goes at once; the rest waits for refills.
    expect(elapsedMs).toBeGreaterThanOrEqual(((shippedBytes - rate) / rate) * 1000 * 0.95);
  });
});
