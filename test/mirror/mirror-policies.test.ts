// Mirror behaviours beyond plain shipping, each against a real upstream over TCP on 127.0.0.1:
// priorities, the byte-rate limit, permanent rejections, the ack watchdog, topic patterns,
// pause/resume, retention sparing unshipped records, MQTT 3.1.1 (aedes as upstream) and TLS.
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { Mirrors } from '../../src/mirror/mirrors.ts';
import { ThreadLog } from '../../src/mirror/thread/thread-log.ts';
import { ThreadStore } from '../../src/mirror/thread/thread-store.ts';
import { startTestBroker, type TestBroker } from '../helpers/broker.ts';
import { selfSigned } from '../helpers/certs.ts';
import { freePort } from '../helpers/child-broker.ts';
import { onCleanup, rec, silentLogger } from '../helpers/temp.ts';
import { watchSyncs } from '../helpers/syncs.ts';
import { startUpstream, until, type UpstreamPublish } from '../helpers/upstream.ts';

async function edgeWith(mirror: Record<string, unknown>, over: Record<string, unknown> = {}): Promise<TestBroker> {
  return startTestBroker({
    ...over,
    edgeId: 'gw-1',
    mirrors: [{ name: 'cloud', sink: 'mqtt', topics: ['telemetry'], backoff: { initialMs: 20, maxMs: 100 }, ...mirror }],
  });
}

function values(received: UpstreamPublish[], topic?: string): string[] {
  return received.filter((r) => topic === undefined || r.origin.topic === topic).map((r) => r.payload);
}

const range = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('mirror priorities and rate limit', () => {
  it('drains a higher-priority topic first without starving the other', async () => {
    const port = await freePort();
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${port}`, topics: ['alarms', 'telemetry'], priorities: { alarms: 10 }, windowMax: 4 });
    const { broker } = edge.running;
    for (const name of ['alarms', 'telemetry']) {
      broker.createTopic({ name, partitions: 1 });
      await broker.produce({ topic: name, partition: 0, records: range(200, `${name[0]}`).map((v) => rec(v)), acks: 1 });
    }
    const up = await startUpstream({ port, ackDelayMs: 1 });
    await until(() => up.received.length >= 400, '400 records upstream');
    const order = up.received.map((r) => r.origin.topic);
    const lastAlarm = order.lastIndexOf('alarms');
    const telemetryBefore = order.slice(0, lastAlarm).filter((t) => t === 'telemetry').length;
    // Alarms get 7 of every 8 grants while both wait: about 200 / 7 telemetry records slip in.
    expect(telemetryBefore).toBeGreaterThan(0);
    expect(telemetryBefore).toBeLessThan(60);
    expect(values(up.received, 'alarms')).toEqual(range(200, 'a'));
    expect(values(up.received, 'telemetry')).toEqual(range(200, 't'));
  });

  it('keeps to the byte-rate limit after the first second of burst', async () => {
    const rate = 40 * 1024;
    const up = await startUpstream();
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${up.port}`, rateLimitBytesPerSec: rate });
    const { broker } = edge.running;
    broker.createTopic({ name: 'telemetry', partitions: 1 });
    const payload = 'x'.repeat(1000);
    const started = performance.now();
    await broker.produce({ topic: 'telemetry', partition: 0, records: Array.from({ length: 100 }, () => rec(payload)), acks: 1 });
    await until(() => up.received.length >= 100, '100 records upstream');
    const elapsedMs = performance.now() - started;
    const status = (await edge.running.mirrors!.status('cloud'));
    expect(status.shippedBytes).toBeGreaterThan(100 * 1000);
    // A full bucket (one second's worth) goes at once; the rest waits for refills.
    expect(elapsedMs).toBeGreaterThanOrEqual(((status.shippedBytes - rate) / rate) * 1000 * 0.95);
  });
});

describe('batching', () => {
  it('lingers after a partial batch so the records that follow leave with it', async () => {
    const up = await startUpstream();
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${up.port}`, batch: { lingerMs: 300 } });
    const { broker } = edge.running;
    broker.createTopic({ name: 'telemetry', partitions: 1 });
    await until(async () => (await edge.running.mirrors!.status('cloud')).state === 'connected', 'connected');
    for (const v of range(6, 'l')) {
      await broker.produce({ topic: 'telemetry', partition: 0, records: [rec(v)], acks: 1 });
      await sleep(20);
    }
    // Without linger the first record would be upstream within milliseconds.
    expect(up.received).toEqual([]);
    await until(() => up.received.length === 6, 'the six records upstream');
    expect(values(up.received)).toEqual(range(6, 'l'));
  });
});

describe('permanent rejections', () => {
  it('skips and counts a refused record under onRejected: skip', async () => {
    const up = await startUpstream({ rejectPayloads: { poison: 0x87 } });
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${up.port}` });
    const { broker } = edge.running;
    broker.createTopic({ name: 'telemetry', partitions: 1 });
    await broker.produce({ topic: 'telemetry', partition: 0, records: ['a', 'poison', 'b'].map((v) => rec(v)), acks: 1 });
    await until(() => up.received.length >= 2, 'a and b upstream');
    const mirrors = edge.running.mirrors!;
    await until(async () => (await mirrors.status('cloud')).backlogRecords === 0, 'an empty backlog');
    expect(values(up.received)).toEqual(['a', 'b']);
    expect(values(up.rejected)).toEqual(['poison']);
    expect((await mirrors.status('cloud'))).toMatchObject({ state: 'connected', rejectedRecords: 1, lastError: { code: 'UPSTREAM_REJECTED' } });
    expect(up.connects).toBe(1);
  });

  it('counts a refused record once when a reconnect sends it again', async () => {
    // 'lost' is never acknowledged, so the cursor stays before 'poison': the next session resends both.
    const up = await startUpstream({ dropAckOnce: ['lost'], rejectPayloads: { poison: 0x87 } });
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${up.port}`, ackTimeoutMs: 300 });
    const { broker } = edge.running;
    broker.createTopic({ name: 'telemetry', partitions: 1 });
    await broker.produce({ topic: 'telemetry', partition: 0, records: ['lost', 'poison', 'b'].map((v) => rec(v)), acks: 1 });
    const mirrors = edge.running.mirrors!;
    await until(async () => (await mirrors.status('cloud')).backlogRecords === 0, 'an empty backlog');
    expect(up.connects).toBe(2);
    expect(values(up.rejected)).toEqual(['poison', 'poison']);
    expect((await mirrors.status('cloud')).rejectedRecords).toBe(1);
  });

  it('refuses a record above the upstream maximum packet size without sending it', async () => {
    const up = await startUpstream({ maximumPacketSize: 200 });
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${up.port}` });
    const { broker } = edge.running;
    broker.createTopic({ name: 'telemetry', partitions: 1 });
    await broker.produce({ topic: 'telemetry', partition: 0, records: ['a', 'x'.repeat(500), 'b'].map((v) => rec(v)), acks: 1 });
    await until(() => up.received.length >= 2, 'a and b upstream');
    expect(values(up.received)).toEqual(['a', 'b']);
    expect(up.rejected).toEqual([]);
    expect((await edge.running.mirrors!.status('cloud'))).toMatchObject({ rejectedRecords: 1, lastError: { code: 'UPSTREAM_REJECTED', message: expect.stringContaining('maximum packet size of 200') } });
  });

  it('fails the mirror under onRejected: stop, and resume retries from the refused record', async () => {
    const up = await startUpstream({ rejectPayloads: { poison: 0x87 } });
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${up.port}`, onRejected: 'stop', windowMax: 1 });
    const { broker } = edge.running;
    broker.createTopic({ name: 'telemetry', partitions: 1 });
    await broker.produce({ topic: 'telemetry', partition: 0, records: ['a', 'poison', 'b'].map((v) => rec(v)), acks: 1 });
    const mirrors = edge.running.mirrors!;
    await until(async () => (await mirrors.status('cloud')).state === 'failed', 'state failed');
    expect(values(up.received)).toEqual(['a']);
    expect((await mirrors.status('cloud'))).toMatchObject({ backlogRecords: 2, lastError: { code: 'UPSTREAM_REJECTED' } });
    await sleep(200);
    expect((await mirrors.status('cloud')).state).toBe('failed');

    // The upstream's policy is fixed (a new broker on the same port accepts everything): resume.
    await up.stop();
    const fixed = await startUpstream({ port: up.port });
    (await mirrors.resume('cloud'));
    await until(() => fixed.received.length >= 2, 'poison and b upstream');
    expect(values(fixed.received)).toEqual(['poison', 'b']);
    expect((await mirrors.status('cloud'))).toMatchObject({ state: 'connected', backlogRecords: 0 });
  });
});

describe('dead links', () => {
  it('reconnects when publishes go unacknowledged for ackTimeoutMs, then resends', async () => {
    const up = await startUpstream();
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${up.port}`, ackTimeoutMs: 300, windowMax: 10 });
    const { broker } = edge.running;
    broker.createTopic({ name: 'telemetry', partitions: 1 });
    await broker.produce({ topic: 'telemetry', partition: 0, records: [rec('before')], acks: 1 });
    await until(() => up.received.length === 1, 'the first record upstream');
    up.holdAcks = true;
    await broker.produce({ topic: 'telemetry', partition: 0, records: range(5, 'held').map((v) => rec(v)), acks: 1 });
    const mirrors = edge.running.mirrors!;
    await until(async () => (await mirrors.status('cloud')).lastError?.code === 'TIMEOUT', 'a TIMEOUT', 3_000);
    up.holdAcks = false;
    await until(async () => (await mirrors.status('cloud')).backlogRecords === 0, 'an empty backlog');
    expect(up.connects).toBeGreaterThanOrEqual(2);
    // The held records were resent on the new connection: each arrived at least twice, in order.
    const held = values(up.received).filter((v) => v.startsWith('held'));
    expect([...new Set(held)]).toEqual(range(5, 'held'));
    expect(held.length).toBeGreaterThanOrEqual(10);
  });

  it('pings every keepaliveMs while it ships, and reconnects when a PINGREQ goes unanswered for 1.5 × keepaliveMs', async () => {
    const up = await startUpstream();
    // ~40 records/s for as long as the test runs: a PUBACK arrives every 25 ms, far more often than a ping is due.
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${up.port}`, keepaliveMs: 1000, rateLimitBytesPerSec: 2048 });
    const { broker } = edge.running;
    broker.createTopic({ name: 'telemetry', partitions: 1 });
    await broker.produce({ topic: 'telemetry', partition: 0, records: range(2000, 'r').map((v) => rec(v)), acks: 1 });
    // A ping while PUBACKs keep coming: each PUBACK must not push the next ping back.
    await until(() => up.pings >= 1 && up.received.length > 0, 'a PINGREQ while shipping');
    expect(up.connects).toBe(1);
    // A hung upstream: no PINGRESP and no PUBACK, so publishes are in flight when the link is dropped.
    up.ignorePings = true;
    up.holdAcks = true;
    await until(() => up.connects >= 2, 'a reconnect after the unanswered PINGREQ');
    up.ignorePings = false;
    up.holdAcks = false;
    const mirrors = edge.running.mirrors!;
    await until(async () => (await mirrors.status('cloud')).state === 'connected', 'connected again');
    // The status says why the link was dropped, not only that the publishes in flight were failed.
    expect((await mirrors.status('cloud')).lastError).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', message: 'upstream connection lost: Keepalive timeout' });
  });
});

describe('window', () => {
  it('keeps the bytes in flight within windowBytesMax, and still sends a record bigger than it, alone', async () => {
    const up = await startUpstream();
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${up.port}`, windowMax: 100, windowBytesMax: '64KiB', batch: { bytesMax: '1MiB' } });
    const { broker } = edge.running;
    broker.createTopic({ name: 'telemetry', partitions: 1 });
    up.holdAcks = true;
    // Each PUBLISH is a little over 20 KiB: three fit in 64 KiB, a fourth would not.
    const big = (i: number) => `${i}`.padEnd(20 * 1024, '.');
    await broker.produce({ topic: 'telemetry', partition: 0, records: Array.from({ length: 10 }, (_, i) => rec(big(i))), acks: 1 });
    await until(() => up.received.length === 3, 'three records in flight');
    up.holdAcks = false;
    await until(async () => (await edge.running.mirrors!.status('cloud')).backlogRecords === 0, 'an empty backlog');
    expect(up.maxInflight).toBe(3);
    await broker.produce({ topic: 'telemetry', partition: 0, records: [rec('x'.repeat(100 * 1024))], acks: 1 });
    await until(async () => (await edge.running.mirrors!.status('cloud')).backlogRecords === 0, 'the 100 KiB record shipped');
    expect(up.received.map((r) => r.payload.length)).toEqual([...Array(10).fill(20 * 1024), 100 * 1024]);
  });
});

describe('topics, pause and resume', () => {
  it('ships topics matching a pattern, including ones created while connected', async () => {
    const up = await startUpstream();
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${up.port}`, topics: ['sensors.*'] });
    const { broker } = edge.running;
    await until(async () => (await edge.running.mirrors!.status('cloud')).state === 'connected', 'connected');
    for (const name of ['sensors.a', 'other', 'sensors.b']) {
      broker.createTopic({ name, partitions: 2 });
      await broker.produce({ topic: name, partition: 1, records: [rec(name)], acks: 1 });
    }
    await until(() => up.received.length >= 2, 'two records upstream');
    await sleep(100);
    expect(values(up.received).sort()).toEqual(['sensors.a', 'sensors.b']);
    expect(up.received.map((r) => r.topic).sort()).toEqual(['edge/gw-1/sensors.a', 'edge/gw-1/sensors.b']);
  });

  it('pauses (closing the connection), stays paused across a restart and drains after resume', async () => {
    const up = await startUpstream();
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${up.port}` });
    edge.running.broker.createTopic({ name: 'telemetry', partitions: 1 });
    await until(async () => (await edge.running.mirrors!.status('cloud')).state === 'connected', 'connected');
    expect((await edge.running.mirrors!.pause('cloud')).state).not.toBe('connected');
    await until(async () => (await edge.running.mirrors!.status('cloud')).state === 'paused', 'paused');
    await edge.running.broker.produce({ topic: 'telemetry', partition: 0, records: range(10, 'p').map((v) => rec(v)), acks: 1 });
    await edge.stop();
    await edge.start();
    await sleep(200);
    expect((await edge.running.mirrors!.status('cloud'))).toMatchObject({ state: 'paused', backlogRecords: 10 });
    expect(up.received).toEqual([]);
    expect(up.connects).toBe(1);
    await edge.running.mirrors!.resume('cloud');
    await until(() => up.received.length >= 10, '10 records upstream');
    expect(values(up.received)).toEqual(range(10, 'p'));
    await expect(edge.running.mirrors!.pause('nope')).rejects.toThrow(/UNKNOWN_MIRROR|no mirror named nope/);
  });
});

describe('retention and unshipped records', () => {
  it('age retention keeps what the mirror has not shipped, and deletes it once shipped', async () => {
    const port = await freePort();
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${port}` }, { retention: { checkIntervalMs: 50 } });
    const { broker } = edge.running;
    broker.createTopic({ name: 'telemetry', partitions: 1, retentionMs: 1 });
    for (let i = 0; i < 5; i++) await broker.produce({ topic: 'telemetry', partition: 0, records: [rec(`r${i}`, null, Date.now() - 60_000)], acks: 1 });
    await sleep(300);
    expect(broker.describeTopic('telemetry').partitions[0]).toMatchObject({ logStartOffset: 0, nextOffset: 5 });
    const up = await startUpstream({ port });
    await until(() => up.received.length >= 5, '5 records upstream');
    expect(values(up.received)).toEqual(range(5, 'r'));
    // Shipped now: retention takes all but the batch holding the cursor's position (offset 5 = end).
    await until(() => broker.describeTopic('telemetry').partitions[0]!.logStartOffset === 5, 'retention after shipping');
  });

  it('drop-oldest under a tight disk budget deletes unshipped records, counted per mirror; the rest arrive in order', async () => {
    const port = await freePort();
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${port}` }, { storage: { diskBudgetBytes: 20_000, diskBudgetPolicy: 'drop-oldest' } });
    const { broker } = edge.running;
    broker.createTopic({ name: 'telemetry', partitions: 1 });
    const payload = (i: number) => `${i}:${'x'.repeat(900)}`;
    for (let i = 0; i < 60; i++) await broker.produce({ topic: 'telemetry', partition: 0, records: [rec(payload(i))], acks: 1 });
    const start = broker.describeTopic('telemetry').partitions[0]!.logStartOffset;
    expect(start).toBeGreaterThan(30);
    const status = (await edge.running.mirrors!.status('cloud'));
    expect(status.droppedUnshippedRecords).toBe(start);
    expect(status.backlogRecords).toBe(60 - start);
    const up = await startUpstream({ port });
    await until(() => up.received.length >= 60 - start, `${60 - start} records upstream`);
    expect(up.received.map((r) => r.origin.offset)).toEqual(Array.from({ length: 60 - start }, (_, i) => start + i));
  });

  it('reject-new under a tight disk budget refuses new writes and keeps every unshipped record', async () => {
    const port = await freePort();
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${port}` }, { storage: { diskBudgetBytes: 20_000, diskBudgetPolicy: 'reject-new' } });
    const { broker } = edge.running;
    broker.createTopic({ name: 'telemetry', partitions: 1, retentionMs: 1 });
    let stored = 0;
    let refused: unknown;
    for (let i = 0; i < 60 && refused === undefined; i++) {
      try {
        await broker.produce({ topic: 'telemetry', partition: 0, records: [rec(`${i}:${'x'.repeat(900)}`, null, Date.now() - 60_000)], acks: 1 });
        stored++;
      } catch (err) {
        refused = err;
      }
    }
    expect(refused).toMatchObject({ codeName: 'STORAGE_FULL' });
    expect((await edge.running.mirrors!.status('cloud'))).toMatchObject({ backlogRecords: stored, droppedUnshippedRecords: 0 });
    const up = await startUpstream({ port });
    await until(() => up.received.length >= stored, `${stored} records upstream`);
    expect(up.received.map((r) => r.origin.offset)).toEqual(Array.from({ length: stored }, (_, i) => i));
  });
});

describe('MQTT 3.1.1 and TLS upstreams', () => {
  it('ships to aedes over MQTT 3.1.1 with the origin in the topic', async () => {
    const aedes = await Aedes.createBroker();
    const server = net.createServer(aedes.handle);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    onCleanup(async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const port = (server.address() as net.AddressInfo).port;
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
    onCleanup(() => sub.endAsync(true));
    await sub.subscribeAsync('edge/#', { qos: 1 });
    const got: { topic: string; payload: string }[] = [];
    sub.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));

    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${port}`, protocolVersion: 4, remoteTopic: 'edge/{edgeId}/{topic}/{partition}/{offset}' });
    edge.running.broker.createTopic({ name: 'telemetry', partitions: 1 });
    await edge.running.broker.produce({ topic: 'telemetry', partition: 0, records: range(3, 'v').map((v) => rec(v)), acks: 1 });
    await until(() => got.length >= 3, '3 records at the subscriber');
    expect(got).toEqual(range(3, 'v').map((payload, i) => ({ topic: `edge/gw-1/telemetry/0/${i}`, payload })));
  });

  it('connects over mqtts:// with a client certificate, and backs off without one', async () => {
    const server = selfSigned('localhost');
    const client = selfSigned('gw-1');
    const up = await startUpstream({ tls: { cert: fs.readFileSync(server.certFile), key: fs.readFileSync(server.keyFile), ca: fs.readFileSync(client.certFile) } });
    const url = `mqtts://localhost:${up.port}`;
    const withCert = await edgeWith({ url, tls: { caFile: server.certFile, certFile: client.certFile, keyFile: client.keyFile } });
    withCert.running.broker.createTopic({ name: 'telemetry', partitions: 1 });
    await withCert.running.broker.produce({ topic: 'telemetry', partition: 0, records: [rec('over tls')], acks: 1 });
    await until(() => up.received.length === 1, 'the record upstream');
    expect(values(up.received)).toEqual(['over tls']);

    const withoutCert = await edgeWith({ url, tls: { caFile: server.certFile } });
    await until(async () => (await withoutCert.running.mirrors!.status('cloud')).lastError !== null, 'a connect error');
    expect((await withoutCert.running.mirrors!.status('cloud'))).toMatchObject({ state: expect.stringMatching(/backing-off|connecting/), lastError: { code: 'UPSTREAM_UNAVAILABLE' } });
    expect(up.connects).toBe(1);
  });
});

describe('durability', () => {
  // The engine and the thread's view of the log (ThreadLog) run here on this thread, over the test
  // broker's own environment handles, so the test can hold the env.sync the mirror asks for: on the
  // mirror thread the same code calls the same sync on its own handle of the environment.
  it('ships an acks=1 record only once a sync made it survive a power cut', async () => {
    const up = await startUpstream();
    const edge = await startTestBroker({ edgeId: 'gw-1' });
    const { broker } = edge.running;
    broker.createTopic({ name: 'telemetry', partitions: 1 });
    const config = parseConfig({ mirrors: [{ name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${up.port}`, topics: ['telemetry'], backoff: { initialMs: 20, maxMs: 100 } }] }, 'test').mirrors;
    const h = broker.store.lmdb;
    const log = new ThreadLog(h, new ThreadStore(h, { dataDir: edge.dataDir, minFreeDiskBytes: 0, maxMapSizeBytes: -1, onFailStop: () => undefined }), silentLogger);
    broker.store.addAppendListener((topicId, partition) => log.appended(topicId, partition));
    const mirrors = await Mirrors.create(config, 'gw-1', log, silentLogger, { applyStartFrom: true });
    mirrors.start();
    onCleanup(() => mirrors.stop());
    await until(() => mirrors.status('cloud').state === 'connected', 'connected');
    const syncs = watchSyncs(broker.store);
    syncs.hold = true;
    await broker.produce({ topic: 'telemetry', partition: 0, records: [rec('committed, not yet synced')], acks: 1 });
    await until(() => syncs.calls > 0, 'the mirror asking for a sync');
    await sleep(100);
    expect(up.received).toEqual([]);
    syncs.release();
    await until(() => up.received.length === 1, 'the record upstream');
    await mirrors.stop();
  });
});

describe('review findings', () => {
  it('QoS 0: the cursor reaches the end (the send callback comes synchronously)', async () => {
    const up = await startUpstream();
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${up.port}`, qos: 0 });
    edge.running.broker.createTopic({ name: 'telemetry', partitions: 1 });
    await edge.running.broker.produce({ topic: 'telemetry', partition: 0, records: range(3, 'q').map((v) => rec(v)), acks: 1 });
    await until(() => up.received.length === 3, 'three records upstream');
    await until(async () => (await edge.running.mirrors!.status('cloud')).backlogRecords === 0, 'an empty backlog');
    expect(up.received.every((r) => r.qos === 0)).toBe(true);
  });

  it('sends binary and control-character keys as keyBase64, text keys as key', async () => {
    const up = await startUpstream();
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${up.port}`, remoteTopic: 'edge/{edgeId}/{topic}/{key}' });
    edge.running.broker.createTopic({ name: 'telemetry', partitions: 1 });
    const keys = [Buffer.from([0, 0, 0, 7]), Buffer.from([1, 2, 3, 7]), Buffer.from('sensor+1')];
    await edge.running.broker.produce({ topic: 'telemetry', partition: 0, records: keys.map((key) => ({ ...rec('v'), key })), acks: 1 });
    await until(() => up.received.length === 3, 'three records upstream');
    expect(up.received.map((r) => [r.topic, r.userProperties.key, r.userProperties.keyBase64])).toEqual([
      ['edge/gw-1/telemetry/00000007', undefined, 'AAAABw=='],
      ['edge/gw-1/telemetry/01020307', undefined, 'AQIDBw=='],
      ['edge/gw-1/telemetry/sensor_1', 'sensor+1', undefined],
    ]);
  });

  it('reports a CONNECT nobody answers as TIMEOUT', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    onCleanup(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, connectTimeoutMs: 200 });
    await until(async () => (await edge.running.mirrors!.status('cloud')).lastError !== null, 'a connect error');
    expect((await edge.running.mirrors!.status('cloud')).lastError).toMatchObject({ code: 'TIMEOUT' });
  });

  it('reconnects when one publish is never acknowledged while the others are', async () => {
    const up = await startUpstream({ dropAckOnce: ['lost'] });
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${up.port}`, ackTimeoutMs: 400 });
    const { broker } = edge.running;
    broker.createTopic({ name: 'telemetry', partitions: 2 });
    await broker.produce({ topic: 'telemetry', partition: 0, records: [rec('lost')], acks: 1 });
    // The other partition keeps the connection busy with acknowledged publishes.
    for (let i = 0; i < 20; i++) {
      await broker.produce({ topic: 'telemetry', partition: 1, records: [rec(`ok${i}`)], acks: 1 });
      await sleep(40);
    }
    const mirrors = edge.running.mirrors!;
    await until(async () => (await mirrors.status('cloud')).backlogRecords === 0, 'an empty backlog');
    expect((await mirrors.status('cloud')).lastError).toMatchObject({ code: 'TIMEOUT', message: expect.stringContaining('telemetry/0 offset 0') });
    expect(up.connects).toBe(2);
    expect(values(up.received).filter((v) => v === 'lost')).toHaveLength(2);
    expect((await mirrors.status('cloud')).resentRecords).toBeGreaterThanOrEqual(1);
  });

  it('backs off further while the upstream accepts CONNECT and drops the connection at once', async () => {
    const up = await startUpstream({ closeAfterConnack: true });
    await edgeWith({ url: `mqtt://127.0.0.1:${up.port}`, backoff: { initialMs: 20, maxMs: 2000 } });
    await sleep(1500);
    // Without growth: a connect every 10-20 ms, some 75-150 of them. With it: 20, 40, 80, … ms apart.
    expect(up.connects).toBeGreaterThanOrEqual(3);
    expect(up.connects).toBeLessThanOrEqual(12);
  });

  it('takes a record the upstream answers only by disconnecting as refused, after five sessions in a row', async () => {
    const up = await startUpstream({ disconnectOnPayload: 'poison' });
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${up.port}`, backoff: { initialMs: 10, maxMs: 40 } });
    edge.running.broker.createTopic({ name: 'telemetry', partitions: 1 });
    await edge.running.broker.produce({ topic: 'telemetry', partition: 0, records: ['a', 'poison', 'b'].map((v) => rec(v)), acks: 1 });
    const mirrors = edge.running.mirrors!;
    await until(async () => (await mirrors.status('cloud')).backlogRecords === 0, 'an empty backlog', 10_000);
    expect([...new Set(values(up.received))]).toEqual(['a', 'b']);
    expect(up.connects).toBe(6);
    expect((await mirrors.status('cloud'))).toMatchObject({ rejectedRecords: 1, lastError: { code: 'UPSTREAM_REJECTED', message: expect.stringContaining('5 times in a row') } });
  });

  it('blames only the oldest unacknowledged record of the connection, not the unacknowledged ones of other partitions', async () => {
    // Acks come 20 ms late: when the upstream drops us over 'poison', 'x' (partition 1) is unacknowledged too.
    const up = await startUpstream({ disconnectOnPayload: 'poison', ackDelayMs: 20 });
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${up.port}`, backoff: { initialMs: 10, maxMs: 40 } });
    const { broker } = edge.running;
    broker.createTopic({ name: 'telemetry', partitions: 2 });
    await broker.produce({ topic: 'telemetry', partition: 0, records: ['poison', 'b'].map((v) => rec(v)), acks: 1 });
    await broker.produce({ topic: 'telemetry', partition: 1, records: ['x', 'y'].map((v) => rec(v)), acks: 1 });
    const mirrors = edge.running.mirrors!;
    await until(async () => (await mirrors.status('cloud')).backlogRecords === 0, 'an empty backlog', 15_000);
    expect([...new Set(values(up.received))].sort()).toEqual(['b', 'x', 'y']);
    expect((await mirrors.status('cloud')).rejectedRecords).toBe(1);
  });

  it('counts resends after a restart, and retention keeps unshipped records after the mirrors stopped', async () => {
    const up = await startUpstream();
    up.holdAcks = true;
    const edge = await edgeWith({ url: `mqtt://127.0.0.1:${up.port}` });
    edge.running.broker.createTopic({ name: 'telemetry', partitions: 1, retentionMs: 1 });
    await edge.running.broker.produce({ topic: 'telemetry', partition: 0, records: range(3, 'h').map((v) => rec(v, null, Date.now() - 60_000)), acks: 1 });
    await until(() => up.received.length === 3, 'three records upstream, unacknowledged');
    await edge.running.mirrors!.stop();
    expect(edge.running.broker.store.maintenanceStep(Date.now(), 100)).toBe(0);
    await edge.stop();
    up.holdAcks = false;
    await edge.start();
    await until(() => up.received.length === 6, 'the three records again');
    await until(async () => (await edge.running.mirrors!.status('cloud')).backlogRecords === 0, 'an empty backlog');
    expect((await edge.running.mirrors!.status('cloud')).resentRecords).toBe(3);
  });
});
