import type { LogStore } from '../../src/storage/log-store.ts';

/** Counts env.sync calls, and can hold their completion back (a slow disk). */
export function watchSyncs(store: LogStore) {
  const env = store.lmdb.env as unknown as { sync(cb: (err?: unknown) => void): void };
  const sync = env.sync.bind(env);
  const watch = {
    calls: 0,
    hold: false,
    held: [] as (() => void)[],
    release() {
      watch.hold = false;
      for (const done of watch.held.splice(0)) done();
    },
  };
  env.sync = (cb) => {
    watch.calls++;
    sync((err) => (watch.hold ? watch.held.push(() => cb(err)) : cb(err)));
  };
  return watch;
}
