// The patches carried on aedes apply to the aedes installed, and only to the version they were written for.
import fs from 'node:fs';
import path from 'node:path';
import { Aedes } from 'aedes';
import { describe, expect, it } from 'vitest';
import { AEDES_PATCHES, AEDES_VERSION, patchAedesSource } from '../../../src/listeners/mqtt/aedes-patches.mjs';

const root = path.resolve('node_modules/aedes');

describe('aedes patches', () => {
  it('pins the aedes version they were written for', () => {
    const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies.aedes).toBe(AEDES_VERSION);
    expect((JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version).toBe(AEDES_VERSION);
  });

  it('applies every edit to the installed files, each exactly once', () => {
    for (const file of new Set(AEDES_PATCHES.map((p) => p.file))) {
      const full = path.join(root, file);
      const source = fs.readFileSync(full, 'utf8');
      const patched = patchAedesSource(full, source);
      for (const p of AEDES_PATCHES.filter((q) => q.file === file)) expect(patched, p.why).toContain(p.replace);
    }
  });

  it('refuses to half-patch a file that changed', () => {
    const full = path.join(root, 'lib/handlers/pubrel.js');
    expect(() => patchAedesSource(full, '// another aedes\n')).toThrow(/does not apply to lib\/handlers\/pubrel\.js/);
  });

  it('is what tests load in-process too', async () => {
    const broker = await Aedes.createBroker();
    try {
      expect(Object.getPrototypeOf((broker as unknown as { clients: object }).clients)).toBeNull();
    } finally {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    }
  });
});
