// Store and forward to a central Kafka cluster (a second Tributary through its Kafka listener): the
// uplink is cut (a TCP proxy stopped) while 100,000 records are produced at the edge, then restored.
// What arrived is read from the outside with kcat: every record, in order per log partition, with its
// key, headers and origin. And answers lost inside one session: the producer's retries carry the same
// sequence numbers, so the cluster stores nothing twice.
import { Transform, type Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { MirrorState } from '../../../src/mirror/status.ts';
import { startTestBroker } from '../../helpers/broker.ts';
import { checkUpstream, produceBacklog } from '../../helpers/kafka-backlog.ts';
import { freePort } from '../../helpers/child-broker.ts';
import { startKafkaBroker, type KafkaTestBroker } from '../../helpers/kafka.ts';
import { hasKcat, kcatReadAll } from '../../helpers/kcat.ts';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.ts';
import { until } from '../../helpers/upstream.ts';

const PARTITIONS = 4;
const PER_PARTITION = 25_000;
const RECORDS = PARTITIONS * PER_PARTITION;
const REMOTE = 'edge.gw-1.out';
const REMOTE_PARTITIONS = 3;

/**
 * The central with every connection through a TCP proxy: the cluster advertises the proxy's port in
 * Metadata, so the producer's own connections go through it too, not only the bootstrap one.
 */
async function centralBehindProxy(downstream?: () => Duplex): Promise<{ central: KafkaTestBroker; link: TcpProxy }> {
  const proxyPort = await freePort();
  const central = await startKafkaBroker({ listeners: { kafka: { advertisedPort: proxyPort } } });
  const link = await startTcpProxy({ targetPort: central.kafkaPort, port: proxyPort, ...(downstream ? { downstream } : {}) });
  return { central, link };
}

describe.runIf(hasKcat || process.env.CI)('kafka sink: uplink outage', () => {
  it('has kcat installed (.ci/run installs it)', () => expect(hasKcat).toBe(true));

  it('100,000 records produced while the uplink is down all arrive once it is back: keys, headers, origin, order per log partition', async () => {
    const { central, link } = await centralBehindProxy();
    central.running.broker.createTopic({ name: REMOTE, partitions: REMOTE_PARTITIONS });
    await link.stop();
    const edge = await startTestBroker({
      edgeId: 'gw-1',
      mirrors: [{ name: 'central', sink: 'kafka', brokers: [`127.0.0.1:${link.port}`], topics: ['out'], backoff: { initialMs: 50, maxMs: 500 } }],
    });
    edge.running.broker.createTopic({ name: 'out', partitions: PARTITIONS });
    const mirror = async () => (await edge.running.mirrors!.status('central'));
    await until(async () => (await mirror()).state === 'backing-off', 'the mirror to back off');
    expect((await mirror()).lastError?.code).toBe('UPSTREAM_UNAVAILABLE');

    const whileDown = new Set<MirrorState>();
    await produceBacklog(edge, 'out', PARTITIONS, PER_PARTITION, async () => whileDown.add((await mirror()).state));
    expect(whileDown.has('connected')).toBe(false);
    expect((await mirror())).toMatchObject({ backlogRecords: RECORDS, shippedRecords: 0 });

    await link.start();
    await until(async () => (await mirror()).backlogRecords === 0, 'the backlog to drain', 120_000);
    const status = (await mirror());
    expect(status.state).toBe('connected');
    expect(status.shippedRecords).toBeGreaterThanOrEqual(RECORDS);
    expect(status.partitions.map((p) => p.cursor)).toEqual(Array(PARTITIONS).fill(PER_PARTITION));

    const got = await kcatReadAll(central.kafkaPort, REMOTE);
    const { duplicates } = checkUpstream(got, { edgeId: 'gw-1', topic: 'out', partitions: PARTITIONS, perPartition: PER_PARTITION, remotePartitions: REMOTE_PARTITIONS });
    // One session drains it all: a copy would only come from a session ended by the cluster (resent).
    expect(duplicates).toBeLessThanOrEqual(status.resentRecords);
    console.log(`uplink outage: ${got.length} records upstream, ${duplicates} duplicates, ${status.resentRecords} resent`);
  }, 180_000);

  it('answers lost inside one session: the sink sends the same batch again, the cluster keeps one copy, the edge resends nothing', async () => {
    const { central, link } = await centralBehindProxy(() => answerDropper());
    central.running.broker.createTopic({ name: REMOTE, partitions: 1 });
    // Drops the next `drop` whole response frames (size-prefixed) from the cluster to the edge, as a
    // link that loses answers but keeps the connection would.
    let drop = 0;
    let dropped = 0;
    const edge = await startTestBroker({
      edgeId: 'gw-1',
      // The client's request timeout is a quarter of ackTimeoutMs (2 s); the sink sends a timed-out batch again, twice at most.
      mirrors: [{ name: 'central', sink: 'kafka', brokers: [`127.0.0.1:${link.port}`], topics: ['out'], ackTimeoutMs: 8000, backoff: { initialMs: 50, maxMs: 500 } }],
    });
    edge.running.broker.createTopic({ name: 'out', partitions: 1 });
    const mirror = async () => (await edge.running.mirrors!.status('central'));
    // First half through a clean link: the connection and the remote topic's metadata are in place.
    await produceBacklog(edge, 'out', 1, 3000);
    await until(async () => (await mirror()).backlogRecords === 0, 'the first half to drain');
    const before = { ...central.running.broker.counters };

    // The answers to the next produce request and to its first resend are lost; the second resend's arrives.
    drop = 2;
    await produceBacklog(edge, 'out', 1, 6000, undefined, 3000);
    await until(async () => (await mirror()).backlogRecords === 0, 'the second half to drain', 60_000);
    expect(dropped).toBe(2);
    const status = (await mirror());
    expect(status).toMatchObject({ state: 'connected', resentRecords: 0, shippedRecords: 6000 });
    const counters = central.running.broker.counters;
    // The lost answers' requests came again and were answered from the stored batch, not stored twice.
    expect(counters.recordsIn - before.recordsIn).toBe(3000);
    expect(counters.produceRequests - before.produceRequests).toBeGreaterThanOrEqual(3);

    const got = await kcatReadAll(central.kafkaPort, REMOTE);
    expect(got).toHaveLength(6000);
    expect(checkUpstream(got, { edgeId: 'gw-1', topic: 'out', partitions: 1, perPartition: 6000, remotePartitions: 1 }).duplicates).toBe(0);

    function answerDropper(): Transform {
      let buffered = Buffer.alloc(0);
      return new Transform({
        transform(chunk: Buffer, _enc, done) {
          buffered = Buffer.concat([buffered, chunk]);
          while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
            const end = 4 + buffered.readInt32BE(0);
            if (drop > 0) {
              drop--;
              dropped++;
            } else this.push(buffered.subarray(0, end));
            buffered = buffered.subarray(end);
          }
          done();
        },
      });
    }
  }, 120_000);
});
