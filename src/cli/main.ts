// Entry point of the bundle (dist/tributary.mjs). The benchmark's load generators and the mirror
// thread are worker threads, and a worker of a single-file bundle can only run that same file: such
// a thread runs its generator or the mirrors instead of the command line.

import { workerData } from 'node:worker_threads';
import { isBenchWorker, runBenchWorker } from '../bench/worker.ts';
import { isMirrorWorker } from '../mirror/thread/thread-messages.ts';

if (isBenchWorker(workerData)) {
  await runBenchWorker(workerData);
} else if (isMirrorWorker(workerData)) {
  await (await import('../mirror/thread/mirror-worker.ts')).runMirrorWorker(workerData);
} else {
  const { runCli } = await import('./program.ts');
  await runCli(process.argv);
}
