// Opens the one LMDB environment of a data dir and its named databases, and classifies LMDB failures
// into the stable error codes. Besides this file, only the log store (log-store.ts and its planners
// txn-appends.ts, retention-plan.ts), the MQTT persistence (mqtt-persistence.ts, mqtt/) and the offset
// store (offset-store.ts, offsets-db.ts) touch lmdb.

import fs from 'node:fs';
import path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { SessionExpiryEntry } from './mqtt/session-expiry.ts';
import type { MqttPacket, StoredSubscription } from './mqtt/types.ts';
import type { GroupMeta, OffsetsDb } from './offsets-db.ts';
import type { ProducerStateKey, ProducerStateValue } from './producer-state.ts';

export interface LmdbHandles {
  env: RootDatabase;
  /** The directory holding the data file: where "is there room" is asked. */
  dataDir: string;
  /** [topicId, partition, lastOffset] → RecordBatch v2 bytes. */
  log: Database<Buffer, [number, number, number]>;
  /** topic name → TopicConfig. */
  topics: Database<StoredTopic, string>;
  /** [topicId, partition] → [logStartOffset, nextOffset, bytes]. */
  partitions: Database<[number, number, number], [number, number]>;
  /** [producer, topicId, partition] → [epoch, lastSeenMs, kept batches]: idempotent producer state of both protocols (producer-state.ts). */
  producerState: Database<ProducerStateValue, ProducerStateKey>;
  /** small counters: nextTopicId, formatVersion, purging topic ids. */
  meta: Database<unknown, string>;
  /** MQTT topic → retained message. */
  mqttRetained: Database<MqttPacket, string>;
  /** [clientId, topic filter] → options of a persistent session's subscription. */
  mqttSubscriptions: Database<StoredSubscription, [string, string]>;
  /** [clientId, seq] → queued outgoing QoS 1/2 packet (or the PUBREL replacing it); seq orders the queue. */
  mqttOutgoing: Database<MqttPacket, [string, number]>;
  /** [clientId, messageId] → incoming QoS 2 packet awaiting its PUBREL. */
  mqttIncoming: Database<MqttPacket, [string, number]>;
  /** clientId → will message. */
  mqttWills: Database<MqttPacket, string>;
  /** clientId → an MQTT 5 persistent session's expiry interval and when its client went away (mqtt/session-expiry.ts). */
  mqttSessionExpiry: Database<SessionExpiryEntry, string>;
  /** [reader, topicId, partition] → [offset, metadata, commitMs, high]: group offsets and mirror cursors (offsets-db.ts). */
  offsets: OffsetsDb;
  /** group → GroupMeta (offsets-db.ts). */
  groupMeta: Database<GroupMeta, string>;
}

export interface StoredTopic {
  id: number;
  name: string;
  partitions: number;
  retentionMs: number;
  retentionBytes: number;
  createdMs: number;
}

/**
 * 2: mirror cursors moved into `offsets`; 3: edge producer sequences moved from `producers` into
 * `producerState`, the shape Kafka producers share. Older formats are migrated when opened (log-store.ts).
 */
export const STORAGE_FORMAT_VERSION = 3;

export function openLmdb(dataDir: string, mapSizeBytes: number): LmdbHandles {
  fs.mkdirSync(dataDir, { recursive: true });
  const env = open({
    path: path.join(dataDir, 'tributary.lmdb'),
    mapSize: mapSizeBytes,
    // Named databases need a slot each (13 so far, one more while an older format is migrated); the rest is room for later ones.
    maxDbs: 32,
    // Measured with strace: a transaction commit fdatasyncs the data pages, then writes the meta page through an
    // O_DSYNC descriptor — two flushes per transaction commit. noMetaSync keeps the first (LMDB's integrity stays:
    // a power cut can lose the last transaction commits, never corrupt) and leaves the meta page to the next
    // transaction commit or to an explicit env.sync(), which acks=all waits for (log-store.ts). overlappingSync
    // is off because with it env.sync() returns without syncing (also measured).
    overlappingSync: false,
    noMetaSync: true,
    // Writemap stays off: with it a full disk becomes SIGBUS instead of an error.
    useWritemap: false,
    // The log store's group transactions are lmdb-js async transactions (log-store.ts). With event-turn
    // batching each one also opens a batch whose own commit promise nobody holds: a failed commit
    // rejected it as an unhandled rejection, which ends the process (measured with fail-fsync.c).
    eventTurnBatching: false,
  });
  return {
    env,
    dataDir,
    log: env.openDB({ name: 'log', keyEncoding: 'ordered-binary', encoding: 'binary' }),
    topics: env.openDB({ name: 'topics' }),
    partitions: env.openDB({ name: 'partitions', keyEncoding: 'ordered-binary' }),
    producerState: env.openDB({ name: 'producerState', keyEncoding: 'ordered-binary' }),
    meta: env.openDB({ name: 'meta' }),
    mqttRetained: env.openDB({ name: 'mqttRetained' }),
    mqttSubscriptions: env.openDB({ name: 'mqttSubscriptions', keyEncoding: 'ordered-binary' }),
    mqttOutgoing: env.openDB({ name: 'mqttOutgoing', keyEncoding: 'ordered-binary' }),
    mqttIncoming: env.openDB({ name: 'mqttIncoming', keyEncoding: 'ordered-binary' }),
    mqttWills: env.openDB({ name: 'mqttWills' }),
    mqttSessionExpiry: env.openDB({ name: 'mqttSessionExpiry' }),
    offsets: env.openDB({ name: 'offsets', keyEncoding: 'ordered-binary' }),
    groupMeta: env.openDB({ name: 'groupMeta' }),
  };
}

/** mdb_env_sync on the libuv thread pool; lmdb-js has it but does not declare it. */
export function syncToDisk(env: RootDatabase, done: (err?: unknown) => void): void {
  (env as unknown as { sync(cb: (err?: unknown) => void): void }).sync(done);
}

/**
 * Ends this thread's shared read snapshot, so the next read sees every transaction committed so far.
 * lmdb-js keeps one snapshot per thread until a timer of the next loop turn; a thread reading what
 * another one commits (the mirror thread) asks for a fresh one after being told of a commit.
 */
export function freshReads(env: RootDatabase): void {
  (env as unknown as { resetReadTxn(): void }).resetReadTxn();
}

interface TreeStats {
  treeBranchPageCount: number;
  treeLeafPageCount: number;
  overflowPages: number;
}

const treePages = (s: TreeStats) => s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;

/**
 * Bytes of the data file that LMDB's trees hold: every named database, the main database naming
 * them, the free list's own pages and the two meta pages. LMDB never shrinks its file; the rest of it
 * is free pages that later writes reuse, so after retention the file's size overstates what is used.
 * `databases`: the named databases, or null to open each one the main database names (a read-only
 * inspection that holds no handles).
 */
export function usedMapBytes(env: RootDatabase, databases: Database[] | null): number {
  const stats = env.getStats() as { pageSize: number; root: TreeStats; free: TreeStats };
  let pages = 2 + treePages(stats.root) + treePages(stats.free);
  for (const db of databases ?? [...env.getKeys()].map((name) => env.openDB({ name: String(name) })))
    pages += treePages(db.getStats() as TreeStats);
  return pages * stats.pageSize;
}

/** The named databases of a handle set, for usedMapBytes. */
export function databasesOf(h: LmdbHandles): Database[] {
  return Object.values(h).filter((v): v is Database => v !== h.env && typeof v === 'object' && v !== null && 'getStats' in v);
}

/** Errno-like codes LMDB and the OS give when there is no room: recoverable once space is freed. */
const MDB_MAP_FULL = -30792;
const ENOSPC = 28;

function isNoRoomCode(code: number | string | undefined): boolean {
  return code === MDB_MAP_FULL || code === ENOSPC || code === -ENOSPC || code === 'ENOSPC';
}

/**
 * Free bytes the filesystem of `dir` offers to an unprivileged writer. Infinity when it cannot even
 * be asked: that is a broken disk (fail-stop), not a full one, and it must not throw from a transaction commit.
 */
export function filesystemFreeBytes(dir: string): number {
  try {
    const s = fs.statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/**
 * Whether a failed write of `bytes` failed for want of room (recoverable once space is freed) rather
 * than a broken disk. A full tmpfs or SD card surfaces as EIO from LMDB's page writes (measured), so
 * the room left counts as well as the code; page overhead and copy-on-write can double the bytes.
 */
export function failedForRoom(err: unknown, dataDir: string, bytes: number): boolean {
  return isNoRoomCode((err as { code?: number | string }).code) || filesystemFreeBytes(dataDir) < 2 * bytes + 1024 * 1024;
}
