// The central Kafka cluster of a Kafka-mirror test, seen from the outside: kcat reads what arrived
// (records with their key, headers and origin), and what a stopped edge left on disk (its mirror
// cursors), to tell the records a restart must ship again from those it must not.
import { LogStore } from '../../src/storage/log-store.ts';
import { MirrorCursors } from '../../src/storage/mirror-cursors.ts';
import { kcatReadAll, originOf } from './kcat.ts';
import { silentLogger, storeOptions } from './temp.ts';

export { hasKcat } from './kcat.ts';

export interface CentralRecord {
  /** Remote partition and offset. */
  partition: number;
  offset: number;
  key: string | null;
  value: string;
  /** The `origin` header, parsed: edgeId/topic/partition/offset. */
  origin: { edgeId: string; topic: string; partition: number; offset: number };
}

/** Every record of `topic` from the start to the current end, as kcat reads it, with its origin parsed. */
export async function readCentral(kafkaPort: number, topic: string): Promise<CentralRecord[]> {
  return (await kcatReadAll(kafkaPort, topic)).map((r) => ({ partition: r.partition, offset: r.offset, key: r.key, value: r.value, origin: originOf(r) }));
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
