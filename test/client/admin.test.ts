import { describe, expect, it } from 'vitest';
import { admin, startTestBroker } from '../helpers/broker.ts';

describe('Admin', () => {
  it('creates, lists, describes, grows and deletes topics', async () => {
    const broker = await startTestBroker({ topics: { defaultPartitions: 2, defaultRetentionMs: 3_600_000 } });
    const a = await admin(broker);
    await a.createTopic({ name: 'b-topic', partitions: 3, retentionMs: -1, retentionBytes: 1_000_000 });
    await a.createTopic({ name: 'a-topic' });

    expect((await a.listTopics()).map((t) => t.name)).toEqual(['a-topic', 'b-topic']);
    const b = await a.describeTopic('b-topic');
    expect(b).toEqual({
      name: 'b-topic',
      retentionMs: -1,
      retentionBytes: 1_000_000,
      partitions: [0, 1, 2].map((partition) => ({ partition, logStartOffset: 0, nextOffset: 0 })),
    });
    const defaults = await a.describeTopic('a-topic');
    expect(defaults.partitions).toHaveLength(2);
    expect(defaults.retentionMs).toBe(3_600_000);
    expect(defaults.retentionBytes).toBe(-1);

    await a.growTopic('b-topic', 5);
    expect((await a.describeTopic('b-topic')).partitions).toHaveLength(5);
    await a.growTopic('b-topic', 5);
    await expect(a.growTopic('b-topic', 4)).rejects.toMatchObject({ codeName: 'INVALID_REQUEST' });

    await a.deleteTopic('a-topic');
    expect((await a.listTopics()).map((t) => t.name)).toEqual(['b-topic']);
  });

  it('reports TOPIC_EXISTS, UNKNOWN_TOPIC and INVALID_TOPIC', async () => {
    const broker = await startTestBroker();
    const a = await admin(broker);
    await a.createTopic({ name: 't' });
    await expect(a.createTopic({ name: 't' })).rejects.toMatchObject({ name: 'TributaryError', codeName: 'TOPIC_EXISTS' });
    await expect(a.describeTopic('nope')).rejects.toMatchObject({ codeName: 'UNKNOWN_TOPIC' });
    await expect(a.deleteTopic('nope')).rejects.toMatchObject({ codeName: 'UNKNOWN_TOPIC' });
    await expect(a.growTopic('nope', 3)).rejects.toMatchObject({ codeName: 'UNKNOWN_TOPIC' });
    await expect(a.createTopic({ name: 'bad/name' })).rejects.toMatchObject({ codeName: 'INVALID_TOPIC' });
    await expect(a.deleteTopic('..')).rejects.toMatchObject({ codeName: 'INVALID_TOPIC' });
    await expect(a.createTopic({ name: 'zero', partitions: 0 })).rejects.toMatchObject({ codeName: 'INVALID_REQUEST' });
    // The connection survives request errors.
    expect((await a.listTopics()).map((t) => t.name)).toEqual(['t']);
  });
});
