import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
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
