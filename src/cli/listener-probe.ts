// Why a client command's edge handshake failed when --broker points at another listener of a broker
// (MQTT, Kafka, HTTP, TLS) instead of the edge listener. What the peer sent before it closed names
// an HTTP server; MQTT, Kafka and TLS listeners close on a HELLO without a byte, so then a Kafka
// ApiVersions request, an MQTT CONNECT and a TLS handshake, each on a new connection, ask the peer
// what it is. Only runs after a failed handshake, never on the way to a working edge listener.

import net from 'node:net';
import tls from 'node:tls';
import type { HandshakeFailure } from '../client/index.ts';
import { isTributaryError } from '../errors.ts';
import { ConnectError, UsageError } from './errors.ts';

const PROBE_TIMEOUT_MS = 2_000;
const EDGE = 'the edge listener (listeners.edge, default port 7883)';

/** `err` itself, or a clearer error when it is a handshake that failed on a peer that is no edge listener. */
export async function explainHandshakeFailure(err: unknown): Promise<unknown> {
  // An edge listener answers what it refuses (NOT_AUTHORIZED, UNSUPPORTED_VERSION) with an ERROR frame: those stand.
  if (!isTributaryError(err) || !['UNKNOWN', 'TIMEOUT', 'MALFORMED_FRAME'].includes(err.codeName)) return err;
  const handshake = err.context?.handshake as HandshakeFailure | undefined;
  if (handshake === undefined) return err;
  const at = handshake.address.lastIndexOf(':');
  const host = handshake.address.slice(0, at);
  const port = Number(handshake.address.slice(at + 1));
  const kind = fromFirstBytes(handshake.received) ?? (await askKafka(host, port)) ?? (await askMqtt(host, port)) ?? (await askTls(host, port));
  if (kind !== undefined) return new UsageError(`${handshake.address} looks like ${kind}, not ${EDGE}, which --broker or $TRIBUTARY_BROKER must name`);
  const errno = (err.cause as NodeJS.ErrnoException | undefined)?.code;
  return new ConnectError(
    typeof errno === 'string' ? errno : err.codeName,
    `${err.message}: the edge handshake got no answer it knows from ${handshake.address}. Is it ${EDGE}? ` +
      'MQTT (default port 1883, TLS 8883), Kafka (9092) and HTTP (8088) listeners drop a connection that opens this way',
    { cause: err },
  );
}

function fromFirstBytes(received: Buffer): string | undefined {
  return received.subarray(0, 7).toString('latin1') === 'HTTP/1.' ? 'an HTTP server (the HTTP listener, default port 8088, or MQTT over WebSocket, default port 8083)' : undefined;
}

const KAFKA_CORRELATION_ID = 0x54524942;
/** ApiVersions v0: size 10, api key 18, version 0, correlation id, null client id. */
const KAFKA_API_VERSIONS = Buffer.from([0, 0, 0, 10, 0, 18, 0, 0, 0x54, 0x52, 0x49, 0x42, 0xff, 0xff]);

async function askKafka(host: string, port: number): Promise<string | undefined> {
  const answer = await exchange(host, port, KAFKA_API_VERSIONS, (b) => b.length >= 8);
  return answer.length >= 8 && answer.readUInt32BE(4) === KAFKA_CORRELATION_ID ? 'a Kafka listener (listeners.kafka, default port 9092)' : undefined;
}

/** MQTT 3.1.1 CONNECT, clean session, empty client id: any MQTT server answers CONNACK (accepted or not). */
const MQTT_CONNECT = Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 0, 0, 0]);
const MQTT_DISCONNECT = Buffer.from([0xe0, 0]);

async function askMqtt(host: string, port: number): Promise<string | undefined> {
  const answer = await exchange(host, port, MQTT_CONNECT, (b) => b.length >= 4, MQTT_DISCONNECT);
  return answer[0] === 0x20 ? 'an MQTT listener (listeners.mqtt, default port 1883)' : undefined;
}

/** A TLS handshake that completes, whatever the certificate: the port speaks TLS. Nothing is sent inside. */
function askTls(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host, port, rejectUnauthorized: false, servername: net.isIP(host) === 0 ? host : undefined });
    const finish = (kind: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(kind);
    };
    const timer = setTimeout(() => finish(undefined), PROBE_TIMEOUT_MS);
    socket.on('secureConnect', () => finish('a TLS listener (MQTT over TLS, default port 8883, or a Kafka listener with TLS)'));
    socket.on('error', () => finish(undefined));
    socket.on('close', () => finish(undefined));
  });
}

/** Sends `request` on a new connection; what came back once `complete`, at close, or after 2 s. Never throws. */
function exchange(host: string, port: number, request: Buffer, complete: (received: Buffer) => boolean, goodbye?: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    const socket = net.connect({ host, port });
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(received);
    };
    const timer = setTimeout(finish, PROBE_TIMEOUT_MS);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (!complete(received)) return;
      if (goodbye === undefined) return finish();
      socket.end(goodbye);
      clearTimeout(timer);
      resolve(received);
    });
    socket.on('error', finish);
    socket.on('close', finish);
  });
}
