// The /metrics scrape of a real broker, with every family populated (edge traffic and errors, MQTT,
// a mirror, a consumer group), linted by Prometheus' own promtool: names, suffixes, HELP and TYPE lines.
import { spawnSync } from 'node:child_process';
import mqtt from 'mqtt';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { startTributary } from '../../src/main.ts';
import { merge } from '../helpers/broker.ts';
import { runProcess } from '../helpers/cli.ts';
import { onCleanup, rec, tempDir } from '../helpers/temp.ts';
import { startUpstream, until } from '../helpers/upstream.ts';

const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

describe.runIf(hasPromtool || process.env.CI)('/metrics', () => {
  it('passes promtool check metrics', async () => {
    const upstream = await startUpstream();
    const config = parseConfig(
      merge(
        { dataDir: tempDir(), listeners: { edge: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, mqtt: { host: '127.0.0.1', port: 0, ws: { enabled: false } }, kafka: { host: '127.0.0.1', port: 0 } } },
        { mirrors: [{ name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${upstream.port}`, topics: ['m'] }] },
      ),
      'test',
    );
    const running = await startTributary(config, pino({ level: 'silent' }));
    onCleanup(() => running.close());
    running.broker.createTopic({ name: 'm', partitions: 2 });
    await running.broker.produce({ topic: 'm', partition: 1, records: [rec('a'), rec('b')], acks: 1 });
    await running.broker.fetch('m', 1, 99, 1 << 20, 0).catch(() => undefined);
    await running.broker.groups.commit({ group: 'lint', memberId: '', generation: -1, offsets: [{ topic: 'm', partition: 1, offset: 1, metadata: '' }] });
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${running.mqtt!.port}`, { protocolVersion: 4 });
    onCleanup(() => client.endAsync());
    await client.publishAsync('sensors/t-1', '21.5', { qos: 1 });
    // A persistent session away with a queued message, a retained message, a $SYS publish dropped.
    const away = await mqtt.connectAsync(`mqtt://127.0.0.1:${running.mqtt!.port}`, { protocolVersion: 4, clientId: 'away', clean: false });
    await away.subscribeAsync('q/#', { qos: 1 });
    await away.endAsync();
    await client.publishAsync('q/1', 'queued', { qos: 1, retain: true });
    await client.publishAsync('$SYS/forged', 'x', { qos: 1 });
    await until(() => upstream.received.length >= 2, 'the mirror to ship');

    const scrape = await (await fetch(`http://127.0.0.1:${running.http!.port}/metrics`)).text();
    for (const family of ['tributary_records_in_total', 'tributary_mqtt_publishes_in_total', 'tributary_mirror_shipped_records_total', 'tributary_mirror_partition_lag_records', 'tributary_errors_total', 'tributary_nodejs_active_handles', 'tributary_consumergroup_lag', 'tributary_consumergroup_members', 'tributary_mqtt_delivered_total', 'tributary_mqtt_subscriptions', 'tributary_mqtt_retained_messages', 'tributary_mqtt_sessions_queued', 'tributary_mqtt_sessions_queued_messages', 'tributary_mqtt_session_queued_messages', 'tributary_mqtt_sys_publishes_dropped_total', 'tributary_mqtt_subscriber_oversize_dropped_total', 'tributary_mqtt_sessions_expired_total'])
      expect(scrape).toMatch(new RegExp(`^${family}[{ ]`, 'm'));
    expect(scrape).toMatch(/^tributary_mqtt_session_queued_messages\{client_id="away"\} 1$/m);
    expect(scrape).toMatch(/^tributary_mqtt_sys_publishes_dropped_total 1$/m);
    const lint = await runProcess('promtool', ['check', 'metrics'], { input: scrape });
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.code).toBe(0);
  });
});
