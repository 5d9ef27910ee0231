// MQTT over WebSocket and over TLS reach the same durable publish path as plain TCP.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../helpers/child-broker.ts';
import { lines, run } from '../../helpers/cli.ts';
import { headers, logRecords, rawWebSocket, startMqttBroker } from '../../helpers/mqtt.ts';
import { selfSigned } from '../../helpers/certs.ts';
import { onCleanup, tempDir } from '../../helpers/temp.ts';

describe('MQTT transports', () => {
  it('round-trips over WebSocket: published, logged, delivered', async () => {
    const broker = await startMqttBroker();
    const url = `ws://127.0.0.1:${broker.running.mqtt!.wsPort}/mqtt`;
    const sub = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
    onCleanup(() => sub.endAsync(true));
    await sub.subscribeAsync('ws/#', { qos: 1 });
    const got = new Promise<string>((resolve) => sub.once('message', (_t, p) => resolve(p.toString())));
    const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: 'browser' });
    onCleanup(() => pub.endAsync(true));
    await pub.publishAsync('ws/a', 'over ws', { qos: 1 });
    expect(await got).toBe('over ws');
    const [record] = await logRecords(broker.running, 'mqtt');
    expect(headers(record)).toMatchObject({ 'mqtt.topic': 'ws/a', 'mqtt.clientId': 'browser' });
  });

  it('answers a WebSocket past connectionsMax with CONNACK 3 and survives a broken frame from it', async () => {
    const broker = await startMqttBroker({ listeners: { mqtt: { connectionsMax: 1 } } });
    const held = await mqtt.connectAsync({ host: '127.0.0.1', port: broker.mqttPort, reconnectPeriod: 0 });
    onCleanup(() => held.endAsync(true));
    const socket = await rawWebSocket(broker.running.mqtt!.wsPort!);
    // A client frame without a mask [RFC 6455 5.1]: the server's WebSocket reports an 'error'.
    socket.write(Buffer.from([0x82, 0x00]));
    await new Promise<void>((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));
    expect(broker.running.mqtt!.metrics.refused.get('connections-max')).toBe(1);
    await held.publishAsync('still/up', 'x', { qos: 1 });
  });

  it('round-trips over TLS with a configured certificate', async () => {
    const { certFile, keyFile } = selfSigned();
    const broker = await startMqttBroker({ listeners: { mqtt: { tls: { enabled: true, port: 0, certFile, keyFile } } } });
    const client = await mqtt.connectAsync({
      protocol: 'mqtts',
      host: '127.0.0.1',
      port: broker.running.mqtt!.tlsPort!,
      ca: fs.readFileSync(certFile),
      reconnectPeriod: 0,
    });
    onCleanup(() => client.endAsync(true));
    await client.publishAsync('tls/a', 'secret', { qos: 1 });
    expect((await logRecords(broker.running, 'mqtt')).map((r) => r.value!.toString())).toEqual(['secret']);
  });

  it('does not start when the TLS key file cannot be read, naming the key', async () => {
    const { certFile } = selfSigned();
    const port = await freePort();
    await expect(startMqttBroker({ listeners: { mqtt: { tls: { enabled: true, port, certFile, keyFile: '/nonexistent/key.pem' } } } })).rejects.toThrow(
      /listeners\.mqtt\.tls\.keyFile: cannot read \/nonexistent\/key\.pem/,
    );
  });

  it.each([
    ['WebSocket', 'listeners.mqtt.ws.port', 'TRIBUTARY_LISTENERS__MQTT__WS__PORT'],
    ['TLS', 'listeners.mqtt.tls.port', 'TRIBUTARY_LISTENERS__MQTT__TLS__PORT'],
  ])('%s port in use: `tributary start` prints one line naming %s and exits 1', async (_transport, key, variable) => {
    const port = await freePort();
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    onCleanup(() => new Promise((resolve) => server.close(() => resolve())));
    const { certFile, keyFile } = selfSigned();
    const r = await run(['start'], {
      env: {
        TRIBUTARY_DATA_DIR: tempDir(),
        TRIBUTARY_LISTENERS__EDGE__ENABLED: 'false',
        TRIBUTARY_LISTENERS__HTTP__ENABLED: 'false',
        TRIBUTARY_LISTENERS__KAFKA__ENABLED: 'false',
        TRIBUTARY_LISTENERS__MQTT__HOST: '127.0.0.1',
        TRIBUTARY_LISTENERS__MQTT__PORT: String(await freePort()),
        TRIBUTARY_LISTENERS__MQTT__WS__PORT: String(await freePort()),
        TRIBUTARY_LISTENERS__MQTT__TLS__ENABLED: 'true',
        TRIBUTARY_LISTENERS__MQTT__TLS__PORT: String(await freePort()),
        TRIBUTARY_LISTENERS__MQTT__TLS__CERT_FILE: certFile,
        TRIBUTARY_LISTENERS__MQTT__TLS__KEY_FILE: keyFile,
        [variable]: String(port),
      },
    });
    expect(lines(r.stderr)).toEqual([`tributary: EADDRINUSE: cannot listen on 127.0.0.1:${port}: address already in use (change ${key} or stop the process using it)`]);
    expect(r.code).toBe(1);
  });
});
