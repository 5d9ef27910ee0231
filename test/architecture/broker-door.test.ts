// The broker is the only way into storage. Listeners, mirrors, the CLI and everything else outside
// src/broker and src/storage call broker methods; they neither reach `broker.store` nor import from
// src/storage (types included: the broker re-exports the few it hands out). main.ts builds the store
// and src/bench builds its own for the in-process storage figures: both are composition roots. The
// group coordinator (src/groups) is part of the core: the broker builds it and hands it the offset
// store, whose commits must ride the log's transactions. src/mirror/thread is the mirror thread's
// composition root: that thread has no broker (it runs on a loop of its own) and reads the log from
// the shared LMDB environment directly (storage/log-reader.ts), writing only its own cursors.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');
const storageDir = path.join(src, 'storage') + path.sep;
const exempt = [path.join(src, 'broker') + path.sep, path.join(src, 'groups') + path.sep, storageDir, path.join(src, 'bench') + path.sep, path.join(src, 'mirror', 'thread') + path.sep, path.join(src, 'main.ts')];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return /\.(ts|mts|js|mjs)$/.test(entry.name) ? [full] : [];
  });
}

/** Every way a file can break the rule, as "line N: what". */
function violations(file: string, text: string): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (/\bbroker\??\.store\b/.test(line) || /\.store\??\.\w/.test(line)) found.push(`line ${i + 1}: reaches the broker's store: ${line.trim()}`);
    for (const m of line.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/g)) {
      const target = path.resolve(path.dirname(file), m[1]);
      if (m[1].startsWith('.') && (target + path.sep).startsWith(storageDir)) found.push(`line ${i + 1}: imports from src/storage: ${line.trim()}`);
    }
  });
  return found;
}

describe('the broker is the only door to storage', () => {
  it('no file outside src/broker, src/groups, src/storage, src/mirror/thread, src/main.ts and src/bench reaches broker.store or imports src/storage', () => {
    const files = sourceFiles(src).filter((f) => !exempt.some((e) => f === e || f.startsWith(e)));
    // The areas the rule is for are scanned (the scan cannot pass by finding nothing).
    for (const area of ['listeners', 'mirror', 'cli']) expect(files.some((f) => f.startsWith(path.join(src, area) + path.sep))).toBe(true);
    const problems = files.flatMap((f) => violations(f, fs.readFileSync(f, 'utf8')).map((v) => `${path.relative(src, f)} ${v}`));
    expect(problems).toEqual([]);
  });

  it('the scan catches each way in', () => {
    const file = path.join(src, 'mirror', 'example.ts');
    expect(violations(file, "import type { StoredTopic } from '../storage/log-store.ts';")).toHaveLength(1);
    expect(violations(file, "import { MirrorCursors } from '../storage/mirror-cursors.ts';")).toHaveLength(1);
    expect(violations(file, "const m = await import('../storage/mirror-cursors.ts');")).toHaveLength(1);
    expect(violations(file, "export type { StoredTopic } from '../storage/log-store.ts';")).toHaveLength(1);
    expect(violations(file, 'const s = this.broker.store;')).toHaveLength(1);
    expect(violations(file, 'await opts.broker.store.durable();')).toHaveLength(1);
    expect(violations(file, 'x.host.store.read(t, 0, 0, 1);')).toHaveLength(1);
    expect(violations(file, "import type { Broker, StoredTopic } from '../broker/broker.ts';")).toEqual([]);
    expect(violations(file, 'this.retained.store(packet);')).toEqual([]);
  });
});
