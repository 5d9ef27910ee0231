// Interop with independent Kafka clients against the Kafka listener: kcat 1.7.1 and
// python3-confluent-kafka 1.7.0 (both librdkafka 2.0.2), python3-kafka (kafka-python 2.0.2) as
// separate processes, and kafkajs 2.2.4 in this process. Each produces and another consumes, keys,
// values and headers compared byte for byte; records produced over the edge protocol and MQTT are
// read by kcat with their headers. .ci/run installs kcat and the Python packages; under CI a
// missing one fails these tests instead of skipping them.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { Consumer, Producer } from '../../src/client/index.ts';
import { runProcess } from '../helpers/cli.ts';
import { startKafkaBroker, type KafkaTestBroker } from '../helpers/kafka.ts';
import { connectMqtt, startMqttBroker } from '../helpers/mqtt.ts';
import { onCleanup } from '../helpers/temp.ts';

const PYTHON = '/usr/bin/python3';
const PY_CLIENT = path.resolve('test/interop/kafka/py-client.py');
const hasKcat = spawnSync('kcat', ['-V']).error === undefined;
const hasPython = spawnSync(PYTHON, ['-c', 'import confluent_kafka, kafka']).status === 0;

interface Rec {
  key: Buffer | null;
  value: Buffer | null;
  headers: [string, Buffer | null][];
}

/**
 * Every byte value, an empty value, a null key and (where the client can send one: kafka-python and
 * kafkajs cannot) a header with a null value: what a text-only path would mangle.
 */
function binaryRecords(tag: string, nullHeader = true): Rec[] {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  return [
    { key: Buffer.from(`${tag}-k0`), value: all, headers: [['bin', Buffer.from([0, 255, 10, 13])], ['utf8', Buffer.from('é€😀')]] },
    { key: null, value: Buffer.from(`${tag} second`), headers: [] },
    { key: Buffer.from([0xff, 0x00, 0x80]), value: Buffer.alloc(0), headers: nullHeader ? [['nullable', null]] : [['empty', Buffer.alloc(0)]] },
  ];
}

const b64 = (b: Buffer | null) => (b === null ? null : b.toString('base64'));
const unb64 = (s: string | null) => (s === null ? null : Buffer.from(s, 'base64'));

async function py(lib: 'confluent' | 'kafka-python', op: 'produce' | 'consume' | 'init-transactions', args: Record<string, unknown>): Promise<Record<string, unknown>> {
  const r = await runProcess(PYTHON, [PY_CLIENT, lib, op, JSON.stringify(args)], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`${lib} ${op} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

async function pyProduce(lib: 'confluent' | 'kafka-python', b: KafkaTestBroker, topic: string, partition: number, records: Rec[]): Promise<number[]> {
  const out = await py(lib, 'produce', { bootstrap: bootstrap(b), topic, partition, records: records.map((r) => ({ key: b64(r.key), value: b64(r.value), headers: r.headers.map(([k, v]) => [k, b64(v)]) })) });
  return out.offsets as number[];
}

async function pyConsume(lib: 'confluent' | 'kafka-python', b: KafkaTestBroker, topic: string, partition: number, offset: number, count: number): Promise<(Rec & { offset: number })[]> {
  const out = await py(lib, 'consume', { bootstrap: bootstrap(b), topic, partition, offset, count });
  return (out.records as { offset: number; key: string | null; value: string | null; headers: [string, string | null][] }[]).map((r) => ({
    offset: r.offset,
    key: unb64(r.key),
    value: unb64(r.value),
    headers: r.headers.map(([k, v]) => [k, unb64(v)]),
  }));
}

const bootstrap = (b: KafkaTestBroker) => `127.0.0.1:${b.kafkaPort}`;

async function kcat(b: KafkaTestBroker, args: string[], input?: string): Promise<string> {
  const r = await runProcess('kcat', ['-b', bootstrap(b), ...args], { timeoutMs: 30_000, input });
  if (r.code !== 0) throw new Error(`kcat ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

function kafkajs(b: KafkaTestBroker): Kafka {
  return new Kafka({ clientId: 'interop-kafkajs', brokers: [bootstrap(b)], logLevel: logLevel.NOTHING, retry: { retries: 3 } });
}

async function kafkajsProduce(b: KafkaTestBroker, topic: string, partition: number, records: Rec[]): Promise<void> {
  const producer = kafkajs(b).producer();
  await producer.connect();
  onCleanup(() => producer.disconnect());
  await producer.send({
    topic,
    acks: -1,
    messages: records.map((r) => ({ partition, key: r.key, value: r.value, headers: Object.fromEntries(r.headers.map(([k, v]) => [k, v!])) })),
  });
}

const plain = (records: Rec[]) => records.map((r) => ({ key: r.key, value: r.value, headers: r.headers }));

describe.runIf((hasKcat && hasPython) || process.env.CI)('Kafka clients against the Kafka listener', () => {
  it('has kcat, python3-confluent-kafka and python3-kafka installed (.ci/run installs them)', () => {
    expect(hasKcat).toBe(true);
    expect(hasPython).toBe(true);
  });

  it('kcat -L lists the one broker and every topic with its partitions', async () => {
    const b = await startKafkaBroker();
    b.running.broker.createTopic({ name: 'listed', partitions: 3 });
    const out = await kcat(b, ['-L']);
    expect(out).toContain(`broker 0 at 127.0.0.1:${b.kafkaPort} (controller)`);
    expect(out).toContain('topic "listed" with 3 partitions:');
    expect(out).toContain('partition 2, leader 0, replicas: 0, isrs: 0');
  });

  it("the README's kcat quick start: kcat -P creates the topic (topics.autoCreate) and kcat -C prints the record with its header", async () => {
    const b = await startKafkaBroker();
    await kcat(b, ['-P', '-t', 'sensors', '-K', '\\t', '-H', 'unit=C'], 'dev1\t21.5\n');
    expect(await kcat(b, ['-C', '-t', 'sensors', '-e', '-f', '%o %k=%s %h\n'])).toBe('0 dev1=21.5 unit=C\n');
  });

  it('kcat -P → confluent-kafka, kafka-python and the edge consumer, keys, values and headers byte-exact', async () => {
    const b = await startKafkaBroker();
    b.running.broker.createTopic({ name: 'from-kcat', partitions: 1 });
    await kcat(b, ['-P', '-t', 'from-kcat', '-p', '0', '-K', '\t', '-H', 'source=kcat', '-H', 'ünï=cødé'], 'k1\tvalue one\nkey-é\tvalue € two\n');
    const expected = [
      { key: Buffer.from('k1'), value: Buffer.from('value one'), headers: [['source', Buffer.from('kcat')], ['ünï', Buffer.from('cødé')]] },
      { key: Buffer.from('key-é'), value: Buffer.from('value € two'), headers: [['source', Buffer.from('kcat')], ['ünï', Buffer.from('cødé')]] },
    ];
    expect(plain(await pyConsume('confluent', b, 'from-kcat', 0, 0, 2))).toEqual(expected);
    expect(plain(await pyConsume('kafka-python', b, 'from-kcat', 0, 0, 2))).toEqual(expected);
    const c = await Consumer.connect({ ...b.url, maxWaitMs: 100 });
    onCleanup(() => c.close());
    await c.assign([{ topic: 'from-kcat', partition: 0, offset: 'earliest' }]);
    const got = [];
    while (got.length < 2) got.push(...(await c.poll()));
    expect(got.map((r) => ({ key: r.key, value: r.value, headers: r.headers.map((h) => [h.key, h.value]) }))).toEqual(expected);
  });

  it('kcat -P with each compression codec (gzip, snappy, lz4, zstd): stored as librdkafka compressed it, read by kcat and by the edge consumer', async () => {
    const b = await startKafkaBroker();
    const codecs = ['gzip', 'snappy', 'lz4', 'zstd'];
    for (const codec of codecs) {
      b.running.broker.createTopic({ name: `packed-${codec}`, partitions: 1 });
      await kcat(b, ['-P', '-t', `packed-${codec}`, '-p', '0', '-X', `compression.codec=${codec}`, '-K', '\t'], `k-${codec}\t${codec} `.repeat(1).concat('x'.repeat(200), '\n', `k2\tsecond ${codec}\n`));
      expect(await kcat(b, ['-C', '-t', `packed-${codec}`, '-e', '-f', '%o %k %S\n'])).toBe(`0 k-${codec} ${codec.length + 1 + 200}\n1 k2 ${'second '.length + codec.length}\n`);
      const c = await Consumer.connect({ ...b.url, maxWaitMs: 100 });
      onCleanup(() => c.close());
      await c.assign([{ topic: `packed-${codec}`, partition: 0, offset: 'earliest' }]);
      const got = [];
      while (got.length < 2) got.push(...(await c.poll()));
      expect(got.map((r) => r.value!.toString())).toEqual([`${codec} ${'x'.repeat(200)}`, `second ${codec}`]);
    }
  });

  it('confluent-kafka → kafka-python, kafka-python → confluent-kafka, binary records byte-exact', async () => {
    const b = await startKafkaBroker();
    b.running.broker.createTopic({ name: 'py', partitions: 2 });
    const fromConfluent = binaryRecords('confluent');
    expect(await pyProduce('confluent', b, 'py', 0, fromConfluent)).toEqual([0, 1, 2]);
    expect(plain(await pyConsume('kafka-python', b, 'py', 0, 0, 3))).toEqual(fromConfluent);
    const fromKafkaPython = binaryRecords('kafka-python', false);
    expect(await pyProduce('kafka-python', b, 'py', 1, fromKafkaPython)).toEqual([0, 1, 2]);
    expect(plain(await pyConsume('confluent', b, 'py', 1, 0, 3))).toEqual(fromKafkaPython);
    // Offsets after the first record: the whole first batch comes back, the clients drop what is below.
    expect((await pyConsume('confluent', b, 'py', 1, 2, 1)).map((r) => r.offset)).toEqual([2]);
  });

  it('a transactional confluent-kafka producer fails init_transactions at once with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, not a timeout', async () => {
    const b = await startKafkaBroker();
    // 120 s: far beyond the test's own timeout, so a client left retrying would fail the test, not pass it late.
    const r = await py('confluent', 'init-transactions', { bootstrap: `127.0.0.1:${b.kafkaPort}`, transactionalId: 'tx-1', timeoutS: 120 });
    expect(r).toMatchObject({ name: 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', fatal: true });
  });

  it('kafkajs → confluent-kafka and kcat, binary records byte-exact', async () => {
    const b = await startKafkaBroker();
    b.running.broker.createTopic({ name: 'js', partitions: 1 });
    const sent = binaryRecords('kafkajs', false);
    await kafkajsProduce(b, 'js', 0, sent);
    expect(plain(await pyConsume('confluent', b, 'js', 0, 0, 3))).toEqual(sent);
    const out = await kcat(b, ['-C', '-t', 'js', '-p', '0', '-o', '1', '-c', '1', '-e', '-f', '%o|%k|%s|%h\n']);
    expect(out).toBe('1||kafkajs second|\n');
  });

  it('kafkajs admin: create with retention configs, metadata, describe configs, grow, list offsets, delete', async () => {
    const b = await startKafkaBroker({ topics: { autoCreate: false } });
    const admin = kafkajs(b).admin();
    await admin.connect();
    onCleanup(() => admin.disconnect());
    expect(await admin.createTopics({ topics: [{ topic: 'adm', numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] })).toBe(true);
    expect(await admin.createTopics({ topics: [{ topic: 'adm', numPartitions: 2 }] })).toBe(false);
    await expect(admin.createTopics({ topics: [{ topic: 'adm-rf', numPartitions: 1, replicationFactor: 3 }] })).rejects.toMatchObject({ errors: [{ type: 'INVALID_REPLICATION_FACTOR' }] });
    expect(b.running.broker.describeTopic('adm').retentionMs).toBe(3_600_000);
    const meta = await admin.fetchTopicMetadata({ topics: ['adm'] });
    expect(meta.topics[0]!.partitions.map((p) => [p.partitionId, p.leader, p.replicas, p.isr]).sort()).toEqual([
      [0, 0, [0], [0]],
      [1, 0, [0], [0]],
    ]);
    const configs = await admin.describeConfigs({ resources: [{ type: 2, name: 'adm' }], includeSynonyms: false });
    const entries = Object.fromEntries(configs.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
    expect(entries).toMatchObject({ 'retention.ms': '3600000', 'retention.bytes': '-1', 'min.insync.replicas': '1' });
    await admin.createPartitions({ topicPartitions: [{ topic: 'adm', count: 3 }] });
    expect(b.running.broker.describeTopic('adm').partitions).toHaveLength(3);

    await kafkajsProduce(b, 'adm', 1, [{ key: Buffer.from('a'), value: Buffer.from('1'), headers: [] }, { key: null, value: Buffer.from('2'), headers: [] }]);
    const offsets = await admin.fetchTopicOffsets('adm');
    expect(offsets.find((o) => o.partition === 1)).toMatchObject({ low: '0', high: '2' });
    const byTime = await admin.fetchTopicOffsetsByTimestamp('adm', 0);
    expect(byTime.find((o) => o.partition === 1)!.offset).toBe('0');

    await admin.deleteTopics({ topics: ['adm'] });
    expect(b.running.broker.findTopic('adm')).toBeUndefined();
  });

  it('a record produced over the edge protocol and one over MQTT are read by kcat with their headers', async () => {
    const b = await startMqttBroker({ listeners: { kafka: { enabled: true, host: '127.0.0.1', port: 0 } } });
    const kb = Object.assign(b, { kafkaPort: b.running.kafka!.port });
    b.running.broker.createTopic({ name: 'edge-made', partitions: 1 });
    const p = await Producer.connect(b.url);
    onCleanup(() => p.close());
    await p.send({ topic: 'edge-made', partition: 0, key: 'dev-1', value: 'temp=21.5', headers: { unit: 'C', site: 'nord' }, timestampMs: 1_700_000_000_000 });
    expect(await kcat(kb, ['-C', '-t', 'edge-made', '-e', '-f', '%o|%k|%s|%h|%T\n'])).toBe('0|dev-1|temp=21.5|unit=C,site=nord|1700000000000\n');

    const mqtt = await connectMqtt(b, { clientId: 'mqtt-dev' });
    await mqtt.publishAsync('sensors/room1', 'on', { qos: 1 });
    const out = await kcat(kb, ['-C', '-t', 'mqtt', '-e', '-f', '%k|%s|%h\n']);
    expect(out).toMatch(/^sensors\/room1\|on\|.*mqtt\.topic=sensors\/room1/);
    expect(out).toContain('mqtt.clientId=mqtt-dev');
  });
});
