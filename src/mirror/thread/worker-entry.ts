// Entry of dist/mirror-thread.mjs, the mirror thread's own bundle (mirror-thread.ts starts it).
import { workerData } from 'node:worker_threads';
import { runMirrorWorker } from './mirror-worker.ts';

await runMirrorWorker(workerData);
