// The long outage from the issue: the uplink stays down while 100,000 records are ingested at full
// speed, then returns; every record must arrive, in order per partition, exactly once (no crash, so
// no duplicates). Runs against the in-process MQTT 5 upstream and against Debian's mosquitto behind
// a TCP proxy that plays the uplink (.ci/run installs mosquitto; without it under CI the test fails).
import { describe, expect, it } from 'vitest';
import { startTestBroker } from '../helpers/broker.ts';
import { freePort } from '../helpers/child-broker.ts';
import { mosquittoBinary, startMosquittoUpstream } from '../helpers/mosquitto-upstream.ts';
import { rec } from '../helpers/temp.ts';
import { startUpstream, until, type Upstream } from '../helpers/upstream.ts';

const RECORDS = 100_000;
const PARTITIONS = 4;
const BATCH = 500;

const upstreams: [string, (port: number) => Promise<Upstream>][] = [['in-process MQTT 5 upstream', (port) => startUpstream({ port })]];
if (mosquittoBinary() !== null || process.env.CI) upstreams.push(['mosquitto', (port) => startMosquittoUpstream({ port })]);

describe.each(upstreams)('a 100,000-record outage, upstream %s', (_name, startUp) => {
  it('ships every record in order per partition once the uplink returns', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const edge = await startTestBroker({
      edgeId: 'gw-1',
      mirrors: [{ name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${port}`, topics: ['telemetry'], windowMax: 200, backoff: { initialMs: 50, maxMs: 200 } }],
    });
    const { broker } = edge.running;
    broker.createTopic({ name: 'telemetry', partitions: PARTITIONS });
    const perPartition = RECORDS / PARTITIONS;
    for (let from = 0; from < perPartition; from += BATCH)
      await Promise.all(
        Array.from({ length: PARTITIONS }, (_, partition) =>
          broker.produce({ topic: 'telemetry', partition, records: Array.from({ length: BATCH }, (_, i) => rec(`p${partition}-${from + i}`)), acks: 1 }),
        ),
      );
    const mirrors = edge.running.mirrors!;
    expect((await mirrors.status('cloud'))).toMatchObject({ backlogRecords: RECORDS, shippedRecords: 0, state: expect.stringMatching(/backing-off|connecting/) });
    expect((await mirrors.status('cloud')).oldestUnshippedAgeMs).toBeGreaterThanOrEqual(0);

    const up = await startUp(port);
    await until(() => up.received.length >= RECORDS, `${RECORDS} records upstream (have ${up.received.length})`, 100_000);
    const next = new Array<number>(PARTITIONS).fill(0);
    for (const r of up.received) {
      expect(r.origin.offset).toBe(next[r.origin.partition]);
      expect(r.payload).toBe(`p${r.origin.partition}-${r.origin.offset}`);
      next[r.origin.partition]!++;
    }
    expect(next).toEqual(new Array(PARTITIONS).fill(perPartition));
    await until(async () => (await mirrors.status('cloud')).backlogRecords === 0, 'an empty backlog');
    expect((await mirrors.status('cloud'))).toMatchObject({ shippedRecords: RECORDS, resentRecords: 0, oldestUnshippedAgeMs: null, backlogBytes: 0 });
  });
});
