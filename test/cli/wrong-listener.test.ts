// `--broker` pointed at a broker's MQTT, Kafka or HTTP listener instead of its edge listener: the CLI
// says which listener it reached, from what the peer answers, instead of UNKNOWN.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { selfSigned } from '../helpers/certs.ts';
import { freePort, startChildBroker, startedPorts } from '../helpers/child-broker.ts';
import { lines, run } from '../helpers/cli.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

const EDGE = 'not the edge listener (listeners.edge, default port 7883), which --broker or $TRIBUTARY_BROKER must name';

describe('tributary --broker at a listener that is not the edge listener', () => {
  it('names the MQTT, Kafka, HTTP, MQTT-over-WebSocket and MQTT-over-TLS listeners of a running broker (exit 2) and still works on the edge listener', async () => {
    const [mqttPort, wsPort, tlsPort, kafkaPort, httpPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const { certFile, keyFile } = selfSigned();
    const broker = await startChildBroker(tempDir(), await freePort(), {
      TRIBUTARY_LISTENERS__MQTT__ENABLED: 'true',
      TRIBUTARY_LISTENERS__MQTT__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__MQTT__PORT: String(mqttPort),
      TRIBUTARY_LISTENERS__MQTT__WS__PORT: String(wsPort),
      TRIBUTARY_LISTENERS__MQTT__TLS__ENABLED: 'true',
      TRIBUTARY_LISTENERS__MQTT__TLS__PORT: String(tlsPort),
      TRIBUTARY_LISTENERS__MQTT__TLS__CERT_FILE: certFile,
      TRIBUTARY_LISTENERS__MQTT__TLS__KEY_FILE: keyFile,
      TRIBUTARY_LISTENERS__KAFKA__ENABLED: 'true',
      TRIBUTARY_LISTENERS__KAFKA__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__KAFKA__PORT: String(kafkaPort),
      TRIBUTARY_LISTENERS__HTTP__ENABLED: 'true',
      TRIBUTARY_LISTENERS__HTTP__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__HTTP__PORT: String(httpPort),
    });
    expect(await startedPorts(broker)).toMatchObject({ mqttPort, kafkaPort, httpPort });
    const http = 'an HTTP server (the HTTP listener, default port 8088, or MQTT over WebSocket, default port 8083)';
    for (const [port, kind] of [
      [mqttPort, 'an MQTT listener (listeners.mqtt, default port 1883)'],
      [kafkaPort, 'a Kafka listener (listeners.kafka, default port 9092)'],
      [httpPort, http],
      [wsPort, http],
      [tlsPort, 'a TLS listener (MQTT over TLS, default port 8883, or a Kafka listener with TLS)'],
    ] as [number, string][]) {
      const r = await run(['topics', 'list', '--broker', `127.0.0.1:${port}`]);
      expect(r.code, r.stderr).toBe(2);
      expect(lines(r.stderr)).toEqual([`tributary: INVALID_REQUEST: 127.0.0.1:${port} looks like ${kind}, ${EDGE}`]);
    }
    expect(await run(['topics', 'list', '--broker', `127.0.0.1:${broker.port}`])).toMatchObject({ code: 0, stdout: 'no topics\n' });
  });

  it('a peer that closes without a byte and answers no probe: the default ports and the likely cause, exit 1', async () => {
    const server = net.createServer((socket) => socket.once('data', () => socket.destroy()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise((resolve) => server.close(() => resolve())));
    const port = (server.address() as net.AddressInfo).port;
    const r = await run(['consume', 't', '--broker', `127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([
      `tributary: UNKNOWN: connection to 127.0.0.1:${port} closed: the edge handshake got no answer it knows from 127.0.0.1:${port}. ` +
        'Is it the edge listener (listeners.edge, default port 7883)? MQTT (default port 1883, TLS 8883), Kafka (9092) and HTTP (8088) listeners drop a connection that opens this way',
    ]);
  });
});
