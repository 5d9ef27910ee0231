// InitProducerId and idempotent Produce over raw sockets, answered as Kafka's broker answers them:
// a new producer id per request, a retried batch acknowledged with its original offset and not stored
// twice, OUT_OF_ORDER_SEQUENCE_NUMBER for a gap, INVALID_PRODUCER_EPOCH for an old epoch.
import { crc32c } from '@node-rs/crc32';
import { describe, expect, it } from 'vitest';
import { decodeRecordBatch, encodeRecordBatch } from '../../../src/format/record-batch.ts';
import { ApiKey, KafkaError } from '../../../src/protocol/kafka/index.ts';
import { RawKafka, startKafkaBroker, startKafkaBrokerWithLogs } from '../../helpers/kafka.ts';

/** A batch as an idempotent producer encodes it: producer id, epoch and first sequence in the header, CRC over them. */
function idempotentBatch(values: string[], producerId: bigint, epoch: number, baseSequence: number): Buffer {
  const batch = encodeRecordBatch(values.map((v, i) => ({ timestampMs: 1_700_000_000_000 + i, key: null, value: Buffer.from(v), headers: [] })));
  batch.writeBigInt64BE(producerId, 43);
  batch.writeInt16BE(epoch, 51);
  batch.writeInt32BE(baseSequence, 53);
  batch.writeUInt32BE(crc32c(batch.subarray(21)), 17);
  return batch;
}

async function produce(raw: RawKafka, topic: string, partition: number, records: Buffer) {
  const r = await raw.request(ApiKey.Produce, 7, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: partition, records }] }] });
  const p = r.responses[0]!.partitionResponses[0]!;
  return { errorCode: p.errorCode, baseOffset: Number(p.baseOffset) };
}

async function initProducerId(raw: RawKafka, version: number, over: Record<string, unknown> = {}) {
  return raw.request(ApiKey.InitProducerId, version, { transactionalId: null, transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1, ...over });
}

describe('Kafka listener: InitProducerId', () => {
  it('gives every request a new producer id with epoch 0, at v0 and at the flexible v4, also when v4 names the current id', async () => {
    const b = await startKafkaBroker();
    const raw = await RawKafka.connect(b.kafkaPort);
    const apis = (await raw.request(ApiKey.ApiVersions, 3, { clientSoftwareName: 't', clientSoftwareVersion: '1' })).apiKeys;
    expect(apis.find((a) => a.apiKey === ApiKey.InitProducerId)).toEqual({ apiKey: ApiKey.InitProducerId, minVersion: 0, maxVersion: 4 });
    const first = await initProducerId(raw, 0);
    const second = await initProducerId(raw, 4);
    const third = await initProducerId(raw, 4, { producerId: second.producerId, producerEpoch: second.producerEpoch });
    for (const r of [first, second, third]) expect(r).toMatchObject({ errorCode: KafkaError.NONE, producerEpoch: 0 });
    expect(new Set([first.producerId, second.producerId, third.producerId]).size).toBe(3);
  });

  it('refuses a transactional id (transactions are not served) with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, logged with the client id', async () => {
    const { kafkaPort, logs } = await startKafkaBrokerWithLogs();
    const raw = await RawKafka.connect(kafkaPort);
    expect(await initProducerId(raw, 1, { transactionalId: 'txn-1' })).toMatchObject({ errorCode: KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, producerId: -1n });
    expect(logs.some((l) => l.level === 40 && l.clientId === 'raw-test' && l.transactionalId === 'txn-1')).toBe(true);
    expect((await initProducerId(raw, 1, { transactionalId: '' })).errorCode).toBe(KafkaError.INVALID_REQUEST);
  });
});

describe('Kafka listener: idempotent Produce', () => {
  it('acknowledges a retried batch with its original offset without storing it again; a gap is OUT_OF_ORDER_SEQUENCE_NUMBER, an old epoch INVALID_PRODUCER_EPOCH', async () => {
    const b = await startKafkaBroker();
    b.running.broker.createTopic({ name: 'idem', partitions: 2 });
    const raw = await RawKafka.connect(b.kafkaPort);
    const { producerId } = await initProducerId(raw, 4);
    expect(await produce(raw, 'idem', 0, idempotentBatch(['a', 'b'], producerId, 0, 0))).toEqual({ errorCode: 0, baseOffset: 0 });
    expect(await produce(raw, 'idem', 0, idempotentBatch(['c'], producerId, 0, 2))).toEqual({ errorCode: 0, baseOffset: 2 });
    // The retry of the first batch: NONE and where it went, as Kafka answers a duplicate of its last 5.
    expect(await produce(raw, 'idem', 0, idempotentBatch(['a', 'b'], producerId, 0, 0))).toEqual({ errorCode: 0, baseOffset: 0 });
    expect(await produce(raw, 'idem', 0, idempotentBatch(['skip'], producerId, 0, 5))).toMatchObject({ errorCode: KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER });
    // Partition 1 has a sequence of its own.
    expect(await produce(raw, 'idem', 1, idempotentBatch(['p1'], producerId, 0, 0))).toEqual({ errorCode: 0, baseOffset: 0 });
    // A new epoch starts at 0; the old one is fenced from then on.
    expect(await produce(raw, 'idem', 0, idempotentBatch(['e1'], producerId, 1, 0))).toEqual({ errorCode: 0, baseOffset: 3 });
    expect(await produce(raw, 'idem', 0, idempotentBatch(['late'], producerId, 0, 3))).toMatchObject({ errorCode: KafkaError.INVALID_PRODUCER_EPOCH });
    const t = b.running.broker.findTopic('idem')!;
    expect(b.running.broker.partitionState(t.id, 0)!.nextOffset).toBe(4);
    const fetched = await raw.request(ApiKey.Fetch, 4, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1_000_000,
      isolationLevel: 0,
      topics: [{ topic: 'idem', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1_000_000 }] }],
    });
    const records = fetched.responses[0]!.partitions[0]!.records as Buffer;
    const values: string[] = [];
    for (let pos = 0; pos < records.length; pos += 12 + records.readInt32BE(pos + 8)) values.push(...decodeRecordBatch(records.subarray(pos, pos + 12 + records.readInt32BE(pos + 8))).map((r) => r.value!.toString()));
    expect(values).toEqual(['a', 'b', 'c', 'e1']);
  });

  it('keeps a non-idempotent batch (producer id -1) unchecked, as before', async () => {
    const b = await startKafkaBroker();
    b.running.broker.createTopic({ name: 'plain', partitions: 1 });
    const raw = await RawKafka.connect(b.kafkaPort);
    const batch = idempotentBatch(['x'], -1n, -1, -1);
    expect(await produce(raw, 'plain', 0, batch)).toEqual({ errorCode: 0, baseOffset: 0 });
    expect(await produce(raw, 'plain', 0, idempotentBatch(['x'], -1n, -1, -1))).toEqual({ errorCode: 0, baseOffset: 1 });
  });
});
