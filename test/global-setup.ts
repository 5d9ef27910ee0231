import { execFileSync } from 'node:child_process';

// Builds dist/ once for the tests that run the bundle as a child process (CLI, kill -9). A failed
// build is reported here and fails exactly those tests, not unrelated ones.
export default function setup(): void {
  try {
    execFileSync(process.execPath, ['build.mjs'], { stdio: 'inherit' });
  } catch {
    console.error('global setup: node build.mjs failed; tests that run dist/tributary.mjs will fail');
  }
}
