// The Kafka listener over raw sockets with the project's codec: framing, limits, in-order answers,
// Kafka's answers to versions and APIs not served, and Produce/Fetch/ListOffsets semantics.
import { describe, expect, it } from 'vitest';
import { decodeRecordBatch, encodeRecordBatch, readBatchInfo } from '../../../src/format/record-batch.ts';
import { ApiKey, decodeResponse, encodeRequest, KafkaError } from '../../../src/protocol/kafka/index.ts';
import { RawKafka, startKafkaBroker, startKafkaBrokerWithLogs } from '../../helpers/kafka.ts';

const enc = (s: string) => Buffer.from(s);

function batchOf(values: string[], opts: { timestampMs?: number } = {}): Buffer {
  return encodeRecordBatch(values.map((v, i) => ({ timestampMs: (opts.timestampMs ?? 1_700_000_000_000) + i, key: enc(`k${i}`), value: enc(v), headers: [{ key: 'h', value: enc(v) }] })));
}

function produceBody(topic: string, partition: number, records: Buffer, acks = 1) {
  return { transactionalId: null, acks, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: partition, records }] }] };
}

function fetchBody(topic: string, partition: number, offset: number, opts: { maxWaitMs?: number; minBytes?: number; maxBytes?: number; partitionMaxBytes?: number } = {}) {
  return {
    replicaId: -1,
    maxWaitMs: opts.maxWaitMs ?? 0,
    minBytes: opts.minBytes ?? 1,
    maxBytes: opts.maxBytes ?? 1_000_000,
    topics: [{ topic, partitions: [{ partition, fetchOffset: BigInt(offset), partitionMaxBytes: opts.partitionMaxBytes ?? 1_000_000 }] }],
  };
}

describe('Kafka listener: ApiVersions and requests not served', () => {
  it('advertises the ranges the measured clients need (FindCoordinator from v0, Produce from v3, Fetch from v4) and the group APIs from v0', async () => {
    const b = await startKafkaBroker();
    const raw = await RawKafka.connect(b.kafkaPort);
    const r = await raw.request(ApiKey.ApiVersions, 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' });
    expect(r.errorCode).toBe(0);
    const range = (k: number) => r.apiKeys.find((a) => a.apiKey === k);
    expect(range(ApiKey.FindCoordinator)).toMatchObject({ minVersion: 0 });
    expect(range(ApiKey.Produce)).toMatchObject({ minVersion: 3 });
    expect(range(ApiKey.Fetch)).toMatchObject({ minVersion: 4 });
    expect(range(ApiKey.ApiVersions)).toEqual({ apiKey: 18, minVersion: 0, maxVersion: 3 });
    expect(range(ApiKey.JoinGroup)).toEqual({ apiKey: 11, minVersion: 0, maxVersion: 9 });
    expect(range(ApiKey.OffsetCommit)).toEqual({ apiKey: 8, minVersion: 0, maxVersion: 8 });
    // v0 (kafka-python's probe) gets the same list.
    expect((await raw.request(ApiKey.ApiVersions, 0, {})).apiKeys).toEqual(r.apiKeys);
  });

  it('answers ApiVersions of a version not served with a v0 UNSUPPORTED_VERSION body and the ranges, and keeps the connection', async () => {
    const b = await startKafkaBroker();
    const raw = await RawKafka.connect(b.kafkaPort);
    const corr = raw.send(ApiKey.ApiVersions, 4, { clientSoftwareName: 'test', clientSoftwareVersion: '1' });
    const frame = (await raw.nextFrame())!;
    const r = decodeResponse(ApiKey.ApiVersions, 0, frame);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.correlationId).toBe(corr);
    expect(r.value.body.errorCode).toBe(KafkaError.UNSUPPORTED_VERSION);
    expect(r.value.body.apiKeys.find((a) => a.apiKey === ApiKey.ApiVersions)).toEqual({ apiKey: 18, minVersion: 0, maxVersion: 3 });
    expect((await raw.request(ApiKey.ApiVersions, 2, {})).errorCode).toBe(0);
  });

  it('closes the connection on an unknown API key, a version not served and a malformed body, logging the client id; other connections go on', async () => {
    const b = await startKafkaBrokerWithLogs();
    const other = await RawKafka.connect(b.kafkaPort);
    // Unknown API key 99: header only (api key, version, correlation id, client id).
    const unknown = await RawKafka.connect(b.kafkaPort);
    const id = Buffer.from('bad-client-1');
    const head = Buffer.alloc(10);
    head.writeInt16BE(99, 0);
    head.writeInt16BE(0, 2);
    head.writeInt32BE(7, 4);
    head.writeInt16BE(id.length, 8);
    const frame = Buffer.concat([head, id]);
    const size = Buffer.alloc(4);
    size.writeInt32BE(frame.length);
    unknown.socket.write(Buffer.concat([size, frame]));
    expect(await unknown.nextFrame()).toBeNull();

    // OffsetCommit v9 (KIP-848's member epochs) is above the served range; Produce v2 below it.
    for (const [apiKey, version] of [[ApiKey.OffsetCommit, 9], [ApiKey.Produce, 2]] as const) {
      const c = await RawKafka.connect(b.kafkaPort);
      const req = apiKey === ApiKey.Produce ? encodeRequest(ApiKey.Produce, 2, 1, 'old-client', { acks: 1, timeoutMs: 1, topicData: [] }) : encodeRequest(ApiKey.OffsetCommit, 9, 1, 'group-client', { groupId: 'g', generationIdOrMemberEpoch: -1, memberId: '', topics: [] });
      c.socket.write(req);
      expect(await c.nextFrame()).toBeNull();
    }

    // A Metadata v1 body cut short: the topic count says 5 topics, none follow.
    const malformed = await RawKafka.connect(b.kafkaPort);
    const good = encodeRequest(ApiKey.Metadata, 1, 3, 'bad-client-2', { topics: [] });
    const cut = Buffer.concat([good.subarray(0, good.length - 4), Buffer.from([0, 0, 0, 5])]);
    malformed.socket.write(cut);
    expect(await malformed.nextFrame()).toBeNull();

    expect(b.logs.filter((l) => l.clientId === 'bad-client-1' || l.clientId === 'bad-client-2' || l.clientId === 'group-client' || l.clientId === 'old-client').map((l) => [l.clientId, l.reason, l.level])).toEqual([
      ['bad-client-1', 'unknown_api', 40],
      ['group-client', 'unsupported_version', 40],
      ['old-client', 'unsupported_version', 40],
      ['bad-client-2', 'malformed', 40],
    ]);
    expect((await other.request(ApiKey.Metadata, 1, { topics: null })).brokers).toHaveLength(1);
  });

  it('closes a connection whose request is larger than requestBytesMax, before reading it', async () => {
    const b = await startKafkaBrokerWithLogs({ requestBytesMax: '64KiB' });
    const c = await RawKafka.connect(b.kafkaPort);
    const big = encodeRequest(ApiKey.Produce, 3, 1, 'big-client', produceBody('t', 0, Buffer.alloc(70 * 1024)));
    c.socket.write(big.subarray(0, 1024));
    expect(await c.nextFrame()).toBeNull();
    expect(b.logs.some((l) => l.size === big.length - 4 && l.requestBytesMax === 64 * 1024)).toBe(true);
    const ok = await RawKafka.connect(b.kafkaPort);
    expect((await ok.request(ApiKey.ApiVersions, 0, {})).errorCode).toBe(0);
  });

  it('closes a connection over connectionsMax at once', async () => {
    const b = await startKafkaBroker({ listeners: { kafka: { connectionsMax: 1 } } });
    const first = await RawKafka.connect(b.kafkaPort);
    await first.request(ApiKey.ApiVersions, 0, {});
    const second = await RawKafka.connect(b.kafkaPort);
    await second.closed;
    expect((await first.request(ApiKey.ApiVersions, 0, {})).errorCode).toBe(0);
  });
});

describe('Kafka listener: produce', () => {
  it('stores the client batch byte for byte (only the base offset restamped) and answers each partition', async () => {
    const b = await startKafkaBroker();
    b.running.broker.createTopic({ name: 'raw', partitions: 2 });
    const raw = await RawKafka.connect(b.kafkaPort);
    const first = batchOf(['a', 'b']);
    const second = batchOf(['c']);
    const r1 = await raw.request(ApiKey.Produce, 7, produceBody('raw', 1, first));
    expect(r1.responses[0]!.partitionResponses[0]).toMatchObject({ index: 1, errorCode: 0, baseOffset: 0n, logStartOffset: 0n });
    const r2 = await raw.request(ApiKey.Produce, 9, produceBody('raw', 1, second, -1));
    expect(r2.responses[0]!.partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: 2n });
    const stored = await b.running.broker.fetch('raw', 1, 0, 1_000_000, 0);
    expect(stored.batches).toHaveLength(2);
    // Identical bytes after the 8-byte base offset.
    expect(stored.batches[0]!.subarray(8).equals(first.subarray(8))).toBe(true);
    expect(stored.batches[1]!.subarray(8).equals(second.subarray(8))).toBe(true);
    expect(readBatchInfo(stored.batches[1]!)!.baseOffset).toBe(2);
  });

  it('sends no response to acks 0, yet stores the records: the next request is the next answer', async () => {
    const b = await startKafkaBroker();
    b.running.broker.createTopic({ name: 'fire', partitions: 1 });
    const raw = await RawKafka.connect(b.kafkaPort);
    raw.send(ApiKey.Produce, 3, produceBody('fire', 0, batchOf(['x']), 0));
    const corr = raw.send(ApiKey.ApiVersions, 0, {});
    const next = await raw.response(ApiKey.ApiVersions, 0);
    expect(next.correlationId).toBe(corr);
    await expect.poll(() => b.running.broker.describeTopic('fire').partitions[0]!.nextOffset).toBe(1);
  });

  it('refuses codecs 5-7 with UNSUPPORTED_COMPRESSION_TYPE, a compressed section that does not decompress or a bad CRC with CORRUPT_MESSAGE, a bad count with INVALID_RECORD, bad acks and unknown topics, storing nothing', async () => {
    const b = await startKafkaBroker();
    b.running.broker.createTopic({ name: 'gate', partitions: 1 });
    const raw = await RawKafka.connect(b.kafkaPort);
    const code = async (topic: string, partition: number, records: Buffer, acks = 1) => (await raw.request(ApiKey.Produce, 7, produceBody(topic, partition, records, acks))).responses[0]!.partitionResponses[0]!.errorCode;
    for (const codec of [5, 6, 7]) {
      const unknown = Buffer.from(batchOf(['z']));
      unknown.writeInt16BE(codec, 21);
      expect(await code('gate', 0, unknown)).toBe(KafkaError.UNSUPPORTED_COMPRESSION_TYPE);
    }
    // An uncompressed records section that says gzip: it does not decompress.
    const notGzip = Buffer.from(batchOf(['z']));
    notGzip.writeInt16BE(1, 21);
    expect(await code('gate', 0, notGzip)).toBe(KafkaError.CORRUPT_MESSAGE);
    const badCrc = Buffer.from(batchOf(['y']));
    badCrc[badCrc.length - 1] ^= 0xff;
    expect(await code('gate', 0, badCrc)).toBe(KafkaError.CORRUPT_MESSAGE);
    const two = Buffer.concat([batchOf(['a']), batchOf(['b'])]);
    expect(await code('gate', 0, two)).toBe(KafkaError.INVALID_RECORD);
    expect(await code('gate', 0, batchOf(['a']), 2)).toBe(KafkaError.INVALID_REQUIRED_ACKS);
    expect(await code('gate', 5, batchOf(['a']))).toBe(KafkaError.UNKNOWN_TOPIC_OR_PARTITION);
    expect(await code('nope', 0, batchOf(['a']))).toBe(KafkaError.UNKNOWN_TOPIC_OR_PARTITION);
    expect(b.running.broker.describeTopic('gate').partitions[0]!.nextOffset).toBe(0);
    expect(b.running.broker.findTopic('nope')).toBeUndefined();
  });

  it('stores gzip, snappy and lz4 batches as sent, and serves them as stored', async () => {
    const b = await startKafkaBroker();
    b.running.broker.createTopic({ name: 'packed', partitions: 1 });
    const raw = await RawKafka.connect(b.kafkaPort);
    const sent: Buffer[] = [];
    for (const compression of ['gzip', 'snappy', 'lz4'] as const) {
      const batch = encodeRecordBatch([{ timestampMs: 1_700_000_000_000, key: null, value: Buffer.from(`${compression} `.repeat(50)), headers: [] }], { compression });
      sent.push(batch);
      const r = await raw.request(ApiKey.Produce, 7, produceBody('packed', 0, batch));
      expect(r.responses[0]!.partitionResponses[0]!.errorCode).toBe(0);
    }
    const f = (await raw.request(ApiKey.Fetch, 11, fetchBody('packed', 0, 0))).responses[0]!.partitions[0]!;
    const served = f.records as Buffer;
    // Byte for byte but the base offsets (restamped, outside the CRC).
    let pos = 0;
    sent.forEach((batch, i) => {
      const got = served.subarray(pos, pos + batch.length);
      expect(readBatchInfo(got)!.baseOffset).toBe(i);
      expect(got.subarray(8)).toEqual(batch.subarray(8));
      pos += batch.length;
    });
    expect(decodeRecordBatch(served.subarray(0, sent[0]!.length)).map((r) => r.value!.toString())).toEqual(['gzip '.repeat(50)]);
  });
});

describe('Kafka listener: fetch, list offsets, metadata', () => {
  it('answers pipelined requests in order: a long-poll fetch answered by a later append comes before the Metadata sent after it', async () => {
    const b = await startKafkaBroker();
    b.running.broker.createTopic({ name: 'poll', partitions: 1 });
    const raw = await RawKafka.connect(b.kafkaPort);
    const fetchCorr = raw.send(ApiKey.Fetch, 4, fetchBody('poll', 0, 0, { maxWaitMs: 30_000 }));
    const metaCorr = raw.send(ApiKey.Metadata, 1, { topics: null });
    // Nothing may be answered while the fetch waits: ApiVersions on another connection proves the listener handled both requests.
    const producer = await RawKafka.connect(b.kafkaPort);
    await expect.poll(() => b.running.broker.parkedFetches).toBeGreaterThan(0);
    await producer.request(ApiKey.Produce, 3, produceBody('poll', 0, batchOf(['woke'])));
    const f = await raw.response(ApiKey.Fetch, 4);
    expect(f.correlationId).toBe(fetchCorr);
    const p = f.body.responses[0]!.partitions[0]!;
    expect(p.highWatermark).toBe(1n);
    expect(p.lastStableOffset).toBe(1n);
    expect(decodeRecordBatch(p.records as Buffer).map((r) => r.value!.toString())).toEqual(['woke']);
    expect((await raw.response(ApiKey.Metadata, 1)).correlationId).toBe(metaCorr);
  });

  it('returns whole batches from the one holding the offset, at least one above max_bytes, and OFFSET_OUT_OF_RANGE with the offsets', async () => {
    const b = await startKafkaBroker();
    b.running.broker.createTopic({ name: 'f', partitions: 1 });
    const raw = await RawKafka.connect(b.kafkaPort);
    await raw.request(ApiKey.Produce, 3, produceBody('f', 0, batchOf(['0', '1', '2'])));
    await raw.request(ApiKey.Produce, 3, produceBody('f', 0, batchOf(['3'])));
    const mid = (await raw.request(ApiKey.Fetch, 11, fetchBody('f', 0, 1, { maxBytes: 10, partitionMaxBytes: 10 }))).responses[0]!.partitions[0]!;
    // Offset 1 sits in the first batch: it comes whole (records 0-2), and only it, although above max_bytes.
    expect(decodeRecordBatch(mid.records as Buffer).map((r) => r.offset)).toEqual([0, 1, 2]);
    expect(mid).toMatchObject({ errorCode: 0, highWatermark: 4n, logStartOffset: 0n });
    const zero = (await raw.request(ApiKey.Fetch, 11, fetchBody('f', 0, 3, { partitionMaxBytes: 0 }))).responses[0]!.partitions[0]!;
    expect(decodeRecordBatch(zero.records as Buffer).map((r) => r.offset)).toEqual([3]);
    const out = (await raw.request(ApiKey.Fetch, 11, fetchBody('f', 0, 9))).responses[0]!.partitions[0]!;
    expect(out).toMatchObject({ errorCode: KafkaError.OFFSET_OUT_OF_RANGE, highWatermark: 4n, logStartOffset: 0n });
    const unknown = (await raw.request(ApiKey.Fetch, 4, fetchBody('nothing', 0, 0))).responses[0]!.partitions[0]!;
    expect(unknown.errorCode).toBe(KafkaError.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('answers a long-poll at once, as Kafka does, when min_bytes is 0 or a partition has an error', async () => {
    const b = await startKafkaBroker();
    b.running.broker.createTopic({ name: 'now', partitions: 1 });
    const raw = await RawKafka.connect(b.kafkaPort);
    await raw.request(ApiKey.Produce, 3, produceBody('now', 0, batchOf(['0'])));
    // Each waits up to a minute if it long-polls: no append comes to end the wait.
    const wait = { maxWaitMs: 60_000 };
    const atEnd = (await raw.request(ApiKey.Fetch, 11, fetchBody('now', 0, 1, { ...wait, minBytes: 0 }))).responses[0]!.partitions[0]!;
    expect(atEnd).toMatchObject({ errorCode: 0, highWatermark: 1n });
    const outOfRange = (await raw.request(ApiKey.Fetch, 11, fetchBody('now', 0, 1_000_000, wait))).responses[0]!.partitions[0]!;
    expect(outOfRange.errorCode).toBe(KafkaError.OFFSET_OUT_OF_RANGE);
    const unknown = (await raw.request(ApiKey.Fetch, 11, fetchBody('none', 0, 0, wait))).responses[0]!.partitions[0]!;
    expect(unknown.errorCode).toBe(KafkaError.UNKNOWN_TOPIC_OR_PARTITION);
    expect(b.running.broker.parkedFetches).toBe(0);
  });

  it('lists earliest, latest and by-timestamp offsets (v0 in old_style_offsets)', async () => {
    const b = await startKafkaBroker();
    b.running.broker.createTopic({ name: 'lo', partitions: 1 });
    const raw = await RawKafka.connect(b.kafkaPort);
    await raw.request(ApiKey.Produce, 3, produceBody('lo', 0, batchOf(['a', 'b'], { timestampMs: 1000 })));
    await raw.request(ApiKey.Produce, 3, produceBody('lo', 0, batchOf(['c'], { timestampMs: 5000 })));
    const ask = async (version: number, timestamp: bigint) =>
      (await raw.request(ApiKey.ListOffsets, version, { replicaId: -1, topics: [{ name: 'lo', partitions: [{ partitionIndex: 0, timestamp, maxNumOffsets: 1 }] }] })).topics[0]!.partitions[0]!;
    expect(await ask(1, -2n)).toMatchObject({ errorCode: 0, offset: 0n });
    expect(await ask(1, -1n)).toMatchObject({ errorCode: 0, offset: 3n });
    expect(await ask(4, 1001n)).toMatchObject({ errorCode: 0, offset: 1n, timestamp: 1001n });
    expect(await ask(4, 2000n)).toMatchObject({ errorCode: 0, offset: 2n, timestamp: 5000n });
    expect(await ask(4, 9000n)).toMatchObject({ errorCode: 0, offset: -1n, timestamp: -1n });
    expect((await ask(0, -1n)).oldStyleOffsets).toEqual([3n]);
  });

  it('Metadata: one node, replicas and ISR = [it], null topics = all, auto-create only when the config and the request allow it', async () => {
    const b = await startKafkaBroker();
    b.running.broker.createTopic({ name: 'm', partitions: 2 });
    const raw = await RawKafka.connect(b.kafkaPort);
    const all = await raw.request(ApiKey.Metadata, 9, { topics: null });
    expect(all.brokers).toEqual([{ nodeId: 0, host: '127.0.0.1', port: b.kafkaPort, rack: null }]);
    expect(all.topics.map((t) => [t.name, t.partitions.map((p) => [p.partitionIndex, p.leaderId, p.replicaNodes, p.isrNodes])])).toEqual([
      ['m', [[0, 0, [0], [0]], [1, 0, [0], [0]]]],
    ]);
    const noCreate = await raw.request(ApiKey.Metadata, 4, { topics: [{ name: 'fresh' }], allowAutoTopicCreation: false });
    expect(noCreate.topics[0]!.errorCode).toBe(KafkaError.UNKNOWN_TOPIC_OR_PARTITION);
    const create = await raw.request(ApiKey.Metadata, 4, { topics: [{ name: 'fresh' }], allowAutoTopicCreation: true });
    expect(create.topics[0]).toMatchObject({ errorCode: 0, name: 'fresh' });
    const bad = await raw.request(ApiKey.Metadata, 4, { topics: [{ name: 'bad name!' }], allowAutoTopicCreation: true });
    expect(bad.topics[0]!.errorCode).toBe(KafkaError.INVALID_TOPIC_EXCEPTION);

    const off = await startKafkaBroker({ topics: { autoCreate: false }, listeners: { kafka: { advertisedHost: 'gw.example', advertisedPort: 19092 } } });
    const raw2 = await RawKafka.connect(off.kafkaPort);
    const r = await raw2.request(ApiKey.Metadata, 4, { topics: [{ name: 'fresh' }], allowAutoTopicCreation: true });
    expect(r.topics[0]!.errorCode).toBe(KafkaError.UNKNOWN_TOPIC_OR_PARTITION);
    expect(r.brokers).toEqual([{ nodeId: 0, host: 'gw.example', port: 19092, rack: null }]);
    const fc = await raw2.request(ApiKey.FindCoordinator, 0, { key: 'g' });
    expect(fc).toMatchObject({ errorCode: 0, nodeId: 0, host: 'gw.example', port: 19092 });
  });

  it('a broker stop ends a parked long-poll at once: the fetch is answered empty and the connection ends', async () => {
    const b = await startKafkaBroker();
    b.running.broker.createTopic({ name: 'stop', partitions: 1 });
    const raw = await RawKafka.connect(b.kafkaPort);
    const corr = raw.send(ApiKey.Fetch, 4, fetchBody('stop', 0, 0, { maxWaitMs: 60_000 }));
    await expect.poll(() => b.running.broker.parkedFetches).toBe(1);
    await b.stop();
    const r = await raw.response(ApiKey.Fetch, 4);
    expect(r.correlationId).toBe(corr);
    expect(r.body.responses[0]!.partitions[0]!).toMatchObject({ errorCode: 0, highWatermark: 0n });
    await raw.closed;
  });
});

describe('Kafka listener: the shared fetch budget', () => {
  it('gives every reservation back once answers are written, and when a connection closes with fetches in flight', async () => {
    const b = await startKafkaBroker({ listeners: { kafka: { fetchBytesTotalMax: '12MiB' } } });
    b.running.broker.createTopic({ name: 'budget', partitions: 1 });
    const budget = b.running.kafka!.fetchBudget;
    const raw = await RawKafka.connect(b.kafkaPort);
    for (let i = 0; i < 5; i++) await raw.request(ApiKey.Produce, 3, produceBody('budget', 0, batchOf([`v${i}`.repeat(1000)])));
    // One reservation fills the whole budget: these fetches run one after the other, each answered.
    const corrs = Array.from({ length: 4 }, (_, i) => raw.send(ApiKey.Fetch, 4, fetchBody('budget', 0, i, { maxBytes: 8 * 1024 * 1024 })));
    for (const corr of corrs) expect((await raw.response(ApiKey.Fetch, 4)).correlationId).toBe(corr);
    await expect.poll(() => budget.usedBytes).toBe(0);

    const leaving = await RawKafka.connect(b.kafkaPort);
    for (let i = 0; i < 5; i++) leaving.send(ApiKey.Fetch, 4, fetchBody('budget', 0, 5, { maxWaitMs: 30_000, maxBytes: 8 * 1024 * 1024 }));
    // inflightRequestsMax (5): all five wait for records at once.
    await expect.poll(() => b.running.broker.parkedFetches).toBe(5);
    leaving.socket.destroy();
    await expect.poll(() => b.running.broker.parkedFetches).toBe(0);
    await expect.poll(() => budget.usedBytes).toBe(0);
    expect(budget.waiters).toBe(0);
    // The budget still serves others.
    const after = await raw.request(ApiKey.Fetch, 4, fetchBody('budget', 0, 4));
    expect(after.responses[0]!.partitions[0]!.errorCode).toBe(0);
  });
});

describe('Kafka listener: a client that stops reading', () => {
  it('is closed after writeStallMs with its client id logged; its share of the fetch budget comes back and others are served', async () => {
    const b = await startKafkaBrokerWithLogs({ writeStallMs: '500ms' });
    b.running.broker.createTopic({ name: 'big', partitions: 1 });
    const producer = await RawKafka.connect(b.kafkaPort);
    // 12 batches of ~3.6 MB: each Fetch answer carries at least 8 MiB, more than loopback buffers take.
    const value = Buffer.alloc(1200 * 1024, 7);
    for (let i = 0; i < 12; i++) {
      const r = await producer.request(ApiKey.Produce, 3, produceBody('big', 0, encodeRecordBatch([0, 1, 2].map((k) => ({ timestampMs: k, key: null, value, headers: [] })))));
      expect(r.responses[0]!.partitionResponses[0]!.errorCode).toBe(0);
    }
    const reader = await RawKafka.connect(b.kafkaPort);
    reader.socket.pause();
    for (let i = 0; i < 5; i++) reader.send(ApiKey.Fetch, 4, fetchBody('big', 0, 0, { maxBytes: 8 * 1024 * 1024, partitionMaxBytes: 8 * 1024 * 1024 }), 'never-reads');
    await expect.poll(() => b.logs.some((l) => l.clientId === 'never-reads' && String(l.msg).includes('stopped reading')), { timeout: 20_000 }).toBe(true);
    // A paused socket does not see the close until it reads again.
    reader.socket.resume();
    await reader.closed;
    await expect.poll(() => b.running.kafka!.fetchBudget.usedBytes).toBe(0);
    const r = await producer.request(ApiKey.Fetch, 4, fetchBody('big', 0, 30));
    expect(decodeRecordBatch(r.responses[0]!.partitions[0]!.records as Buffer)[0]!.offset).toBe(30);
  });
});

describe('Kafka listener: metrics', () => {
  it('counts open Kafka connections in tributary_connections{listener="kafka"}', async () => {
    const b = await startKafkaBroker({ listeners: { http: { enabled: true, host: '127.0.0.1', port: 0 } } });
    const raw = await RawKafka.connect(b.kafkaPort);
    await raw.request(ApiKey.ApiVersions, 0, {});
    const metrics = await (await fetch(`http://127.0.0.1:${b.running.http!.port}/metrics`)).text();
    expect(metrics).toMatch(/^tributary_connections\{listener="kafka"\} 1$/m);
  });
});

describe('Kafka listener: topic administration over raw requests', () => {
  it('CreateTopics answers each topic: created, exists, bad partition count, bad replication factor, unknown config; validate_only creates nothing', async () => {
    const b = await startKafkaBroker();
    const raw = await RawKafka.connect(b.kafkaPort);
    const topic = (name: string, numPartitions: number, replicationFactor = -1, configs: { name: string; value: string | null }[] = []) => ({ name, numPartitions, replicationFactor, assignments: [], configs });
    const r = await raw.request(ApiKey.CreateTopics, 5, {
      topics: [topic('ct-ok', 3, 1, [{ name: 'retention.bytes', value: '1048576' }]), topic('ct-zero', 0), topic('ct-huge', 5000), topic('ct-rf', 1, 2), topic('ct-cfg', 1, -1, [{ name: 'compression.type', value: 'gzip' }])],
      timeoutMs: 1000,
      validateOnly: false,
    });
    expect(r.topics.map((t) => [t.name, t.errorCode])).toEqual([
      ['ct-ok', 0],
      ['ct-zero', KafkaError.INVALID_PARTITIONS],
      ['ct-huge', KafkaError.INVALID_PARTITIONS],
      ['ct-rf', KafkaError.INVALID_REPLICATION_FACTOR],
      ['ct-cfg', KafkaError.INVALID_CONFIG],
    ]);
    expect(r.topics[0]).toMatchObject({ numPartitions: 3, replicationFactor: 1 });
    expect(b.running.broker.describeTopic('ct-ok').retentionBytes).toBe(1_048_576);
    expect(b.running.broker.storedTopics().map((t) => t.name)).toEqual(['ct-ok']);
    const again = await raw.request(ApiKey.CreateTopics, 5, { topics: [topic('ct-ok', 1), topic('ct-dry', 2)], timeoutMs: 1000, validateOnly: true });
    expect(again.topics.map((t) => [t.name, t.errorCode])).toEqual([
      ['ct-ok', KafkaError.TOPIC_ALREADY_EXISTS],
      ['ct-dry', 0],
    ]);
    expect(b.running.broker.findTopic('ct-dry')).toBeUndefined();
  });
});

describe('Kafka listener: names that make long answers', () => {
  it('answers a 32000-character topic name with INVALID_TOPIC_EXCEPTION and a shortened message', async () => {
    const b = await startKafkaBroker();
    const raw = await RawKafka.connect(b.kafkaPort);
    const name = 'a'.repeat(32_000);
    const r = await raw.request(ApiKey.CreateTopics, 1, { topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 1000, validateOnly: false });
    expect(r.topics[0]!.errorCode).toBe(KafkaError.INVALID_TOPIC_EXCEPTION);
    expect(r.topics[0]!.errorMessage!.length).toBeLessThanOrEqual(4096);
  });

  it('closes, with a warning naming the client, a connection whose name cannot be echoed once re-encoded; the broker serves others', async () => {
    const b = await startKafkaBrokerWithLogs();
    const raw = await RawKafka.connect(b.kafkaPort);
    // Metadata v1 naming one topic of 12,000 bytes 0xff: decoded as 12,000 U+FFFD, 36,000 bytes to echo.
    const id = Buffer.from('echo-client');
    const head = Buffer.alloc(10);
    head.writeInt16BE(ApiKey.Metadata, 0);
    head.writeInt16BE(1, 2);
    head.writeInt32BE(9, 4);
    head.writeInt16BE(id.length, 8);
    const count = Buffer.alloc(4);
    count.writeInt32BE(1);
    const length = Buffer.alloc(2);
    length.writeInt16BE(12_000);
    const frame = Buffer.concat([head, id, count, length, Buffer.alloc(12_000, 0xff)]);
    const size = Buffer.alloc(4);
    size.writeInt32BE(frame.length);
    raw.socket.write(Buffer.concat([size, frame]));
    expect(await raw.nextFrame()).toBeNull();
    expect(b.logs.some((l) => l.clientId === 'echo-client' && l.reason === 'unencodable_answer' && l.level === 40)).toBe(true);
    const other = await RawKafka.connect(b.kafkaPort);
    expect((await other.request(ApiKey.ApiVersions, 0, {})).errorCode).toBe(0);
  });
});

describe('Kafka listener: flexible versions', () => {
  it('serves every API at the highest version it advertises (flexible encodings, tagged fields)', async () => {
    const b = await startKafkaBroker();
    const raw = await RawKafka.connect(b.kafkaPort);
    const apis = (await raw.request(ApiKey.ApiVersions, 3, { clientSoftwareName: 't', clientSoftwareVersion: '1' })).apiKeys;
    const max = (key: number) => apis.find((a) => a.apiKey === key)!.maxVersion;
    const created = await raw.request(ApiKey.CreateTopics, max(ApiKey.CreateTopics), { topics: [{ name: 'flex', numPartitions: 1, replicationFactor: -1, assignments: [], configs: [] }, { name: 'flex-gone', numPartitions: 1, replicationFactor: -1, assignments: [], configs: [] }], timeoutMs: 1000, validateOnly: false });
    expect(created.topics.map((t) => t.errorCode)).toEqual([0, 0]);
    const meta = await raw.request(ApiKey.Metadata, max(ApiKey.Metadata), { topics: [{ topicId: '00000000-0000-0000-0000-000000000000', name: 'flex' }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
    expect(meta.topics[0]).toMatchObject({ errorCode: 0, name: 'flex' });
    const produced = await raw.request(ApiKey.Produce, max(ApiKey.Produce), produceBody('flex', 0, batchOf(['f0', 'f1'])));
    expect(produced.responses[0]!.partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: 0n });
    // Fetch v13+ names the topic by the id Metadata gave.
    const fetched = await raw.request(ApiKey.Fetch, max(ApiKey.Fetch), { ...fetchBody('flex', 0, 1), topics: [{ topicId: meta.topics[0]!.topicId, partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1_000_000 }] }] });
    expect(decodeRecordBatch(fetched.responses[0]!.partitions[0]!.records as Buffer).map((r) => r.value!.toString())).toEqual(['f0', 'f1']);
    const listed = await raw.request(ApiKey.ListOffsets, max(ApiKey.ListOffsets), { replicaId: -1, isolationLevel: 0, topics: [{ name: 'flex', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] }] });
    expect(listed.topics[0]!.partitions[0]).toMatchObject({ errorCode: 0, offset: 2n });
    const grown = await raw.request(ApiKey.CreatePartitions, max(ApiKey.CreatePartitions), { topics: [{ name: 'flex', count: 2, assignments: null }], timeoutMs: 1000, validateOnly: false });
    expect(grown.results[0]!.errorCode).toBe(0);
    const configs = await raw.request(ApiKey.DescribeConfigs, max(ApiKey.DescribeConfigs), { resources: [{ resourceType: 2, resourceName: 'flex', configurationKeys: ['retention.bytes'] }], includeSynonyms: true, includeDocumentation: true });
    expect(configs.results[0]!.configs.map((c) => [c.name, c.value])).toEqual([['retention.bytes', '-1']]);
    const coordinator = await raw.request(ApiKey.FindCoordinator, max(ApiKey.FindCoordinator), { keyType: 0, coordinatorKeys: ['g1', 'g2'] });
    expect(coordinator.coordinators.map((c) => [c.key, c.nodeId, c.errorCode])).toEqual([
      ['g1', 0, 0],
      ['g2', 0, 0],
    ]);
    const deleted = await raw.request(ApiKey.DeleteTopics, max(ApiKey.DeleteTopics), { topics: [{ name: 'flex-gone', topicId: '00000000-0000-0000-0000-000000000000' }], timeoutMs: 1000 });
    expect(deleted.responses.map((r) => [r.name, r.errorCode])).toEqual([['flex-gone', 0]]);
    expect(b.running.broker.findTopic('flex-gone')).toBeUndefined();
  });
});
