// How a user gets the `tributary` command (README "Try it"): `npm link` in a clone, then the command
// from any directory, before any build. And no command in the docs may reach for a registry package
// named like ours: `npx tributary` outside the clone runs a stranger's code.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import packageJson from '../../package.json' with { type: 'json' };
import { runProcess } from '../helpers/cli.ts';
import { tempDir } from '../helpers/temp.ts';

const repo = path.resolve('.');

/** Markdown files a user reads: the README and every README/SPEC under src/. */
function docs(): string[] {
  const found = [path.join(repo, 'README.md')];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.md')) found.push(full);
    }
  };
  walk(path.join(repo, 'src'));
  return found;
}

describe('getting the tributary command', () => {
  it('npm link in a fresh clone (no dist/) puts a tributary on the PATH that works from any directory', async () => {
    // A clone as `git clone && npm install` leaves it: sources, no dist/ (node_modules shared).
    const clone = tempDir();
    for (const entry of ['src', 'config', 'build.mjs', 'package.json', 'package-lock.json']) fs.cpSync(path.join(repo, entry), path.join(clone, entry), { recursive: true });
    fs.symlinkSync(path.join(repo, 'node_modules'), path.join(clone, 'node_modules'));
    const prefix = tempDir();
    const env = { ...process.env, NPM_CONFIG_PREFIX: prefix, NPM_CONFIG_AUDIT: 'false', NPM_CONFIG_FUND: 'false', NPM_CONFIG_UPDATE_NOTIFIER: 'false' };
    const link = await runProcess('npm', ['link'], { env, cwd: clone, timeoutMs: 60_000 });
    expect(link.code, link.stderr).toBe(0);

    const elsewhere = tempDir();
    const first = await runProcess('tributary', ['--version'], { env: { ...env, PATH: `${path.join(prefix, 'bin')}:${process.env.PATH}` }, cwd: elsewhere, timeoutMs: 60_000 });
    expect(first, first.stderr).toMatchObject({ code: 0, stdout: `${packageJson.version}\n` });
    expect(first.stderr).toBe(`tributary: building ${path.join(fs.realpathSync(clone), 'dist', 'tributary.mjs')} first (npm run build)\n`);
    const again = await runProcess('tributary', ['topics', '--help'], { env: { ...env, PATH: `${path.join(prefix, 'bin')}:${process.env.PATH}` }, cwd: os.tmpdir() });
    expect(again).toMatchObject({ code: 0, stderr: '' });
    expect(again.stdout).toContain('Usage: tributary topics');
  }, 90_000);

  it('package.json names the launcher as the bin, and it is executable', () => {
    expect(packageJson.bin).toEqual({ tributary: 'src/cli/launcher.mjs' });
    expect(fs.statSync(path.join(repo, 'src/cli/launcher.mjs')).mode & 0o111).not.toBe(0);
  });

  it('no command in the docs runs npx or npm exec without refusing to install from the registry', () => {
    const offenders: string[] = [];
    for (const file of docs()) {
      let fenced = false;
      fs.readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (line.trimStart().startsWith('```')) fenced = !fenced;
          // Commands are what a reader copies: fenced blocks and `inline code`.
          const code = fenced ? [line] : [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
          for (const text of code)
            for (const m of text.matchAll(/\b(npx|npm exec)\s+(\S+)/g))
              if (m[2] !== '--no-install' && m[2] !== '--no') offenders.push(`${path.relative(repo, file)}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(offenders).toEqual([]);
  });
});
