// A second Tributary as the central Kafka cluster, an edge mirroring topic `t` (one partition) to it
// with a Kafka sink, and what arrived there read from the outside with kcat.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { encodeRecordBatch, readBatchInfo, type RecordInput } from '../../../src/format/record-batch.ts';
import { limits } from '../../../src/limits.ts';
import { startTestBroker, type TestBroker } from '../../helpers/broker.ts';
import { kcat as kcatAt } from '../../helpers/kcat.ts';
import { startKafkaBroker, type KafkaTestBroker } from '../../helpers/kafka.ts';

export const REMOTE = 'edge.gw-1.t';
export { hasKcat } from '../../helpers/kcat.ts';

/** An unkeyed record whose one-record batch is exactly as large as the edge stores (appendBytesMax). */
export function largestRecord(): RecordInput {
  const record = (length: number): RecordInput => ({ timestampMs: 1_700_000_000_000, key: null, value: randomBytes(length), headers: [] });
  let length = limits.appendBytesMax - 80;
  while (encodeRecordBatch([record(length + 1)]).length <= limits.appendBytesMax) length++;
  return record(length);
}

export function small(i: number): RecordInput {
  return { timestampMs: 1_700_000_000_000 + i, key: null, value: Buffer.from(`r${i}`), headers: [] };
}

export function kcat(central: KafkaTestBroker, args: string[]): Promise<string> {
  return kcatAt(central.kafkaPort, args);
}

/** offset, origin and value of every record in the central's remote topic. */
export async function arrived(central: KafkaTestBroker): Promise<string[]> {
  const out = await kcat(central, ['-C', '-t', REMOTE, '-p', '0', '-e', '-q', '-f', '%o %h %s\n']);
  return out.split('\n').filter((l) => l !== '');
}

export type Line = Record<string, unknown>;

/** A debug-level logger keeping the edge's log lines, for what the sink did on the wire. */
export function capture(): { logger: pino.Logger; lines: Line[] } {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Line);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** Batches the central refused as too large. */
export function refusedAtCentral(central: KafkaTestBroker): number {
  return central.running.broker.counters.errors.get('RECORD_TOO_LARGE') ?? 0;
}

export async function setup(mirror: Record<string, unknown>): Promise<{ central: KafkaTestBroker; edge: TestBroker; logs: Line[] }> {
  const { logger, lines } = capture();
  const central = await startKafkaBroker();
  central.running.broker.createTopic({ name: REMOTE, partitions: 1 });
  const edge = await startTestBroker({
    edgeId: 'gw-1',
    mirrors: [{ name: 'central', sink: 'kafka', brokers: [`127.0.0.1:${central.kafkaPort}`], topics: ['t'], backoff: { initialMs: 50, maxMs: 200 }, ...mirror }],
  }, logger);
  edge.running.broker.createTopic({ name: 't', partitions: 1 });
  return { central, edge, logs: lines };
}

/**
 * Produces each record as a batch of its own while the mirror is paused, then resumes it: the records
 * reach the sink together and leave packed in as few batches as maxMessageBytes allows.
 */
export async function produceThenResume(edge: TestBroker, records: RecordInput[]): Promise<void> {
  await edge.running.mirrors!.pause('central');
  for (const record of records) await edge.running.broker.produce({ topic: 't', partition: 0, records: [record], acks: 1 });
  await edge.running.mirrors!.resume('central');
}

/** The record batches the central stored in the remote topic, as the sink sent them. */
export function storedBatches(central: KafkaTestBroker): Buffer[] {
  const broker = central.running.broker;
  const topic = broker.findTopic(REMOTE)!;
  const end = broker.partitionState(topic.id, 0)!.nextOffset;
  const batches: Buffer[] = [];
  for (let offset = 0; offset < end; ) {
    const read = broker.peek(topic, 0, offset, 1).batches[0]!;
    const info = readBatchInfo(read)!;
    batches.push(read);
    offset = info.baseOffset + info.lastOffsetDelta + 1;
  }
  return batches;
}
