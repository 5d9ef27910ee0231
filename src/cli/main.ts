// Entry point of the bundle (dist/tributary.mjs). The benchmark's load generators are worker
// threads, and a worker of a single-file bundle can only run that same file: such a thread runs
// its generator instead of the command line.

import { workerData } from 'node:worker_threads';
import { isBenchWorker, runBenchWorker } from '../bench/worker.ts';

if (isBenchWorker(workerData)) {
  await runBenchWorker(workerData);
} else {
  const { runCli } = await import('./program.ts');
  await runCli(process.argv);
}
