import http from 'node:http';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { startTributary } from '../../src/main.ts';
import type { MirrorStatus } from '../../src/mirror/status.ts';
import { merge } from '../helpers/broker.ts';
import { onCleanup, rec, tempDir } from '../helpers/temp.ts';
import { startUpstream } from '../helpers/upstream.ts';

async function start(over: Record<string, unknown> = {}) {
  const config = parseConfig(merge({ dataDir: tempDir(), listeners: { edge: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, mqtt: { enabled: false }, kafka: { enabled: false } } }, over), 'test');
  const running = await startTributary(config, pino({ level: 'silent' }));
  onCleanup(() => running.close());
  return { running, base: `http://127.0.0.1:${running.http!.port}` };
}

describe('http listener', () => {
  it('serves /healthz and Prometheus /metrics with per-partition offsets and errors by code', async () => {
    const { running, base } = await start();
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });

    running.broker.createTopic({ name: 'm', partitions: 2 });
    await running.broker.produce({ topic: 'm', partition: 1, records: [rec('a'), rec('b')], acks: 1 });
    await running.broker.fetch('m', 1, 0, 1 << 20, 0);
    await running.broker.fetch('m', 1, 99, 1 << 20, 0).catch(() => undefined);

    const res = await fetch(`${base}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/^tributary_records_in_total 2$/m);
    expect(text).toMatch(/^tributary_records_out_total 2$/m);
    expect(text).toMatch(/^tributary_partition_next_offset\{topic="m",partition="1"\} 2$/m);
    expect(text).toMatch(/^tributary_partition_next_offset\{topic="m",partition="0"\} 0$/m);
    expect(text).toMatch(/^tributary_errors_total\{code="OFFSET_OUT_OF_RANGE"\} 1$/m);
    expect(text).toMatch(/^tributary_connections\{listener="edge"\} 0$/m);
    expect(text).toMatch(/^tributary_group_txns_total [1-9]/m);
    expect(text).toMatch(/^tributary_process_resident_memory_bytes \d+/m);
  });

  it('describes topics as JSON and answers unknown ones with 404', async () => {
    const { running, base } = await start();
    running.broker.createTopic({ name: 'd', partitions: 3 });
    const topics = (await (await fetch(`${base}/topics`)).json()) as { name: string }[];
    expect(topics.map((t) => t.name)).toEqual(['d']);
    const d = (await (await fetch(`${base}/topics/d`)).json()) as { partitions: unknown[] };
    expect(d.partitions).toHaveLength(3);
    const garbled = await fetch(`${base}/topics/%E0`);
    expect(garbled.status).toBe(400);
    expect(await garbled.json()).toMatchObject({ error: 'INVALID_TOPIC' });
    const missing = await fetch(`${base}/topics/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: 'UNKNOWN_TOPIC' });
  });

  it('takes a path starting // as a path (404), not as a host name; an absolute-form target as its path', async () => {
    const { base } = await start();
    const get = (target: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.get(`${base}/`, { path: target }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
      });
    for (const target of ['//', '//healthz', '//metrics']) {
      const r = await get(target);
      expect(r.status, target).toBe(404);
      expect(JSON.parse(r.body), target).toMatchObject({ error: 'NOT_FOUND' });
    }
    expect(await get(`${base}/healthz`)).toEqual({ status: 200, body: JSON.stringify({ status: 'ok' }) });
  });

  it('serves /mirrors as [] and every mirror name as UNKNOWN_MIRROR when none is configured', async () => {
    const { base } = await start();
    const list = await fetch(`${base}/mirrors`);
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual([]);
    for (const [method, path] of [['GET', '/mirrors/cloud'], ['POST', '/mirrors/cloud/pause']]) {
      const res = await fetch(`${base}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(await res.json()).toEqual({ error: 'UNKNOWN_MIRROR', message: 'no mirror named cloud; configured: none' });
    }
  });

  it('shows, pauses and resumes a mirror; with listeners.http.adminToken the POST routes require it as a Bearer token, also from loopback', async () => {
    const upstream = await startUpstream();
    const { base } = await start({
      edgeId: 'gw-1',
      listeners: { edge: { token: 'edge-only' }, http: { adminToken: 's3cret' } },
      mirrors: [{ name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${upstream.port}`, topics: ['telemetry'], backoff: { initialMs: 50, maxMs: 200 } }],
    });
    const get = async (path: string) => (await fetch(`${base}${path}`)).json() as Promise<MirrorStatus>;
    const post = (path: string, authorization?: string) => fetch(`${base}${path}`, { method: 'POST', headers: authorization === undefined ? {} : { authorization } });

    const list = (await (await fetch(`${base}/mirrors`)).json()) as MirrorStatus[];
    expect(list.map((m) => [m.name, m.sink, m.url])).toEqual([['cloud', 'mqtt', `mqtt://127.0.0.1:${upstream.port}`]]);
    expect(await get('/mirrors/cloud')).toMatchObject({ name: 'cloud', backlogRecords: 0, lastError: null });
    const unknown = await fetch(`${base}/mirrors/nope`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'UNKNOWN_MIRROR', message: 'no mirror named nope; configured: cloud' });

    // The edge listener's token is the edge listener's: it opens no admin action.
    for (const authorization of [undefined, 'Bearer wrong', 'Bearer s3cret2', 'Basic s3cret', 's3cret', 'Bearer edge-only']) {
      const refused = await post('/mirrors/cloud/pause', authorization);
      expect(refused.status, String(authorization)).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Bearer');
      expect(await refused.json()).toEqual({ error: 'NOT_AUTHORIZED', message: 'missing or wrong token (Authorization: Bearer <listeners.http.adminToken>)' });
    }
    expect((await get('/mirrors/cloud')).state).not.toBe('paused');

    const wrongMethod = await fetch(`${base}/mirrors/cloud/pause`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect((await post('/mirrors', 'Bearer s3cret')).status).toBe(405);
    expect((await post('/mirrors/cloud', 'Bearer s3cret')).status).toBe(405);
    const unknownAction = await post('/mirrors/cloud/bogus', 'Bearer s3cret');
    expect(unknownAction.status).toBe(404);
    expect(await unknownAction.json()).toEqual({ error: 'NOT_FOUND', message: 'no mirror action "bogus"; the actions are POST /mirrors/NAME/pause, resume, retry and reset' });

    const paused = await post('/mirrors/cloud/pause', 'Bearer s3cret');
    expect(paused.status).toBe(200);
    expect(await paused.json()).toMatchObject({ name: 'cloud', state: 'paused' });
    expect((await get('/mirrors/cloud')).state).toBe('paused');
    const unknownPause = await post('/mirrors/nope/pause', 'Bearer s3cret');
    expect(unknownPause.status).toBe(404);
    expect(await unknownPause.json()).toMatchObject({ error: 'UNKNOWN_MIRROR' });

    const resumed = await post('/mirrors/cloud/resume', 'bearer s3cret');
    expect(resumed.status).toBe(200);
    expect(((await resumed.json()) as MirrorStatus).state).not.toBe('paused');
  });

  it('pauses and resumes a mirror while the disk has less than minFreeDiskBytes free', async () => {
    const upstream = await startUpstream();
    const { base } = await start({
      storage: { minFreeDiskBytes: '1000TB' },
      mirrors: [{ name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${upstream.port}`, topics: ['telemetry'] }],
    });
    const paused = await fetch(`${base}/mirrors/cloud/pause`, { method: 'POST' });
    expect(paused.status).toBe(200);
    expect(await paused.json()).toMatchObject({ state: 'paused' });
    const resumed = await fetch(`${base}/mirrors/cloud/resume`, { method: 'POST' });
    expect(resumed.status).toBe(200);
    expect(((await resumed.json()) as MirrorStatus).state).not.toBe('paused');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('without an adminToken a loopback client pauses and resumes with no Authorization', async () => {
    const upstream = await startUpstream();
    const { base } = await start({ mirrors: [{ name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${upstream.port}`, topics: ['telemetry'] }] });
    const paused = await fetch(`${base}/mirrors/cloud/pause`, { method: 'POST' });
    expect(paused.status).toBe(200);
    expect(await paused.json()).toMatchObject({ state: 'paused' });
    const resumed = await fetch(`${base}/mirrors/cloud/resume`, { method: 'POST' });
    expect(resumed.status).toBe(200);
    expect(await resumed.json()).not.toMatchObject({ state: 'paused' });
  });
});
