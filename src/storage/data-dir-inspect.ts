// What `tributary doctor` reads of a data dir without taking it over: the data file's size and the
// newest record timestamp. LMDB is opened read-only, which LMDB allows beside a running broker (a
// reader takes a slot in the lock file's reader table and never blocks the writer); nothing is
// created or migrated, and a data dir without a data file is not opened at all.

import fs from 'node:fs';
import path from 'node:path';
import { open } from 'lmdb';
import { readBatchInfo } from '../format/record-batch.ts';
import { usedMapBytes } from './lmdb-env.ts';

export interface DataFileInfo {
  /** Bytes of tributary.lmdb; null when there is none yet. */
  fileBytes: number | null;
  /** Bytes of it LMDB's trees hold (the rest is free pages writes reuse); null when there is no file. */
  usedBytes: number | null;
  /** The largest maxTimestamp of the last batch of every partition; null without any record. */
  newestRecordMs: number | null;
}

export function inspectDataFile(dataDir: string): DataFileInfo {
  const file = path.join(dataDir, 'tributary.lmdb');
  let fileBytes: number;
  try {
    fileBytes = fs.statSync(file).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return { fileBytes: null, usedBytes: null, newestRecordMs: null };
    throw err;
  }
  const env = open({ path: file, readOnly: true, maxDbs: 32 });
  try {
    const partitions = env.openDB<[number, number, number], [number, number]>({ name: 'partitions', keyEncoding: 'ordered-binary' });
    const log = env.openDB<Buffer, [number, number, number]>({ name: 'log', keyEncoding: 'ordered-binary', encoding: 'binary' });
    let newestRecordMs: number | null = null;
    // A batch's key is its last offset, so a partition's newest batch is the last key under [topic, partition].
    for (const [topicId, partition] of partitions.getKeys()) {
      for (const { value } of log.getRange({ start: [topicId, partition + 1], end: [topicId, partition], reverse: true, limit: 1 })) {
        const ts = readBatchInfo(value)?.maxTimestampMs;
        if (ts !== undefined && (newestRecordMs === null || ts > newestRecordMs)) newestRecordMs = ts;
      }
    }
    return { fileBytes, usedBytes: usedMapBytes(env, null), newestRecordMs };
  } finally {
    void env.close();
  }
}
