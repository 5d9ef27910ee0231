// Kafka topic ids (KIP-516): Metadata v10+ names each topic by a UUID that is not Kafka's "no id",
// stays the same across a restart, and is new for a topic created again under the same name; Fetch
// v13+ reads topics by that id (UNKNOWN_TOPIC_ID for an id no topic has); DeleteTopics v6 deletes by id.
import { expect, it } from 'vitest';
import { ApiKey, KafkaError } from '../../../src/protocol/kafka/index.ts';
import { RawKafka, startKafkaBroker } from '../../helpers/kafka.ts';

const ZERO = '00000000-0000-0000-0000-000000000000';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function topicIds(raw: RawKafka): Promise<Map<string, string>> {
  const meta = await raw.request(ApiKey.Metadata, 12, { topics: null, allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
  return new Map(meta.topics.map((t) => [t.name!, t.topicId]));
}

it('Metadata v12 gives each topic its own non-zero id, the same after a restart; a topic created again gets a new one', async () => {
  const broker = await startKafkaBroker();
  broker.running.broker.createTopic({ name: 'a', partitions: 1 });
  broker.running.broker.createTopic({ name: 'b', partitions: 2 });
  const before = await topicIds(await RawKafka.connect(broker.running.kafka!.port));
  expect(before.get('a')).toMatch(UUID);
  expect(before.get('b')).toMatch(UUID);
  expect(before.get('a')).not.toBe(before.get('b'));

  await broker.stop();
  await broker.start();
  const raw = await RawKafka.connect(broker.running.kafka!.port);
  expect(await topicIds(raw)).toEqual(before);
  // Asked by id alone, Metadata answers with the name.
  const byId = await raw.request(ApiKey.Metadata, 12, { topics: [{ topicId: before.get('b')!, name: null }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
  expect(byId.topics).toMatchObject([{ errorCode: KafkaError.NONE, name: 'b', topicId: before.get('b'), partitions: [{ partitionIndex: 0 }, { partitionIndex: 1 }] }]);

  broker.running.broker.deleteTopic('a');
  broker.running.broker.createTopic({ name: 'a', partitions: 1 });
  const again = await topicIds(raw);
  expect(again.get('a')).toMatch(UUID);
  expect(again.get('a')).not.toBe(before.get('a'));
  const gone = await raw.request(ApiKey.Metadata, 12, { topics: [{ topicId: before.get('a')!, name: null }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
  expect(gone.topics).toMatchObject([{ errorCode: KafkaError.UNKNOWN_TOPIC_ID, name: null, topicId: before.get('a') }]);
});

it('Fetch v13 and v17 read a topic by its id and answer with the id; an unknown id is UNKNOWN_TOPIC_ID (100)', async () => {
  const broker = await startKafkaBroker();
  broker.running.broker.createTopic({ name: 'ids', partitions: 1 });
  await broker.running.broker.produce({ topic: 'ids', partition: 0, records: [{ timestampMs: Date.now(), key: null, value: Buffer.from('one'), headers: [] }], acks: 1 });
  const raw = await RawKafka.connect(broker.running.kafka!.port);
  const id = (await topicIds(raw)).get('ids')!;
  const unknown = '12345678-1234-8234-9234-123456789abc';
  for (const version of [13, 17]) {
    const r = await raw.request(ApiKey.Fetch, version, {
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      topics: [
        { topicId: id, partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }] },
        { topicId: unknown, partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }] },
      ],
      forgottenTopicsData: [],
    });
    expect(r.errorCode).toBe(KafkaError.NONE);
    expect(r.responses).toHaveLength(2);
    expect(r.responses[0]).toMatchObject({ topicId: id, partitions: [{ partitionIndex: 0, errorCode: KafkaError.NONE, highWatermark: 1n }] });
    expect((r.responses[0]!.partitions[0]!.records as Buffer).length).toBeGreaterThan(0);
    expect(r.responses[1]).toMatchObject({ topicId: unknown, partitions: [{ partitionIndex: 0, errorCode: KafkaError.UNKNOWN_TOPIC_ID }] });
  }
  expect(id).not.toBe(ZERO);
});

it('DeleteTopics v6 deletes a topic named by id alone and answers with its name and id; an unknown id is UNKNOWN_TOPIC_ID', async () => {
  const broker = await startKafkaBroker();
  broker.running.broker.createTopic({ name: 'doomed', partitions: 1 });
  const raw = await RawKafka.connect(broker.running.kafka!.port);
  const id = (await topicIds(raw)).get('doomed')!;
  const r = await raw.request(ApiKey.DeleteTopics, 6, { topics: [{ name: null, topicId: id }], timeoutMs: 1000 });
  expect(r.responses).toMatchObject([{ name: 'doomed', topicId: id, errorCode: KafkaError.NONE }]);
  expect(broker.running.broker.findTopic('doomed')).toBeUndefined();
  const again = await raw.request(ApiKey.DeleteTopics, 6, { topics: [{ name: null, topicId: id }], timeoutMs: 1000 });
  expect(again.responses).toMatchObject([{ name: null, topicId: id, errorCode: KafkaError.UNKNOWN_TOPIC_ID }]);
});
