// Entry point of the bundle (dist/tributary.mjs). The benchmark's load generators are worker threads
// that run this same file: such a thread runs its generator instead of the command line. (The mirror
// thread has a bundle of its own, dist/mirror-thread.mjs.)

import { workerData } from 'node:worker_threads';
import { isBenchWorker, runBenchWorker } from '../bench/worker.ts';

if (isBenchWorker(workerData)) {
  await runBenchWorker(workerData);
} else {
  const { runCli } = await import('./program.ts');
  await runCli(process.argv);
}
