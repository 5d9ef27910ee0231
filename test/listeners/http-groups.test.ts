// Consumer groups over HTTP: GET /groups and /groups/NAME as JSON, and the kafka-exporter-named
// gauges in /metrics, with values checked against commits made over the edge protocol.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { EdgeClient } from '../../src/client/index.ts';
import { parseConfig } from '../../src/config/load.ts';
import { startTributary } from '../../src/main.ts';
import { merge } from '../helpers/broker.ts';
import { onCleanup, rec, tempDir } from '../helpers/temp.ts';

async function start() {
  const config = parseConfig(
    merge({ dataDir: tempDir(), listeners: { edge: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, mqtt: { enabled: false }, kafka: { enabled: false } } }, {}),
    'test',
  );
  const running = await startTributary(config, pino({ level: 'silent' }));
  onCleanup(() => running.close());
  const client = await EdgeClient.connect({ host: '127.0.0.1', port: running.edge!.port, clientId: 'http-groups-test' });
  onCleanup(() => client.close());
  return { running, client, base: `http://127.0.0.1:${running.http!.port}` };
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

/** The value of one sample of the scrape, or undefined when it is absent. */
function sample(scrape: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}} `;
  const line = scrape.split('\n').find((l) => l.startsWith(wanted));
  return line === undefined ? undefined : Number(line.slice(wanted.length));
}

describe('consumer groups over http', () => {
  it('lists groups with their lag, describes one, answers an unknown one 404 UNKNOWN_GROUP, and exports lag, offsets and members in /metrics', async () => {
    const { running, client, base } = await start();
    expect(await getJson(`${base}/groups`)).toEqual({ status: 200, body: [] });

    running.broker.createTopic({ name: 'events', partitions: 2 });
    await running.broker.produce({ topic: 'events', partition: 0, records: ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((v) => rec(v)), acks: 1 });
    await running.broker.produce({ topic: 'events', partition: 1, records: [rec('x'), rec('y')], acks: 1 });
    await client.register(1, 'events', false);
    await client.commitOffsets({
      group: 'dashboard',
      memberId: '',
      generation: -1,
      offsets: [
        { alias: 1, partition: 0, offset: 3, metadata: '' },
        { alias: 1, partition: 1, offset: 2, metadata: '' },
      ],
    });

    expect(await getJson(`${base}/groups`)).toEqual({ status: 200, body: [{ group: 'dashboard', state: 'empty', members: 0, lag: 4 }] });
    expect(await getJson(`${base}/groups/dashboard`)).toEqual({
      status: 200,
      body: {
        group: 'dashboard',
        state: 'empty',
        strategy: 'sticky',
        generation: 0,
        members: [],
        partitions: [
          { topic: 'events', partition: 0, committed: 3, metadata: '', logStartOffset: 0, logEndOffset: 7, lag: 4, memberId: '' },
          { topic: 'events', partition: 1, committed: 2, metadata: '', logStartOffset: 0, logEndOffset: 2, lag: 0, memberId: '' },
        ],
      },
    });
    expect(await getJson(`${base}/groups/nobody`)).toEqual({ status: 404, body: { error: 'UNKNOWN_GROUP', message: 'no consumer group nobody' } });
    expect(await getJson(`${base}/groups/%E0`)).toMatchObject({ status: 400, body: { error: 'INVALID_REQUEST' } });

    const scrape = async () => (await fetch(`${base}/metrics`)).text();
    let text = await scrape();
    const p0 = { consumergroup: 'dashboard', topic: 'events', partition: '0' };
    const p1 = { consumergroup: 'dashboard', topic: 'events', partition: '1' };
    expect(sample(text, 'tributary_consumergroup_lag', p0)).toBe(7 - 3);
    expect(sample(text, 'tributary_consumergroup_lag', p1)).toBe(0);
    expect(sample(text, 'tributary_consumergroup_current_offset', p0)).toBe(3);
    expect(sample(text, 'tributary_consumergroup_current_offset', p1)).toBe(2);
    expect(sample(text, 'tributary_consumergroup_members', { consumergroup: 'dashboard' })).toBe(0);

    // More records: the lag follows the log end at the next scrape.
    await running.broker.produce({ topic: 'events', partition: 1, records: [rec('z')], acks: 1 });
    text = await scrape();
    expect(sample(text, 'tributary_consumergroup_lag', p1)).toBe(1);

    // A member of a second group: its partitions show with nothing committed (-1), lag from the log start.
    const member = await EdgeClient.connect({ host: '127.0.0.1', port: running.edge!.port, clientId: 'live-worker' });
    onCleanup(() => member.close());
    const joined = await member.joinGroup({ group: 'live', memberId: '', instanceId: '', sessionTimeoutMs: 60_000, rebalanceTimeoutMs: 0, strategy: 0, pattern: '', topics: ['events'] });
    const groups = (await getJson(`${base}/groups`)).body;
    expect(groups).toEqual([
      { group: 'dashboard', state: 'empty', members: 0, lag: 5 },
      { group: 'live', state: 'stable', members: 1, lag: 10 },
    ]);
    const live = (await getJson(`${base}/groups/live`)).body as { members: unknown[] };
    expect(live.members).toEqual([{ memberId: joined.memberId, instanceId: null, clientId: 'live-worker', host: '127.0.0.1', assignment: [{ topic: 'events', partitions: [0, 1] }] }]);
    text = await scrape();
    expect(sample(text, 'tributary_consumergroup_members', { consumergroup: 'live' })).toBe(1);
    expect(sample(text, 'tributary_consumergroup_current_offset', { consumergroup: 'live', topic: 'events', partition: '0' })).toBe(-1);
    expect(sample(text, 'tributary_consumergroup_lag', { consumergroup: 'live', topic: 'events', partition: '0' })).toBe(7);

    // The member commits: its lag drops to what it has not read.
    await member.register(1, 'events', false);
    await member.commitOffsets({ group: 'live', memberId: joined.memberId, generation: joined.generation, offsets: [{ alias: 1, partition: 0, offset: 6, metadata: '' }] });
    text = await scrape();
    expect(sample(text, 'tributary_consumergroup_lag', { consumergroup: 'live', topic: 'events', partition: '0' })).toBe(1);
    expect(sample(text, 'tributary_consumergroup_current_offset', { consumergroup: 'live', topic: 'events', partition: '0' })).toBe(6);

    // Deleted: gone from /groups and from the next scrape.
    await client.deleteGroup('dashboard');
    expect((await getJson(`${base}/groups`)).body).toEqual([{ group: 'live', state: 'stable', members: 1, lag: 4 }]);
    text = await scrape();
    expect(sample(text, 'tributary_consumergroup_lag', p0)).toBeUndefined();
    expect(sample(text, 'tributary_consumergroup_members', { consumergroup: 'dashboard' })).toBeUndefined();
  });
});
