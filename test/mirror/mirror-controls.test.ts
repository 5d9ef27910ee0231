// Mirror controls against a real broker (in this process, its mirror thread included) and Mosquitto
// as the upstream (test/helpers/mosquitto-upstream.ts; .ci/run installs it, and a missing binary fails
// these tests): where a new mirror starts (startFrom), retry, reset, per-partition lag in /metrics.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { startMosquittoUpstream, type MosquittoUpstream } from '../helpers/mosquitto-upstream.ts';
import { rec } from '../helpers/temp.ts';
import { until, type UpstreamPublish } from '../helpers/upstream.ts';

const T0 = Date.UTC(2026, 11, 1, 8);
const HOUR = 3_600_000;

function mirror(up: MosquittoUpstream, name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, sink: 'mqtt', url: `mqtt://127.0.0.1:${up.port}`, topics: ['telemetry'], remoteTopic: `${name}/{topic}`, backoff: { initialMs: 50, maxMs: 200 }, ...extra };
}

/** partition/offset of what reached the upstream under `name/`, sorted, each once. */
function shipped(up: MosquittoUpstream, name: string): string[] {
  const mine = up.received.filter((r: UpstreamPublish) => r.topic.startsWith(`${name}/`));
  return [...new Set(mine.map((r) => `${r.origin.partition}/${r.origin.offset}`))].sort();
}

/** Two partitions of `telemetry`, each with 3 records an hour before T0 and 2 from T0 on, each in its own batch. */
async function history(edge: TestBroker): Promise<void> {
  const { broker } = edge.running;
  broker.createTopic({ name: 'telemetry', partitions: 2 });
  for (let partition = 0; partition < 2; partition++) {
    for (let i = 0; i < 3; i++) await broker.produce({ topic: 'telemetry', partition, records: [rec(`old-${i}`, null, T0 - HOUR + i)], acks: 1 });
    for (let i = 0; i < 2; i++) await broker.produce({ topic: 'telemetry', partition, records: [rec(`new-${i}`, null, T0 + i)], acks: 1 });
  }
}

describe('startFrom: where a new mirror starts', () => {
  it('earliest ships the retained history, latest only what comes after, a time from the first record at or after it; partitions that appear later start at their first record', async () => {
    const up = await startMosquittoUpstream();
    const before = await startTestBroker({ edgeId: 'gw-1' });
    await history(before);
    await before.stop();

    const edge = await startTestBroker({
      dataDir: before.dataDir,
      edgeId: 'gw-1',
      mirrors: [
        mirror(up, 'all'),
        mirror(up, 'live', { startFrom: 'latest' }),
        // 09:00+01:00 is T0.
        mirror(up, 'since', { startFrom: '2026-12-01T09:00:00+01:00' }),
        mirror(up, 'since-ms', { startFrom: T0 + 1 }),
      ],
    });
    const { broker } = edge.running;
    await until(() => shipped(up, 'all').length === 10 && shipped(up, 'since').length === 4 && shipped(up, 'since-ms').length === 2, 'the history upstream');
    expect(shipped(up, 'since')).toEqual(['0/3', '0/4', '1/3', '1/4']);
    expect(shipped(up, 'since-ms')).toEqual(['0/4', '1/4']);
    const live = await edge.running.mirrors!.status('live');
    expect(live.partitions.map((p) => [p.partition, p.cursor, p.backlogRecords])).toEqual([
      [0, 5, 0],
      [1, 5, 0],
    ]);
    expect(shipped(up, 'live')).toEqual([]);

    // New records: every mirror ships them.
    for (let partition = 0; partition < 2; partition++) await broker.produce({ topic: 'telemetry', partition, records: [rec('after')], acks: 1 });
    await until(() => shipped(up, 'live').length === 2 && shipped(up, 'all').length === 12, 'the new records upstream');
    expect(shipped(up, 'live')).toEqual(['0/5', '1/5']);

    // A partition added while the mirror runs ships from its first record, also with latest.
    broker.growTopic('telemetry', 3);
    await broker.produce({ topic: 'telemetry', partition: 2, records: [rec('grown-0'), rec('grown-1')], acks: 1 });
    await until(() => shipped(up, 'live').length === 4, 'the grown partition upstream');

    // After a restart the cursors placed stay where they were: nothing older is shipped.
    await edge.stop();
    await edge.start();
    await edge.running.broker.produce({ topic: 'telemetry', partition: 0, records: [rec('after restart')], acks: 1 });
    await until(() => shipped(up, 'live').length === 5, 'the record after the restart upstream');
    expect(shipped(up, 'live')).toEqual(['0/5', '0/6', '1/5', '2/0', '2/1']);
    expect(shipped(up, 'since')).toEqual(['0/3', '0/4', '0/5', '0/6', '1/3', '1/4', '1/5', '2/0', '2/1']);
  });

  it('a time in the future starts at the log end', async () => {
    const up = await startMosquittoUpstream();
    const before = await startTestBroker({ edgeId: 'gw-1' });
    await history(before);
    await before.stop();
    const edge = await startTestBroker({ dataDir: before.dataDir, edgeId: 'gw-1', mirrors: [mirror(up, 'future', { startFrom: '2099-01-01T00:00:00Z' })] });
    const s = await edge.running.mirrors!.status('future');
    expect(s.partitions.map((p) => p.cursor)).toEqual([5, 5]);
    expect(s.backlogRecords).toBe(0);
  });

  it.each([
    ['yesterday', '"yesterday"'],
    ['2026-02-30T00:00:00', '"2026-02-30T00:00:00"'],
    ['2026-12-01', '"2026-12-01"'],
    [-5, '-5'],
    [1.5, '1.5'],
  ])('refuses startFrom %s, naming the key and what it expects', (value, shown) => {
    expect(() => parseConfig({ mirrors: [{ name: 'cloud', sink: 'mqtt', url: 'mqtt://h', topics: ['t'], startFrom: value }] }, 'test')).toThrow(
      `test: mirrors.0.startFrom (mirror cloud): got ${shown}, expected earliest, latest, a date-time YYYY-MM-DDTHH:mm:SS.sss (UTC unless it ends with Z, +hh:mm or -hh:mm) or Unix epoch milliseconds`,
    );
  });

  it('defaults to earliest and takes epoch milliseconds as a number or a string', () => {
    const parse = (startFrom?: unknown) => parseConfig({ mirrors: [{ name: 'cloud', sink: 'mqtt', url: 'mqtt://h', topics: ['t'], ...(startFrom === undefined ? {} : { startFrom }) }] }, 'test').mirrors[0]!.startFrom;
    expect(parse()).toBe('earliest');
    expect(parse('latest')).toBe('latest');
    expect(parse(String(T0))).toBe(T0);
    expect(parse('2026-12-01T08:00:00')).toBe(T0);
  });
});
