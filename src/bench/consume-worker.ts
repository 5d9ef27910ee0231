// One consumer of the group-consume benchmark, in a worker thread (as an application would be a
// process of its own): a GroupConsumer (at-least-once, auto-commit) or, for the baseline, a plain
// Consumer assigned partitions from offset 0. It polls until told to stop and tells the parent
// when it handed out the last record of a partition, when it was assigned partitions, and how many
// records it has handed out so far. Records are counted, not processed.

import type { MessagePort } from 'node:worker_threads';
import { Consumer, type ConsumedRecord } from '../client/consumer.ts';
import { GroupConsumer } from '../client/group-consumer.ts';

export interface ConsumeJob {
  port: number;
  topic: string;
  clientId: string;
  /** null: a plain Consumer assigned `partitions` from offset 0. */
  group: string | null;
  partitions: number[];
  sessionTimeoutMs: number;
  /** Log end per partition: a partition is consumed when the record before it was handed out. */
  logEnds: number[];
  /** How often the handed-out count is reported, for the parent's stall watchdog. */
  progressMs: number;
}

/** process.hrtime.bigint() stamps: one clock for every thread. */
export type ConsumeMessage =
  | { ready: true }
  | { progress: number }
  | { partitionDone: number; ns: bigint }
  | { assigned: number[]; ns: bigint; handedOut: number }
  | { result: { handedOut: number } }
  | { error: string };

interface Source {
  poll(): Promise<ConsumedRecord[]>;
  close(): Promise<void>;
}

/** Connects, says ready, consumes from "go" until "stop", closes (a member commits and leaves), reports. */
export async function runConsumeWorker(port: MessagePort, job: ConsumeJob): Promise<void> {
  const post = (m: ConsumeMessage) => port.postMessage(m);
  let stopping = false;
  const go = new Promise<void>((resolve) =>
    port.on('message', (m: string) => {
      if (m === 'go') resolve();
      else if (m === 'stop') stopping = true;
    }),
  );
  let handedOut = 0;
  const source = await open(job, (partitions) => post({ assigned: partitions, ns: process.hrtime.bigint(), handedOut }));
  post({ ready: true });
  await go;
  const progress = setInterval(() => post({ progress: handedOut }), job.progressMs);
  try {
    const next = job.logEnds.map(() => 0);
    const done = job.logEnds.map((end) => end === 0);
    while (!stopping) {
      const records = await source.poll();
      handedOut += records.length;
      for (const r of records) if (r.offset >= next[r.partition]) next[r.partition] = r.offset + 1;
      for (let p = 0; p < next.length; p++) {
        if (!done[p] && next[p] >= job.logEnds[p]) {
          done[p] = true;
          post({ partitionDone: p, ns: process.hrtime.bigint() });
        }
      }
    }
  } finally {
    clearInterval(progress);
    await source.close();
  }
  post({ result: { handedOut } });
}

async function open(job: ConsumeJob, onAssigned: (partitions: number[]) => void): Promise<Source> {
  if (job.group === null) {
    const consumer = await Consumer.connect({ port: job.port, clientId: job.clientId });
    await consumer.assign(job.partitions.map((partition) => ({ topic: job.topic, partition, offset: 0 })));
    onAssigned(job.partitions);
    return consumer;
  }
  return GroupConsumer.connect({
    port: job.port,
    clientId: job.clientId,
    group: job.group,
    topics: [job.topic],
    sessionTimeoutMs: job.sessionTimeoutMs,
    autoOffsetReset: 'earliest',
    onPartitionsAssigned: (partitions) => onAssigned(partitions.map((tp) => tp.partition)),
  });
}
