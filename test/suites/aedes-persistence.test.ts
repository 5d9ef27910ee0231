// aedes-persistence's own conformance suite (abstract.js, written for node:test) against
// MqttPersistence, each instance on a fresh LMDB environment in its own temp dir. Runs under node:test,
// not vitest: node --import tsx --test test/suites/aedes-persistence.test.ts

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import abstractPersistence from 'aedes-persistence/abstract.js';
import pino from 'pino';
import { openLmdb, type LmdbHandles } from '../../src/storage/lmdb-env.ts';
import { MqttPersistence } from '../../src/storage/mqtt-persistence.ts';

const dirs = new Set<string>();

/** Owns its environment, as the LogStore does in the broker: destroy() also closes it and removes the dir. */
class TempDirPersistence extends MqttPersistence {
  private readonly dir: string;
  private readonly handles: LmdbHandles;

  constructor(dir: string, handles: LmdbHandles) {
    super(handles, pino({ level: 'silent' }));
    this.dir = dir;
    this.handles = handles;
  }

  override async destroy(): Promise<void> {
    try {
      await super.destroy();
    } finally {
      await this.handles.env.close();
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
    return new TempDirPersistence(dir, openLmdb(dir, 64 * 1024 * 1024));
  },
});

// A failing test never reaches destroy(): its dir goes here.
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});
