// kill -9 of the central Kafka cluster (a second Tributary, child process, Kafka listener) while the
// edge drains a 100,000-record backlog into it; restarted on the same port and data dir. The edge backs
// off, reconnects and finishes. Read from the outside with kcat: not one record missing, every copy
// identical with its origin, first copies in order per log partition; duplicates are counted.
//
// Why "not one missing" is the durability check: the edge's cursor advances only over records the
// central acknowledged (acks=all), and after the reconnect it resends from that cursor, never below it.
// A record the central acknowledged and then lost to the kill would therefore be missing. The Kafka
// listener answers acks -1 once the record is on disk (src/listeners/kafka/README.md, Produce), so an
// acknowledged record survives the kill. (kill -9 ends the process, not the machine: what a committed
// LMDB transaction left in the page cache survives it too; power loss is not what this test covers.)
//
// Duplicates: the idempotent producer gets a new producer id on each connection, so records the
// central stored but whose acknowledgement the kill swallowed come again under the new id (the
// documented at-least-once across sessions). Within one session retries reuse the sequence numbers
// and are dropped by the central, so every copy is a record the edge counted as resent.
import { describe, expect, it } from 'vitest';
import { startTestBroker } from '../helpers/broker.ts';
import { freePort, startChildBroker } from '../helpers/child-broker.ts';
import { run } from '../helpers/cli.ts';
import { checkUpstream, produceBacklog } from '../helpers/kafka-backlog.ts';
import { hasKcat, kcatReadAll } from '../helpers/kcat.ts';
import { tempDir } from '../helpers/temp.ts';
import { until } from '../helpers/upstream.ts';

const PARTITIONS = 4;
const PER_PARTITION = 25_000;
const RECORDS = PARTITIONS * PER_PARTITION;
const REMOTE = 'edge.gw-1.out';

describe.runIf(hasKcat || process.env.CI)('kill -9 of the central Kafka cluster mid-drain', () => {
  it('has kcat installed (.ci/run installs it)', () => expect(hasKcat).toBe(true));

  it('the edge backs off, reconnects to the restarted central and ships every record, duplicates only with their origin', async () => {
    const centralDir = tempDir();
    const [centralEdgePort, kafkaPort] = [await freePort(), await freePort()];
    const centralEnv = {
      TRIBUTARY_LISTENERS__KAFKA__ENABLED: 'true',
      TRIBUTARY_LISTENERS__KAFKA__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__KAFKA__PORT: String(kafkaPort),
    };
    // The remote topic exists on the central, which is then down while the backlog builds up at the edge.
    const setup = await startChildBroker(centralDir, centralEdgePort, centralEnv);
    const created = await run(['topics', 'create', REMOTE, '--partitions', String(PARTITIONS), '--broker', `127.0.0.1:${centralEdgePort}`]);
    expect(created.code, created.stderr).toBe(0);
    setup.child.kill('SIGTERM');
    expect(await setup.exited).toBe(0);
    const edge = await startTestBroker({
      edgeId: 'gw-1',
      mirrors: [{ name: 'central', sink: 'kafka', brokers: [`127.0.0.1:${kafkaPort}`], topics: ['out'], backoff: { initialMs: 100, maxMs: 1000 } }],
    });
    edge.running.broker.createTopic({ name: 'out', partitions: PARTITIONS });
    const mirror = async () => (await edge.running.mirrors!.status('central'));
    await until(async () => (await mirror()).state === 'backing-off', 'the mirror to back off');
    await produceBacklog(edge, 'out', PARTITIONS, PER_PARTITION);
    expect((await mirror())).toMatchObject({ backlogRecords: RECORDS, shippedRecords: 0 });

    const first = await startChildBroker(centralDir, centralEdgePort, centralEnv);
    // A different point of the drain each run: 20-60 % of the backlog shipped.
    const killAt = Math.round(RECORDS * (0.2 + Math.random() * 0.4));
    await until(async () => (await mirror()).shippedRecords >= killAt, `${killAt} records upstream`, 60_000);
    first.child.kill('SIGKILL');
    await first.exited;
    await until(async () => (await mirror()).state === 'backing-off', 'the mirror to back off', 30_000);
    const atKill = (await mirror());
    // The kill came mid-drain.
    expect(atKill.backlogRecords).toBeGreaterThan(0);
    expect(['UPSTREAM_UNAVAILABLE', 'TIMEOUT']).toContain(atKill.lastError?.code);

    await startChildBroker(centralDir, centralEdgePort, centralEnv);
    await until(async () => (await mirror()).backlogRecords === 0, 'the backlog to drain after the restart', 120_000);
    const status = (await mirror());
    expect(status.state).toBe('connected');
    expect(status.shippedRecords).toBeGreaterThanOrEqual(RECORDS);

    const got = await kcatReadAll(kafkaPort, REMOTE);
    const { duplicates, duplicated } = checkUpstream(got, { edgeId: 'gw-1', topic: 'out', partitions: PARTITIONS, perPartition: PER_PARTITION, remotePartitions: PARTITIONS });
    expect(Math.max(0, ...duplicated.values())).toBeLessThanOrEqual(2);
    expect(duplicates).toBeLessThanOrEqual(status.resentRecords);
    const cursorsAtKill = atKill.partitions.map((p) => p.cursor).join(',');
    console.log(`central kill -9 after ${killAt} shipped: ${got.length} records upstream for ${RECORDS}, ${duplicates} duplicates, ${status.resentRecords} resent, edge cursors when the kill was seen ${cursorsAtKill}`);
  }, 180_000);
});
