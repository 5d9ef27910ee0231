// A real full filesystem: a small tmpfs mounted for the test (needs root, as CI runs).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeRecordBatch, encodeRecordBatch } from '../../src/format/record-batch.ts';
import { LogStore } from '../../src/storage/log-store.ts';
import { onCleanup, rec, storeOptions, tempDir } from '../helpers/temp.ts';

const isRoot = process.getuid?.() === 0;

function mountTmpfs(sizeBytes: number): string {
  const dir = tempDir('tributary-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir]);
  onCleanup(async () => {
    execFileSync('umount', ['-l', dir]);
  });
  return dir;
}

function batch(i: number) {
  return encodeRecordBatch(Array.from({ length: 20 }, (_, j) => rec(`r${i}-${j}-`.padEnd(1000, 'x'))));
}

describe.runIf(isRoot || process.env.CI)('a full disk', () => {
  it('refuses writes with STORAGE_FULL, keeps every acknowledged batch, and keeps serving reads', async () => {
    const mount = mountTmpfs(6 * 1024 * 1024);
    const dir = path.join(mount, 'data');
    let store = new LogStore(storeOptions(dir, { mapSizeBytes: 1024 * 1024, minFreeDiskBytes: 0 }));
    const t = store.createTopic({ name: 'fill', partitions: 1, retentionMs: -1, retentionBytes: -1 });
    let acked = 0;
    let failure: unknown;
    for (let i = 0; i < 1000 && !failure; i++) {
      try {
        await store.append(t, 0, batch(i), undefined, true);
        acked++;
      } catch (err) {
        failure = err;
      }
    }
    expect(failure).toMatchObject({ codeName: 'STORAGE_FULL' });
    expect(acked).toBeGreaterThan(10);
    expect(store.failed).toBeNull();
    expect(store.read(t, 0, 0, 1 << 30).batches.length).toBe(acked);
    await store.close();

    store = new LogStore(storeOptions(dir, { minFreeDiskBytes: 0 }));
    onCleanup(() => store.close());
    const t2 = store.getTopic('fill')!;
    const records = store.read(t2, 0, 0, 1 << 30).batches.flatMap((b) => decodeRecordBatch(b));
    expect(records).toHaveLength(acked * 20);
    expect(records.at(-1)!.value!.toString()).toMatch(new RegExp(`^r${acked - 1}-19-`));
  });

  it('refuses writes before the disk is full when minFreeDiskBytes is set', async () => {
    const mount = mountTmpfs(8 * 1024 * 1024);
    const store = new LogStore(storeOptions(path.join(mount, 'data'), { minFreeDiskBytes: 4 * 1024 * 1024 }));
    onCleanup(() => store.close());
    const t = store.createTopic({ name: 'margin', partitions: 1, retentionMs: -1, retentionBytes: -1 });
    let error: unknown;
    for (let i = 0; i < 1000 && !error; i++) await store.append(t, 0, batch(i), undefined, false).catch((e) => (error = e));
    expect(error).toMatchObject({ codeName: 'STORAGE_FULL' });
    expect((error as Error).message).toMatch(/minFreeDiskBytes/);
    const s = fs.statfsSync(mount);
    expect(s.bavail * s.bsize).toBeGreaterThan(2 * 1024 * 1024);
  });
});
