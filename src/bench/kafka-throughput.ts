// Produce and consume throughput over the Kafka listener with real Kafka clients (kafkajs 2.2.4 and
// kcat on librdkafka), side by side with the edge protocol on the same broker child process in the
// same run: each round writes (or reads) the same `records` records of `valueBytes` bytes to a
// one-partition topic with each client in turn, so machine drift hits all of them alike. acks=1.
// Timed from the first send (or fetch) to the last ack (or record): kafkajs from its connect, kcat
// from spawn to exit. Each produce round's topic is created before its timing starts.

import fs from 'node:fs';
import path from 'node:path';
import { Consumer } from '../client/consumer.ts';
import { BrokerProcess, memoryText, processFigures } from './broker-process.ts';
import { EdgeSession } from './edge-session.ts';
import { fillTopic } from './fill.ts';
import { kafkajsClient, kafkajsConsume, runKcat } from './kafka-clients.ts';
import { fmtInt, fmtMB, spread, spreadText, type BenchResult } from './results.ts';
import { withTempDir } from './temp-dir.ts';

export interface KafkaSettings {
  records: number;
  valueBytes: number;
  /** Records per kafkajs producer.send() call, and how many such calls are in flight. */
  kafkajsBatchRecords: number;
  kafkajsInflight: number;
  /** The edge generator: records per PRODUCE frame and frames in flight (as edge-1). */
  edgeRecordsPerFrame: number;
  edgeWindow: number;
  /** Per fetch of one partition, for all three consumers (each client's default is 1 MiB). */
  partitionFetchBytes: number;
  repeats: number;
  stallTimeoutMs: number;
}

interface Timed {
  seconds: number;
  brokerCpuSeconds: number | null;
}

interface Case {
  name: string;
  describe: string;
  /** One round: runs the client on its own topic (produce) or the shared one (consume). */
  run: (round: number) => Promise<void>;
  /** Produce: the round's own topic, created before the round is timed and checked after it. */
  topic?: (round: number) => string;
}

const KAFKA_ENV = { TRIBUTARY_LISTENERS__KAFKA__ENABLED: 'true', TRIBUTARY_LISTENERS__KAFKA__HOST: '127.0.0.1', TRIBUTARY_LISTENERS__KAFKA__PORT: '0' };

export async function runKafkaProduce(s: KafkaSettings): Promise<BenchResult[]> {
  return withBroker(async (broker, kafkaPort) =>
    withTempDir('kafka-produce', async (dir) => {
      // One record per line for kcat -l: a value of exactly valueBytes bytes before each newline.
      const file = path.join(dir, 'records.txt');
      fs.writeFileSync(file, Buffer.alloc(s.records * (s.valueBytes + 1), `${'v'.repeat(s.valueBytes)}\n`));
      const cases: Case[] = [
        {
          name: 'edge protocol',
          describe: `1 connection, ${s.edgeRecordsPerFrame}-record frames, window ${s.edgeWindow}`,
          run: async (round) => fillTopic(broker.edgePort, `kp-edge-${round}`, s.records, { recordsPerFrame: s.edgeRecordsPerFrame, valueBytes: s.valueBytes, window: s.edgeWindow, stallTimeoutMs: s.stallTimeoutMs }),
          topic: (round) => `kp-edge-${round}`,
        },
        {
          name: 'kafkajs 2.2.4',
          describe: `producer.send() of ${s.kafkajsBatchRecords} records, ${s.kafkajsInflight} in flight`,
          run: async (round) => kafkajsProduce(kafkaPort, `kp-kafkajs-${round}`, s),
          topic: (round) => `kp-kafkajs-${round}`,
        },
        {
          name: 'kcat -P (librdkafka 2.0.2)',
          describe: 'one record per line of a file (-l), librdkafka default batching',
          run: async (round) => void (await runKcat(kafkaPort, ['-P', '-t', `kp-kcat-${round}`, '-p', '0', '-X', 'acks=1', '-l', file])),
          topic: (round) => `kp-kcat-${round}`,
        },
      ];
      return measure('kafka-produce', 'produce', broker, kafkaPort, cases, s);
    }),
  );
}

export async function runKafkaConsume(s: KafkaSettings): Promise<BenchResult[]> {
  return withBroker(async (broker, kafkaPort) => {
    const topic = 'kc';
    await createTopic(broker.edgePort, topic);
    process.stderr.write(`  kafka-consume: filling ${fmtInt(s.records)} records over the edge protocol\n`);
    await fillTopic(broker.edgePort, topic, s.records, { recordsPerFrame: s.edgeRecordsPerFrame, valueBytes: s.valueBytes, window: s.edgeWindow, stallTimeoutMs: s.stallTimeoutMs });
    const cases: Case[] = [
      {
        name: 'edge protocol',
        describe: `Consumer (src/client), one partition assigned from offset 0, ${fmtMB(s.partitionFetchBytes)} per fetch`,
        run: async () => edgeConsume(broker.edgePort, topic, s),
      },
      {
        name: 'kafkajs 2.2.4',
        describe: `its fetch and batch decoding, assign-style from offset 0, ${fmtMB(s.partitionFetchBytes)} per partition`,
        run: async () => {
          const got = await kafkajsConsume(kafkaPort, topic, 0, s.records, s.partitionFetchBytes);
          if (got !== s.records) throw new Error(`kafkajs consumed ${got} records, expected ${s.records}`);
        },
      },
      {
        name: 'kcat -C (librdkafka 2.0.2)',
        describe: `-o beginning -e, output discarded, max.partition.fetch.bytes ${s.partitionFetchBytes}`,
        run: async () => {
          const r = await runKcat(kafkaPort, ['-C', '-t', topic, '-p', '0', '-o', 'beginning', '-e', '-X', `max.partition.fetch.bytes=${s.partitionFetchBytes}`]);
          if (!r.stderr.includes(`at offset ${s.records}`)) throw new Error(`kcat -C did not reach offset ${s.records}: ${r.stderr.trim()}`);
        },
      },
    ];
    return measure('kafka-consume', 'consume', broker, kafkaPort, cases, s);
  });
}

async function withBroker<T>(fn: (broker: BrokerProcess, kafkaPort: number) => Promise<T>): Promise<T> {
  const broker = await BrokerProcess.start(KAFKA_ENV);
  try {
    if (broker.kafkaPort === null) throw new Error('the broker child did not report a Kafka port');
    return await fn(broker, broker.kafkaPort);
  } finally {
    await broker.stop();
  }
}

/** Rounds of every case in turn, then one result per case with its ratio to the first (the edge protocol). */
async function measure(bench: string, verb: string, broker: BrokerProcess, kafkaPort: number, cases: Case[], s: KafkaSettings): Promise<BenchResult[]> {
  const timings = cases.map((): Timed[] => []);
  for (let round = 0; round < s.repeats; round++) {
    for (const [i, c] of cases.entries()) {
      process.stderr.write(`  ${bench}: round ${round + 1}/${s.repeats}, ${c.name}\n`);
      if (c.topic !== undefined) await createTopic(broker.edgePort, c.topic(round));
      const cpuBefore = broker.cpuSeconds();
      const start = process.hrtime.bigint();
      await c.run(round);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const cpuAfter = broker.cpuSeconds();
      timings[i]!.push({ seconds, brokerCpuSeconds: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore });
      if (c.topic !== undefined) await expectLogEnd(kafkaPort, c.topic(round), s.records);
    }
  }
  const memory = broker.memory();
  const rates = timings.map((ts) => spread(ts.map((t) => s.records / t.seconds)));
  return cases.map((c, i) => {
    const rate = rates[i]!;
    const ts = timings[i]!;
    const seconds = ts.reduce((sum, t) => sum + t.seconds, 0);
    const cpu = ts.every((t) => t.brokerCpuSeconds !== null) ? ts.reduce((sum, t) => sum + t.brokerCpuSeconds!, 0) : null;
    const brokerCpuPct = cpu === null ? null : (cpu / seconds) * 100;
    const ratio = rate.median / rates[0]!.median;
    return {
      bench: bench,
      case: `${c.name}: ${verb} ${fmtInt(s.records)} × ${s.valueBytes} B, 1 partition${verb === 'produce' ? ', acks=1' : ''}; ${c.describe}; ${s.repeats} round${s.repeats > 1 ? 's' : ''}`,
      metrics: { recordsPerSec: rate.median, recordsPerSecMin: rate.min, recordsPerSecMax: rate.max, runs: rate.runs, mbPerSec: (rate.median * s.valueBytes) / 1e6, ratioToEdge: ratio, ...processFigures(brokerCpuPct, null, memory) },
      summary: [
        `${spreadText(rate, 'rec/s')}, ${fmtMB(rate.median * s.valueBytes)}/s`,
        i === 0 ? null : `${ratio.toFixed(2)}× the edge protocol`,
        brokerCpuPct === null ? null : `broker CPU ${brokerCpuPct.toFixed(0)}%`,
        i === cases.length - 1 && memory !== null ? `after: ${memoryText(memory)}` : null,
      ]
        .filter((part) => part !== null)
        .join(', '),
    };
  });
}

async function createTopic(edgePort: number, name: string): Promise<void> {
  const admin = await EdgeSession.open(edgePort, 'bench-admin');
  try {
    await admin.createTopic(name, 1);
  } finally {
    admin.close();
  }
}

async function kafkajsProduce(port: number, topic: string, s: KafkaSettings): Promise<void> {
  const producer = kafkajsClient(port, 'bench-kafkajs-produce').producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    // One message array, sent again and again: the generator's cost is kafkajs's encoding, not ours.
    const messages = Array.from({ length: s.kafkajsBatchRecords }, () => ({ value: Buffer.alloc(s.valueBytes, 'v') }));
    let sent = 0;
    const sender = async (): Promise<void> => {
      while (sent < s.records) {
        const n = Math.min(s.kafkajsBatchRecords, s.records - sent);
        sent += n;
        await producer.send({ topic, acks: 1, messages: n === messages.length ? messages : messages.slice(0, n) });
      }
    };
    await Promise.all(Array.from({ length: s.kafkajsInflight }, sender));
  } finally {
    await producer.disconnect();
  }
}

async function edgeConsume(port: number, topic: string, s: KafkaSettings): Promise<void> {
  const consumer = await Consumer.connect({ port, clientId: 'bench-edge-consume', maxBytes: s.partitionFetchBytes });
  try {
    await consumer.assign([{ topic, partition: 0, offset: 0 }]);
    let got = 0;
    while (got < s.records) got += (await consumer.poll()).length;
  } finally {
    await consumer.close();
  }
}

/** A produce round counts only when every record arrived: the topic's log end is `records`. */
async function expectLogEnd(port: number, topic: string, records: number): Promise<void> {
  const admin = kafkajsClient(port, 'bench-kafkajs-admin').admin();
  await admin.connect();
  try {
    const [p] = await admin.fetchTopicOffsets(topic);
    if (Number(p?.high) !== records) throw new Error(`${topic}: log end ${p?.high}, expected ${records}`);
  } finally {
    await admin.disconnect();
  }
}
