// Self-test of test/helpers/mosquitto-upstream.ts (and the TCP proxy under it): what an edge publishes
// through the proxy lands in `received`, and stop()/start() cut and restore the uplink while mosquitto
// keeps running.
import net from 'node:net';
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { freePort } from '../helpers/child-broker.ts';
import { mosquittoBinary, startMosquittoUpstream } from '../helpers/mosquitto-upstream.ts';
import { onCleanup } from '../helpers/temp.ts';
import { until } from '../helpers/upstream.ts';

const available = mosquittoBinary() !== null;

async function connect(port: number, opts: IClientOptions = {}): Promise<{ client: MqttClient; connack: IConnackPacket }> {
  const client = mqtt.connect({ host: '127.0.0.1', port, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 3_000, ...opts });
  onCleanup(() => client.endAsync(true));
  client.on('error', () => undefined);
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return { client, connack };
}

/** Resolves with the error of a plain TCP connect to the port, or null when it connected. */
function tcpConnectError(port: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(null);
    });
    socket.once('error', (err) => resolve(err));
  });
}

describe.runIf(available || process.env.CI)('startMosquittoUpstream', () => {
  it('records what is published through the proxy, with the parsed origin', { timeout: 20_000 }, async () => {
    const up = await startMosquittoUpstream();
    expect(up.port).not.toBe(up.mosquittoPort);
    expect(up.maxInflight).toBe(0);
    const { client, connack } = await connect(up.port, { clientId: 'edge-selftest' });
    // max_inflight_messages 0: no Receive Maximum in CONNACK, the mirror's window is not capped at 20.
    expect(connack.properties?.receiveMaximum).toBeUndefined();
    expect(up.connects).toBe(1);

    await client.publishAsync('edge/gw/t/0', 'hello', { qos: 1, properties: { userProperties: { origin: 'gw/t/0/5', key: 'k5' } } });
    await client.publishAsync('edge/gw/t/1', 'fire-and-forget', { qos: 0, properties: { userProperties: { origin: 'gw/t/1/7' } } });
    await until(() => up.received.length >= 2, 'two publishes at the subscriber', 5_000);
    expect(up.received).toEqual([
      {
        topic: 'edge/gw/t/0',
        payload: 'hello',
        qos: 1,
        userProperties: { origin: 'gw/t/0/5', key: 'k5' },
        properties: { userProperties: { origin: 'gw/t/0/5', key: 'k5' } },
        origin: { edgeId: 'gw', topic: 't', partition: 0, offset: 5 },
      },
      {
        topic: 'edge/gw/t/1',
        payload: 'fire-and-forget',
        qos: 0,
        userProperties: { origin: 'gw/t/1/7' },
        properties: { userProperties: { origin: 'gw/t/1/7' } },
        origin: { edgeId: 'gw', topic: 't', partition: 1, offset: 7 },
      },
    ]);
    expect(up.subscriberError).toBeNull();
  });

  it('keeps publish order and drops nothing from a burst of 10,000 publishes in flight at once', { timeout: 25_000 }, async () => {
    const up = await startMosquittoUpstream();
    const { client } = await connect(up.port);
    const n = 10_000;
    await Promise.all(
      Array.from({ length: n }, (_, i) => client.publishAsync('edge/gw/t/0', `r${i}`, { qos: 1, properties: { userProperties: { origin: `gw/t/0/${i}` } } })),
    );
    await until(() => up.received.length >= n, `${n} publishes at the subscriber (have ${up.received.length})`, 15_000);
    expect(up.received.length).toBe(n);
    expect(up.received.map((r) => r.origin.offset)).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('stop() cuts proxied connections and refuses new ones; start() accepts again on the same port', { timeout: 20_000 }, async () => {
    const port = await freePort();
    const up = await startMosquittoUpstream({ port });
    expect(up.port).toBe(port);
    const { client } = await connect(up.port, { clientId: 'edge-selftest' });
    expect(up.connects).toBe(1);

    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await up.stop();
    await closed;
    expect(client.connected).toBe(false);
    expect((await tcpConnectError(port))?.code).toBe('ECONNREFUSED');
    expect(up.connects).toBe(1);

    // Mosquitto kept running and the subscriber is still there.
    const { client: direct } = await connect(up.mosquittoPort);
    await direct.publishAsync('edge/direct', 'while the uplink is down', { qos: 1 });
    await until(() => up.received.length === 1, 'the direct publish at the subscriber', 5_000);

    await up.start();
    expect(up.port).toBe(port);
    // Same client id as before the cut: mosquitto has dropped (or takes over) the old session.
    const { client: again } = await connect(up.port, { clientId: 'edge-selftest' });
    expect(up.connects).toBe(2);
    await again.publishAsync('edge/gw/t/0', 'after restart', { qos: 1, properties: { userProperties: { origin: 'gw/t/0/6' } } });
    await until(() => up.received.length === 2, 'the publish after start() at the subscriber', 5_000);
    expect(up.received[1]).toMatchObject({ payload: 'after restart', origin: { edgeId: 'gw', topic: 't', partition: 0, offset: 6 } });
    expect(up.subscriberError).toBeNull();
  });

  it('holdAcks holds PUBACKs back in the proxy while mosquitto still forwards the publishes', { timeout: 20_000 }, async () => {
    const up = await startMosquittoUpstream();
    const { client } = await connect(up.port);
    up.holdAcks = true;
    let acked = 0;
    const publishes = Array.from({ length: 5 }, (_, i) =>
      client.publishAsync('edge/gw/t/0', `held-${i}`, { qos: 1, properties: { userProperties: { origin: `gw/t/0/${i}` } } }).then(() => acked++),
    );
    await until(() => up.received.length === 5, 'the held publishes at the subscriber', 5_000);
    // A new connection still gets its CONNACK: only PUBACKs are held.
    await connect(up.port);
    await new Promise((r) => setTimeout(r, 200));
    expect(acked).toBe(0);
    up.holdAcks = false;
    await Promise.all(publishes);
    expect(acked).toBe(5);
    expect(up.received.map((r) => r.payload)).toEqual(['held-0', 'held-1', 'held-2', 'held-3', 'held-4']);
  });
});
