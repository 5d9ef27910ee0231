// Kafka mirror drain: how fast an edge broker's mirror ships a backlog to a central Kafka endpoint (a
// second Tributary, its Kafka listener on), against the mirror's own client library publishing the
// same records straight to the same kind of central, and what a record costs on the wire per codec.
// The goal is a mirror that is never the bottleneck: at least 0.8× the direct client.
//
// Each timed round has a fresh central and a fresh edge (both child processes of the bundle):
//  1. the edge starts with a `sink: kafka` mirror, which is paused at once; `records` records are
//     produced into a `partitions`-partition topic over the edge protocol (every keyEvery-th record
//     keyed); the mirror is resumed and GET /mirrors/NAME is read every pollMs until the backlog is 0:
//     the drain is timed from the resume request (reconnect, producer id, metadata included);
//  2. @platformatic/kafka (the sink's client, the same options: idempotent, acks=all, same codec)
//     publishes the same records (key, value, origin header, remote partition) from this process: one
//     send in flight per remote partition, batches up to maxMessageBytes, timed from creating the
//     producer (producer id included) to the last ack;
//  3. kafkajs 2.2.4, idempotent, acks -1, the same batches (compression none only: kafkajs has gzip
//     alone without codec packages), timed from its connect.
// Every round checks that the central's topic ends at `records`.
// Then, for each codec, one more drain of `wireRecords` through a counting TCP proxy (the central
// advertises the proxy's port, so every connection of the client goes through it): bytes from edge
// to central per record. The proxy costs this process CPU, so those drains are not timed against
// anything.

import net, { type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Producer, type MessageToProduce } from '@platformatic/kafka';
import { partitionForKey } from '../broker/partitioner.ts';
import type { MirrorStatus } from '../mirror/status.ts';
import { BrokerProcess, memoryText, type ProcessMemory } from './broker-process.ts';
import { EdgeSession } from './edge-session.ts';
import { fillTopic } from './fill.ts';
import { kafkajsClient } from './kafka-clients.ts';
import { fmtInt, fmtMB, spread, spreadText, type BenchResult } from './results.ts';

type Compression = 'none' | 'gzip' | 'snappy' | 'lz4';

export interface KafkaMirrorDrainSettings {
  /** Backlog of each timed drain, and records of each direct client round. */
  records: number;
  valueBytes: number;
  partitions: number;
  /** Every keyEvery-th record of a 500-record frame is keyed (its own key): 1 in keyEvery overall. */
  keyEvery: number;
  /** The mirror's windowMax; null: the Kafka sink's default. */
  windowMax: number | null;
  /** The mirror's batch.bytesMax (what the engine reads from the log at once); null: the default. */
  readBytesMax: number | null;
  /** Codec of the timed rounds. */
  compression: Compression;
  /** Batches of the direct clients: the sink packs below the same limit (its maxMessageBytes default). */
  batchBytes: number;
  fillRecordsPerFrame: number;
  fillWindow: number;
  repeats: number;
  /** Codecs of the wire-size drains, and their backlog. */
  wireCompressions: Compression[];
  wireRecords: number;
  /** Interval of the GET /mirrors/NAME reads while a backlog drains. */
  pollMs: number;
  stallTimeoutMs: number;
}

export const kafkaMirrorDrainTarget = { metric: 'ratioToDirect', op: '>=', value: 0.8, label: 'drain ≥ 0.8× direct @platformatic/kafka' } as const;

const MIRROR = 'bench';
const EDGE_ID = 'bench';
const TOPIC = 'telemetry';
const REMOTE = `edge.${EDGE_ID}.${TOPIC}`;
const DIRECT_TOPIC = 'direct';
const KAFKAJS_TOPIC = 'direct-kafkajs';
const KAFKA_ENV = { TRIBUTARY_LISTENERS__KAFKA__ENABLED: 'true', TRIBUTARY_LISTENERS__KAFKA__HOST: '127.0.0.1', TRIBUTARY_LISTENERS__KAFKA__PORT: '0' };
/** The sink's estimate of a record batch's and a record's own bytes (kafka-sink.ts). */
const BATCH_OVERHEAD = 61;
const RECORD_OVERHEAD = 21;

interface Timed {
  seconds: number;
  /** CPU seconds over the timed span: the edge (or this process for a direct client), the central. */
  senderCpu: number | null;
  centralCpu: number | null;
}

interface DrainRound extends Timed {
  resent: number;
  memory: ProcessMemory | null;
}

interface WireRound {
  compression: Compression;
  records: number;
  bytesUp: number;
  bytesDown: number;
  seconds: number;
}

export async function runKafkaMirrorDrain(s: KafkaMirrorDrainSettings): Promise<BenchResult[]> {
  for (const n of [s.records, s.wireRecords])
    if (n % (s.fillRecordsPerFrame * s.partitions) !== 0) throw new Error(`a backlog of ${n} records is not a whole number of ${s.partitions} × ${s.fillRecordsPerFrame}-record frames`);
  const drains: DrainRound[] = [];
  const direct: Timed[] = [];
  const kjs: Timed[] = [];
  for (let round = 0; round < s.repeats; round++) {
    const label = `round ${round + 1}/${s.repeats}`;
    await withCentral({}, async (central, kafkaPort) => {
      for (const topic of [REMOTE, DIRECT_TOPIC, KAFKAJS_TOPIC]) await createTopic(central.edgePort, topic, s.partitions);
      progress(`${label}: mirror drain of ${fmtInt(s.records)} records`);
      drains.push(await drain(central, kafkaPort, s.records, s.compression, s));
      await expectLogEnd(central, REMOTE, s.records);
      progress(`${label}: @platformatic/kafka direct`);
      direct.push(await timedInProcess(central, () => platformaticDirect(kafkaPort, DIRECT_TOPIC, s.records, s.compression, s)));
      await expectLogEnd(central, DIRECT_TOPIC, s.records);
      progress(`${label}: kafkajs direct`);
      kjs.push(await timedInProcess(central, () => kafkajsDirect(kafkaPort, KAFKAJS_TOPIC, s.records, s)));
      await expectLogEnd(central, KAFKAJS_TOPIC, s.records);
    });
  }
  const wire: WireRound[] = [];
  for (const compression of s.wireCompressions) {
    progress(`wire size: mirror drain of ${fmtInt(s.wireRecords)} records, compression ${compression}, through a counting proxy`);
    wire.push(await wireRound(compression, s));
  }
  return [...timedRows(drains, direct, kjs, s), ...wire.map((w) => wireRow(w, s))];
}

function progress(text: string): void {
  process.stderr.write(`  kafka-mirror-drain: ${text}\n`);
}

/** A central broker child with its Kafka listener, stopped afterwards whatever happens. */
async function withCentral<T>(env: Record<string, string>, fn: (central: BrokerProcess, kafkaPort: number) => Promise<T>): Promise<T> {
  const central = await BrokerProcess.start({ ...KAFKA_ENV, TRIBUTARY_EDGE_ID: 'central', ...env });
  try {
    if (central.kafkaPort === null) throw new Error('the central broker child did not report a Kafka port');
    return await fn(central, central.kafkaPort);
  } finally {
    await central.stop();
  }
}

async function createTopic(edgePort: number, name: string, partitions: number): Promise<void> {
  const admin = await EdgeSession.open(edgePort, 'bench-admin');
  try {
    await admin.createTopic(name, partitions);
  } finally {
    admin.close();
  }
}

// ---- the mirror ----

/**
 * An edge with a paused mirror to `kafkaPort`, filled with `records` records, then resumed and read
 * until its backlog is 0. `central` (null through the proxy) only gives its CPU time.
 */
async function drain(central: BrokerProcess | null, kafkaPort: number, records: number, compression: Compression, s: KafkaMirrorDrainSettings): Promise<DrainRound> {
  const mirror = {
    name: MIRROR,
    sink: 'kafka',
    brokers: [`127.0.0.1:${kafkaPort}`],
    topics: [TOPIC],
    compression,
    backoff: { initialMs: 50, maxMs: 500 },
    ...(s.windowMax === null ? {} : { windowMax: s.windowMax }),
    ...(s.readBytesMax === null ? {} : { batch: { bytesMax: s.readBytesMax } }),
  };
  const pool = valuePool(s);
  const edge = await BrokerProcess.start({ TRIBUTARY_EDGE_ID: EDGE_ID, TRIBUTARY_MIRRORS: JSON.stringify([mirror]) });
  let ok = false;
  try {
    if (edge.httpPort === null) throw new Error('the edge broker child did not report an HTTP port');
    const http = `http://127.0.0.1:${edge.httpPort}/mirrors/${MIRROR}`;
    await httpJson(`${http}/pause`, 'POST');
    await createTopic(edge.edgePort, TOPIC, s.partitions);
    await fillTopic(edge.edgePort, TOPIC, records, { recordsPerFrame: s.fillRecordsPerFrame, valueBytes: s.valueBytes, window: s.fillWindow, stallTimeoutMs: s.stallTimeoutMs, keyEvery: s.keyEvery, valueAt: (slot, i) => pool[slot]![i]! });
    const before = await httpJson(http, 'GET');
    if (before.backlogRecords !== records) throw new Error(`expected a backlog of ${fmtInt(records)} records, the mirror reports ${fmtInt(before.backlogRecords)}`);
    const edgeCpu = edge.cpuSeconds();
    const centralCpu = central?.cpuSeconds() ?? null;
    const start = process.hrtime.bigint();
    await httpJson(`${http}/resume`, 'POST');
    const end = await pollUntilDrained(http, s);
    const seconds = Number(end.ns - start) / 1e9;
    const edgeCpuAfter = edge.cpuSeconds();
    const centralCpuAfter = central?.cpuSeconds() ?? null;
    if (end.status.shippedRecords - end.status.resentRecords !== records || end.status.rejectedRecords !== 0)
      throw new Error(`the mirror shipped ${fmtInt(end.status.shippedRecords)} (${fmtInt(end.status.resentRecords)} resent, ${fmtInt(end.status.rejectedRecords)} rejected) of ${fmtInt(records)}`);
    const result: DrainRound = {
      seconds,
      senderCpu: edgeCpu === null || edgeCpuAfter === null ? null : edgeCpuAfter - edgeCpu,
      centralCpu: centralCpu === null || centralCpuAfter === null ? null : centralCpuAfter - centralCpu,
      resent: end.status.resentRecords,
      memory: edge.memory(),
    };
    ok = true;
    return result;
  } finally {
    const clean = await edge.stop();
    if (ok && !clean) throw new Error('the edge broker did not shut down cleanly on SIGTERM (exit code not 0)');
  }
}

/** Reads the mirror's status every pollMs until its backlog is 0; fails when nothing ships for stallTimeoutMs. */
async function pollUntilDrained(url: string, s: KafkaMirrorDrainSettings): Promise<{ ns: bigint; status: MirrorStatus }> {
  let lastShipped = -1;
  let progressNs = process.hrtime.bigint();
  for (;;) {
    const status = await httpJson(url, 'GET');
    const ns = process.hrtime.bigint();
    if (status.backlogRecords === 0) return { ns, status };
    if (status.state === 'failed') throw new Error(`the mirror failed: ${status.lastError?.code}: ${status.lastError?.message}`);
    if (status.shippedRecords !== lastShipped) {
      lastShipped = status.shippedRecords;
      progressNs = ns;
    } else if (Number(ns - progressNs) / 1e6 > s.stallTimeoutMs) {
      throw new Error(`the mirror shipped nothing for ${s.stallTimeoutMs / 1000} s (state ${status.state}, ${fmtInt(status.shippedRecords)} shipped, ${fmtInt(status.backlogRecords)} left, last error ${status.lastError?.code ?? 'none'})`);
    }
    await sleep(s.pollMs);
  }
}

async function httpJson(url: string, method: 'GET' | 'POST'): Promise<MirrorStatus> {
  const res = await fetch(url, { method, signal: AbortSignal.timeout(5_000) });
  const body = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${body}`);
  return JSON.parse(body) as MirrorStatus;
}

/** A round counts only when every record arrived: the central's partitions of `topic` end at `records` in all. */
async function expectLogEnd(central: BrokerProcess, topic: string, records: number): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${central.httpPort}/topics/${topic}`, { signal: AbortSignal.timeout(5_000) });
  const t = (await res.json()) as { partitions: { nextOffset: number }[] };
  const total = t.partitions.reduce((sum, p) => sum + p.nextOffset, 0);
  if (total !== records) throw new Error(`central ${topic}: ${fmtInt(total)} records, expected ${fmtInt(records)}`);
}

// ---- the records, as the mirror ships them ----

/**
 * The backlog's records in the order the mirror reads them, grouped by remote partition: fillTopic's
 * frames go to the log partitions in turn (frame f to partition f % partitions), and the sink sends a
 * keyed record to murmur2(key) and an unkeyed one to its log partition.
 */
interface RecordPlan {
  keys: (Buffer | null)[];
  /** Per remote partition, per log partition: the record indexes of a frame that land there. */
  byRemote: number[][][];
  values: Buffer[][];
}

function recordPlan(s: KafkaMirrorDrainSettings): RecordPlan {
  const keys = Array.from({ length: s.fillRecordsPerFrame }, (_, i) => (i % s.keyEvery === s.keyEvery - 1 ? Buffer.from(`key-${i}`) : null));
  const byRemote = Array.from({ length: s.partitions }, () => Array.from({ length: s.partitions }, (): number[] => []));
  for (let source = 0; source < s.partitions; source++)
    keys.forEach((key, i) => byRemote[key === null ? source % s.partitions : partitionForKey(key, s.partitions)]![source]!.push(i));
  return { keys, byRemote, values: valuePool(s) };
}

interface PlannedRecord {
  key: Buffer | null;
  value: Buffer;
  origin: Buffer;
  bytes: number;
}

/**
 * A telemetry reading as JSON, exactly `bytes` long (an id field takes up the rest): numbers that
 * change from record to record, so compression finds what real telemetry offers, not one value
 * repeated a million times.
 */
function telemetryValue(n: number, bytes: number): Buffer {
  let x = (n + 1) * 0x9e3779b1;
  const rand = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  const body = `"dev":"s-${String(n % 1000).padStart(4, '0')}","seq":${n},"ts":${1_764_790_000_000 + n * 37},"temp":${(15 + rand() * 15).toFixed(2)},"hum":${(30 + rand() * 50).toFixed(1)},"volt":${(3 + rand() * 0.4).toFixed(3)}}`;
  let id = '';
  while (id.length < bytes) id += Math.floor(rand() * 2 ** 32).toString(16).padStart(8, '0');
  const text = `{"id":"${id.slice(0, Math.max(0, bytes - body.length - 8))}",${body}`;
  return Buffer.from(text.padEnd(bytes, ' ').slice(0, bytes));
}

/** The values of fillTopic's ring of frames: slot × index in the frame. */
function valuePool(s: KafkaMirrorDrainSettings): Buffer[][] {
  return Array.from({ length: s.fillWindow }, (_, slot) => Array.from({ length: s.fillRecordsPerFrame }, (_, i) => telemetryValue(slot * s.fillRecordsPerFrame + i, s.valueBytes)));
}

/** The records of one remote partition, in batches below batchBytes (the sink's estimate of a record's size). */
function* batches(plan: RecordPlan, remote: number, records: number, s: KafkaMirrorDrainSettings): Generator<PlannedRecord[]> {
  const frames = records / s.fillRecordsPerFrame;
  let batch: PlannedRecord[] = [];
  let bytes = BATCH_OVERHEAD;
  for (let f = 0; f < frames; f++) {
    const source = f % s.partitions;
    const frameBase = Math.floor(f / s.partitions) * s.fillRecordsPerFrame;
    for (const i of plan.byRemote[remote]![source]!) {
      const key = plan.keys[i]!;
      // fillTopic sends frame f (seq f + 1) from ring slot (f + 1) % fillWindow.
      const value = plan.values[(f + 1) % s.fillWindow]![i]!;
      const origin = Buffer.from(`${EDGE_ID}/${TOPIC}/${source}/${frameBase + i}`);
      const size = RECORD_OVERHEAD + (key?.length ?? 0) + s.valueBytes + 2 + 6 + origin.length;
      if (batch.length > 0 && bytes + size > s.batchBytes) {
        yield batch;
        batch = [];
        bytes = BATCH_OVERHEAD;
      }
      batch.push({ key, value, origin, bytes: size });
      bytes += size;
    }
  }
  if (batch.length > 0) yield batch;
}

// ---- the direct clients ----

async function timedInProcess(central: BrokerProcess, run: () => Promise<void>): Promise<Timed> {
  const cpu = process.cpuUsage();
  const centralCpu = central.cpuSeconds();
  const start = process.hrtime.bigint();
  await run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  const centralCpuAfter = central.cpuSeconds();
  return { seconds, senderCpu: (used.user + used.system) / 1e6, centralCpu: centralCpu === null || centralCpuAfter === null ? null : centralCpuAfter - centralCpu };
}

const ORIGIN = Buffer.from('origin');

/** The sink's client and options; one send in flight per remote partition, as the sink does. */
async function platformaticDirect(port: number, topic: string, records: number, compression: Compression, s: KafkaMirrorDrainSettings): Promise<void> {
  const producer = new Producer<Buffer, Buffer, Buffer, Buffer>({
    clientId: 'bench-direct',
    bootstrapBrokers: [`127.0.0.1:${port}`],
    idempotent: true,
    acks: -1,
    compression,
    autocreateTopics: false,
    retries: 2,
  });
  try {
    await producer.initIdempotentProducer({});
    const plan = recordPlan(s);
    const sendOne = (messages: MessageToProduce<Buffer, Buffer, Buffer, Buffer>[]) =>
      new Promise<void>((resolve, reject) => producer.send({ messages }, (err) => (err ? reject(err as Error) : resolve())));
    await Promise.all(
      Array.from({ length: s.partitions }, async (_, partition) => {
        for (const batch of batches(plan, partition, records, s)) {
          const timestamp = BigInt(Date.now());
          await sendOne(batch.map((r) => ({ topic, partition, key: r.key ?? undefined, value: r.value, headers: new Map([[ORIGIN, r.origin]]), timestamp })));
        }
      }),
    );
  } finally {
    await new Promise<void>((resolve) => producer.close(true, () => resolve()));
  }
}

/** kafkajs 2.2.4, idempotent, acks -1, the same batches, one send in flight per partition. */
async function kafkajsDirect(port: number, topic: string, records: number, s: KafkaMirrorDrainSettings): Promise<void> {
  const producer = kafkajsClient(port, 'bench-kafkajs-direct').producer({ idempotent: true, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const plan = recordPlan(s);
    await Promise.all(
      Array.from({ length: s.partitions }, async (_, partition) => {
        for (const batch of batches(plan, partition, records, s)) {
          const timestamp = String(Date.now());
          await producer.send({ topic, acks: -1, messages: batch.map((r) => ({ partition, key: r.key, value: r.value, headers: { origin: r.origin }, timestamp })) });
        }
      }),
    );
  } finally {
    await producer.disconnect();
  }
}

// ---- bytes on the wire ----

/** A loopback proxy that counts the bytes each way; `target` is set once the central runs. */
class CountingProxy {
  bytesUp = 0;
  bytesDown = 0;
  target = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(server: net.Server) {
    this.server = server;
  }

  static async start(): Promise<CountingProxy> {
    const server = net.createServer();
    const proxy = new CountingProxy(server);
    server.on('connection', (client) => proxy.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect({ host: '127.0.0.1', port: this.target });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      socket.on('close', () => this.sockets.delete(socket));
    }
    client.on('data', (d: Buffer) => (this.bytesUp += d.length));
    upstream.on('data', (d: Buffer) => (this.bytesDown += d.length));
    client.pipe(upstream);
    upstream.pipe(client);
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function wireRound(compression: Compression, s: KafkaMirrorDrainSettings): Promise<WireRound> {
  const proxy = await CountingProxy.start();
  try {
    // The central tells clients (in Metadata) to connect to the proxy, not to itself.
    return await withCentral({ TRIBUTARY_LISTENERS__KAFKA__ADVERTISED_HOST: '127.0.0.1', TRIBUTARY_LISTENERS__KAFKA__ADVERTISED_PORT: String(proxy.port) }, async (central, kafkaPort) => {
      proxy.target = kafkaPort;
      await createTopic(central.edgePort, REMOTE, s.partitions);
      const d = await drain(null, proxy.port, s.wireRecords, compression, s);
      await expectLogEnd(central, REMOTE, s.wireRecords);
      return { compression, records: s.wireRecords, bytesUp: proxy.bytesUp, bytesDown: proxy.bytesDown, seconds: d.seconds };
    });
  } finally {
    await proxy.stop();
  }
}

// ---- rows ----

function rate(ts: readonly Timed[], records: number) {
  return spread(ts.map((t) => records / t.seconds));
}

function cpuPct(ts: readonly Timed[], pick: (t: Timed) => number | null): number | null {
  const used = ts.map(pick);
  if (used.some((u) => u === null)) return null;
  return ((used as number[]).reduce((a, b) => a + b, 0) / ts.reduce((a, t) => a + t.seconds, 0)) * 100;
}

/**
 * CPU microseconds the sender (the edge, or this process for a direct client) spent per record, the
 * median over rounds: unlike a rate, it hardly moves when other work on the machine takes the cores.
 */
function cpuPerRecordUs(ts: readonly Timed[], records: number): number | null {
  if (ts.some((t) => t.senderCpu === null)) return null;
  return spread(ts.map((t) => (t.senderCpu! / records) * 1e6)).median;
}

function timedRows(drains: DrainRound[], direct: Timed[], kjs: Timed[], s: KafkaMirrorDrainSettings): BenchResult[] {
  const shape = `${fmtInt(s.records)} × ${s.valueBytes} B (1 in ${s.keyEvery} keyed, origin header), ${s.partitions} partitions, compression ${s.compression}`;
  const batch = `one send in flight per partition, batches up to ${fmtMB(s.batchBytes)}`;
  const rounds = `${s.repeats} round${s.repeats > 1 ? 's' : ''}`;
  const d = rate(drains, s.records);
  const p = rate(direct, s.records);
  const k = rate(kjs, s.records);
  // Ratios per round (each against the direct client of its own round), then their median.
  const ratios = spread(drains.map((x, i) => direct[i]!.seconds / x.seconds));
  const kRatios = spread(kjs.map((x, i) => direct[i]!.seconds / x.seconds));
  const memory = drains[drains.length - 1]!.memory;
  const cpu = (label: string, ts: Timed[]) => {
    const sender = cpuPct(ts, (t) => t.senderCpu);
    const central = cpuPct(ts, (t) => t.centralCpu);
    const perRecord = cpuPerRecordUs(ts, s.records);
    return `CPU ${label} ${sender === null ? '?' : sender.toFixed(0)}% (${perRecord === null ? '?' : perRecord.toFixed(1)} µs/record) / central ${central === null ? '?' : central.toFixed(0)}%`;
  };
  const ratioText = (r: typeof ratios) => (r.runs === 1 ? `${r.median.toFixed(2)}×` : `${r.median.toFixed(2)}× (${r.min.toFixed(2)}–${r.max.toFixed(2)})`);
  return [
    {
      bench: 'kafka-mirror-drain',
      case: `@platformatic/kafka 1.35.0 direct → central Kafka listener, idempotent, acks=all; ${shape}; ${batch}; ${rounds}`,
      metrics: { recordsPerSec: p.median, recordsPerSecMin: p.min, recordsPerSecMax: p.max, mbPerSec: (p.median * s.valueBytes) / 1e6, clientCpuPct: cpuPct(direct, (t) => t.senderCpu), clientCpuUsPerRecord: cpuPerRecordUs(direct, s.records), centralCpuPct: cpuPct(direct, (t) => t.centralCpu) },
      summary: `${spreadText(p, 'rec/s')}, ${fmtMB(p.median * s.valueBytes)}/s, ${cpu('client', direct)}`,
    },
    {
      bench: 'kafka-mirror-drain',
      case: `mirror drains a ${shape} backlog → central Kafka listener, windowMax ${s.windowMax ?? 'default'}, batch.bytesMax ${s.readBytesMax ?? 'default'}; from resume to backlog 0; ${rounds}`,
      metrics: {
        recordsPerSec: d.median,
        recordsPerSecMin: d.min,
        recordsPerSecMax: d.max,
        mbPerSec: (d.median * s.valueBytes) / 1e6,
        ratioToDirect: ratios.median,
        ratioToDirectMin: ratios.min,
        ratioToDirectMax: ratios.max,
        edgeCpuPct: cpuPct(drains, (t) => t.senderCpu),
        edgeCpuUsPerRecord: cpuPerRecordUs(drains, s.records),
        centralCpuPct: cpuPct(drains, (t) => t.centralCpu),
        resentRecords: drains.reduce((a, x) => a + x.resent, 0),
        edgeRssBytes: memory?.rssBytes ?? null,
      },
      summary: [
        `${spreadText(d, 'rec/s')}, ${fmtMB(d.median * s.valueBytes)}/s`,
        `${ratioText(ratios)} direct`,
        cpu('edge', drains),
        memory === null ? null : `edge after: ${memoryText(memory)}`,
      ]
        .filter((x) => x !== null)
        .join(', '),
      target: kafkaMirrorDrainTarget,
    },
    {
      bench: 'kafka-mirror-drain',
      case: `kafkajs 2.2.4 direct, idempotent, acks -1, the same records and batches; ${rounds}`,
      metrics: { recordsPerSec: k.median, recordsPerSecMin: k.min, recordsPerSecMax: k.max, mbPerSec: (k.median * s.valueBytes) / 1e6, ratioToPlatformatic: kRatios.median, clientCpuPct: cpuPct(kjs, (t) => t.senderCpu), clientCpuUsPerRecord: cpuPerRecordUs(kjs, s.records), centralCpuPct: cpuPct(kjs, (t) => t.centralCpu) },
      summary: `${spreadText(k, 'rec/s')}, ${fmtMB(k.median * s.valueBytes)}/s, ${ratioText(kRatios)} @platformatic/kafka, ${cpu('client', kjs)}`,
    },
  ];
}

function wireRow(w: WireRound, s: KafkaMirrorDrainSettings): BenchResult {
  const perRecord = w.bytesUp / w.records;
  return {
    bench: 'kafka-mirror-drain',
    case: `bytes edge → central per record, compression ${w.compression} (${fmtInt(w.records)} × ${s.valueBytes} B, through a counting proxy)`,
    metrics: { bytesPerRecord: perRecord, bytesUp: w.bytesUp, bytesDown: w.bytesDown, downBytesPerRecord: w.bytesDown / w.records, recordsPerSec: w.records / w.seconds },
    summary: `${perRecord.toFixed(1)} B/record up (${fmtMB(w.bytesUp)}), ${(w.bytesDown / w.records).toFixed(2)} B/record down; ${fmtInt(w.records / w.seconds)} rec/s through the proxy`,
  };
}
