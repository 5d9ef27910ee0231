// The Kafka sink when the remote topic is missing (createTopics off: failed naming it; on: created
// with the log topic's partition count), also when deleted while shipping, and when no broker listens
// (backoff, then a drain once one does).
import { describe, expect, it } from 'vitest';
import { partitionForKey } from '../../../src/broker/partitioner.ts';
import { freePort } from '../../helpers/child-broker.ts';
import { startKafkaBroker } from '../../helpers/kafka.ts';
import { startTcpProxy } from '../../helpers/tcp-proxy.ts';
import { until } from '../../helpers/upstream.ts';
import { arrived, edgeWith, fastBackoff, numbered, originOf, produce, REMOTE, retryClock, SOURCE, status, valuesOf } from './helpers.ts';

const mirror = (port: number, over: Record<string, unknown> = {}) => ({ name: 'central', sink: 'kafka', brokers: [`127.0.0.1:${port}`], topics: [SOURCE], backoff: fastBackoff, ...over });

describe('kafka sink: a missing remote topic, an unreachable broker', () => {
  it.each([false, true])('createTopics false, central topics.autoCreate %s: failed with UPSTREAM_MISCONFIGURED naming the topic, nothing created, no reconnect loop', async (autoCreate) => {
    const central = await startKafkaBroker({ topics: { autoCreate } });
    const proxy = await startTcpProxy({ targetPort: central.kafkaPort, port: await freePort() });
    const clock = await retryClock();
    const edge = await edgeWith([mirror(proxy.port), clock.mirror]);
    await produce(edge, 0, 10);
    await until(async () => (await status(edge)).state === 'failed', 'the mirror to fail', 15_000);
    const failed = (await status(edge));
    expect(failed.lastError?.code).toBe('UPSTREAM_MISCONFIGURED');
    expect(failed.lastError?.message).toContain(`remote topic ${REMOTE} does not exist`);
    expect(failed.lastError?.message).toContain('createTopics');
    expect(failed.backlogRecords).toBe(10);
    const connections = proxy.accepted;
    await clock.after(5);
    expect(proxy.accepted).toBe(connections);
    expect(central.running.broker.findTopic(REMOTE)).toBeUndefined();

    // Created upstream by an operator: resume ships everything.
    central.running.broker.createTopic({ name: REMOTE, partitions: 2 });
    await edge.running.mirrors!.resume('central');
    await until(async () => (await status(edge)).backlogRecords === 0, 'the backlog to drain after resume');
    expect(valuesOf(await arrived(central, REMOTE, 10))).toEqual(numbered(0, 10));
  });

  it('createTopics true: the remote topic is created with the log topic partition count; a keyed record lands on its edge partition number', async () => {
    const central = await startKafkaBroker({ topics: { autoCreate: false, defaultPartitions: 1 } });
    const edge = await edgeWith([mirror(central.kafkaPort, { createTopics: true })], {}, 3);
    const keys = Array.from({ length: 30 }, (_, i) => Buffer.from(`key-${i}`));
    for (const key of keys)
      await edge.running.broker.produce({ topic: SOURCE, partition: partitionForKey(key, 3), records: [{ timestampMs: Date.now(), key, value: key, headers: [] }], acks: 1 });
    await until(async () => (await status(edge)).backlogRecords === 0, 'the backlog to drain');
    expect((await status(edge))).toMatchObject({ state: 'connected', shippedRecords: 30, lastError: null });
    expect(central.running.broker.describeTopic(REMOTE).partitions).toHaveLength(3);
    const got = await arrived(central, REMOTE, 30);
    expect(got.map((r) => r.key!.toString()).sort()).toEqual(keys.map(String).sort());
    for (const r of got) expect(r.partition, r.key!.toString()).toBe(Number(originOf(r).split('/')[2]));
  });

  it('no broker listening: backing-off with UPSTREAM_UNAVAILABLE and retrying; a central started on that port gets everything', async () => {
    const port = await freePort();
    const edge = await edgeWith([mirror(port, { createTopics: true })]);
    await produce(edge, 0, 20);
    await until(async () => (await status(edge)).lastError !== null, 'a first connect failure');
    const first = (await status(edge));
    expect(['connecting', 'backing-off']).toContain(first.state);
    expect(first.lastError?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(first.lastError?.message).toMatch(/ECONNREFUSED/);
    // Retries: the error is noted again, later.
    await until(async () => (await status(edge)).lastError!.atMs > first.lastError!.atMs, 'a retry');
    expect((await status(edge)).backlogRecords).toBe(20);

    const central = await startKafkaBroker({ listeners: { kafka: { port } } });
    await until(async () => (await status(edge)).backlogRecords === 0, 'the backlog to drain once the central listens', 15_000);
    expect((await status(edge)).state).toBe('connected');
    expect(valuesOf(await arrived(central, REMOTE, 20))).toEqual(numbered(0, 20));
  });

  /** A central whose remote topic is deleted after the first 10 records shipped; 10 more are produced at the edge. */
  async function deletedWhileShipping(createTopics: boolean) {
    const central = await startKafkaBroker({ topics: { autoCreate: false } });
    central.running.broker.createTopic({ name: REMOTE, partitions: 2 });
    const edge = await edgeWith([mirror(central.kafkaPort, { createTopics })]);
    await produce(edge, 0, 10);
    await until(async () => (await status(edge)).backlogRecords === 0, 'the first records to ship');
    central.running.broker.deleteTopic(REMOTE);
    await produce(edge, 10, 10);
    return { central, edge };
  }

  it('the remote topic deleted upstream while shipping, createTopics false: failed naming it', async () => {
    const { edge } = await deletedWhileShipping(false);
    await until(async () => (await status(edge)).state === 'failed', 'the mirror to fail', 15_000);
    expect((await status(edge)).lastError?.code).toBe('UPSTREAM_MISCONFIGURED');
    expect((await status(edge)).lastError?.message).toContain(`remote topic ${REMOTE} does not exist`);
    expect((await status(edge)).backlogRecords).toBe(10);
  });

  it('the remote topic deleted upstream while shipping, createTopics true: created again, shipping goes on', async () => {
    const { central, edge } = await deletedWhileShipping(true);
    await until(async () => (await status(edge)).backlogRecords === 0, 'the rest to ship into the topic created again', 15_000);
    expect(central.running.broker.describeTopic(REMOTE).partitions).toHaveLength(2);
    expect(valuesOf(await arrived(central, REMOTE, 10))).toEqual(numbered(10, 10));
  });
});
