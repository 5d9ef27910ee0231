// startFrom and reset are the engine's, whatever the sink: the same against a central Kafka cluster
// (a second Tributary, through its Kafka listener) as against Mosquitto (test/mirror/mirror-controls.test.ts).
import { describe, expect, it } from 'vitest';
import { startTestBroker } from '../../helpers/broker.ts';
import { startKafkaBroker } from '../../helpers/kafka.ts';
import { until } from '../../helpers/upstream.ts';
import { arrived, fastBackoff, produce, REMOTE, SOURCE, status } from './helpers.ts';

describe('kafka mirror controls', () => {
  it('startFrom latest skips the retained history; a reset to earliest while paused ships it, the records shipped before counting as resent', async () => {
    const central = await startKafkaBroker();
    central.running.broker.createTopic({ name: REMOTE, partitions: 2 });
    const before = await startTestBroker({ edgeId: 'gw-1' });
    before.running.broker.createTopic({ name: SOURCE, partitions: 2 });
    await produce(before, 0, 6);
    await before.stop();

    const edge = await startTestBroker({
      dataDir: before.dataDir,
      edgeId: 'gw-1',
      mirrors: [{ name: 'central', sink: 'kafka', brokers: [`127.0.0.1:${central.kafkaPort}`], topics: [SOURCE], startFrom: 'latest', backoff: fastBackoff }],
    });
    expect((await status(edge)).partitions.map((p) => [p.cursor, p.backlogRecords])).toEqual([
      [3, 0],
      [3, 0],
    ]);
    await produce(edge, 6, 2);
    await until(async () => (await status(edge)).backlogRecords === 0 && (await status(edge)).shippedRecords === 2, 'the two new records shipped');
    expect((await arrived(central, REMOTE, 2)).map((r) => r.value!.toString()).sort()).toEqual(['v6', 'v7']);

    const mirrors = edge.running.mirrors!;
    await mirrors.pause('central');
    expect(await mirrors.reset('central', { target: { to: 'earliest' }, dryRun: false })).toEqual({
      mirror: 'central',
      dryRun: false,
      partitions: [
        { topic: SOURCE, partition: 0, previous: 4, offset: 0 },
        { topic: SOURCE, partition: 1, previous: 4, offset: 0 },
      ],
    });
    await mirrors.resume('central');
    await until(async () => (await status(edge)).backlogRecords === 0 && (await status(edge)).shippedRecords === 10, 'the whole topic shipped');
    expect((await status(edge)).resentRecords).toBe(2);
    expect((await arrived(central, REMOTE, 10)).map((r) => r.value!.toString()).sort()).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v6', 'v7', 'v7']);
  });
});
