// The mirror against a real MQTT 5 upstream over TCP on 127.0.0.1 (test/helpers/upstream.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { rec } from '../helpers/temp.ts';
import { freePort } from '../helpers/child-broker.ts';
import { mosquittoBinary, startMosquittoUpstream } from '../helpers/mosquitto-upstream.ts';
import { startUpstream, until, type Upstream, type UpstreamPublish } from '../helpers/upstream.ts';

const PARTITIONS = 2;

async function edgeWithMirror(upstreamPort: number, mirror: Record<string, unknown> = {}, over: Record<string, unknown> = {}): Promise<TestBroker> {
  const edge = await startTestBroker({
    ...over,
    edgeId: 'gw-1',
    mirrors: [
      {
        name: 'cloud',
        sink: 'mqtt',
        url: `mqtt://127.0.0.1:${upstreamPort}`,
        topics: ['telemetry'],
        remoteTopic: 'edge/{edgeId}/{topic}',
        backoff: { initialMs: 50, maxMs: 200 },
        ...mirror,
      },
    ],
  });
  edge.running.broker.createTopic({ name: 'telemetry', partitions: PARTITIONS });
  return edge;
}

/** Produces `count` records per partition, value p<partition>-<offset>, the odd ones keyed. */
async function produce(edge: TestBroker, from: number, count: number, pauseEvery = 0): Promise<void> {
  for (let i = from; i < from + count; i++) {
    for (let partition = 0; partition < PARTITIONS; partition++)
      await edge.running.broker.produce({ topic: 'telemetry', partition, records: [rec(`p${partition}-${i}`, i % 2 ? `k${i}` : null)], acks: 1 });
    if (pauseEvery > 0 && i % pauseEvery === 0) await sleep(2);
  }
}

/** Like produce(), one batch per partition: the whole backlog is readable at once. */
async function produceBatch(edge: TestBroker, count: number): Promise<void> {
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const records = Array.from({ length: count }, (_, i) => rec(`p${partition}-${i}`, i % 2 ? `k${i}` : null));
    await edge.running.broker.produce({ topic: 'telemetry', partition, records, acks: 1 });
  }
}

function distinct(received: UpstreamPublish[]): number {
  return new Set(received.map((r) => `${r.origin.partition}/${r.origin.offset}`)).size;
}

/**
 * Per partition: first occurrences are exactly offsets 0..perPartition-1 in order, and every
 * duplicate is a resend restarting at or below what was already sent (at-least-once, in order).
 */
function expectInOrder(received: UpstreamPublish[], perPartition: number): { duplicates: number } {
  let duplicates = 0;
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const mine = received.filter((r) => r.origin.partition === partition);
    const firsts: number[] = [];
    let high = -1;
    let prev = -1;
    for (const r of mine) {
      expect(r.topic).toBe('edge/gw-1/telemetry');
      expect(r.origin.edgeId).toBe('gw-1');
      expect(r.origin.topic).toBe('telemetry');
      expect(r.payload).toBe(`p${partition}-${r.origin.offset}`);
      expect(r.userProperties.key).toBe(r.origin.offset % 2 ? `k${r.origin.offset}` : undefined);
      if (r.origin.offset > high) {
        expect(r.origin.offset).toBe(high + 1);
        firsts.push(r.origin.offset);
        high = r.origin.offset;
      } else {
        duplicates++;
        // A resend run continues from where it restarted.
        if (prev < high) expect(r.origin.offset === prev + 1 || r.origin.offset <= prev).toBe(true);
      }
      prev = r.origin.offset;
    }
    expect(firsts).toEqual(Array.from({ length: perPartition }, (_, i) => i));
  }
  return { duplicates };
}

async function waitForAll(up: Upstream, perPartition: number): Promise<void> {
  await until(() => distinct(up.received) >= perPartition * PARTITIONS, `${perPartition * PARTITIONS} distinct records upstream (have ${distinct(up.received)})`, 10_000);
}

const upstreams: [string, (opts?: { port?: number; ackDelayMs?: number }) => Promise<Upstream>][] = [['in-process MQTT 5 upstream', (opts) => startUpstream(opts)]];
// .ci/run installs mosquitto: under CI a missing binary fails these tests rather than skipping them.
// Its acks are not delayed (ackDelayMs is the in-process upstream's), so mid-stream cuts land wherever the drain is.
if (mosquittoBinary() !== null || process.env.CI) upstreams.push(['mosquitto', (opts) => startMosquittoUpstream({ port: opts?.port })]);

describe.each(upstreams)('mirror to an MQTT 5 upstream (%s)', (_name, startUp) => {
  it('ships records in order per partition with origin and key properties', async () => {
    const up = await startUp();
    const edge = await edgeWithMirror(up.port);
    await produce(edge, 0, 100);
    await waitForAll(up, 100);
    expect(expectInOrder(up.received, 100).duplicates).toBe(0);
    expect(up.received.every((r) => r.qos === 1)).toBe(true);
    expect(up.received[0]!.userProperties.origin).toMatch(/^gw-1\/telemetry\/[01]\/\d+$/);
    const mirrors = edge.running.mirrors!;
    await until(async () => (await mirrors.status('cloud')).backlogRecords === 0, 'an empty backlog');
    expect(await mirrors.status('cloud')).toMatchObject({ name: 'cloud', state: 'connected', shippedRecords: 200, resentRecords: 0 });
  });

  it('ships the backlog once an upstream that was down at start comes up', async () => {
    const port = await freePort();
    const edge = await edgeWithMirror(port);
    await produce(edge, 0, 50);
    await sleep(300);
    const mirrors = edge.running.mirrors!;
    expect(['backing-off', 'connecting']).toContain((await mirrors.status('cloud')).state);
    expect((await mirrors.status('cloud')).backlogRecords).toBe(100);
    const up = await startUp({ port });
    await produce(edge, 50, 50);
    await waitForAll(up, 100);
    expect(expectInOrder(up.received, 100).duplicates).toBe(0);
  });

  it('resends what was unacked when the upstream drops mid-stream, in order per partition', async () => {
    const up = await startUp({ ackDelayMs: 3 });
    const edge = await edgeWithMirror(up.port, { windowMax: 20 });
    const producing = produce(edge, 0, 300, 5);
    await until(() => up.received.length >= 100, '100 records upstream');
    await up.stop();
    await sleep(150);
    await up.start();
    await producing;
    await waitForAll(up, 300);
    const { duplicates } = expectInOrder(up.received, 300);
    expect(up.connects).toBeGreaterThanOrEqual(2);
    // Only the window that was unacked when the link dropped is shipped twice.
    expect(duplicates).toBeLessThanOrEqual(20);
    // Resent publishes that were still in the dead socket's buffer never reached the upstream.
    expect((await edge.running.mirrors!.status('cloud')).resentRecords).toBeGreaterThanOrEqual(duplicates);
    expect((await edge.running.mirrors!.status('cloud')).resentRecords).toBeLessThanOrEqual(20);
  });

  it('resumes from its persisted cursor after a restart mid-backlog', async () => {
    const up = await startUp();
    // ~40-byte publishes at 4 KiB/s: a burst of about 100, then about 100 a second, so the stop
    // lands mid-backlog whatever the upstream's speed.
    const edge = await edgeWithMirror(up.port, { windowMax: 5, rateLimitBytesPerSec: 4096 });
    await produceBatch(edge, 150);
    await until(() => up.received.length >= 60, '60 records upstream');
    await edge.stop();
    const shippedBeforeRestart = distinct(up.received);
    expect(shippedBeforeRestart).toBeLessThan(300); // 2 partitions × 150: the stop came mid-backlog
    await edge.start();
    await waitForAll(up, 150);
    const { duplicates } = expectInOrder(up.received, 150);
    // A graceful stop persists every acked cursor: only the unacked window is shipped again.
    expect(duplicates).toBeLessThanOrEqual(5);
    expect(up.connects).toBe(2);
  });

  it('ships records with binary keys (keyBase64) without upsetting the upstream', async () => {
    const up = await startUp();
    const edge = await edgeWithMirror(up.port);
    // Control characters, then bytes that are not UTF-8 at all (a lossy decode would send U+FFFD).
    const records = [Buffer.from([0, 0, 0, 7]), Buffer.from([1, 2, 3, 0x7f]), Buffer.from([0xff, 0xfe]), Buffer.from('ok')].map((key, i) => ({ ...rec(`p0-${i}`), key }));
    await edge.running.broker.produce({ topic: 'telemetry', partition: 0, records, acks: 1 });
    await until(() => up.received.length >= 4, '4 records upstream');
    expect(up.received.map((r) => r.userProperties.keyBase64 ?? r.userProperties.key)).toEqual(['AAAABw==', 'AQIDfw==', '//4=', 'ok']);
    expect(up.received[2]!.userProperties.key).toBeUndefined();
    expect(up.connects).toBe(1);
  });

  it("gives a record's headers to the upstream as MQTT 5 properties: an MQTT 5 publisher's back as it sent them, others as user properties", async () => {
    const up = await startUp();
    const edge = await edgeWithMirror(up.port);
    const h = (key: string, value: string | Buffer | null) => ({ key, value: typeof value === 'string' ? Buffer.from(value) : value });
    // What the MQTT listener stores for an MQTT 5 PUBLISH (record-headers.ts), then a Kafka-style record.
    const fromMqtt = {
      ...rec('m', 'sensors/a'),
      headers: [
        h('mqtt.topic', 'sensors/a'),
        h('mqtt.clientId', 'dev-1'),
        h('mqtt.qos', '1'),
        h('mqtt.retain', 'false'),
        h('mqtt.contentType', 'application/json'),
        h('mqtt.payloadFormat', '1'),
        h('mqtt.responseTopic', 'reply/dev-1'),
        h('mqtt.correlationData', Buffer.from([0, 1, 2])),
        h('unit', 'C'),
        h('unit', 'K'),
        h('mqtt.user.mqtt.topic', 'spoof'),
      ],
    };
    const fromKafka = { ...rec('k'), headers: [h('trace', 'abc'), h('blob', Buffer.from([0xff, 0x00])), h('empty', null), h('origin', 'theirs')] };
    await edge.running.broker.produce({ topic: 'telemetry', partition: 0, records: [fromMqtt, fromKafka], acks: 1 });
    await until(() => up.received.length >= 2, '2 records upstream');
    const [m, k] = up.received;
    expect(m!.properties).toMatchObject({ contentType: 'application/json', payloadFormatIndicator: true, responseTopic: 'reply/dev-1' });
    expect(Buffer.from(m!.properties.correlationData as Uint8Array)).toEqual(Buffer.from([0, 1, 2]));
    const { origin: mOrigin, ...mUser } = m!.userProperties;
    expect(mOrigin).toMatch(/^gw-1\/telemetry\/0\/0$/);
    expect(mUser).toEqual({ key: 'sensors/a', unit: ['C', 'K'], 'mqtt.topic': 'spoof' });
    // The sink's origin comes first; a header of the same name follows it as a second value.
    expect(k!.userProperties).toEqual({ origin: [expect.stringMatching(/^gw-1\/telemetry\/0\/1$/) as unknown, 'theirs'], trace: 'abc', blobBase64: '/wA=', empty: '' });
    expect(up.connects).toBe(1);
  });

  it('exposes state, backlog, shipped and resent records per mirror in /metrics', async () => {
    const port = await freePort();
    const edge = await edgeWithMirror(port, {}, { listeners: { http: { enabled: true, host: '127.0.0.1', port: 0 } } });
    const scrape = async () => (await fetch(`http://127.0.0.1:${edge.running.http!.port}/metrics`)).text();
    await produce(edge, 0, 10);
    let text = await scrape();
    expect(text).toMatch(/^tributary_mirror_connected\{mirror="cloud"\} 0$/m);
    expect(text).toMatch(/^tributary_mirror_backlog_records\{mirror="cloud"\} 20$/m);
    const up = await startUp({ port });
    await waitForAll(up, 10);
    await until(async () => (await edge.running.mirrors!.status('cloud')).backlogRecords === 0, 'an empty backlog');
    text = await scrape();
    expect(text).toMatch(/^tributary_mirror_connected\{mirror="cloud"\} 1$/m);
    expect(text).toMatch(/^tributary_mirror_backlog_records\{mirror="cloud"\} 0$/m);
    expect(text).toMatch(/^tributary_mirror_shipped_records_total\{mirror="cloud"\} 20$/m);
    expect(text).toMatch(/^tributary_mirror_resent_records_total\{mirror="cloud"\} 0$/m);
  });
});

describe('mirror window', () => {
  it('keeps at most windowMax (and receiveMaximum) publishes unacked', async () => {
    const up = await startUpstream({ receiveMaximum: 8, ackDelayMs: 5 });
    const edge = await edgeWithMirror(up.port, { windowMax: 20 });
    await produceBatch(edge, 60);
    await waitForAll(up, 60);
    expect(up.maxInflight).toBe(8);
    expectInOrder(up.received, 60);

    const up2 = await startUpstream({ ackDelayMs: 5 });
    const edge2 = await edgeWithMirror(up2.port, { windowMax: 3 });
    await produceBatch(edge2, 30);
    await waitForAll(up2, 30);
    expect(up2.maxInflight).toBe(3);
    expectInOrder(up2.received, 30);
  });
});
