// Stages the MQTT persistence's writes for the log's group transaction. aedes makes one persistence call per MQTT operation, and a
// synchronous LMDB transaction per call would cost one fdatasync per call, on the main thread. So
// writes are staged and ride in the LogStore's next group transaction (a TxnParticipant): the log's
// appends and the session writes of one event-loop turn share one transaction and one fdatasync,
// the log's room checks, and its fail-stop (a session write that fails with EIO stops the log's
// writes too and turns /healthz to 503). Every caller of a turn is answered after its transaction commit. The
// session writes of a turn are one participant: if one of them is refused (checked keys make that
// rare), all of that turn's are, and the indexes are reloaded.
//
// Until the transaction commit, reads of a staged key return the staged value; a later write of the same key in
// the turn replaces the staged one, which is applying them in call order.
//
// A lazy write (one whose loss in a power cut only makes a QoS 1 delivery go out again) does not
// call for a transaction commit of its own: it rides with the next group transaction, or one LAZY_TXN_MS after it
// was staged. A client draining its queue makes such writes one packet per loop turn, and a transaction commit
// per turn would cap the drain at one packet per fdatasync.

import type { Database, Key } from 'lmdb';
import type { Logger } from 'pino';
import { asTributaryError, TributaryError } from '../../errors.ts';
import type { TxnParticipant, SideWriteStore, TakenWrites } from '../log-store.ts';

interface Staged {
  key: Key;
  /** undefined deletes the key. */
  value: object | undefined;
}

type StagedWrites = Map<Database, Map<string, Staged>>;

/** How long a lazy write may wait for a transaction commit. */
export const LAZY_TXN_MS = 100;

interface Batch {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: TributaryError) => void;
}

export class TxnStage implements TxnParticipant {
  private readonly store: SideWriteStore;
  private readonly log: Logger;
  private readonly onRollback: () => void;
  // Keyed by database, then by the key's JSON: lmdb keys here are strings or arrays of strings and numbers.
  private staged: StagedWrites = new Map();
  private batch: Batch | null = null;
  private lazyTimer: NodeJS.Timeout | null = null;
  private failure: TributaryError | null = null;
  private txnCommitCount = 0;
  /** aedes' flows around these writes assume nothing else runs until they commit (log-store.ts, TxnParticipant). */
  readonly commitsOnLoop = true;

  /** `onRollback` runs after a failed transaction commit, so callers can drop in-memory state the transaction commit did not keep. */
  constructor(store: SideWriteStore, logger: Logger, onRollback: () => void) {
    this.store = store;
    this.log = logger;
    this.onRollback = onRollback;
    store.addTxnParticipant(this);
  }

  /** `value` is committed as it is at the end of the turn: the caller must not change it afterwards. */
  put<V extends object, K extends Key>(db: Database<V, K>, key: K, value: V, lazy = false): void {
    this.stage(db, key, value, lazy);
  }

  remove<K extends Key>(db: Database<object, K>, key: K, lazy = false): void {
    this.stage(db, key, undefined, lazy);
  }

  /** The staged value if the key was written this turn, else the committed one. Callers may change the result. */
  get<V extends object, K extends Key>(db: Database<V, K>, key: K): V | undefined {
    const staged = this.staged.get(db)?.get(JSON.stringify(key));
    if (staged) return staged.value === undefined ? undefined : ({ ...staged.value } as V);
    return db.get(key);
  }

  /** Resolves once every write staged so far is committed; rejects with STORAGE_FULL or STORAGE_FAILED. */
  txnCommitted(): Promise<void> {
    if (this.batch === null) return Promise.resolve();
    // Someone waits: a batch holding only lazy writes (or none of the caller's) must not make it wait for the timer.
    this.store.scheduleGroup();
    return this.batch.promise;
  }

  /** Commits what is staged now, in a transaction of its own, rather than with the next group. */
  flush(): void {
    if (!this.hasStaged) return;
    const taken = this.take();
    try {
      this.store.sideTxn(() => taken.write());
    } catch (err) {
      return taken.settle(asTributaryError(err));
    }
    taken.settle(null);
  }

  /** Transactions committed so far. */
  get txnCommits(): number {
    return this.txnCommitCount;
  }

  /** Set once storage failed for a reason other than room: no write is accepted after it. */
  get failed(): TributaryError | null {
    return this.failure ?? this.store.failed;
  }

  get hasStaged(): boolean {
    return this.batch !== null;
  }

  take(): TakenWrites {
    const batch = this.batch!;
    const staged = this.staged;
    this.batch = null;
    this.staged = new Map();
    if (this.lazyTimer) clearTimeout(this.lazyTimer);
    this.lazyTimer = null;
    return {
      write: () => {
        for (const [db, writes] of staged)
          for (const { key, value } of writes.values()) {
            if (value === undefined) db.removeSync(key);
            else db.putSync(key, value);
          }
      },
      settle: (err) => {
        if (err === null) {
          this.txnCommitCount++;
          return batch.resolve();
        }
        this.log.warn({ code: err.codeName, err: err.message, writes: countWrites(staged) }, 'MQTT session writes not committed; session state reloaded from disk');
        batch.reject(err);
        this.rollback();
      },
    };
  }

  private stage(db: Database, key: Key, value: object | undefined, lazy: boolean): void {
    assertKeyFits(key);
    let writes = this.staged.get(db);
    if (!writes) this.staged.set(db, (writes = new Map()));
    writes.set(JSON.stringify(key), { key, value });
    this.batch ??= newBatch();
    // The log's group transaction runs from setImmediate, after this turn's I/O callbacks: every operation
    // decoded from the sockets readable now joins the same transaction.
    if (!lazy) this.store.scheduleGroup();
    else this.lazyTimer ??= setTimeout(() => this.store.scheduleGroup(), LAZY_TXN_MS);
  }

  // Runs after a failed transaction commit: a throw here would take the process down, so a rollback that cannot
  // read LMDB (the environment was closed under a scheduled transaction commit) stops writes instead.
  private rollback(): void {
    try {
      this.onRollback();
    } catch (err) {
      this.failure ??= new TributaryError('STORAGE_FAILED', 'MQTT session state could not be reloaded after a failed write', undefined, { cause: err });
      this.log.error({ err }, 'MQTT persistence could not reload its indexes; writes stopped');
    }
  }
}

/** LMDB's key limit is 1978 bytes; the ordered-binary encoding adds a byte or so per part. */
const KEY_BYTES_MAX = 1900;

/**
 * Keys are built from what clients send (topics, filters, client ids). Callers check before they
 * change any in-memory index, so a refused call leaves nothing behind; stage() checks again.
 */
export function assertKeyFits(key: Key): void {
  const bytes = keyBytes(key);
  if (bytes > KEY_BYTES_MAX) throw new TributaryError('INVALID_REQUEST', `MQTT session key of ${bytes} bytes is longer than storage allows (${KEY_BYTES_MAX})`);
}

function keyBytes(key: Key): number {
  if (typeof key === 'string') return Buffer.byteLength(key);
  if (Array.isArray(key)) return key.reduce((n: number, part) => n + 1 + keyBytes(part as Key), 0);
  return 9;
}

function countWrites(staged: StagedWrites): number {
  let n = 0;
  for (const writes of staged.values()) n += writes.size;
  return n;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (err: TributaryError) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Every caller awaits this promise; marking it handled keeps a batch whose callers all went away
  // from becoming an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
