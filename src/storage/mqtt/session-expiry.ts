// When each MQTT 5 persistent session expires: clientId → its Session Expiry Interval and when its
// client went away (null while connected). aedes keeps only in-process timers for this, so without
// these entries a session waiting to expire when the broker stops would be kept forever after the
// restart; the listener's session-expiry.ts sweeps them at start. Kept in memory as well: one small
// entry per persistent MQTT 5 session, read once at start and on each connect.

import type { Database } from 'lmdb';
import type { TxnStage } from './txn-stage.ts';

export interface SessionExpiryEntry {
  /** The interval the session was given (seconds; 0xFFFFFFFF: never). */
  expiryS: number;
  /** Wall clock (ms) when the client went away; null while it was connected. */
  disconnectedMs: number | null;
}

export class SessionExpiryStore {
  private readonly db: Database<SessionExpiryEntry, string>;
  private readonly writes: TxnStage;
  private readonly entries = new Map<string, SessionExpiryEntry>();

  constructor(db: Database<SessionExpiryEntry, string>, writes: TxnStage) {
    this.db = db;
    this.writes = writes;
  }

  load(): void {
    this.entries.clear();
    for (const { key, value } of this.db.getRange()) this.entries.set(key, value);
  }

  /** False when the entry was already that: nothing to write. */
  put(clientId: string, entry: SessionExpiryEntry): boolean {
    const now = this.entries.get(clientId);
    if (now !== undefined && now.expiryS === entry.expiryS && now.disconnectedMs === entry.disconnectedMs) return false;
    this.entries.set(clientId, { ...entry });
    this.writes.put(this.db, clientId, { ...entry });
    return true;
  }

  delete(clientId: string): void {
    if (this.entries.delete(clientId)) this.writes.remove(this.db, clientId);
  }

  has(clientId: string): boolean {
    return this.entries.has(clientId);
  }

  all(): [string, SessionExpiryEntry][] {
    return [...this.entries].map(([id, e]) => [id, { ...e }]);
  }
}
