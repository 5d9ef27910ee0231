// kill -9 in the middle of a QoS 1 MQTT stream: every message the broker acknowledged with a PUBACK
// must be in the log after a restart, offsets consecutive from 0, none twice, in publish order.
// Operations are ok (PUBACK received) or unknown (in flight at the kill); only ok ones are checked
// for lost-write. The default route's acks is 1 (PUBACK after the commit) or all (after the flush).
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { freePort, mqttListenerEnv, startChildBroker, waitForPort } from '../helpers/child-broker.ts';
import { readLog } from '../helpers/raw-edge.ts';
import { tempDir } from '../helpers/temp.ts';

async function startWithMqtt(dataDir: string, edgePort: number, mqttPort: number, acks: 1 | 'all') {
  const broker = await startChildBroker(dataDir, edgePort, {
    ...mqttListenerEnv(mqttPort),
    TRIBUTARY_DEFAULT_ROUTE__ACKS: String(acks),
  });
  await waitForPort(broker, mqttPort);
  return broker;
}

describe.each([1, 'all'] as const)('kill -9 during a QoS 1 MQTT stream (route acks=%s)', (acks) => {
  it('keeps every PUBACKed message, with consecutive offsets, no duplicates, in order', async () => {
    const dataDir = tempDir();
    const edgePort = await freePort();
    const mqttPort = await freePort();
    const broker = await startWithMqtt(dataDir, edgePort, mqttPort, acks);
    const client = await mqtt.connectAsync({ host: '127.0.0.1', port: mqttPort, clientId: 'crash', reconnectPeriod: 0 });
    client.on('error', () => undefined);
    const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));

    const acked = new Set<number>();
    let sent = 0;
    const window = 64;
    const killAfter = 1500;
    const pump = () => {
      while (client.connected && sent - acked.size < window && sent < 100_000) {
        const seq = ++sent;
        client.publish('crash/t', String(seq), { qos: 1 }, (err) => {
          if (err) return;
          acked.add(seq);
          if (acked.size >= killAfter && broker.child.exitCode === null) broker.child.kill('SIGKILL');
          pump();
        });
      }
    };
    pump();
    await broker.exited;
    await clientClosed;

    const restarted = await startWithMqtt(dataDir, edgePort, mqttPort, acks);
    const log = await readLog(edgePort, 'mqtt');
    const values = log.map((r) => r.value);
    // inconsistent-offsets
    expect(log.map((r) => r.offset)).toEqual(log.map((_, i) => i));
    // duplicate
    expect(new Set(values).size).toBe(values.length);
    // lost-write: every PUBACKed message is there.
    const stored = new Set(values);
    expect([...acked].filter((seq) => !stored.has(String(seq)))).toEqual([]);
    // nonmonotonic
    const seqs = values.map(Number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(acked.size).toBeGreaterThanOrEqual(killAfter);
    expect(values.length).toBeLessThanOrEqual(sent);
    restarted.child.kill('SIGTERM');
    expect(await restarted.exited).toBe(0);
  }, 60_000);
});
