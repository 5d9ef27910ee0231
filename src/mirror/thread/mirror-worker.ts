// The mirror thread: every configured mirror runs here, on a loop of its own, so shipping a backlog
// never competes with ingest for the main loop. It opens the data dir's LMDB environment (lmdb-js
// shares one environment between the threads of a process), reads the log directly, and writes its
// own cursors; the main thread tells it about appends, topic changes, retention and fail-stop, and
// asks it for status and pause/resume (thread-messages.ts).

import { parentPort } from 'node:worker_threads';
import pino from 'pino';
import { asTributaryError } from '../../errors.ts';
import { startIdleHeapTrim } from '../../runtime/idle-heap-trim.ts';
import { openLmdb } from '../../storage/lmdb-env.ts';
import { Mirrors } from '../mirrors.ts';
import type { FromMirrorThread, MirrorAnswer, MirrorOp, MirrorWorkerData, ToMirrorThread } from './thread-messages.ts';
import { ThreadLog } from './thread-log.ts';
import { ThreadStore } from './thread-store.ts';

export async function runMirrorWorker(data: MirrorWorkerData): Promise<void> {
  const port = parentPort!;
  const post = (m: FromMirrorThread) => port.postMessage(m);
  const logger = pino({ level: data.logLevel, base: undefined }, { write: (line: string) => post({ type: 'log', line }) });
  const h = openLmdb(data.dataDir, data.mapSizeBytes);
  const store = new ThreadStore(h, {
    dataDir: data.dataDir,
    minFreeDiskBytes: data.minFreeDiskBytes,
    maxMapSizeBytes: data.maxMapSizeBytes,
    onFailStop: (message, what) => post({ type: 'failStop', message, what }),
  });
  const log = new ThreadLog(h, store, logger);
  let mirrors: Mirrors;
  try {
    mirrors = await Mirrors.create(data.configs, data.edgeId, log, logger, { applyStartFrom: !data.restarted });
  } catch (err) {
    const e = asTributaryError(err);
    post({ type: 'startFailed', error: { code: e.codeName, message: e.message } });
    await h.env.close();
    process.exit(1);
  }

  const answer = (m: MirrorOp): MirrorAnswer => {
    switch (m.op) {
      case 'statuses':
        return mirrors.statuses();
      case 'pause':
        return mirrors.pause(m.name);
      case 'resume':
        return mirrors.resume(m.name);
      case 'retry':
        return mirrors.retry(m.name);
      case 'reset':
        return mirrors.reset(m.name, m.request);
      case 'status':
        return mirrors.status(m.name);
    }
  };

  // A drained backlog leaves this thread's young generation grown, as a load does the main thread's.
  const heapTrim = startIdleHeapTrim({ onTrim: (trim) => logger.debug({ ...trim, thread: 'mirror' }, 'idle: full GC to shrink the young generation') });

  const stop = async () => {
    heapTrim.stop();
    await mirrors.stop();
    log.close();
    store.close();
    // Closed once by this thread; the main thread closes its own handle after this thread ended.
    await h.env.close();
    process.exit(0);
  };

  port.on('message', (m: ToMirrorThread) => {
    // Whatever the main thread committed before it posted this is what the mirrors read now.
    log.fresh();
    switch (m.type) {
      case 'start':
        return mirrors.start();
      case 'appended':
        for (const [topicId, partition] of m.partitions) log.appended(topicId, partition);
        return;
      case 'topicsChanged':
        return mirrors.topicsChanged();
      case 'logStartMoved':
        return mirrors.logStartMoved(m.topicId, m.partition, m.previousStart, m.newStart);
      case 'storageFailed':
        store.failedElsewhere(m.message);
        return log.wakeAll();
      case 'request':
        try {
          return post({ type: 'response', id: m.id, result: answer(m) });
        } catch (err) {
          const e = asTributaryError(err);
          return post({ type: 'response', id: m.id, error: { code: e.codeName, message: e.message } });
        }
      case 'stop':
        void stop();
    }
  });
  post({ type: 'ready' });
}
