// The full interop matrix of issue 10: each of five independent Kafka clients — kcat 1.7.1 and
// python3-confluent-kafka 1.7.0 (both librdkafka 2.0.2), python3-kafka (kafka-python 2.0.2), kafkajs
// 2.2.4 and @platformatic/kafka 1.35.0 — produces three records to a topic of its own, and every
// other one reads them back; keys, values and headers are compared byte for byte. Each producer
// sends what it can carry: binary keys and a null key, values with non-UTF-8 bytes (all 256 byte
// values where the client takes bytes), a repeated header key, an empty header value and a null one
// where the client can send it (kafka-python and kafkajs cannot; kcat's -H takes text only, the same
// headers on every record). One broker serves the whole file. Under CI a missing client fails.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { Consumer as PlatformaticConsumer, MessagesStreamModes, Producer as PlatformaticProducer } from '@platformatic/kafka';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { startKafkaBroker, type KafkaTestBroker } from '../helpers/kafka.ts';
import { onCleanup } from '../helpers/temp.ts';

const PYTHON = '/usr/bin/python3';
const PY_CLIENT = path.resolve('test/interop/kafka/py-client.py');
const hasKcat = spawnSync('kcat', ['-V']).error === undefined;
const hasPython = spawnSync(PYTHON, ['-c', 'import confluent_kafka, kafka']).status === 0;

const CLIENTS = ['kcat', 'confluent-kafka', 'kafka-python', 'kafkajs', 'platformatic'] as const;
type Client = (typeof CLIENTS)[number];

type Header = [string, Buffer | null];
interface Rec {
  key: Buffer | null;
  value: Buffer | null;
  headers: Header[];
}

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const b = (s: string) => Buffer.from(s);

/**
 * What each producer sends. Repeated header keys are adjacent: kafkajs's consumer folds a repeated
 * key into one array, which keeps the order only of adjacent ones.
 */
function recordsOf(p: Client): Rec[] {
  const nullHeader = p === 'confluent-kafka' || p === 'platformatic';
  return [
    {
      key: Buffer.from([0x00, 0xff, 0x80, 0x0a]),
      value: ALL_BYTES,
      headers: [['rep', Buffer.from([0x00, 0xff, 0x0a])], ['rep', b('two')], ['empty', Buffer.alloc(0)], ...(nullHeader ? ([['null', null]] as Header[]) : [])],
    },
    { key: null, value: b(`${p} ünï €`), headers: [] },
    { key: b(`${p}-k2`), value: Buffer.alloc(0), headers: [['utf8', b('é€😀')]] },
  ];
}

/** kcat reads records as `key<TAB>value<LF>` lines, so neither may hold those bytes; -Z makes the empty key null. */
const KCAT_HEADERS: Header[] = [['rep', b('one')], ['rep', b('two')], ['empty', Buffer.alloc(0)], ['utf8', b('é€😀')]];
const KCAT_RECORDS: Rec[] = [
  { key: Buffer.from([0x01, 0xff, 0x80, 0xc3]), value: Buffer.from([0x00, 0xff, 0x80, 0xc3, 0x28, 0x0d, 0x7f]), headers: KCAT_HEADERS },
  { key: null, value: b('kcat ünï €'), headers: KCAT_HEADERS },
  { key: b('kcat-k2'), value: b('x'.repeat(300)), headers: KCAT_HEADERS },
];

const sent = (p: Client): Rec[] => (p === 'kcat' ? KCAT_RECORDS : recordsOf(p));
const topicOf = (p: Client) => `matrix-${p}`;

/** A child process with binary stdin and stdout, killed after `timeoutMs`. */
function spawnBinary(cmd: string, args: string[], input: Buffer, timeoutMs: number): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
    child.stdin.end(input);
  });
}

let broker: KafkaTestBroker;
const bootstrap = () => `127.0.0.1:${broker.kafkaPort}`;

async function kcat(args: string[], input = Buffer.alloc(0)): Promise<Buffer> {
  const r = await spawnBinary('kcat', ['-b', bootstrap(), ...args], input, 60_000);
  if (r.code !== 0) throw new Error(`kcat ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const b64 = (x: Buffer | null) => (x === null ? null : x.toString('base64'));
const unb64 = (s: string | null) => (s === null ? null : Buffer.from(s, 'base64'));

async function py(lib: 'confluent' | 'kafka-python', op: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
  const r = await spawnBinary(PYTHON, [PY_CLIENT, lib, op, JSON.stringify({ bootstrap: bootstrap(), ...args })], Buffer.alloc(0), 120_000);
  if (r.code !== 0) throw new Error(`${lib} ${op} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout.toString()) as Record<string, unknown>;
}

const pyLib = (c: Client) => (c === 'confluent-kafka' ? 'confluent' : 'kafka-python');

async function produce(p: Client, records: Rec[]): Promise<void> {
  const topic = topicOf(p);
  if (p === 'kcat') {
    const headerArgs = KCAT_HEADERS.flatMap(([k, v]) => ['-H', `${k}=${v!.toString()}`]);
    const input = Buffer.concat(records.flatMap((r) => [r.key ?? Buffer.alloc(0), b('\t'), r.value!, b('\n')]));
    await kcat(['-P', '-t', topic, '-p', '0', '-K', '\t', '-Z', ...headerArgs], input);
  } else if (p === 'confluent-kafka' || p === 'kafka-python') {
    const out = await py(pyLib(p), 'produce', { topic, partition: 0, records: records.map((r) => ({ key: b64(r.key), value: b64(r.value), headers: r.headers.map(([k, v]) => [k, b64(v)]) })) });
    expect(out.offsets).toEqual([0, 1, 2]);
  } else if (p === 'kafkajs') {
    const producer = new Kafka({ clientId: 'matrix-kafkajs', brokers: [bootstrap()], logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    onCleanup(() => producer.disconnect());
    await producer.send({
      topic,
      acks: -1,
      messages: records.map((r) => {
        const headers: Record<string, Buffer[]> = {};
        for (const [k, v] of r.headers) (headers[k] ??= []).push(v!);
        return { partition: 0, key: r.key, value: r.value, headers };
      }),
    });
  } else {
    const producer = new PlatformaticProducer({ clientId: 'matrix-platformatic', bootstrapBrokers: [bootstrap()], acks: -1 });
    onCleanup(() => producer.close());
    // A Map keyed by distinct Buffer objects carries a repeated key; undefined is a null key.
    const r = await producer.send({
      messages: records.map((m) => ({ topic, partition: 0, key: m.key ?? undefined, value: m.value!, headers: new Map(m.headers.map(([k, v]) => [b(k), v as Buffer])) })),
    });
    expect(r.offsets?.map((o) => Number(o.offset))).toEqual([0]);
  }
}

type Got = Map<string, Rec[]>;

/** kcat -C prints each record's lengths first (-1 for null), so binary keys and values cut exactly. */
async function kcatConsume(topics: string[]): Promise<Got> {
  const got: Got = new Map();
  for (const topic of topics) {
    const out = await kcat(['-C', '-t', topic, '-p', '0', '-o', 'beginning', '-c', '3', '-e', '-f', '%K %S %k%s%h\\n']);
    got.set(topic, [...parseKcat(out)]);
  }
  return got;
}

function* parseKcat(out: Buffer): Generator<Rec & { rawHeaders: Buffer }> {
  let at = 0;
  while (at < out.length) {
    const sp1 = out.indexOf(0x20, at);
    const sp2 = out.indexOf(0x20, sp1 + 1);
    const klen = Number(out.subarray(at, sp1).toString());
    const vlen = Number(out.subarray(sp1 + 1, sp2).toString());
    let p = sp2 + 1;
    const key = klen < 0 ? null : out.subarray(p, (p += klen));
    const value = vlen < 0 ? null : out.subarray(p, (p += vlen));
    const end = out.indexOf(0x0a, p);
    yield { key, value, headers: [], rawHeaders: out.subarray(p, end) };
    at = end + 1;
  }
}

async function pyConsume(c: 'confluent-kafka' | 'kafka-python', topics: string[]): Promise<Got> {
  const out = await py(pyLib(c), 'consume-many', { reads: topics.map((topic) => ({ topic, partition: 0, offset: 0, count: 3 })) });
  type PyRec = { key: string | null; value: string | null; headers: [string, string | null][] };
  const reads = out.reads as { records: PyRec[] }[];
  return new Map(topics.map((t, i) => [t, reads[i]!.records.map((r) => ({ key: unb64(r.key), value: unb64(r.value), headers: r.headers.map(([k, v]): Header => [k, unb64(v)]) }))]));
}

/** Reads until every topic has its three records; `add` files one under its topic. */
function collector(topics: string[]): { got: Got; add: (topic: string, r: Rec) => void; done: Promise<void> } {
  const got: Got = new Map(topics.map((t) => [t, []]));
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    got,
    done,
    add(topic, r) {
      got.get(topic)!.push(r);
      if ([...got.values()].every((rs) => rs.length >= 3)) finish();
    },
  };
}

/** kafkajs has no assign(): a group of one reading from the beginning. */
async function kafkajsConsume(topics: string[]): Promise<Got> {
  const consumer = new Kafka({ clientId: 'matrix-kafkajs-c', brokers: [bootstrap()], logLevel: logLevel.NOTHING }).consumer({ groupId: 'matrix-kafkajs', maxWaitTimeInMs: 200 });
  await consumer.connect();
  onCleanup(() => consumer.disconnect());
  await consumer.subscribe({ topics, fromBeginning: true });
  const c = collector(topics);
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, message }) => {
      const headers: Header[] = Object.entries(message.headers ?? {}).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x): Header => [k, x === undefined || x === null ? null : Buffer.from(x)]));
      c.add(topic, { key: message.key, value: message.value, headers });
    },
  });
  await c.done;
  await consumer.stop();
  return c.got;
}

/**
 * @platformatic/kafka reads with Fetch v13+ (topics by the id Metadata gave): a group of one from the
 * earliest offset. Headers come as a Map keyed by distinct Buffers (a repeated key stays), null as undefined.
 */
async function platformaticConsume(topics: string[]): Promise<Got> {
  const consumer = new PlatformaticConsumer({ clientId: 'matrix-platformatic-c', groupId: 'matrix-platformatic', bootstrapBrokers: [bootstrap()], maxWaitTime: 200 });
  onCleanup(() => new Promise<void>((resolve) => consumer.close(true, () => resolve())));
  const stream = await consumer.consume({ topics, mode: MessagesStreamModes.EARLIEST, autocommit: false });
  const c = collector(topics);
  stream.on('data', (m: { topic: string; key?: Buffer; value?: Buffer; headers: Map<Buffer, Buffer | undefined> }) => {
    const headers = [...m.headers].map(([k, v]): Header => [k.toString(), v ?? null]);
    c.add(m.topic, { key: m.key ?? null, value: m.value ?? null, headers });
  });
  await c.done;
  await stream.close();
  return c.got;
}

/** The consumers: all five. */
const CONSUMERS = CLIENTS;

function consume(c: (typeof CONSUMERS)[number], topics: string[]): Promise<Got> {
  if (c === 'kcat') return kcatConsume(topics);
  if (c === 'confluent-kafka' || c === 'kafka-python') return pyConsume(c, topics);
  if (c === 'platformatic') return platformaticConsume(topics);
  return kafkajsConsume(topics);
}

/**
 * kcat's %h: `name=value` joined by commas, a null value as `NULL`; kcat prints a value as a C string,
 * so it shows the bytes before the first NUL (the other consumers compare every byte of it).
 */
const kcatHeaders = (hs: Header[]) =>
  Buffer.concat(hs.flatMap(([k, v], i) => [b(i ? ',' : ''), b(k), b('='), v === null ? b('NULL') : v.subarray(0, v.indexOf(0) < 0 ? v.length : v.indexOf(0))]));

const asHex = (x: Buffer | null) => (x === null ? null : x.toString('hex'));
const comparable = (rs: (Rec & { rawHeaders?: Buffer })[]) =>
  rs.map((r) => ({ key: asHex(r.key), value: asHex(r.value), headers: r.rawHeaders ? asHex(r.rawHeaders) : r.headers.map(([k, v]) => [k, asHex(v)]) }));

describe.runIf((hasKcat && hasPython) || process.env.CI)('interop matrix: five clients produce and consume every other one\'s records, byte-exact', () => {
  it('has kcat, python3-confluent-kafka and python3-kafka installed (.ci/run installs them)', () => {
    expect(hasKcat).toBe(true);
    expect(hasPython).toBe(true);
  });

  // One broker for the whole matrix (the helpers close what a test opened when it ends), so one test;
  // each pair is its own soft assertion, so a failing pair names itself and the others still run.
  it('each of the five produces three records and reads every other one\'s byte for byte', async () => {
    const failures: string[] = [];
    let compared = 0;
    broker = await startKafkaBroker();
    for (const p of CLIENTS) {
      broker.running.broker.createTopic({ name: topicOf(p), partitions: 1 });
      await produce(p, sent(p)).catch((e: unknown) => failures.push(`${p} produce: ${String(e)}`));
      expect.soft(broker.running.broker.describeTopic(topicOf(p)).partitions[0], `${p} produced offsets 0..2`).toMatchObject({ logStartOffset: 0, nextOffset: 3 });
    }
    for (const c of CONSUMERS) {
      const producers = CLIENTS.filter((p) => p !== c);
      const got = await consume(c, producers.map(topicOf)).catch((e: unknown) => {
        failures.push(`${c} consume: ${String(e)}`);
        return null;
      });
      if (got === null) continue;
      for (const p of producers) {
        const expected = sent(p).map((r) => (c === 'kcat' ? { ...r, rawHeaders: kcatHeaders(r.headers) } : r));
        expect.soft(comparable(got.get(topicOf(p))!), `${p} → ${c}`).toEqual(comparable(expected));
        compared++;
      }
    }
    expect(failures).toEqual([]);
    expect(compared).toBe(CONSUMERS.length * (CLIENTS.length - 1));
  }, 600_000);
});
