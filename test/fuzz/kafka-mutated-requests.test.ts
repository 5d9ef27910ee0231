// Fuzzes the Kafka listener with mutated requests of every served API and version, against the built
// broker in a child process: bytes flipped or cut (the size prefix kept or broken), pipelined
// requests, size prefixes above requestBytesMax, random pieces. Throughout, a well-behaved Kafka
// producer keeps producing with acks 1; the broker must stay up, keep answering it, log no error
// and keep its RSS bounded. Deterministic (fixed seed), bounded in cases and time.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../src/format/record-batch.ts';
import { ApiKey, encodeRequest, type ApiKeyNumber } from '../../src/protocol/kafka/index.ts';
import { advertisedApis } from '../../src/listeners/kafka/api-table.ts';
import { freePort, startChildBroker, waitForPort, type ChildBroker } from '../helpers/child-broker.ts';
import { RawKafka } from '../helpers/kafka.ts';
import { tempDir } from '../helpers/temp.ts';

const SEED = 0x5eed_0010;
const CASES = 600;
/** New cases stop after this; the run then finishes the ones open. */
const FUZZ_MS = 45_000;
const CONCURRENCY = 8;
/** How long one fuzz connection may stay open before the fuzzer drops it itself. */
const CONNECTION_MS = 2_000;
const REQUEST_BYTES_MAX = 1024 * 1024;
/** As in the MQTT fuzz test: a Pi-sized heap, so a leak ends the process instead of hiding in a lazy heap. */
const HEAP_MIB = 64;
const RSS_ANON_GROWTH_BYTES_MAX = 64 * 1024 * 1024;

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (rand: Rand, lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
const pick = <T>(rand: Rand, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;

function batch(rand: Rand): Buffer {
  return encodeRecordBatch(Array.from({ length: int(rand, 1, 20) }, (_, i) => ({ timestampMs: 1_700_000_000_000 + i, key: Buffer.from(`k${i}`), value: Buffer.alloc(int(rand, 0, 2000), i), headers: [{ key: 'h', value: Buffer.from('v') }] })));
}

/** A valid body for each served API (fields a version lacks are ignored by the encoder). */
function body(rand: Rand, apiKey: number, version: number): Record<string, unknown> {
  const topic = pick(rand, ['fz', 'fz-1', 'good', 'nope']);
  switch (apiKey) {
    case ApiKey.Produce:
      return { transactionalId: null, acks: pick(rand, [0, 1, -1]), timeoutMs: 1000, topicData: [{ name: pick(rand, ['fz', 'fz-1']), partitionData: [{ index: 0, records: batch(rand) }] }] };
    case ApiKey.Fetch:
      return { replicaId: -1, maxWaitMs: int(rand, 0, 300), minBytes: int(rand, 0, 100_000), maxBytes: int(rand, 0, 1_000_000), topics: [{ topic, partitions: [{ partition: int(rand, -1, 2), fetchOffset: BigInt(int(rand, -2, 50)), partitionMaxBytes: int(rand, 0, 100_000) }] }] };
    case ApiKey.ListOffsets:
      return { replicaId: -1, topics: [{ name: topic, partitions: [{ partitionIndex: int(rand, 0, 1), timestamp: BigInt(pick(rand, [-2, -1, 0, 1_700_000_000_005])), maxNumOffsets: 1 }] }] };
    case ApiKey.Metadata:
      return { topics: version >= 1 && rand() < 0.3 ? null : [{ name: pick(rand, ['fz', 'fz-1', 'fz-auto']) }], allowAutoTopicCreation: rand() < 0.5 };
    case ApiKey.FindCoordinator:
      return { key: 'grp', keyType: int(rand, 0, 1), coordinatorKeys: ['grp', 'other'] };
    case ApiKey.ApiVersions:
      return { clientSoftwareName: 'fuzz', clientSoftwareVersion: '1' };
    case ApiKey.CreateTopics:
      return { topics: [{ name: `fz-new-${int(rand, 0, 20)}`, numPartitions: int(rand, -1, 4), replicationFactor: pick(rand, [-1, 1, 3]), assignments: [], configs: rand() < 0.5 ? [] : [{ name: 'retention.ms', value: String(int(rand, -1, 100_000)) }] }], timeoutMs: 1000, validateOnly: rand() < 0.3 };
    case ApiKey.DeleteTopics:
      return { topicNames: [`fz-new-${int(rand, 0, 20)}`], topics: [{ name: `fz-new-${int(rand, 0, 20)}` }], timeoutMs: 1000 };
    case ApiKey.DescribeConfigs:
      return { resources: [{ resourceType: pick(rand, [2, 4, 3]), resourceName: topic, configurationKeys: rand() < 0.5 ? null : ['retention.ms'] }], includeSynonyms: rand() < 0.5 };
    case ApiKey.CreatePartitions:
      return { topics: [{ name: pick(rand, ['fz-1', 'fz-new-1', 'nope']), count: int(rand, 0, 6), assignments: null }], timeoutMs: 1000, validateOnly: rand() < 0.5 };
    case ApiKey.InitProducerId:
      return { transactionalId: rand() < 0.2 ? 'fz-txn' : null, transactionTimeoutMs: 1000, producerId: BigInt(int(rand, -1, 3)), producerEpoch: int(rand, -1, 2) };
    case ApiKey.JoinGroup:
      return { groupId: pick(rand, ['fzg', 'fzg-1']), sessionTimeoutMs: int(rand, 0, 20_000), rebalanceTimeoutMs: int(rand, -1, 5000), memberId: pick(rand, ['', 'nobody']), groupInstanceId: rand() < 0.3 ? 'fz-i' : null, protocolType: 'consumer', protocols: [{ name: pick(rand, ['range', 'roundrobin']), metadata: Buffer.from([0, 0, 0, 0, 0, 1, 0, 2, 102, 122, 255, 255, 255, 255]) }] };
    case ApiKey.SyncGroup:
      return { groupId: 'fzg', generationId: int(rand, -1, 3), memberId: pick(rand, ['', 'nobody']), groupInstanceId: null, protocolType: null, protocolName: null, assignments: [{ memberId: 'nobody', assignment: Buffer.from([0, 0, 0, 0, 0, 0]) }] };
    case ApiKey.Heartbeat:
      return { groupId: 'fzg', generationId: int(rand, -1, 3), memberId: pick(rand, ['', 'nobody']), groupInstanceId: null };
    case ApiKey.LeaveGroup:
      return { groupId: 'fzg', memberId: 'nobody', members: [{ memberId: 'nobody', groupInstanceId: rand() < 0.3 ? 'fz-i' : null }] };
    case ApiKey.OffsetCommit:
      return { groupId: pick(rand, ['fzg', 'fzc']), generationIdOrMemberEpoch: -1, memberId: '', groupInstanceId: null, retentionTimeMs: -1n, topics: [{ name: topic, partitions: [{ partitionIndex: int(rand, -1, 2), committedOffset: BigInt(int(rand, -1, 50)), committedMetadata: rand() < 0.5 ? null : 'm' }] }] };
    case ApiKey.OffsetFetch:
      return { groupId: 'fzc', topics: version >= 2 && rand() < 0.3 ? null : [{ name: topic, partitionIndexes: [0, 1] }], groups: [{ groupId: 'fzc', topics: null }], requireStable: false };
    case ApiKey.DescribeGroups:
      return { groups: ['fzg', 'fzc', 'never'], includeAuthorizedOperations: rand() < 0.5 };
    case ApiKey.ListGroups:
      return { statesFilter: rand() < 0.5 ? [] : ['Stable'], typesFilter: [] };
    case ApiKey.SaslHandshake:
      return { mechanism: pick(rand, ['PLAIN', 'SCRAM-SHA-256', 'GSSAPI']) };
    case ApiKey.SaslAuthenticate:
      return { authBytes: Buffer.from(pick(rand, ['\0user\0pw', 'n,,n=user,r=abc', ''])) };
    default:
      throw new Error(`no fuzz body for API ${apiKey}`);
  }
}

function request(rand: Rand, i: number): Buffer {
  const api = pick(rand, advertisedApis());
  const version = int(rand, api.minVersion, api.maxVersion);
  return encodeRequest(api.apiKey as ApiKeyNumber, version, i, `fuzz-${i}`, body(rand, api.apiKey, version) as never);
}

function mutate(rand: Rand, bytes: Buffer): Buffer {
  let out = Buffer.from(bytes);
  const edits = int(rand, 1, 8);
  for (let e = 0; e < edits && out.length > 4; e++) {
    // Mostly near the start, where the header, counts and lengths are; never the size prefix here.
    const at = 4 + Math.min(out.length - 5, Math.floor(rand() ** 3 * (out.length - 4)));
    const how = int(rand, 0, 3);
    if (how === 0) out[at] ^= 1 << int(rand, 0, 7);
    else if (how === 1) out[at] = int(rand, 0, 255);
    else if (how === 2) out[at] = pick(rand, [0x00, 0x7f, 0x80, 0xff]);
    else out = Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + int(rand, 1, 16)))]);
  }
  // Mostly a size prefix that matches the mutated body; sometimes a wrong one.
  const size = rand() < 0.85 ? out.length - 4 : pick(rand, [out.length - 4 + int(rand, 1, 100), -1, REQUEST_BYTES_MAX + 1, 0x7fffffff]);
  out.writeInt32BE(size, 0);
  return out;
}

/** The bytes of one fuzz connection: a few requests, pipelined, one or more of them mutated. */
function fuzzCase(rand: Rand, i: number): Buffer {
  const requests = Array.from({ length: int(rand, 1, 4) }, (_, k) => request(rand, i * 10 + k));
  const m = int(rand, 0, requests.length - 1);
  requests[m] = mutate(rand, requests[m]!);
  return Buffer.concat(requests);
}

function runCase(rand: Rand, port: number, bytes: Buffer): Promise<void> {
  const cuts = Array.from({ length: int(rand, 0, 3) }, () => int(rand, 1, Math.max(1, bytes.length - 1))).sort((a, b) => a - b);
  const pieces = [0, ...cuts, bytes.length].slice(1).map((end, k, ends) => bytes.subarray(k === 0 ? 0 : ends[k - 1], end));
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => socket.destroy(), CONNECTION_MS);
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect', () => {
      for (const piece of pieces) socket.write(piece);
      if (rand() < 0.5) socket.end();
    });
  });
}

function rssAnon(broker: ChildBroker): number {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${broker.child.pid}/status`, 'utf8');
  } catch {
    throw new Error(`the broker is gone: ${broker.output().slice(-2000)}`);
  }
  return Number(/^RssAnon:\s+(\d+) kB$/m.exec(status)?.[1] ?? NaN) * 1024;
}

describe('Kafka listener fuzz', () => {
  it(`survives ${CASES} connections of mutated requests (seed ${SEED.toString(16)}) and keeps answering a well-behaved producer`, { timeout: 180_000 }, async () => {
    const dir = tempDir();
    const kafkaPort = await freePort();
    const broker = await startChildBroker(path.join(dir, 'data'), await freePort(), {
      NODE_OPTIONS: `--max-old-space-size=${HEAP_MIB}`,
      TRIBUTARY_LISTENERS__KAFKA__ENABLED: 'true',
      TRIBUTARY_LISTENERS__KAFKA__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__KAFKA__PORT: String(kafkaPort),
      TRIBUTARY_LISTENERS__KAFKA__REQUEST_BYTES_MAX: String(REQUEST_BYTES_MAX),
    });
    await waitForPort(broker, broker.port);

    const good = await RawKafka.connect(kafkaPort);
    for (const name of ['good', 'fz', 'fz-1']) await good.request(ApiKey.Metadata, 4, { topics: [{ name }], allowAutoTopicCreation: true });
    let acked = 0;
    const produceGood = async (): Promise<void> => {
      const r = await good.request(ApiKey.Produce, 7, { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [{ name: 'good', partitionData: [{ index: 0, records: encodeRecordBatch([{ timestampMs: Date.now(), key: null, value: Buffer.from(String(acked)), headers: [] }]) }] }] });
      expect(r.responses[0]!.partitionResponses[0]!.errorCode).toBe(0);
      acked++;
    };
    await produceGood();
    const rssStart = rssAnon(broker);
    let rssPeak = rssStart;

    const deadline = Date.now() + FUZZ_MS;
    let next = 0;
    let done = 0;
    const worker = async (): Promise<void> => {
      while (next < CASES && Date.now() < deadline) {
        const i = next++;
        const rand = prng(SEED + i);
        await runCase(rand, kafkaPort, fuzzCase(rand, i));
        done++;
        rssPeak = Math.max(rssPeak, rssAnon(broker));
        if (done % 25 === 0) await produceGood();
        expect(broker.child.exitCode, broker.output().slice(-2000)).toBeNull();
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    await produceGood();
    expect(broker.child.exitCode, broker.output().slice(-2000)).toBeNull();
    expect(done).toBeGreaterThanOrEqual(Math.min(CASES, 100));
    expect(rssPeak - rssStart).toBeLessThan(RSS_ANON_GROWTH_BYTES_MAX);
    expect(broker.output()).not.toMatch(/"level":(50|60)|TypeError|Unhandled/);
    const closedLines = broker.output().split('\n').filter((l) => l.includes('connection closed')).length;
    console.log(`kafka fuzz: ${done} connections, ${closedLines} closed for bad input, ${acked} acks to the well-behaved producer, broker RSS anon ${(rssStart / 2 ** 20).toFixed(1)} → peak ${(rssPeak / 2 ** 20).toFixed(1)} MiB`);
  });
});
