// Bundles the server and CLI into dist/tributary.mjs, and the mirror thread into dist/mirror-thread.mjs.
// lmdb and @node-rs/crc32 are native addons that find their binaries next to their own package.json,
// so they stay external and ship in node_modules.
// lz4-napi, another, is loaded with createRequire when lz4 is first needed (src/format/compression.ts),
// so esbuild never sees it and it too is taken from node_modules.
// The bundle is ESM but contains CommonJS packages (pino, prom-client), which call require(): the
// banner gives them one.
// @platformatic/kafka's codecs (snappy, lz4) are WebAssembly that @platformatic/wasm-utils reads at
// import from `new URL('../dist/native.wasm', import.meta.url)`; bundled, that URL is
// dist/native.wasm beside the bundle, so the build copies the file there.
// The status page's script and stylesheet (src/listeners/status-page/assets) are served from files,
// not bundled: they are copied to dist/status-page/. uPlot, its chart library, is read from
// node_modules at run time (a dependency, so production installs carry it).
// `node build.mjs --release linux-arm64` (Raspberry Pi OS 64-bit; `npm run release`) or `--release
// linux-arm` (armv7, 32-bit) then packs dist/ with the target's production node_modules into
// dist/release/tributary-<version>-<target>.tar.gz: see release() below.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { build } from 'esbuild';
import { patchAedesSource } from './src/listeners/mqtt/aedes-patches.mjs';

const statusPageAssets = ['page.js', 'page.css', 'favicon.svg'];

// zod 4 re-exports every translation of its messages as `z.locales`; Tributary's messages are its
// own, English ones. Dropping that namespace shrinks the bundle by ~0.4 MB (~13 %) and trims the idle RSS the Pi pays for.
const dropZodLocales = {
  name: 'drop-zod-locales',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      args.importer.includes('/zod/') ? { path: 'zod-locales', namespace: 'empty' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'empty' }, () => ({ contents: 'export {}', loader: 'js' }));
  },
};

// The fixes Tributary carries on aedes (src/listeners/mqtt/aedes-patches.mjs), applied as esbuild reads
// its files.
const patchAedes = {
  name: 'patch-aedes',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]aedes[\\/].*\.js$/ }, async (args) => ({
      contents: patchAedesSource(args.path, await fs.promises.readFile(args.path, 'utf8')),
      loader: 'js',
    }));
  },
};

// `debug` resolves to a logger that costs nothing while DEBUG is unset (src/observability/quiet-debug.cjs).
const quietDebug = {
  name: 'quiet-debug',
  setup(b) {
    b.onResolve({ filter: /^debug$/ }, () => ({ path: path.resolve('src/observability/quiet-debug.cjs') }));
  },
};

const options = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  // aedes (a later listener) checks that persistence setup is a real AsyncFunction: no downlevelling.
  target: 'node20',
  sourcemap: 'linked',
  // V8 keeps a module's whole source text in the heap for as long as the process runs (functions are
  // compiled lazily, from it). Unminified, the bundle's comments carry a few non-Latin-1 characters
  // (→, ×, —), which make V8 hold all of it as a two-byte string: 9 MB for 4.5 MB of text, as much
  // as the rest of the idle heap. Whitespace minification drops comments and indentation: 3 MB, one
  // byte per character. Names stay, so stack traces keep them (and dist/tributary.mjs.map maps a
  // position back to src/: node --enable-source-maps). Licence comments move to the end of the file.
  minifyWhitespace: true,
  legalComments: 'eof',
  external: ['lmdb', '@node-rs/crc32'],
  banner: {
    js: [
      '#!/usr/bin/env node',
      "import { createRequire as __tributaryCreateRequire } from 'node:module';",
      'const require = __tributaryCreateRequire(import.meta.url);',
    ].join('\n'),
  },
  plugins: [dropZodLocales, patchAedes, quietDebug],
  logLevel: 'warning',
};

// Each file of dist/ is written beside its place and renamed over it: tests run the bundle while
// another one rebuilds it (the release test runs this script), and a rename never shows a process
// half a file.
function writeWhole(file, contents) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const part = `${file}.${process.pid}.part`;
  fs.writeFileSync(part, contents);
  fs.renameSync(part, file);
}

async function bundle(entry, outfile) {
  const { outputFiles } = await build({ ...options, entryPoints: [entry], outfile, write: false });
  for (const out of outputFiles) writeWhole(out.path, out.contents);
}

await bundle('src/cli/main.ts', 'dist/tributary.mjs');
// The mirror thread's own bundle: it evaluates only the mirror code (src/mirror/thread/mirror-thread.ts).
await bundle('src/mirror/thread/worker-entry.ts', 'dist/mirror-thread.mjs');

const wasmUtils = path.dirname(createRequire(import.meta.url).resolve('@platformatic/wasm-utils'));
writeWhole('dist/native.wasm', fs.readFileSync(path.join(wasmUtils, 'native.wasm')));

for (const file of statusPageAssets) writeWhole(path.join('dist/status-page', file), fs.readFileSync(path.join('src/listeners/status-page/assets', file)));

// What a release target needs: npm's --cpu for the cross install, the ELF class and machine every
// native addon must be built for, and the prebuilt packages the runtime loads (an addon whose binary
// is missing would fail only when first used on the Pi, so the build checks they are there).
const targets = {
  'linux-arm64': {
    cpu: 'arm64',
    elf: { class: 2, machine: 183, name: 'aarch64' },
    natives: ['@lmdb/lmdb-linux-arm64', '@node-rs/crc32-linux-arm64-gnu', '@antoniomuso/lz4-napi-linux-arm64-gnu', '@msgpackr-extract/msgpackr-extract-linux-arm64'],
  },
  'linux-arm': {
    cpu: 'arm',
    elf: { class: 1, machine: 40, name: 'armv7 (32-bit ARM)' },
    natives: ['@lmdb/lmdb-linux-arm', '@node-rs/crc32-linux-arm-gnueabihf', '@antoniomuso/lz4-napi-linux-arm-gnueabihf', '@msgpackr-extract/msgpackr-extract-linux-arm'],
  },
};

/**
 * Builds dist/release/tributary-<version>-<target>.tar.gz, unpacking to tributary-<version>-<target>/:
 * dist/ (bundles, native.wasm, source maps), production node_modules for the target, bin/tributary,
 * config/ and a README. Node itself is not in it: the launcher runs the `node` on PATH.
 */
function release(target) {
  const t = targets[target];
  if (t === undefined) fail(`unknown release target ${JSON.stringify(target)}; known: ${Object.keys(targets).join(', ')}`);
  const { version } = JSON.parse(fs.readFileSync('package.json', 'utf8'));
  const name = `tributary-${version}-${target}`;
  const stage = path.join('dist/release', name);
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(path.join(stage, 'dist'), { recursive: true });
  for (const file of ['tributary.mjs', 'tributary.mjs.map', 'mirror-thread.mjs', 'mirror-thread.mjs.map', 'native.wasm']) {
    fs.copyFileSync(path.join('dist', file), path.join(stage, 'dist', file));
  }
  fs.mkdirSync(path.join(stage, 'dist/status-page'));
  for (const file of statusPageAssets) fs.copyFileSync(path.join('dist/status-page', file), path.join(stage, 'dist/status-page', file));

  // Production dependencies as npm resolves them for the target. Install scripts stay off: they run
  // on this machine, and lmdb's would compile an x64 lmdb.node into build/Release, which its loader
  // prefers over the prebuilt binary and an ARM process cannot load.
  fs.copyFileSync('package.json', path.join(stage, 'package.json'));
  fs.copyFileSync('package-lock.json', path.join(stage, 'package-lock.json'));
  const npmArgs = ['ci', '--omit=dev', '--os=linux', `--cpu=${t.cpu}`, '--libc=glibc', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'];
  const npm = spawnSync('npm', npmArgs, { cwd: stage, encoding: 'utf8' });
  if (npm.error !== undefined || npm.status !== 0) {
    fail(`npm ${npmArgs.join(' ')} for ${target} failed (exit ${npm.status ?? npm.error?.message}); is the package registry reachable?\n${npm.stderr ?? ''}`);
  }
  fs.rmSync(path.join(stage, 'package.json'));
  fs.rmSync(path.join(stage, 'package-lock.json'));
  const nodeModules = path.join(stage, 'node_modules');
  pruneNodeModules(nodeModules);
  checkNatives(nodeModules, target, t);

  fs.mkdirSync(path.join(stage, 'bin'));
  fs.writeFileSync(path.join(stage, 'bin/tributary'), launcher, { mode: 0o755 });
  fs.mkdirSync(path.join(stage, 'config'));
  for (const file of ['default.yaml', 'raspberry-pi.example.yaml']) fs.copyFileSync(path.join('config', file), path.join(stage, 'config', file));
  fs.writeFileSync(path.join(stage, 'README'), releaseReadme(name, version, target));

  const tarball = path.join('dist/release', `${name}.tar.gz`);
  const tar = spawnSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-czf', path.basename(tarball), name], { cwd: 'dist/release', encoding: 'utf8' });
  if (tar.status !== 0) fail(`tar failed: ${tar.stderr}`);
  fs.rmSync(stage, { recursive: true });
  console.log(`${tarball} (${(fs.statSync(tarball).size / 1024 / 1024).toFixed(1)} MiB)`);
}

// Files no process reads at runtime: type declarations, source maps of dependencies (the bundle's own
// stay), and the musl builds of addons (the release is for glibc systems such as Raspberry Pi OS).
// @types packages (dependencies of mqtt's dependencies) hold only declarations. The .bin links point at
// dependencies' CLIs, which the release does not offer.
function pruneNodeModules(dir) {
  for (const sub of ['.bin', '@types']) fs.rmSync(path.join(dir, sub), { recursive: true, force: true });
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    if (/\.d\.[cm]?ts$|\.map$|\.musl\.node$/.test(entry.name)) fs.rmSync(path.join(entry.parentPath, entry.name));
  }
}

/** Every native addon must be an ELF file for the target, and each prebuilt package the runtime loads must be there. */
function checkNatives(dir, target, t) {
  const wrong = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.node')) continue;
    const file = path.join(entry.parentPath, entry.name);
    const head = Buffer.alloc(20);
    const fd = fs.openSync(file, 'r');
    fs.readSync(fd, head, 0, 20, 0);
    fs.closeSync(fd);
    const elf = head.readUInt32BE(0) === 0x7f454c46;
    if (!elf || head[4] !== t.elf.class || head.readUInt16LE(18) !== t.elf.machine) wrong.push(path.relative(dir, file));
  }
  if (wrong.length > 0) fail(`native addons not built for ${t.elf.name} in the ${target} node_modules: ${wrong.join(', ')}`);
  const missing = t.natives.filter((pkg) => !fs.readdirSync(path.join(dir, pkg)).some((f) => f.endsWith('.node')));
  if (missing.length > 0) fail(`prebuilt binaries missing for ${target}: ${missing.join(', ')}`);
}

function fail(message) {
  console.error(`build.mjs --release: ${message}`);
  process.exit(1);
}

// bin/tributary: sh, so that it can say which Node.js is missing or too old before the bundle, which
// needs Node.js 20, is parsed. `readlink -f` follows the /usr/local/bin/tributary link to the release.
const launcher = `#!/bin/sh
# Runs Tributary (dist/tributary.mjs beside this folder) with the node on PATH, which must be Node.js 20 or later.
set -eu
root=$(dirname "$(dirname "$(readlink -f "$0")")")
if ! command -v node >/dev/null 2>&1; then
  echo "tributary: no node on PATH: Tributary needs Node.js 20 or later (see README in $root)" >&2
  exit 1
fi
version=$(node --version)
major=\${version#v}
major=\${major%%.*}
case $major in
  '' | *[!0-9]*) echo "tributary: cannot read the Node.js version from 'node --version' ($version)" >&2; exit 1 ;;
esac
if [ "$major" -lt 20 ]; then
  echo "tributary: Node.js $version ($(command -v node)) is too old: Tributary needs Node.js 20 or later (see README in $root)" >&2
  exit 1
fi
exec node "$root/dist/tributary.mjs" "$@"
`;

function releaseReadme(name, version, target) {
  return `Tributary ${version} for ${target} (glibc)
${'='.repeat(`Tributary ${version} for ${target} (glibc)`.length)}

A Kafka-style streaming broker for edge gateways. This release runs with Node.js 20 or later from
PATH (not included) on Linux with glibc 2.34 or later (the LMDB binary needs it): Raspberry Pi OS
Bookworm or Trixie, not Bullseye.

  bin/tributary      the command: checks the Node.js version, then runs dist/tributary.mjs
  dist/              the bundled broker and CLI, the mirror thread's bundle, native.wasm, source maps
  node_modules/      production dependencies with their ${target} native binaries
  config/            default.yaml (every setting, documented) and raspberry-pi.example.yaml

Install (as root):

  tar -xzf ${name}.tar.gz
  mv ${name} /opt/tributary
  ln -s /opt/tributary/bin/tributary /usr/local/bin/tributary
  tributary --version

Node.js 20: Trixie's own nodejs package is 20; Bookworm's is 18, too old. On Bookworm install
Node.js 20 from NodeSource's apt repository or the official linux-${target === 'linux-arm64' ? 'arm64' : 'armv7l'} build of Node.js 20, then
check \`node --version\`. bin/tributary says so when the node on PATH is older than 20.
${target === 'linux-arm' ? `
32-bit: LMDB maps its whole file into the process's address space; set storage.maxMapSizeBytes to
1GiB or less (raspberry-pi.example.yaml has 10GiB, for 64-bit systems).
` : ''}
Configuration: copy config/raspberry-pi.example.yaml to /etc/tributary/config.yaml, edit it, and
start with \`tributary start --config /etc/tributary/config.yaml\`. Run \`tributary --help\` for
the commands.

License: Tributary is licensed under the Apache License 2.0. Each package under node_modules/
carries its own license file.
`;
}

const releaseAt = process.argv.indexOf('--release');
if (releaseAt !== -1) release(process.argv[releaseAt + 1]);
