// The central Kafka cluster of a Kafka-mirror test, seen from the outside: kcat reads what arrived
// (records with their key, headers and origin), and what a stopped edge left on disk (its mirror
// cursors), to tell the records a restart must ship again from those it must not.
import { spawnSync } from 'node:child_process';
import { LogStore } from '../../src/storage/log-store.ts';
import { MirrorCursors } from '../../src/storage/mirror-cursors.ts';
import { runProcess } from './cli.ts';
import { silentLogger, storeOptions } from './temp.ts';

export const hasKcat = spawnSync('kcat', ['-V']).error === undefined;

export interface CentralRecord {
  /** Remote partition and offset. */
  partition: number;
  offset: number;
  /** null for a null key (kcat -Z prints NULL). */
  key: string | null;
  value: string;
  /** The `origin` header, parsed: edgeId/topic/partition/offset. */
  origin: { edgeId: string; topic: string; partition: number; offset: number };
}

/**
 * Every record of `topic` from the start to the current end, as kcat reads it, in the order kcat
 * prints them (remote offset order within each remote partition). Keys and values must be text
 * without spaces or newlines; the only header read is `origin`.
 */
export async function kcatReadAll(kafkaPort: number, topic: string): Promise<CentralRecord[]> {
  const r = await runProcess('kcat', ['-b', `127.0.0.1:${kafkaPort}`, '-C', '-t', topic, '-e', '-q', '-Z', '-f', '%p %o %k %h %s\n'], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`kcat -C -t ${topic} exited ${r.code}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [partition, offset, key, headers, value] = line.split(' ') as [string, string, string, string, string];
      const origin = /(?:^|,)origin=([^,]*)/.exec(headers)?.[1];
      if (origin === undefined) throw new Error(`no origin header: ${line}`);
      const [edgeId, originTopic, originPartition, originOffset] = origin.split('/') as [string, string, string, string];
      return {
        partition: Number(partition),
        offset: Number(offset),
        key: key === 'NULL' ? null : key,
        value,
        origin: { edgeId, topic: originTopic, partition: Number(originPartition), offset: Number(originOffset) },
      };
    });
}

/** The cursors (next offset to ship; 0 when none) a stopped or killed edge persisted for `mirror`, per partition of `topic`. */
export async function persistedCursors(dataDir: string, mirror: string, topic: string, partitions: number): Promise<number[]> {
  const store = new LogStore(storeOptions(dataDir));
  try {
    const cursors = new MirrorCursors(store, mirror, silentLogger);
    const topicId = store.getTopic(topic)!.id;
    return Array.from({ length: partitions }, (_, p) => cursors.get(topicId, p) ?? 0);
  } finally {
    await store.close();
  }
}
