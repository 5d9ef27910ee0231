// aedes-persistence's own conformance suite (abstract.js, written for node:test) against
// MqttPersistence, each instance on a fresh LMDB environment in its own temp dir. Runs under node:test,
// not vitest: node --import tsx --test test/suites/aedes-persistence.test.ts

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import abstractPersistence from 'aedes-persistence/abstract.js';
import pino from 'pino';
import { LogStore } from '../../src/storage/log-store.ts';
import { MqttPersistence } from '../../src/storage/mqtt-persistence.ts';

const dirs = new Set<string>();

const logger = pino({ level: 'silent' });

/** Owns its LogStore, as main.ts does in the broker: destroy() also closes it and removes the dir. */
class TempDirPersistence extends MqttPersistence {
  private readonly dir: string;
  private readonly store: LogStore;

  constructor(dir: string, store: LogStore) {
    super(store, logger);
    this.dir = dir;
    this.store = store;
  }

  override async destroy(): Promise<void> {
    try {
      await super.destroy();
    } finally {
      await this.store.close();
      fs.rmSync(this.dir, { recursive: true, force: true });
      dirs.delete(this.dir);
    }
  }
}

abstractPersistence({
  test,
  testAsync: true,
  persistence: () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-aedes-persistence-'));
    dirs.add(dir);
    const store = new LogStore({
      dataDir: dir,
      mapSizeBytes: 64 * 1024 * 1024,
      diskBudgetBytes: -1,
      diskBudgetPolicy: 'reject-new',
      minFreeDiskBytes: 0,
      txnQueueBytesMax: 64 * 1024 * 1024,
      logger,
    });
    return new TempDirPersistence(dir, store);
  },
});

// A failing test never reaches destroy(): its dir goes here.
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});
