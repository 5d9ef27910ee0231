// Records the central cluster refuses, against a second Tributary as the central Kafka endpoint: its
// Kafka listener refuses a record batch above limits.appendBytesMax with MESSAGE_TOO_LARGE, so a
// record that just fits one batch at the edge is too large upstream once it carries the `origin`
// header. What arrived is read from the outside with kcat.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { encodeRecordBatch, type RecordInput } from '../../../src/format/record-batch.ts';
import { limits } from '../../../src/limits.ts';
import { startTestBroker, type TestBroker } from '../../helpers/broker.ts';
import { runProcess } from '../../helpers/cli.ts';
import { startKafkaBroker, type KafkaTestBroker } from '../../helpers/kafka.ts';
import { until } from '../../helpers/upstream.ts';

const REMOTE = 'edge.gw-1.t';
const hasKcat = spawnSync('kcat', ['-V']).error === undefined;

/** An unkeyed record whose one-record batch is exactly as large as the edge stores (appendBytesMax). */
function largestRecord(): RecordInput {
  const record = (length: number): RecordInput => ({ timestampMs: 1_700_000_000_000, key: null, value: randomBytes(length), headers: [] });
  let length = limits.appendBytesMax - 80;
  while (encodeRecordBatch([record(length + 1)]).length <= limits.appendBytesMax) length++;
  return record(length);
}

function small(i: number): RecordInput {
  return { timestampMs: 1_700_000_000_000 + i, key: null, value: Buffer.from(`r${i}`), headers: [] };
}

async function kcat(central: KafkaTestBroker, args: string[]): Promise<string> {
  const r = await runProcess('kcat', ['-b', `127.0.0.1:${central.kafkaPort}`, ...args], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`kcat ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** offset, origin and value of every record in the central's remote topic. */
async function arrived(central: KafkaTestBroker): Promise<string[]> {
  const out = await kcat(central, ['-C', '-t', REMOTE, '-p', '0', '-e', '-q', '-f', '%o %h %s\n']);
  return out.split('\n').filter((l) => l !== '');
}

type Line = Record<string, unknown>;

/** A debug-level logger keeping the edge's log lines, for what the sink did on the wire. */
function capture(): { logger: pino.Logger; lines: Line[] } {
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
function refusedAtCentral(central: KafkaTestBroker): number {
  return central.running.broker.counters.errors.get('RECORD_TOO_LARGE') ?? 0;
}

async function setup(mirror: Record<string, unknown>): Promise<{ central: KafkaTestBroker; edge: TestBroker; logs: Line[] }> {
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

/** Produces each record as a batch of its own while the mirror is paused, then resumes it: one read holds them. */
async function produceThenResume(edge: TestBroker, records: RecordInput[]): Promise<void> {
  edge.running.mirrors!.pause('central');
  for (const record of records) await edge.running.broker.produce({ topic: 't', partition: 0, records: [record], acks: 1 });
  edge.running.mirrors!.resume('central');
}

describe.runIf(hasKcat || process.env.CI)('kafka sink: records the upstream refuses', () => {
  it('a record over the upstream limit (maxMessageBytes 64 MiB, so it is sent), onRejected skip: counted, the others arrive once, in order', async () => {
    const { central, edge } = await setup({ maxMessageBytes: '64MiB', onRejected: 'skip' });
    const big = largestRecord();
    await produceThenResume(edge, [small(0), small(1), big, small(3), small(4)]);
    await until(() => edge.running.mirrors!.status('central').backlogRecords === 0, 'the backlog to drain');
    const status = edge.running.mirrors!.status('central');
    expect(status.rejectedRecords).toBe(1);
    expect(status.lastError?.code).toBe('UPSTREAM_REJECTED');
    expect(status.lastError?.message).toContain('MESSAGE_TOO_LARGE');
    expect(await arrived(central)).toEqual([0, 1, 3, 4].map((i, at) => `${at} origin=gw-1/t/0/${i} r${i}`));
  });

  it('onRejected stop: failed with UPSTREAM_REJECTED MESSAGE_TOO_LARGE, cursor on the record, nothing after it shipped; resume retries it', async () => {
    const { central, edge } = await setup({ maxMessageBytes: '64MiB', onRejected: 'stop' });
    const big = largestRecord();
    await produceThenResume(edge, [small(0), small(1), big, small(3), small(4)]);
    await until(() => edge.running.mirrors!.status('central').state === 'failed', 'the mirror to fail');
    const status = edge.running.mirrors!.status('central');
    expect(status.lastError?.code).toBe('UPSTREAM_REJECTED');
    expect(status.lastError?.message).toContain('MESSAGE_TOO_LARGE');
    expect(status.partitions[0]!.cursor).toBe(2);
    expect(status.backlogRecords).toBe(3);
    expect(await arrived(central)).toEqual(['0 origin=gw-1/t/0/0 r0', '1 origin=gw-1/t/0/1 r1']);

    // Resume sends it again (in one batch with the records behind it, which the central refuses as a
    // whole, then alone); the central refuses it again, so the mirror fails again, on the same record.
    const refusals = refusedAtCentral(central);
    edge.running.mirrors!.resume('central');
    expect(edge.running.mirrors!.status('central').state).not.toBe('failed');
    await until(() => edge.running.mirrors!.status('central').state === 'failed', 'the mirror to fail again');
    expect(refusedAtCentral(central)).toBeGreaterThan(refusals);
    const again = edge.running.mirrors!.status('central');
    expect(again.partitions[0]!.cursor).toBe(2);
    expect(again.lastError?.message).toContain('MESSAGE_TOO_LARGE');
    expect(await arrived(central)).toEqual(['0 origin=gw-1/t/0/0 r0', '1 origin=gw-1/t/0/1 r1']);
  });

  for (const onRejected of ['skip', 'stop'] as const)
    it(`a record over maxMessageBytes (default 1048588, compression none) is refused unsent, onRejected ${onRejected}`, async () => {
      const { central, edge } = await setup({ onRejected });
      const big: RecordInput = { timestampMs: 1_700_000_000_000, key: null, value: randomBytes(2 * 1024 * 1024), headers: [] };
      await produceThenResume(edge, [small(0), small(1), big, small(3), small(4)]);
      if (onRejected === 'skip') {
        await until(() => edge.running.mirrors!.status('central').backlogRecords === 0, 'the backlog to drain');
        expect(edge.running.mirrors!.status('central').rejectedRecords).toBe(1);
        expect(await arrived(central)).toEqual([0, 1, 3, 4].map((i, at) => `${at} origin=gw-1/t/0/${i} r${i}`));
      } else {
        await until(() => edge.running.mirrors!.status('central').state === 'failed', 'the mirror to fail');
        const status = edge.running.mirrors!.status('central');
        expect(status.partitions[0]!.cursor).toBe(2);
        expect(await arrived(central)).toEqual(['0 origin=gw-1/t/0/0 r0', '1 origin=gw-1/t/0/1 r1']);
      }
      const status = edge.running.mirrors!.status('central');
      expect(status.lastError?.code).toBe('UPSTREAM_REJECTED');
      expect(status.lastError?.message).toMatch(/a record of about \d+ bytes in its batch exceeds maxMessageBytes \(1048588\)/);
      // Never sent: the central refused nothing.
      expect(refusedAtCentral(central)).toBe(0);
    });
});
