import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach } from 'vitest';
import { Broker, type BrokerOptions } from '../../src/broker/broker.ts';
import { LogStore, type LogStoreOptions } from '../../src/storage/log-store.ts';

export const silentLogger = pino({ level: 'silent' });

const dirs: string[] = [];
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp dir removed after the test. */
export function tempDir(prefix = 'tributary-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Registers a cleanup run after the test, last registered first. */
export function onCleanup(close: () => Promise<void>): void {
  closers.push(close);
}

export function storeOptions(dataDir: string, over: Partial<LogStoreOptions> = {}): LogStoreOptions {
  return {
    dataDir,
    mapSizeBytes: 64 * 1024 * 1024,
    diskBudgetBytes: -1,
    diskBudgetPolicy: 'reject-new',
    minFreeDiskBytes: 0,
    txnQueueBytesMax: 64 * 1024 * 1024,
    logger: silentLogger,
    ...over,
  };
}

export const brokerDefaults: BrokerOptions = {
  autoCreate: true,
  defaultPartitions: 1,
  defaultRetentionMs: 7 * 24 * 3600 * 1000,
  defaultRetentionBytes: -1,
  retentionCheckIntervalMs: 3_600_000,
  retentionBatchesPerStep: 1000,
};

/** A store + broker on a temp dir, closed after the test. */
export function openBroker(dataDir = tempDir(), store: Partial<LogStoreOptions> = {}, broker: Partial<BrokerOptions> = {}): Broker {
  const b = new Broker(new LogStore(storeOptions(dataDir, store)), { ...brokerDefaults, ...broker }, silentLogger);
  onCleanup(() => b.close());
  return b;
}

export function rec(value: string, key: string | null = null, timestampMs = Date.now()) {
  return { key: key === null ? null : Buffer.from(key), value: Buffer.from(value), headers: [], timestampMs };
}
