// Read-only access to the partition logs in LMDB: what the log store reads for consumers on the main
// thread, and what the mirror thread reads from the same environment without asking the main thread.
// The `partitions` row of a partition is written in the transaction that writes its batches, so a
// read of both in one read transaction is a consistent committed view.

import type { Logger } from 'pino';
import { TributaryError } from '../errors.ts';
import { verifyBatch } from '../format/record-batch.ts';
import type { LmdbHandles, StoredTopic } from './lmdb-env.ts';
import type { PartitionState } from './txn-appends.ts';

export interface ReadResult {
  batches: Buffer[];
  bytes: number;
  logStartOffset: number;
  nextOffset: number;
}

/**
 * Whole batches starting at the one holding `offset`, up to maxBytes (at least one batch).
 * A batch failing its CRC is never returned: it is an error when first, the end of the result otherwise.
 */
export function readBatches(h: Pick<LmdbHandles, 'log'>, topic: StoredTopic, state: Readonly<PartitionState>, offset: number, maxBytes: number, log: Logger): ReadResult {
  const { partition } = state;
  if (offset < state.logStartOffset || offset > state.nextOffset)
    throw new TributaryError(
      'OFFSET_OUT_OF_RANGE',
      `offset ${offset} is outside ${topic.name}/${partition} [${state.logStartOffset}, ${state.nextOffset}]`,
      { topic: topic.name, partition, offset, logStartOffset: state.logStartOffset, nextOffset: state.nextOffset },
    );
  const batches: Buffer[] = [];
  let bytes = 0;
  if (offset < state.nextOffset) {
    for (const { key, value } of h.log.getRange({ start: [topic.id, partition, offset], end: [topic.id, partition + 1, 0] })) {
      if (!verifyBatch(value)) {
        if (batches.length > 0) break;
        log.error({ topic: topic.name, partition, offset, batchLastOffset: key[2] }, 'corrupt batch');
        throw new TributaryError('CORRUPT_MESSAGE', `corrupt batch in ${topic.name}/${partition} holding offset ${offset} (batch ends at offset ${key[2]})`, {
          topic: topic.name,
          partition,
          offset,
        });
      }
      // lmdb-js hands each binary value of a range as a Buffer of its own (a copy, never its shared
      // read buffer), so it is kept as it is, without a second copy (test: reads outlive later reads).
      batches.push(value);
      bytes += value.length;
      if (bytes >= maxBytes) break;
    }
  }
  return { batches, bytes, logStartOffset: state.logStartOffset, nextOffset: state.nextOffset };
}

/** The committed topics and partition states, read from LMDB on each call (no cache to keep in step). */
export class LogReader {
  constructor(
    private readonly h: LmdbHandles,
    private readonly log: Logger,
  ) {}

  topics(): StoredTopic[] {
    return [...this.h.topics.getRange()].map((e) => e.value).sort((a, b) => a.name.localeCompare(b.name));
  }

  topic(name: string): StoredTopic | undefined {
    return this.h.topics.get(name);
  }

  partitionState(topicId: number, partition: number): PartitionState | undefined {
    const stored = this.h.partitions.get([topicId, partition]);
    return stored === undefined ? undefined : { topicId, partition, logStartOffset: stored[0], nextOffset: stored[1], bytes: stored[2] };
  }

  partitionStates(topicId: number): PartitionState[] {
    const out: PartitionState[] = [];
    for (const { key, value } of this.h.partitions.getRange({ start: [topicId, 0], end: [topicId + 1, 0] }))
      out.push({ topicId, partition: key[1], logStartOffset: value[0], nextOffset: value[1], bytes: value[2] });
    return out;
  }

  /** As LogStore.read, from the committed view; UNKNOWN_TOPIC when the partition is gone (topic deleted). */
  read(topic: StoredTopic, partition: number, offset: number, maxBytes: number): ReadResult {
    const state = this.partitionState(topic.id, partition);
    if (!state) throw new TributaryError('UNKNOWN_TOPIC', `topic ${topic.name} has no partition ${partition} (any more)`, { topic: topic.name, partition });
    return readBatches(this.h, topic, state, offset, maxBytes, this.log);
  }
}
