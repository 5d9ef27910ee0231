// Entry of the benchmark worker threads. The bundle is a single file, so a worker runs that same
// file, and src/cli/main.ts hands it here when it is not the main thread. A worker is a load
// generator (`load`) or a consumer of the group-consume benchmark (`consume`, consume-worker.ts).

import { parentPort } from 'node:worker_threads';
import { runConsumeWorker, type ConsumeJob } from './consume-worker.ts';
import { prepareLoad, type LoadResult, type LoadSettings } from './edge-load.ts';

export const BENCH_WORKER = 'tributary-bench-worker';

export type WorkerData = { role: typeof BENCH_WORKER; load: LoadSettings } | { role: typeof BENCH_WORKER; consume: ConsumeJob };

/** Messages to the parent: ready after connecting, then one result or error. */
export type WorkerMessage = { ready: true } | { result: LoadResult } | { error: string };

export function isBenchWorker(data: unknown): data is WorkerData {
  return (data as WorkerData | null)?.role === BENCH_WORKER;
}

/** Connects, says ready, waits for "go", runs the load and reports; then waits to be terminated. */
export async function runBenchWorker(data: WorkerData): Promise<void> {
  const port = parentPort!;
  if ('consume' in data) {
    try {
      await runConsumeWorker(port, data.consume);
    } catch (err) {
      port.postMessage({ error: err instanceof Error ? err.message : String(err) } satisfies WorkerMessage);
    }
    return;
  }
  // The listener stays, keeping the thread alive after its last message: a thread that exits by
  // itself can have its 'exit' reach the parent before that message does.
  const go = new Promise<void>((resolve) => port.on('message', () => resolve()));
  try {
    const run = await prepareLoad(data.load);
    port.postMessage({ ready: true } satisfies WorkerMessage);
    await go;
    port.postMessage({ result: await run() } satisfies WorkerMessage);
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? err.message : String(err) } satisfies WorkerMessage);
  }
}
