import { configDefaults, defineConfig } from 'vitest/config';
import { patchAedesSource } from './src/listeners/mqtt/aedes-patches.mjs';

export default defineConfig({
  // Tests that start the MQTT listener in-process run aedes with the patches the bundle carries: vitest
  // transforms aedes (inlined below) instead of letting Node load it untouched.
  plugins: [{ name: 'patch-aedes', enforce: 'pre', transform: (code, id) => patchAedesSource(id.split('?')[0], code) }],
  test: {
    server: { deps: { inline: ['aedes'] } },
    include: ['test/**/*.test.ts'],
    // Conformance suites written for node:test run under node --test (package.json "test").
    exclude: [...configDefaults.exclude, 'test/suites/**'],
    // Builds dist/ once: the CLI and crash tests run the bundle as a child process.
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
