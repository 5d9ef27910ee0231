// Exactly-once read-process-write under kill -9: a transform (transform-child.ts) turns topic `in`
// into topic `out` with GroupConsumer.produceAndCommit, as a child process, against a broker child
// process. Both are killed with SIGKILL several times at moments chosen at random (a random number
// of transactions after the last restart) and started again, the broker on the same data dir. At the
// end `out` must hold exactly one result per input record — none twice, none missing — in input
// order per partition.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Admin, Consumer, EdgeClient, Producer, type ConsumedRecord } from '../../src/client/index.ts';
import { cleanEnv, freePort, startChildBroker, trackChild, type ChildBroker } from '../helpers/child-broker.ts';
import { tempDir } from '../helpers/temp.ts';

const INPUT_RECORDS = 2000;
const PARTITIONS = 3;
/** What is killed, in order: 5 transform kills and 2 broker kills. */
const KILLS = ['transform', 'transform', 'broker', 'transform', 'transform', 'broker', 'transform'] as const;
const childScript = path.resolve('test/crash/transform-child.ts');

/** The transform child, with the number of transactions it reported stored. */
class Transform {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  private committed = 0;
  private waiters: { at: number; resolve: () => void }[] = [];
  readonly output: () => string;

  constructor(port: number) {
    this.child = spawn(process.execPath, ['--import', 'tsx', childScript], { env: { ...cleanEnv(), PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
    const tracked = trackChild(this.child, port);
    this.exited = tracked.exited;
    this.output = tracked.output;
    let partial = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line.startsWith('committed ')) this.committed++;
      this.waiters = this.waiters.filter((w) => (this.committed >= w.at ? (w.resolve(), false) : true));
    });
  }

  /** Resolves after `count` more stored transactions; rejects if the child exits first. */
  async moreCommits(count: number): Promise<void> {
    const reached = new Promise<void>((resolve) => this.waiters.push({ at: this.committed + count, resolve }));
    const exited = this.exited.then((code) => {
      throw new Error(`the transform exited (${code}) before ${count} more commits: ${this.output()}`);
    });
    await Promise.race([reached, exited]);
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

async function produceInput(port: number): Promise<string[][]> {
  const admin = await Admin.connect({ port });
  await admin.createTopic({ name: 'in', partitions: PARTITIONS });
  await admin.createTopic({ name: 'out', partitions: PARTITIONS });
  await admin.close();
  // Two records per batch: each transaction of the transform takes one batch per partition.
  const producer = await Producer.connect({ port, batchRecordsMax: 2, lingerMs: 0 });
  const records = Array.from({ length: INPUT_RECORDS }, (_, i) => ({ topic: 'in', partition: i % PARTITIONS, value: `v${i}` }));
  await producer.sendBatch(records);
  await producer.close();
  return Array.from({ length: PARTITIONS }, (_, p) => records.filter((r) => r.partition === p).map((r) => r.value));
}

/** Resolves once group `transform` has committed the end of every partition of `in`. */
async function transformCaughtUp(port: number, transform: Transform): Promise<void> {
  const client = await EdgeClient.connect({ port });
  const deadline = Date.now() + 120_000;
  try {
    for (;;) {
      const d = await client.describeGroup('transform').catch(() => null);
      const done = d !== null && d.partitions.filter((p) => p.topic === 'in').length === PARTITIONS && d.partitions.every((p) => p.topic !== 'in' || p.committed === p.logEndOffset);
      if (done) return;
      if (Date.now() > deadline) throw new Error(`the transform did not catch up: ${JSON.stringify(d?.partitions)}\n${transform.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await client.close();
  }
}

async function readOutput(port: number): Promise<ConsumedRecord[][]> {
  const admin = await Admin.connect({ port });
  const ends = (await admin.describeTopic('out')).partitions.map((p) => p.nextOffset);
  await admin.close();
  const consumer = await Consumer.connect({ port, maxWaitMs: 100 });
  await consumer.assign(ends.map((_, partition) => ({ topic: 'out', partition, offset: 'earliest' as const })));
  const out: ConsumedRecord[][] = ends.map(() => []);
  while (ends.some((end, p) => consumer.position('out', p) < end)) for (const r of await consumer.poll()) out[r.partition]!.push(r);
  await consumer.close();
  return out;
}

describe('exactly-once transform under kill -9', () => {
  it('leaves one result per input record, in order, after the transform and the broker were killed at random moments', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    let broker: ChildBroker = await startChildBroker(dataDir, port);
    const input = await produceInput(port);

    let transform = new Transform(port);
    const done = { transform: 0, broker: 0 };
    for (const what of KILLS) {
      await transform.moreCommits(2 + Math.floor(Math.random() * 8));
      if (what === 'transform') {
        await transform.kill();
        transform = new Transform(port);
      } else {
        broker.child.kill('SIGKILL');
        await broker.exited;
        broker = await startChildBroker(dataDir, port);
      }
      done[what]++;
    }
    await transformCaughtUp(port, transform);
    await transform.kill();

    const output = await readOutput(port);
    for (let p = 0; p < PARTITIONS; p++) {
      const records = output[p]!;
      // No duplicate, no gap, input order: the n-th result of a partition is that of its n-th input.
      expect(records.map((r) => Number(r.headers.find((h) => h.key === 'in-offset')!.value!.toString()))).toEqual(input[p]!.map((_, i) => i));
      expect(records.map((r) => r.value!.toString())).toEqual(input[p]!.map((v) => `${v}!`));
    }
    expect(done).toEqual({ transform: 5, broker: 2 });
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
  }, 180_000);
});
