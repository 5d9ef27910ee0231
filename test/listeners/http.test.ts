import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { startTributary } from '../../src/main.ts';
import { onCleanup, rec, tempDir } from '../helpers/temp.ts';

async function start() {
  const config = parseConfig({ dataDir: tempDir(), listeners: { edge: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, mqtt: { enabled: false } } }, 'test');
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
    expect(text).toMatch(/^tributary_group_commits_total [1-9]/m);
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
});
