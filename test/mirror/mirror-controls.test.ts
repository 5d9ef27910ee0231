// Mirror controls against a real broker (in this process, its mirror thread included) and Mosquitto
// as the upstream (test/helpers/mosquitto-upstream.ts; .ci/run installs it, and a missing binary fails
// these tests): where a new mirror starts (startFrom), retry, reset, per-partition lag in /metrics.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { freshReads } from '../../src/storage/lmdb-env.ts';
import { committedCursor } from '../../src/storage/mirror-cursors.ts';
import type { MirrorResetResult, MirrorRetryResult, MirrorStatus } from '../../src/mirror/status.ts';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { startMosquittoUpstream, type MosquittoUpstream } from '../helpers/mosquitto-upstream.ts';
import { connectMqtt, startMqttBroker } from '../helpers/mqtt.ts';
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

  it('a partition added while the mirror thread is being restarted starts at its first record; the placed cursors stay', async () => {
    const up = await startMosquittoUpstream();
    const before = await startTestBroker({ edgeId: 'gw-1' });
    await history(before);
    await before.stop();
    const edge = await startTestBroker({ dataDir: before.dataDir, edgeId: 'gw-1', mirrors: [mirror(up, 'live', { startFrom: 'latest' })] });
    const { broker } = edge.running;
    const mirrors = edge.running.mirrors!;
    await until(async () => (await mirrors.status('live')).state === 'connected', 'connected');
    const thread = mirrors.worker!;
    await thread.terminate();
    // The new thread starts 100 ms after the death: this lands in the gap (or just after, the same case).
    broker.growTopic('telemetry', 3);
    await broker.produce({ topic: 'telemetry', partition: 2, records: [rec('grown-0'), rec('grown-1')], acks: 1 });
    await broker.produce({ topic: 'telemetry', partition: 0, records: [rec('after')], acks: 1 });
    await until(() => mirrors.worker !== null && mirrors.worker !== thread, 'a new mirror thread');
    await until(() => shipped(up, 'live').length === 3, 'the new records upstream');
    expect(shipped(up, 'live')).toEqual(['0/5', '2/0', '2/1']);
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

/** An edge with the HTTP listener on loopback (admin actions are taken from loopback without a token). */
async function edgeWithHttp(up: MosquittoUpstream, extra: Record<string, unknown> = {}): Promise<TestBroker> {
  const edge = await startTestBroker({ edgeId: 'gw-1', listeners: { http: { enabled: true, host: '127.0.0.1', port: 0 } }, mirrors: [mirror(up, 'cloud', extra)] });
  edge.running.broker.createTopic({ name: 'telemetry', partitions: 2 });
  return edge;
}

async function call(edge: TestBroker, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`http://127.0.0.1:${edge.running.http!.port}${path}`, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, json: await res.json() };
}

const statusOf = async (edge: TestBroker) => (await call(edge, 'GET', '/mirrors/cloud')).json as MirrorStatus;

/** Per partition, offsets 0..count-1 stamped T0 + offset seconds, one batch each. */
async function produceStamped(edge: TestBroker, count: number): Promise<void> {
  for (let partition = 0; partition < 2; partition++)
    await edge.running.broker.produce({ topic: 'telemetry', partition, records: Array.from({ length: count }, (_, i) => rec(`p${partition}-${i}`, null, T0 + i * 1000)), acks: 1 });
}

describe('mirror retry', () => {
  it('ends the backoff wait: a mirror backing off for a minute connects at once; connected, it has nothing to retry; paused, it must be resumed', async () => {
    const up = await startMosquittoUpstream();
    await up.stop();
    // A minute of backoff (30-60 s with jitter): shipping within the test's waits proves the retry.
    const edge = await edgeWithHttp(up, { backoff: { initialMs: 60_000, maxMs: 60_000 } });
    await produceStamped(edge, 3);
    await until(async () => (await statusOf(edge)).state === 'backing-off', 'the mirror backing off');
    await up.start();

    const retried = await call(edge, 'POST', '/mirrors/cloud/retry');
    expect(retried.status).toBe(200);
    const r = retried.json as MirrorRetryResult;
    expect(r.retried).toBe(true);
    expect(r.message).toMatch(new RegExp(`^mirror cloud: connecting to mqtt://127\\.0\\.0\\.1:${up.port} now \\(skipped \\d+\\.\\d s of backoff\\)$`));
    expect(Number(/skipped (\S+) s/.exec(r.message)![1])).toBeGreaterThan(20);
    await until(() => shipped(up, 'cloud').length === 6, 'the records upstream');

    await until(async () => (await statusOf(edge)).state === 'connected', 'connected');
    const again = await call(edge, 'POST', '/mirrors/cloud/retry');
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ retried: false, message: `mirror cloud is connected to mqtt://127.0.0.1:${up.port}: nothing to retry`, mirror: { name: 'cloud', state: 'connected' } });

    expect((await call(edge, 'POST', '/mirrors/cloud/pause')).status).toBe(200);
    expect(await call(edge, 'POST', '/mirrors/cloud/retry')).toEqual({
      status: 400,
      json: { error: 'INVALID_REQUEST', message: 'mirror cloud is paused: resume it to connect (tributary mirror resume cloud)' },
    });
    expect(await call(edge, 'POST', '/mirrors/nope/retry')).toEqual({ status: 404, json: { error: 'UNKNOWN_MIRROR', message: 'no mirror named nope; configured: cloud' } });
    expect((await call(edge, 'GET', '/mirrors/cloud/retry')).status).toBe(405);
  });
});

describe('mirror reset', () => {
  it('moves the cursors of a paused mirror only: a dry run changes nothing, a reset is persisted before the answer, a rewind ships again (counted as resent), latest skips', async () => {
    const up = await startMosquittoUpstream();
    const edge = await edgeWithHttp(up);
    await produceStamped(edge, 10);
    await until(() => shipped(up, 'cloud').length === 20, 'the records upstream');
    await until(async () => (await statusOf(edge)).backlogRecords === 0, 'the cursors at the end');

    const running = await call(edge, 'POST', '/mirrors/cloud/reset', { to: 'earliest' });
    expect(running).toEqual({
      status: 400,
      json: {
        error: 'INVALID_REQUEST',
        message: "mirror cloud is connected: pause it first (tributary mirror pause cloud); its cursors move only while it is paused, as a Kafka group's offsets only while it has no members",
      },
    });
    expect((await call(edge, 'POST', '/mirrors/cloud/pause')).json.state).toBe('paused');

    const dry = await call(edge, 'POST', '/mirrors/cloud/reset', { to: 'shift', by: -4, dryRun: true });
    expect(dry).toEqual({
      status: 200,
      json: {
        mirror: 'cloud',
        dryRun: true,
        partitions: [
          { topic: 'telemetry', partition: 0, previous: 10, offset: 6 },
          { topic: 'telemetry', partition: 1, previous: 10, offset: 6 },
        ],
      } satisfies MirrorResetResult,
    });
    expect((await statusOf(edge)).partitions.map((p) => p.cursor)).toEqual([10, 10]);

    // Errors name what is wrong and change nothing.
    const bad = async (body: unknown, status: number, error: string, message: RegExp) => {
      const r = await call(edge, 'POST', '/mirrors/cloud/reset', body);
      expect(r.status, JSON.stringify(r.json)).toBe(status);
      expect(r.json.error).toBe(error);
      expect(r.json.message).toMatch(message);
    };
    await bad({ to: 'datetime', timestamp: 'yesterday' }, 400, 'INVALID_REQUEST', /^timestamp: expected a date-time YYYY-MM-DDTHH:mm:SS\.sss.*got "yesterday"/);
    await bad({ to: 'datetime', timestamp: '2026-02-30T00:00:00Z' }, 400, 'INVALID_REQUEST', /^timestamp: expected a date-time/);
    await bad({ to: 'sideways' }, 400, 'INVALID_REQUEST', /^to: expected earliest, latest, offset, shift or datetime, got "sideways"/);
    await bad({ to: 'offset', offset: -1 }, 400, 'INVALID_REQUEST', /^offset: expected an integer 0\.\./);
    await bad('not json', 400, 'INVALID_REQUEST', /^the body is not JSON/);
    await bad('x'.repeat(20_000), 400, 'INVALID_REQUEST', /^the body is over 16384 bytes$/);
    await bad('', 400, 'INVALID_REQUEST', /^a JSON body is required/);
    await bad({ to: 'earliest', topic: 'nope' }, 404, 'UNKNOWN_TOPIC', /^unknown topic nope$/);
    edge.running.broker.createTopic({ name: 'other', partitions: 1 });
    await bad({ to: 'earliest', topic: 'other' }, 400, 'INVALID_REQUEST', /^mirror cloud does not ship topic other \(its topics: telemetry\)$/);
    await bad({ to: 'earliest', topic: 'telemetry', partition: 2 }, 400, 'INVALID_PARTITION', /^topic telemetry has no partition 2$/);
    await bad({ to: 'earliest', partition: 0 }, 400, 'INVALID_REQUEST', /^partition: only with topic/);
    expect(await call(edge, 'POST', '/mirrors/nope/reset', { to: 'earliest' })).toEqual({ status: 404, json: { error: 'UNKNOWN_MIRROR', message: 'no mirror named nope; configured: cloud' } });
    expect((await statusOf(edge)).partitions.map((p) => p.cursor)).toEqual([10, 10]);

    // Partition 0 back by 4, partition 1 to the first record at or after T0 + 7 s: committed when answered.
    expect((await call(edge, 'POST', '/mirrors/cloud/reset', { to: 'shift', by: -4, topic: 'telemetry', partition: 0 })).json.partitions).toEqual([{ topic: 'telemetry', partition: 0, previous: 10, offset: 6 }]);
    const at = new Date(T0 + 7_000).toISOString();
    expect((await call(edge, 'POST', '/mirrors/cloud/reset', { to: 'datetime', timestamp: at, topic: 'telemetry', partition: 1 })).json.partitions).toEqual([{ topic: 'telemetry', partition: 1, previous: 10, offset: 7 }]);
    const h = edge.running.broker.store.lmdb;
    freshReads(h.env);
    const topicId = edge.running.broker.findTopic('telemetry')!.id;
    expect([committedCursor(h, 'cloud', topicId, 0), committedCursor(h, 'cloud', topicId, 1)]).toEqual([6, 7]);
    const paused = await statusOf(edge);
    expect(paused.partitions.map((p) => [p.cursor, p.backlogRecords])).toEqual([
      [6, 4],
      [7, 3],
    ]);
    const resentBefore = paused.resentRecords;
    // The same per partition in /metrics, read at scrape time.
    const metrics = await (await fetch(`http://127.0.0.1:${edge.running.http!.port}/metrics`)).text();
    expect(metrics.split('\n').filter((l) => l.startsWith('tributary_mirror_partition_lag_records'))).toEqual([
      'tributary_mirror_partition_lag_records{mirror="cloud",topic="telemetry",partition="0"} 4',
      'tributary_mirror_partition_lag_records{mirror="cloud",topic="telemetry",partition="1"} 3',
    ]);

    const receivedBefore = up.received.length;
    expect((await call(edge, 'POST', '/mirrors/cloud/resume')).status).toBe(200);
    await until(() => up.received.length === receivedBefore + 7, 'the rewound records upstream again');
    const again = up.received.slice(receivedBefore).map((r) => `${r.origin.partition}/${r.origin.offset}`).sort();
    expect(again).toEqual(['0/6', '0/7', '0/8', '0/9', '1/7', '1/8', '1/9']);
    // Upstream has them before their PUBACKs reach the edge: wait for the cursors too.
    await until(async () => {
      const s = await statusOf(edge);
      return s.resentRecords === resentBefore + 7 && s.backlogRecords === 0;
    }, 'the resends counted and acknowledged');

    // Skip ahead: what was written while paused never leaves.
    await call(edge, 'POST', '/mirrors/cloud/pause');
    await edge.running.broker.produce({ topic: 'telemetry', partition: 0, records: [rec('skipped-1'), rec('skipped-2')], acks: 1 });
    expect((await call(edge, 'POST', '/mirrors/cloud/reset', { to: 'latest', topic: 'telemetry' })).json.partitions).toEqual([
      { topic: 'telemetry', partition: 0, previous: 10, offset: 12 },
      { topic: 'telemetry', partition: 1, previous: 10, offset: 10 },
    ]);
    await call(edge, 'POST', '/mirrors/cloud/resume');
    await edge.running.broker.produce({ topic: 'telemetry', partition: 0, records: [rec('after')], acks: 1 });
    await until(() => shipped(up, 'cloud').includes('0/12'), 'the record after the reset upstream');
    expect(shipped(up, 'cloud').filter((o) => o === '0/10' || o === '0/11')).toEqual([]);
  });
});

describe('the Mosquitto-bridge layout: MQTT devices → log topic mqtt → edge/{edgeId}/{key}', () => {
  it("an MQTT device's topic comes out under edge/<edgeId>/ (the default route keys records by it); a record without a key under edge/<edgeId>/", async () => {
    const up = await startMosquittoUpstream();
    // The README's worked example, with the default route as config/default.yaml ships it (topic mqtt, one partition).
    const edge = await startMqttBroker({ edgeId: 'gw-1', mirrors: [{ ...mirror(up, 'cloud'), topics: ['mqtt'], remoteTopic: 'edge/{edgeId}/{key}' }] });
    const device = await connectMqtt(edge, { protocolVersion: 5 });
    await device.publishAsync('sensors/room1/temp', '21.5', { qos: 1 });
    await device.publishAsync('sensors/room2/temp', '19.0', { qos: 1 });
    const { broker } = edge.running;
    await broker.produce({ topic: 'mqtt', partition: 0, records: [rec('no key'), rec('odd key', 'a+b#c')], acks: 1 });
    await until(() => shipped(up, 'edge').length === 4, 'the four records upstream');
    expect(up.received.map((r) => [r.topic, r.payload, r.userProperties.key])).toEqual([
      ['edge/gw-1/sensors/room1/temp', '21.5', 'sensors/room1/temp'],
      ['edge/gw-1/sensors/room2/temp', '19.0', 'sensors/room2/temp'],
      ['edge/gw-1/', 'no key', undefined],
      // MQTT wildcards in a key become _ in the topic; the key property keeps them.
      ['edge/gw-1/a_b_c', 'odd key', 'a+b#c'],
    ]);
  });
});
