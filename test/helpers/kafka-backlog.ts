// A big edge backlog for the Kafka sink's store-and-forward tests, and the check of what arrived
// upstream (read with kcat). Each record's content is a function of its log partition and offset, so
// the record an `origin` header names can be rebuilt and compared field by field.
import { expect } from 'vitest';
import { partitionForKey } from '../../src/broker/partitioner.ts';
import type { RecordInput } from '../../src/format/record-batch.ts';
import type { TestBroker } from './broker.ts';
import type { KcatRecord } from './kcat.ts';

export interface ExpectedRecord {
  key: string | null;
  value: string;
  headers: [string, string][];
}

/** Text only (kcat prints raw bytes): a third unkeyed, some records without headers, some with a repeated header. */
export function backlogRecord(partition: number, offset: number): ExpectedRecord {
  const headers: [string, string][] = [];
  if (offset % 5 !== 0) headers.push(['h', `x${partition}.${offset}`]);
  if (offset % 7 === 1) headers.push(['h', 'again'], ['n', 'y']);
  return { key: offset % 3 === 0 ? null : `k${offset % 101}`, value: `v${partition}.${offset}.${'a'.repeat(offset % 17)}`, headers };
}

/** Produces offsets `from` to `perPartition` - 1 into each of the topic's `partitions`, 1,000 per request. */
export async function produceBacklog(edge: TestBroker, topic: string, partitions: number, perPartition: number, afterEach?: () => void, from = 0): Promise<void> {
  const chunk = 1000;
  for (let base = from; base < perPartition; base += chunk) {
    for (let partition = 0; partition < partitions; partition++) {
      const records: RecordInput[] = [];
      for (let offset = base; offset < Math.min(base + chunk, perPartition); offset++) {
        const r = backlogRecord(partition, offset);
        records.push({
          timestampMs: Date.now(),
          key: r.key === null ? null : Buffer.from(r.key),
          value: Buffer.from(r.value),
          headers: r.headers.map(([key, value]) => ({ key, value: Buffer.from(value) })),
        });
      }
      const result = await edge.running.broker.produce({ topic, partition, records, acks: 1 });
      expect(result.baseOffset).toBe(base);
      afterEach?.();
    }
  }
}

export interface UpstreamCheck {
  /** Records that arrived more than once (same origin), each counted once per extra copy. */
  duplicates: number;
  /** Origins seen more than once, with their copy count. */
  duplicated: Map<string, number>;
}

/**
 * Every record of the backlog arrived, each copy identical to what was produced (key, value, headers
 * in order, then `origin` last), on the partition Kafka's default partitioner picks for its key (an
 * unkeyed one on its log partition modulo the remote count), and the first copies of each log
 * partition's records are in offset order within each remote partition.
 */
export function checkUpstream(got: KcatRecord[], o: { edgeId: string; topic: string; partitions: number; perPartition: number; remotePartitions: number }): UpstreamCheck {
  const seen = new Map<string, number>();
  // remote partition → log partition → first-copy offsets in upstream order
  const firsts = new Map<number, Map<number, number[]>>();
  for (const r of [...got].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
    const last = r.headers.at(-1);
    expect(last?.[0], `the last header of upstream ${r.partition}/${r.offset}`).toBe('origin');
    const origin = last![1];
    const [edgeId, topic, p, off] = origin.split('/');
    expect([edgeId, topic]).toEqual([o.edgeId, o.topic]);
    const partition = Number(p);
    const offset = Number(off);
    expect(partition < o.partitions && offset < o.perPartition, origin).toBe(true);
    const want = backlogRecord(partition, offset);
    if (r.key !== want.key || r.value !== want.value || JSON.stringify(r.headers.slice(0, -1)) !== JSON.stringify(want.headers))
      expect({ origin, key: r.key, value: r.value, headers: r.headers.slice(0, -1) }).toEqual({ origin, ...want });
    const remote = want.key === null ? partition % o.remotePartitions : partitionForKey(Buffer.from(want.key), o.remotePartitions);
    if (r.partition !== remote) expect(r.partition, origin).toBe(remote);
    const copies = (seen.get(origin) ?? 0) + 1;
    seen.set(origin, copies);
    if (copies === 1) {
      let byLog = firsts.get(r.partition);
      if (byLog === undefined) firsts.set(r.partition, (byLog = new Map()));
      let offsets = byLog.get(partition);
      if (offsets === undefined) byLog.set(partition, (offsets = []));
      offsets.push(offset);
    }
  }
  // Not one missing.
  const missing: string[] = [];
  for (let p = 0; p < o.partitions; p++)
    for (let off = 0; off < o.perPartition; off++) if (!seen.has(`${o.edgeId}/${o.topic}/${p}/${off}`)) missing.push(`${p}/${off}`);
  expect(missing.length, `missing upstream, first ones: ${missing.slice(0, 10).join(' ')}`).toBe(0);
  for (const [remote, byLog] of firsts)
    for (const [partition, offsets] of byLog) {
      const outOfOrder = offsets.findIndex((v, i) => i > 0 && v < offsets[i - 1]!);
      expect(outOfOrder, `first copies of log partition ${partition} in remote partition ${remote} out of order at ${outOfOrder}`).toBe(-1);
    }
  const duplicated = new Map([...seen].filter(([, n]) => n > 1));
  return { duplicates: got.length - seen.size, duplicated };
}
