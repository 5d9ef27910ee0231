#!/usr/bin/env node
// The `tributary` command of a clone (package.json "bin", put on the PATH by `npm link`): runs the
// bundle dist/tributary.mjs, and builds it first when it is missing, so the command works right after
// `npm install` without a separate build. An existing bundle is run as it is: `npm start` and
// `npm run build` rebuild it after the sources change.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bundle = new URL('../../dist/tributary.mjs', import.meta.url);
if (!existsSync(bundle)) {
  process.stderr.write(`tributary: building ${fileURLToPath(bundle)} first (npm run build)\n`);
  const built = spawnSync(process.execPath, ['build.mjs'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (built.status !== 0) process.exit(built.status ?? 1);
}
await import(bundle.href);
