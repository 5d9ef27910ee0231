// Store and forward to a central Kafka cluster (a second Tributary through its Kafka listener): the
// uplink is cut (a TCP proxy stopped) while 100,000 records are produced at the edge, then restored.
// What arrived is read from the outside with kcat: every record, in order per log partition, with its
// key, headers and origin.
import { describe, expect, it } from 'vitest';
import type { MirrorState } from '../../../src/mirror/status.ts';
import { startTestBroker } from '../../helpers/broker.ts';
import { checkUpstream, produceBacklog } from '../../helpers/kafka-backlog.ts';
import { startKafkaBroker } from '../../helpers/kafka.ts';
import { hasKcat, kcatReadAll } from '../../helpers/kcat.ts';
import { startTcpProxy } from '../../helpers/tcp-proxy.ts';
import { until } from '../../helpers/upstream.ts';

const PARTITIONS = 4;
const PER_PARTITION = 25_000;
const RECORDS = PARTITIONS * PER_PARTITION;
const REMOTE = 'edge.gw-1.out';
const REMOTE_PARTITIONS = 3;

describe.runIf(hasKcat || process.env.CI)('kafka sink: uplink outage', () => {
  it('has kcat installed (.ci/run installs it)', () => expect(hasKcat).toBe(true));

  it('100,000 records produced while the uplink is down all arrive once it is back: keys, headers, origin, order per log partition', async () => {
    const central = await startKafkaBroker();
    central.running.broker.createTopic({ name: REMOTE, partitions: REMOTE_PARTITIONS });
    const link = await startTcpProxy({ targetPort: central.kafkaPort });
    await link.stop();
    const edge = await startTestBroker({
      edgeId: 'gw-1',
      mirrors: [{ name: 'central', sink: 'kafka', brokers: [`127.0.0.1:${link.port}`], topics: ['out'], backoff: { initialMs: 50, maxMs: 500 } }],
    });
    edge.running.broker.createTopic({ name: 'out', partitions: PARTITIONS });
    const mirror = () => edge.running.mirrors!.status('central');
    await until(() => mirror().state === 'backing-off', 'the mirror to back off');
    expect(mirror().lastError?.code).toBe('UPSTREAM_UNAVAILABLE');

    const whileDown = new Set<MirrorState>();
    await produceBacklog(edge, 'out', PARTITIONS, PER_PARTITION, () => whileDown.add(mirror().state));
    expect(whileDown.has('connected')).toBe(false);
    expect(mirror()).toMatchObject({ backlogRecords: RECORDS, shippedRecords: 0 });

    await link.start();
    await until(() => mirror().backlogRecords === 0, 'the backlog to drain', 120_000);
    const status = mirror();
    expect(status.state).toBe('connected');
    expect(status.shippedRecords).toBeGreaterThanOrEqual(RECORDS);
    expect(status.partitions.map((p) => p.cursor)).toEqual(Array(PARTITIONS).fill(PER_PARTITION));

    const got = await kcatReadAll(central.kafkaPort, REMOTE);
    const { duplicates } = checkUpstream(got, { edgeId: 'gw-1', topic: 'out', partitions: PARTITIONS, perPartition: PER_PARTITION, remotePartitions: REMOTE_PARTITIONS });
    // One session drains it all: a copy would only come from a session ended by the cluster (resent).
    expect(duplicates).toBeLessThanOrEqual(status.resentRecords);
    console.log(`uplink outage: ${got.length} records upstream, ${duplicates} duplicates, ${status.resentRecords} resent`);
  }, 180_000);
});
