// An idempotent retry inside one session creates no duplicate. A proxy between the edge and the
// central cluster (a second Tributary through its Kafka listener, advertising the proxy, so every
// connection of the client passes it) loses one Produce response and cuts that connection, as a link
// dropping right after the central stored a batch would: the client retries the request on a fresh
// connection with the same producer id, epoch and sequence; the central stores the batch once and
// answers the retry as a success, the mirror's session goes on, and kcat finds each record once.
//
// A response lost on a connection that stays up is not retried by the client (@platformatic/kafka
// 1.35's TimeoutError is not retriable): the sink sends the same batch again after the request
// timeout (ackTimeoutMs / 4), same producer id, epoch and sequence, and the central stores it once.
import { Transform, type TransformCallback } from 'node:stream';
import type net from 'node:net';
import { describe, expect, it } from 'vitest';
import { ApiKey } from '../../../src/protocol/kafka/index.ts';
import { startTestBroker } from '../../helpers/broker.ts';
import { freePort } from '../../helpers/child-broker.ts';
import { startKafkaBroker } from '../../helpers/kafka.ts';
import { hasKcat, readCentral } from '../../helpers/kafka-central.ts';
import { startTcpProxy } from '../../helpers/tcp-proxy.ts';
import { until } from '../../helpers/upstream.ts';

const REMOTE = 'edge.gw-1.telemetry';
const ROUND = 500;

/** Cuts a byte stream into Kafka frames (int32 size prefix), each passed whole to `frame`. */
function frames(frame: (f: Buffer) => void): (chunk: Buffer) => void {
  let buffered = Buffer.alloc(0);
  return (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
      const size = buffered.readInt32BE(0);
      frame(buffered.subarray(0, 4 + size));
      buffered = buffered.subarray(4 + size);
    }
  };
}

/**
 * Watches the Produce requests of every proxied connection and, once armed, drops the response to
 * the next one; with `cut`, also cuts its connection (both sides). A request frame is size, api key,
 * api version, correlation id, then client id and body: what follows the correlation id is the same
 * for a retry of the same batch.
 */
function produceResponseDropper(cut: boolean) {
  const state = {
    armed: false,
    /** The request whose response was dropped, without its correlation id. */
    dropped: null as { head: Buffer; rest: Buffer } | null,
    /** Produce requests seen after the drop, without their correlation ids. */
    after: [] as { head: Buffer; rest: Buffer }[],
  };
  let produceCorrs = new Set<number>();
  const onAccept = (client: net.Socket) => {
    const mine = (produceCorrs = new Set<number>());
    client.on(
      'data',
      frames((f) => {
        if (f.readInt16BE(4) !== ApiKey.Produce) return;
        const request = { head: f.subarray(4, 8), rest: f.subarray(12) };
        if (state.dropped !== null) state.after.push(request);
        else if (state.armed) {
          state.armed = false;
          state.dropped = request;
          mine.add(f.readInt32BE(8));
        }
      }),
    );
  };
  // Created right after onAccept for the same connection (tcp-proxy's accept()).
  const downstream = () => {
    const drop = produceCorrs;
    const pass = frames((f) => {
      if (!drop.has(f.readInt32BE(4))) {
        if (!out.destroyed) out.push(f);
      } else if (cut) out.destroy(new Error('Produce response lost, connection cut'));
    });
    const out = new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        pass(chunk);
        done();
      },
    });
    return out;
  };
  return { state, onAccept, downstream };
}

/** A central behind a dropping proxy, an edge mirroring to it, and rounds of records to drain. */
async function setUp(cut: boolean, ackTimeoutMs: number) {
  const proxyPort = await freePort();
  const central = await startKafkaBroker({ listeners: { kafka: { advertisedHost: '127.0.0.1', advertisedPort: proxyPort } } });
  central.running.broker.createTopic({ name: REMOTE, partitions: 2 });
  const dropper = produceResponseDropper(cut);
  const proxy = await startTcpProxy({ targetPort: central.kafkaPort, port: proxyPort, onAccept: dropper.onAccept, downstream: dropper.downstream });
  const edge = await startTestBroker({
    edgeId: 'gw-1',
    mirrors: [{ name: 'central', sink: 'kafka', brokers: [`127.0.0.1:${proxyPort}`], topics: ['telemetry'], ackTimeoutMs, backoff: { initialMs: 50, maxMs: 200 } }],
  });
  edge.running.broker.createTopic({ name: 'telemetry', partitions: 2 });
  const mirror = async () => (await edge.running.mirrors!.status('central'));
  let produced = 0;
  /** ROUND records over both log partitions, keyed and unkeyed; resolves once the mirror acknowledged them all. */
  const round = async () => {
    const records = Array.from({ length: ROUND }, (_, i) => ({ key: i % 2 ? Buffer.from(`k${i % 13}`) : null, value: Buffer.from(`v${produced + i}`), headers: [], timestampMs: 1_700_000_000_000 + produced + i }));
    for (const partition of [0, 1]) await edge.running.broker.produce({ topic: 'telemetry', partition, records: records.filter((_, i) => i % 2 === partition), acks: 1 });
    produced += ROUND;
    await until(async () => (await mirror()).backlogRecords === 0, 'the backlog to drain', 30_000);
  };
  /** What kcat reads at the central: records, and how many are copies of an origin already read. */
  const central_ = async () => {
    const got = await readCentral(central.kafkaPort, REMOTE);
    return { got, duplicates: got.length - new Set(got.map((r) => `${r.origin.partition}/${r.origin.offset}`)).size };
  };
  return { dropper, proxy, mirror, round, read: central_ };
}

describe('kafka sink: a lost Produce response', () => {
  // .ci/run installs kcat: under CI a missing binary fails these tests rather than skipping them.
  it.skipIf(!hasKcat && !process.env.CI)('with its connection cut: the client retries the same batch on a fresh connection, the central stores it once, the session goes on', async () => {
    const { dropper, proxy, mirror, round, read } = await setUp(true, 30_000);
    await round();
    const connections = proxy.accepted;
    dropper.state.armed = true;
    await round();
    await round();

    // The response was lost and the same request (producer id, epoch, sequence, records) went again.
    expect(dropper.state.dropped).not.toBeNull();
    const retry = dropper.state.after.find((r) => r.rest.equals(dropper.state.dropped!.rest));
    expect(retry, 'a Produce request equal to the one whose response was lost').toBeDefined();
    expect(retry!.head).toEqual(dropper.state.dropped!.head);
    // On a fresh connection, inside the session: nothing counted as resent, no error.
    expect(proxy.accepted).toBeGreaterThan(connections);
    expect((await mirror())).toMatchObject({ state: 'connected', resentRecords: 0, shippedRecords: 3 * ROUND, lastError: null });
    const { got, duplicates } = await read();
    expect(duplicates).toBe(0);
    expect(got).toHaveLength(3 * ROUND);
  });

  it.skipIf(!hasKcat && !process.env.CI)('on a connection that stays up: the client does not retry the timeout; the sink sends the same batch again inside the session, the central stores it once', async () => {
    const { dropper, mirror, round, read } = await setUp(false, 4_000);
    await round();
    dropper.state.armed = true;
    await round();

    expect(dropper.state.dropped).not.toBeNull();
    const again = dropper.state.after.find((r) => r.rest.equals(dropper.state.dropped!.rest));
    expect(again, 'a Produce request equal to the one whose response was lost').toBeDefined();
    expect(again!.head).toEqual(dropper.state.dropped!.head);
    expect((await mirror())).toMatchObject({ state: 'connected', resentRecords: 0, shippedRecords: 2 * ROUND, lastError: null });
    const { got, duplicates } = await read();
    expect(duplicates).toBe(0);
    expect(got).toHaveLength(2 * ROUND);
  });
});
