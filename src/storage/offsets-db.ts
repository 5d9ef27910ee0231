// The layout of the `offsets` and `groupMeta` databases, shared by the offset store (its reads and
// writes), the log store (a deleted topic's offsets go with its batches) and the one-time migration
// of the mirror cursors' old database. Pure LMDB access: no in-memory state, no transactions of its own
// (callers run these inside theirs).

import type { Database, Key, RootDatabase } from 'lmdb';

/** [reader, topicId, partition]; readers are namespaced by their owner: `g:<group>`, `m:<mirror>`. */
export type OffsetKey = [string, number, number];
/**
 * [offset (-1 none), metadata, commitMs, high (a mirror's highest published offset, -1 for groups),
 * low (a mirror's lowest offset of the published range [low, high]; absent in rows written before it
 * existed, which means 0, and in groups')].
 */
export type OffsetValue = [number, string, number, number, number?];

export type OffsetsDb = Database<OffsetValue, OffsetKey>;

/** group name (without its `g:`) → since when it has had no members, for the expiry of its offsets. */
export interface GroupMeta {
  emptySinceMs: number;
}

/** Every key of `reader`: ordered-binary sorts [reader] before [reader, topicId, partition] and those before any longer name. */
export function readerRange(reader: string): { start: Key; end: Key } {
  return { start: [reader], end: [reader, Number.MAX_SAFE_INTEGER] };
}

/**
 * Up to `max` keys of a topic's offsets, for the purge of a deleted topic (inside its transaction).
 * A full scan: offsets are keyed by reader first, and a topic deletion is rare and bounded by the
 * number of stored offsets.
 */
export function topicOffsetKeys(db: OffsetsDb, topicId: number, max: number): OffsetKey[] {
  const out: OffsetKey[] = [];
  if (max <= 0) return out;
  for (const key of db.getKeys()) {
    if (key[1] === topicId) out.push(key);
    if (out.length >= max) break;
  }
  return out;
}

/** Reader name of a mirror's cursors. */
export function mirrorReader(mirror: string): string {
  return `m:${mirror}`;
}

/** Reader name of a consumer group's offsets. */
export function groupReader(group: string): string {
  return `g:${group}`;
}

/**
 * Storage format 1 kept mirror cursors in a database of their own ([mirror, topicId, partition] →
 * [cursor, high]). Moves them into `offsets` under `m:<mirror>` and drops the old database; runs
 * inside the transaction that raises the format version, so it happens exactly once.
 */
export function migrateMirrorCursors(env: RootDatabase, offsets: OffsetsDb, nowMs: number): number {
  const old = env.openDB<[number, number], [string, number, number]>({ name: 'mirrorCursors', keyEncoding: 'ordered-binary' });
  let moved = 0;
  for (const { key, value } of old.getRange()) {
    offsets.putSync([mirrorReader(key[0]), key[1], key[2]], [value[0], '', nowMs, value[1]]);
    moved++;
  }
  old.dropSync();
  return moved;
}
