// In-process storage figures: Broker.produce → LogStore group transaction → LMDB, and LogStore.read of
// what was written. No sockets, no codec: the engine's ceiling, which the edge figures are read
// against.

import { randomBytes } from 'node:crypto';
import { Broker, type AcksLevel } from '../broker/broker.ts';
import { defaultConfig } from '../config/load.ts';
import { readBatchInfo, type RecordInput } from '../format/record-batch.ts';
import { createLogger } from '../observability/logger.ts';
import { LogStore } from '../storage/log-store.ts';
import { fmtInt, fmtMB, spread, spreadText, type BenchResult } from './results.ts';
import { withTempDir } from './temp-dir.ts';

export interface AppendSettings {
  records: number;
  recordsPerBatch: number;
  valueBytes: number;
  partitions: number;
  inflightMax: number;
  /** Runs per acks level, each on a fresh data dir; the median is reported. */
  repeats: number;
}

export const appendTarget = { metric: 'recordsPerSec', op: '>=', value: 1_000_000, label: '≥ 1,000,000 rec/s' } as const;

const TOPIC = 'bench-append';
const READ_BYTES_MAX = 1024 * 1024;
const WARMUP_RECORDS = 200_000;

/**
 * Appends at acks=1 and acks=all, and reads back the acks=1 data; `want` picks what is reported
 * (reading alone still writes the acks=1 data first). Repeats alternate the acks levels, so drift in
 * the machine's load does not favour one of them.
 */
export async function runStorage(s: AppendSettings, want: { append: boolean; read: boolean }): Promise<BenchResult[]> {
  // The first run of a process pays for JIT compilation.
  await onFreshBroker(s, (broker) => appendRate(broker, { ...s, records: Math.min(s.records, WARMUP_RECORDS) }, 1));
  const levels: AcksLevel[] = want.append ? [1, 'all'] : [1];
  const rates = new Map<AcksLevel, number[]>(levels.map((acks) => [acks, []]));
  const readRates: number[] = [];
  let readBytesPerRecord = 0;
  for (let run = 0; run < s.repeats; run++) {
    for (const acks of levels) {
      await onFreshBroker(s, async (broker) => {
        rates.get(acks)!.push(await appendRate(broker, s, acks));
        if (want.read && acks === 1) {
          const read = readRate(broker, s);
          readRates.push(read.recordsPerSec);
          readBytesPerRecord = read.bytesPerRecord;
        }
      });
    }
  }
  const results: BenchResult[] = [];
  if (want.append) for (const acks of levels) results.push(appendResult(s, acks, rates.get(acks)!));
  if (want.read) results.push(readResult(s, readRates, readBytesPerRecord));
  return results;
}

/** Runs `fn` on a broker over a fresh temp data dir holding the benchmark topic. */
async function onFreshBroker(s: AppendSettings, fn: (broker: Broker) => Promise<unknown>): Promise<void> {
  await withTempDir('append', async (dir) => {
    const config = defaultConfig();
    const logger = await createLogger({ level: 'silent', pretty: false });
    const store = new LogStore({ ...config.storage, dataDir: dir, logger });
    const broker = new Broker(
      store,
      { ...config.topics, retentionCheckIntervalMs: config.retention.checkIntervalMs, retentionBatchesPerStep: config.retention.batchesPerStep },
      logger,
    );
    try {
      broker.createTopic({ name: TOPIC, partitions: s.partitions, retentionMs: -1, retentionBytes: -1 });
      await fn(broker);
    } finally {
      await broker.close();
    }
  });
}

/** Appends s.records in batches with up to s.inflightMax produce calls pending; returns records/s. */
async function appendRate(broker: Broker, s: AppendSettings, acks: AcksLevel): Promise<number> {
  const value = randomBytes(s.valueBytes);
  const now = Date.now();
  const records: RecordInput[] = Array.from({ length: s.recordsPerBatch }, () => ({ timestampMs: now, key: null, value, headers: [] }));
  const batches = Math.ceil(s.records / s.recordsPerBatch);
  const started = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    let sent = 0;
    let done = 0;
    let inflight = 0;
    const pump = (): void => {
      while (inflight < s.inflightMax && sent < batches) {
        inflight++;
        broker.produce({ topic: TOPIC, partition: sent++ % s.partitions, records, acks }).then(() => {
          inflight--;
          if (++done === batches) resolve();
          else pump();
        }, reject);
      }
    };
    pump();
  });
  return (batches * s.recordsPerBatch) / (Number(process.hrtime.bigint() - started) / 1e9);
}

/** Reads every partition from offset 0 to its end, as a fetch would (CRC checked, copied out). */
function readRate(broker: Broker, s: AppendSettings): { recordsPerSec: number; bytesPerRecord: number } {
  const topic = broker.requireTopic(TOPIC);
  let records = 0;
  let bytes = 0;
  const started = process.hrtime.bigint();
  for (let p = 0; p < s.partitions; p++) {
    let offset = 0;
    for (;;) {
      const result = broker.peek(topic, p, offset, READ_BYTES_MAX);
      if (result.batches.length === 0) break;
      for (const batch of result.batches) {
        const info = readBatchInfo(batch)!;
        records += info.recordCount;
        offset = info.baseOffset + info.lastOffsetDelta + 1;
      }
      bytes += result.bytes;
    }
  }
  return { recordsPerSec: records / (Number(process.hrtime.bigint() - started) / 1e9), bytesPerRecord: bytes / records };
}

function appendResult(s: AppendSettings, acks: AcksLevel, rates: number[]): BenchResult {
  const r = spread(rates);
  return {
    bench: 'append',
    case: `acks=${acks}, ${fmtInt(s.records)} × ${s.valueBytes} B, ${s.recordsPerBatch}/batch, ${s.partitions} partitions, ${s.inflightMax} in flight`,
    metrics: { recordsPerSec: r.median, recordsPerSecMin: r.min, recordsPerSecMax: r.max, runs: r.runs, mbPerSec: (r.median * s.valueBytes) / 1e6 },
    summary: `${spreadText(r, 'rec/s')}, ${fmtMB(r.median * s.valueBytes)}/s of values`,
    target: acks === 1 ? appendTarget : undefined,
  };
}

function readResult(s: AppendSettings, rates: number[], bytesPerRecord: number): BenchResult {
  const r = spread(rates);
  return {
    bench: 'read',
    case: `${fmtInt(s.records)} records from ${s.partitions} partitions, ${READ_BYTES_MAX / 1024} KiB reads, CRC checked`,
    metrics: { recordsPerSec: r.median, recordsPerSecMin: r.min, recordsPerSecMax: r.max, runs: r.runs, mbPerSec: (r.median * bytesPerRecord) / 1e6 },
    summary: `${spreadText(r, 'rec/s')}, ${fmtMB(r.median * bytesPerRecord)}/s of batches`,
  };
}
