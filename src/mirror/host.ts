// What the mirror engine (mirror.ts) needs of the log: the mirror thread's view over the shared LMDB
// environment implements it (thread/thread-log.ts). One interface, so the engine is the same code whoever
// serves it.

import type { Logger } from 'pino';
import type { MirrorCursors, PartitionState, ReadResult, StoredTopic } from '../broker/broker.ts';

export interface MirrorHost {
  /** Every stored topic, by name. */
  storedTopics(): StoredTopic[];
  findTopic(name: string): StoredTopic | undefined;
  partitionState(topicId: number, partition: number): Readonly<PartitionState> | undefined;
  partitionStates(topicId: number): readonly Readonly<PartitionState>[];
  /** Whole batches from the one holding `offset`, at once (status pages). */
  peek(topic: StoredTopic, partition: number, offset: number, maxBytes: number): ReadResult;
  /** Whole batches from the one holding `offset`; parks up to maxWaitMs for an append when there is none. */
  fetch(topic: string, partition: number, offset: number, maxBytes: number, maxWaitMs: number, signal?: AbortSignal): Promise<ReadResult>;
  /** Resolves once the records of `read` (a fetch of the partition) survive a power cut (LogStore.durable). */
  durable(topicId: number, partition: number, read: ReadResult): Promise<void>;
  mirrorCursors(mirror: string, logger: Logger): MirrorCursors;
}
