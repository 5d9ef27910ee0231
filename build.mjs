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
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { build } from 'esbuild';
import { patchAedesSource } from './src/listeners/mqtt/aedes-patches.mjs';

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
  plugins: [dropZodLocales, patchAedes],
  logLevel: 'warning',
};

await build({ ...options, entryPoints: ['src/cli/main.ts'], outfile: 'dist/tributary.mjs' });
// The mirror thread's own bundle: it evaluates only the mirror code (src/mirror/thread/mirror-thread.ts).
await build({ ...options, entryPoints: ['src/mirror/thread/worker-entry.ts'], outfile: 'dist/mirror-thread.mjs' });

const wasmUtils = path.dirname(createRequire(import.meta.url).resolve('@platformatic/wasm-utils'));
fs.copyFileSync(path.join(wasmUtils, 'native.wasm'), 'dist/native.wasm');

fs.mkdirSync('dist/status-page', { recursive: true });
for (const file of ['page.js', 'page.css', 'favicon.svg']) fs.copyFileSync(path.join('src/listeners/status-page/assets', file), path.join('dist/status-page', file));
