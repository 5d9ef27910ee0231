// The Kafka clients the kafka-produce and kafka-consume benchmarks drive: kafkajs (a devDependency,
// loaded at run time so the bundle never carries it) and kcat (librdkafka), a process of its own.
//
// kafkajs consumes only through consumer groups; the bench reads with kafkajs's own cluster, broker
// and batch classes instead (assign-style: one partition from offset 0), which is the fetch and
// decode path its group consumer runs, without the group protocol around it. Those classes are not
// kafkajs's public API: the bench pins kafkajs 2.2.4 (package.json).

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Kafka as KafkaClass, logLevel as LogLevel } from 'kafkajs';

const KAFKAJS = 'kafkajs';

interface KafkajsModule {
  Kafka: typeof KafkaClass;
  logLevel: typeof LogLevel;
}

/** A fetched partition as kafkajs's Batch class leaves it: records below the fetch offset dropped. */
interface KafkajsBatch {
  messages: unknown[];
  isEmpty(): boolean;
  lastOffset(): string;
}

interface KafkajsBroker {
  fetch(request: {
    replicaId?: number;
    isolationLevel: number;
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    topics: { topic: string; partitions: { partition: number; fetchOffset: string; maxBytes: number }[] }[];
  }): Promise<{ responses: { topicName: string; partitions: { partition: number; errorCode: number }[] }[] }>;
}

interface KafkajsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  findBroker(ref: { nodeId: string }): Promise<KafkajsBroker>;
}

function load<T>(id: string): T {
  // Resolved from this file (the bundle or src/bench): a variable id keeps esbuild from bundling it.
  const req = createRequire(import.meta.url);
  try {
    return req(id) as T;
  } catch (err) {
    throw new Error(`${id} is not installed (kafkajs is a devDependency: npm install): ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function kafkajs(): KafkajsModule {
  return load<KafkajsModule>(KAFKAJS);
}

/** A kafkajs client of the broker at 127.0.0.1:port that logs nothing and does not retry for long. */
export function kafkajsClient(port: number, clientId: string): KafkaClass {
  const { Kafka, logLevel } = kafkajs();
  return new Kafka({ clientId, brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, retry: { retries: 2 } });
}

/** Reads one partition from offset 0 with kafkajs until `records` records came; returns how many. */
export async function kafkajsConsume(port: number, topic: string, partition: number, records: number, maxBytesPerPartition: number): Promise<number> {
  const Cluster = load<new (o: Record<string, unknown>) => KafkajsCluster>(`${KAFKAJS}/src/cluster/index.js`);
  const Batch = load<new (topic: string, fetchedOffset: string, partitionData: unknown) => KafkajsBatch>(`${KAFKAJS}/src/consumer/batch.js`);
  const { createLogger, LEVELS } = load<{ createLogger(o: { level: number; logCreator: () => () => void }): unknown; LEVELS: { NOTHING: number } }>(`${KAFKAJS}/src/loggers/index.js`);
  const socketFactory = load<() => unknown>(`${KAFKAJS}/src/network/socketFactory.js`);
  const cluster = new Cluster({
    logger: createLogger({ level: LEVELS.NOTHING, logCreator: () => () => undefined }),
    socketFactory: socketFactory(),
    brokers: [`127.0.0.1:${port}`],
    clientId: 'bench-kafkajs-consume',
    connectionTimeout: 5000,
    requestTimeout: 30_000,
    metadataMaxAge: 300_000,
    retry: { retries: 2 },
    allowAutoTopicCreation: false,
    maxInFlightRequests: null,
    isolationLevel: 1,
  });
  await cluster.connect();
  try {
    await cluster.addTargetTopic(topic);
    const broker = await cluster.findBroker({ nodeId: '0' });
    let offset = 0n;
    let got = 0;
    while (got < records) {
      const fetchOffset = offset.toString();
      const { responses } = await broker.fetch({
        isolationLevel: 1,
        maxWaitTime: 500,
        minBytes: 1,
        // kafkajs consumer defaults: 10 MiB per request, maxBytesPerPartition per partition.
        maxBytes: 10 * 1024 * 1024,
        topics: [{ topic, partitions: [{ partition, fetchOffset, maxBytes: maxBytesPerPartition }] }],
      });
      const data = responses[0]?.partitions[0];
      if (data === undefined || data.errorCode !== 0) throw new Error(`kafkajs fetch of ${topic}/${partition} at ${fetchOffset}: error code ${data?.errorCode ?? 'no partition in the answer'}`);
      const batch = new Batch(topic, fetchOffset, data);
      if (batch.isEmpty()) continue;
      got += batch.messages.length;
      offset = BigInt(batch.lastOffset()) + 1n;
    }
    return got;
  } finally {
    await cluster.disconnect();
  }
}

export interface KcatRun {
  /** From spawn to exit: connecting and reading metadata included (a few milliseconds). */
  seconds: number;
  stderr: string;
}

/** Runs kcat against 127.0.0.1:port, stdout discarded; rejects on a non-zero exit. */
export function runKcat(port: number, args: readonly string[]): Promise<KcatRun> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn('kcat', ['-b', `127.0.0.1:${port}`, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.once('error', (err) => {
      reject(new Error(`kcat: ${err.message} (Debian package kcat)`));
    });
    child.once('exit', (code) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (code === 0) resolve({ seconds, stderr });
      else reject(new Error(`kcat ${args.join(' ')} exited with ${code}: ${stderr.trim()}`));
    });
  });
}
