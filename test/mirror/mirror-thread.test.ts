// The mirror thread (src/mirror/thread/mirror-thread.ts, mirror-worker.ts): a thread that dies is started
// again and its mirrors resume from their persisted cursors; a graceful stop ends the thread (exact
// cursors written, its LMDB handle closed) before the store closes; a busy ingest on the main loop
// does not stop the mirror from shipping. Real broker, real LMDB, real MQTT 5 upstream on 127.0.0.1.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { producer, startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { rec, silentLogger } from '../helpers/temp.ts';
import { startUpstream, until, type UpstreamPublish } from '../helpers/upstream.ts';
import { openLmdb } from '../../src/storage/lmdb-env.ts';
import { mirrorReader } from '../../src/storage/offsets-db.ts';
import { limits } from '../../src/limits.ts';
import type { TributaryError } from '../../src/errors.ts';

const PARTITIONS = 2;

async function edgeWithMirror(upstreamPort: number, logger = silentLogger): Promise<TestBroker> {
  const edge = await startTestBroker(
    {
      edgeId: 'gw-1',
      mirrors: [{ name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${upstreamPort}`, topics: ['telemetry'], windowMax: 10, backoff: { initialMs: 20, maxMs: 100 } }],
    },
    logger,
  );
  edge.running.broker.createTopic({ name: 'telemetry', partitions: PARTITIONS });
  return edge;
}

async function produceBacklog(edge: TestBroker, perPartition: number): Promise<void> {
  for (let partition = 0; partition < PARTITIONS; partition++)
    for (let from = 0; from < perPartition; from += 500) {
      const records = Array.from({ length: Math.min(500, perPartition - from) }, (_, i) => rec(`p${partition}-${from + i}`));
      await edge.running.broker.produce({ topic: 'telemetry', partition, records, acks: 1 });
    }
}

function distinct(received: UpstreamPublish[]): number {
  return new Set(received.map((r) => `${r.origin.partition}/${r.origin.offset}`)).size;
}

/** Per partition, first arrivals are exactly 0..perPartition-1 in order (resends may repeat earlier offsets). */
function expectNoGap(received: UpstreamPublish[], perPartition: number): number {
  let duplicates = 0;
  for (let partition = 0; partition < PARTITIONS; partition++) {
    let high = -1;
    for (const r of received.filter((x) => x.origin.partition === partition)) {
      expect(r.payload).toBe(`p${partition}-${r.origin.offset}`);
      if (r.origin.offset > high) {
        expect(r.origin.offset).toBe(high + 1);
        high = r.origin.offset;
      } else duplicates++;
    }
    expect(high).toBe(perPartition - 1);
  }
  return duplicates;
}

describe('mirror thread', () => {
  it('is started again after it died mid-drain, and ships every record from the persisted cursors, in order', async () => {
    const up = await startUpstream({ ackDelayMs: 1 });
    const lines: { level: number; msg: string; exitCode?: number; restarts?: number }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const edge = await edgeWithMirror(up.port, logger);
    const perPartition = 3000;
    await produceBacklog(edge, perPartition);
    await until(() => distinct(up.received) >= 500, 'part of the backlog upstream');
    const mirrors = edge.running.mirrors!;
    const thread = mirrors.worker!;
    // As an uncaught error would: the thread ends mid-drain, with publishes in flight.
    await thread.terminate();
    await until(() => mirrors.worker !== null && mirrors.worker !== thread, 'a new mirror thread');
    await until(() => distinct(up.received) >= perPartition * PARTITIONS, 'every record upstream', 30_000);
    const duplicates = expectNoGap(up.received, perPartition);
    await until(async () => (await mirrors.status('cloud')).backlogRecords === 0, 'an empty backlog');
    const status = await mirrors.status('cloud');
    expect(status.threadRestarts).toBe(1);
    expect(status.resentRecords).toBeGreaterThanOrEqual(duplicates);
    const died = lines.find((l) => l.msg.startsWith('mirror thread died'));
    expect(died).toMatchObject({ level: 50, exitCode: 1, restarts: 1 });
  });

  it('while a dead thread waits to be started again, requests beyond the bound are refused with THROTTLED, the rest answered', async () => {
    const up = await startUpstream();
    const edge = await edgeWithMirror(up.port);
    const mirrors = edge.running.mirrors!;
    const thread = mirrors.worker!;
    const asked: Promise<unknown>[] = [];
    // Registered after the broker's own exit listener: the thread is gone and its successor not started yet.
    thread.once('exit', () => {
      for (let i = 0; i < limits.mirrorThreadRequestsMax + 10; i++) asked.push(mirrors.status('cloud').then((s) => s.name, (err: unknown) => (err as TributaryError).codeName));
    });
    await thread.terminate();
    await until(() => asked.length > 0, 'the requests made');
    const outcomes = await Promise.all(asked);
    expect(outcomes.filter((o) => o === 'cloud')).toHaveLength(limits.mirrorThreadRequestsMax);
    expect(outcomes.filter((o) => o === 'THROTTLED')).toHaveLength(10);
    expect((await mirrors.status('cloud')).threadRestarts).toBe(1);
  });

  it('a graceful stop ends the thread after it wrote the exact cursors, before the store closes', async () => {
    const up = await startUpstream({ ackDelayMs: 1 });
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const edge = await edgeWithMirror(up.port, logger);
    await produceBacklog(edge, 2000);
    await until(() => distinct(up.received) >= 300, 'part of the backlog upstream');
    const thread = edge.running.mirrors!.worker!;
    let exitCode: number | null = null;
    thread.once('exit', (code: number) => (exitCode = code));
    const topicId = edge.running.broker.findTopic('telemetry')!.id;
    await edge.stop();
    // The thread had ended, by itself (exit code 0), when the broker's close returned: it stopped
    // before the store closed, never after.
    expect(exitCode).toBe(0);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    const h = openLmdb(edge.dataDir, 64 * 1024 * 1024);
    try {
      for (let partition = 0; partition < PARTITIONS; partition++) {
        const sent = up.received.filter((r) => r.origin.partition === partition).map((r) => r.origin.offset);
        const [cursor, , , high] = h.offsets.get([mirrorReader('cloud'), topicId, partition])!;
        // The exact highest publish, not the write-ahead reservation: only a stop that ran in full writes it.
        expect(high).toBe(Math.max(...sent));
        expect(cursor).toBeGreaterThan(0);
        expect(cursor).toBeLessThanOrEqual(high + 1);
      }
    } finally {
      await h.env.close();
    }
  });

  it('keeps shipping while an edge producer ingests as fast as it can', async () => {
    const up = await startUpstream();
    const edge = await edgeWithMirror(up.port);
    const perPartition = 5000;
    await produceBacklog(edge, perPartition);
    const p = await producer(edge, { acks: 1 });
    const before = distinct(up.received);
    // Bounded: at most 200,000 records, stopping as soon as the mirror shipped 2,000 more.
    let sent = 0;
    let shippedWhileProducing = false;
    while (sent < 200_000) {
      await Promise.all(Array.from({ length: 500 }, (_, i) => p.send({ topic: 'other', value: `v${sent + i}` })));
      sent += 500;
      if (distinct(up.received) >= before + 2000) {
        shippedWhileProducing = true;
        break;
      }
    }
    expect(shippedWhileProducing).toBe(true);
    await until(() => distinct(up.received) >= perPartition * PARTITIONS, 'the whole backlog upstream', 30_000);
  });
});
