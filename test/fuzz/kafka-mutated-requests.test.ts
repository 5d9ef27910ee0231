// Fuzzes the Kafka listener at the depth of every served API's body decoding and handler, against the
// built broker in a child process with a Pi-sized heap. Requests are generated from the codec's schema
// table for every served API and version (kafka-request-gen.ts: boundary and meaningful values in every
// field, record batches valid, compressed or corrupted behind a fixed CRC), most of them then mutated
// byte by byte in the body or the header; some name unknown API keys or versions not served. Each case
// is one request followed by an ApiVersions v0 "ping" on a long-lived connection, so an acks-0 Produce
// (which gets no answer) is finished when the ping is answered.
//
// It asserts what Kafka's broker does: an answer to every request the listener serves, decoding as the
// version the header named, with the right correlation id; ApiVersions of a version not served gets a
// v0 UNSUPPORTED_VERSION body and the connection stays; an unknown API key, another API's version not
// served, or a body that does not decode closes the connection with no answer. Throughout, a
// well-behaved producer keeps producing with acks 1; the broker must stay up, answer it, log no error
// and keep its RSS bounded; and every served API and version must have been answered by its handler
// at least once. Deterministic (fixed seed), bounded in cases and time.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../src/format/record-batch.ts';
import { ApiKey, apiTable, decodeRequestHeader, decodeResponse, encodeRequest, KafkaError } from '../../src/protocol/kafka/index.ts';
import { advertisedApis, servedApi } from '../../src/listeners/kafka/api-table.ts';
import { freePort, startChildBroker, waitForPort, type ChildBroker } from '../helpers/child-broker.ts';
import { RawKafka } from '../helpers/kafka.ts';
import { tempDir } from '../helpers/temp.ts';
import { FUZZ_TOPICS, fuzzCase, int, prng, type FuzzCase } from './kafka-request-gen.ts';

const SEED = 0x5eed_0010;
/** KAFKA_FUZZ_CASES runs a longer fuzz by hand (FUZZ_MS still bounds it). */
const CASES = Number(process.env.KAFKA_FUZZ_CASES ?? 3000);
/** New cases stop after this; the run then finishes the ones open. */
const FUZZ_MS = 60_000;
const CONCURRENCY = 6;
/** A case not finished by then (a long-poll, a size prefix promising more bytes) is dropped by the fuzzer. */
const CASE_MS = 1_500;
const REQUEST_BYTES_MAX = 1024 * 1024;
/** As in the MQTT fuzz test: a Pi-sized heap, so a leak ends the process instead of hiding in a lazy heap. */
const HEAP_MIB = 64;
/**
 * What the broker keeps (the topics and partitions the fuzz created, caches) plus what one case costs
 * while it runs. Measured: +20-25 MiB over 3,000 cases, +40 MiB over 12,000; a request costing more than its
 * bytes shows here (a batch claiming 8 M records once cost 64 MiB at produce).
 */
const RSS_ANON_GROWTH_BYTES_MAX = 64 * 1024 * 1024;
const PING_CORRELATION_ID = 0x7ffffff0;
const GOOD_EVERY = 25;

/** What the broker saw: the header as it decodes, or null when it does not. */
function seen(bytes: Buffer): { apiKey: number; apiVersion: number; correlationId: number } | null {
  const h = decodeRequestHeader(bytes.subarray(4));
  if (h.ok) return h.value;
  // A header that does not decode (e.g. a broken tag section) closes the connection, ApiVersions too, as in Kafka.
  if (h.reason === 'malformed') return null;
  const f = h as { apiKey?: number; apiVersion?: number; correlationId?: number };
  return f.apiKey === undefined || f.correlationId === undefined ? null : { apiKey: f.apiKey, apiVersion: f.apiVersion!, correlationId: f.correlationId };
}

/** A long-lived fuzz connection: write bytes, collect whole answer frames, know when it closed. */
class FuzzConnection {
  readonly socket: net.Socket;
  frames: Buffer[] = [];
  closed = false;
  private buffered = Buffer.alloc(0);
  private wake: (() => void) | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, d]);
      while (this.buffered.length >= 4 && this.buffered.length >= 4 + this.buffered.readInt32BE(0)) {
        const size = this.buffered.readInt32BE(0);
        this.frames.push(this.buffered.subarray(4, 4 + size));
        this.buffered = this.buffered.subarray(4 + size);
      }
      this.wake?.();
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static connect(port: number): Promise<FuzzConnection> {
    const socket = net.connect(port, '127.0.0.1');
    return new Promise((resolve, reject) => socket.once('connect', () => resolve(new FuzzConnection(socket))).once('error', reject));
  }

  /** Resolves when the ping was answered ('answered'), the connection closed, or CASE_MS passed ('timeout'). */
  waitFor(done: () => boolean): Promise<'answered' | 'closed' | 'timeout'> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish('timeout'), CASE_MS);
      const finish = (how: 'answered' | 'closed' | 'timeout') => {
        clearTimeout(timer);
        this.wake = null;
        resolve(how);
      };
      const check = () => {
        if (done()) finish('answered');
        else if (this.closed) finish('closed');
      };
      this.wake = check;
      check();
    });
  }
}

const ping = encodeRequest(ApiKey.ApiVersions, 0, PING_CORRELATION_ID, 'fuzz-ping', {});

interface Tally {
  cases: number;
  answered: number;
  closed: number;
  timedOut: number;
  /** "apiKey/version" → answers decoded from that served API's handler. */
  handled: Map<string, number>;
  failures: string[];
}

/** Checks a case's answers against what Kafka's broker does; records failures instead of throwing mid-run. */
function judge(c: FuzzCase, frames: Buffer[], how: 'answered' | 'closed' | 'timeout', tally: Tally): void {
  const fail = (what: string) => tally.failures.length < 20 && tally.failures.push(`${c.mutation} api ${c.apiKey} v${c.version}: ${what}`);
  if (c.badSize) {
    // A size prefix above the limit or promising bytes never sent: nothing is answered, nothing kept.
    if (frames.length > 0 || how === 'answered') fail('answered a frame whose size prefix is wrong');
    return;
  }
  const h = seen(c.bytes);
  const answers = frames.filter((f) => f.readInt32BE(0) !== PING_CORRELATION_ID);
  if (answers.length > 1) fail(`${answers.length} answers to one request`);
  const answer = answers[0];
  if (h === null) {
    if (answer !== undefined) fail('an answer to a request whose header does not decode');
    return;
  }
  const api = servedApi(h.apiKey);
  const served = api !== undefined && h.apiVersion >= api.minVersion && h.apiVersion <= api.maxVersion;
  if (h.apiKey === ApiKey.ApiVersions && !served) {
    // Kafka: a v0 body with UNSUPPORTED_VERSION, the connection kept.
    if (answer === undefined) return void (how !== 'timeout' && fail('no ApiVersions UNSUPPORTED_VERSION answer'));
    const r = decodeResponse(ApiKey.ApiVersions, 0, answer);
    if (!r.ok || r.value.correlationId !== h.correlationId || r.value.body.errorCode !== KafkaError.UNSUPPORTED_VERSION) fail('ApiVersions of a version not served: not a v0 UNSUPPORTED_VERSION answer');
    return;
  }
  if (!served) {
    // Kafka closes the connection on an unknown API key or a version it does not serve.
    if (answer !== undefined) fail(`answered an API or version not served (${h.apiKey} v${h.apiVersion})`);
    if (how === 'answered') fail(`connection kept after an API or version not served (${h.apiKey} v${h.apiVersion})`);
    return;
  }
  if (answer === undefined) return;
  const r = decodeResponse(h.apiKey, h.apiVersion, answer);
  if (!r.ok) return void fail(`answer does not decode as ${apiTable[h.apiKey as keyof typeof apiTable].name} v${h.apiVersion}: ${r.message}`);
  if (r.value.correlationId !== h.correlationId) fail(`correlation id ${r.value.correlationId}, expected ${h.correlationId}`);
  const key = `${h.apiKey}/${h.apiVersion}`;
  tally.handled.set(key, (tally.handled.get(key) ?? 0) + 1);
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
  it(`survives ${CASES} generated and mutated requests of every served API and version (seed ${SEED.toString(16)}), answers each as Kafka does, and keeps answering a well-behaved producer`, { timeout: 180_000 }, async () => {
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
    for (const name of ['good', ...FUZZ_TOPICS]) await good.request(ApiKey.Metadata, 4, { topics: [{ name }], allowAutoTopicCreation: true });
    let acked = 0;
    const produceGood = async (): Promise<void> => {
      const r = await good.request(ApiKey.Produce, 7, { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [{ name: 'good', partitionData: [{ index: 0, records: encodeRecordBatch([{ timestampMs: Date.now(), key: null, value: Buffer.from(String(acked)), headers: [] }]) }] }] });
      expect(r.responses[0]!.partitionResponses[0]!.errorCode).toBe(0);
      expect(Number(r.responses[0]!.partitionResponses[0]!.baseOffset)).toBe(acked);
      acked++;
    };
    await produceGood();
    // One request at a time on the good connection: cases queue theirs behind the last.
    let goodChain = Promise.resolve();
    const rssStart = rssAnon(broker);
    let rssPeak = rssStart;
    const rssSamples: string[] = [];

    const tally: Tally = { cases: 0, answered: 0, closed: 0, timedOut: 0, handled: new Map(), failures: [] };
    const deadline = Date.now() + FUZZ_MS;
    let next = 0;
    const worker = async (): Promise<void> => {
      let conn: FuzzConnection | null = null;
      while (next < CASES && Date.now() < deadline) {
        const i = next++;
        const rand = prng(SEED + i);
        const c = fuzzCase(rand, i, REQUEST_BYTES_MAX);
        if (conn === null || conn.closed) conn = await FuzzConnection.connect(kafkaPort);
        const current: FuzzConnection = conn;
        current.frames = [];
        if (c.badSize) {
          current.socket.end(c.bytes);
        } else {
          // Sometimes cut in pieces, as a slow network would deliver it.
          const cut = rand() < 0.2 ? int(rand, 1, c.bytes.length - 1) : c.bytes.length;
          current.socket.write(c.bytes.subarray(0, cut));
          current.socket.write(Buffer.concat([c.bytes.subarray(cut), ping]));
        }
        const how = await current.waitFor(() => current.frames.some((f) => f.readInt32BE(0) === PING_CORRELATION_ID));
        // Not reused: its 'close' event comes a turn later, and a case written to it meanwhile would be lost.
        if (how !== 'answered') {
          current.socket.destroy();
          conn = null;
        }
        judge(c, current.frames, how, tally);
        tally.cases++;
        if (how === 'answered') tally.answered++;
        else if (how === 'closed') tally.closed++;
        else tally.timedOut++;
        rssPeak = Math.max(rssPeak, rssAnon(broker));
        if (tally.cases % 500 === 0) rssSamples.push(`${tally.cases}:${(rssAnon(broker) / 2 ** 20).toFixed(0)}`);
        if (tally.cases % GOOD_EVERY === 0) goodChain = goodChain.then(produceGood);
        expect(broker.child.exitCode, broker.output().slice(-2000)).toBeNull();
      }
      conn?.socket.destroy();
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await goodChain;
    await produceGood();
    const rssEnd = rssAnon(broker);

    const notHandled = advertisedApis()
      .flatMap((a) => Array.from({ length: a.maxVersion - a.minVersion + 1 }, (_, k) => `${a.apiKey}/${a.minVersion + k}`))
      .filter((key) => !tally.handled.has(key) && key.split('/')[0] !== String(ApiKey.ApiVersions));
    console.log(
      `kafka fuzz: ${tally.cases} cases (${tally.answered} answered, ${tally.closed} closed by the broker, ${tally.timedOut} dropped after ${CASE_MS} ms), ` +
        `${[...tally.handled.values()].reduce((a, b) => a + b, 0)} handler answers over ${tally.handled.size} API versions, ${acked} acks to the well-behaved producer, ` +
        `broker RSS anon ${(rssStart / 2 ** 20).toFixed(1)} → peak ${(rssPeak / 2 ** 20).toFixed(1)} → end ${(rssEnd / 2 ** 20).toFixed(1)} MiB; by cases: ${rssSamples.join(' ')}`,
    );
    expect(tally.failures, tally.failures.join('\n')).toEqual([]);
    expect(broker.child.exitCode, broker.output().slice(-2000)).toBeNull();
    expect(tally.cases).toBeGreaterThanOrEqual(Math.min(CASES, 500));
    expect(notHandled).toEqual([]);
    expect(rssPeak - rssStart).toBeLessThan(RSS_ANON_GROWTH_BYTES_MAX);
    expect(broker.output().split('\n').filter((line) => /"level":(50|60)|TypeError|Unhandled/.test(line))).toEqual([]);
  });
});
