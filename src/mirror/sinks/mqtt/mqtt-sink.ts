// MQTT upstream: one MQTT.js connection per attempt. MQTT.js's own reconnect and offline queue stay
// unused (reconnectPeriod 0, nothing published while disconnected): the log is the offline store and
// the engine (mirror.ts) owns backoff, window and resends. MQTT 5 carries the record's origin and key
// as user properties, and its headers as properties (record-headers.ts); MQTT 3.1.1 has none, so the
// config makes the remote topic hold {partition} and {offset} instead.

import fs from 'node:fs';
import tls from 'node:tls';
import mqtt, { type IClientOptions, type IConnackPacket, type IDisconnectPacket, type MqttClient } from 'mqtt';
import { TributaryError, type ErrorName } from '../../../errors.ts';
import type { DecodedRecord } from '../../../format/record-batch.ts';
import { remainingLengthBytes } from '../../../protocol/mqtt/packet-scanner.ts';
import { cleanText, headerProperties, type MessageProperties } from '../../../protocol/mqtt/record-headers.ts';
import type { OutboundMessage, SendDone, Sink, SinkConnection } from '../../sink.ts';
import type { MqttMirrorConfig } from './config.ts';
import { DisconnectRefusals } from './refusal-by-disconnect.ts';

export interface MqttMessage extends OutboundMessage {
  /** edgeId/topic/partition/offset of the record. */
  origin: string;
  topic: string;
  payload: Buffer;
  /** MQTT 5: origin, key and the record's headers; null for MQTT 3.1.1. */
  properties: MessageProperties | null;
}

/**
 * PUBACK reason codes that name the record itself (MQTT 5 §3.4.2.1): not authorized, topic name
 * invalid, packet too large, payload format invalid, and the retain/QoS refusals. Unspecified (0x80),
 * implementation specific (0x83), quota exceeded (0x97) and the rest may pass on a resend: they are
 * treated as a bad connection (and a record that keeps failing is caught by DisconnectRefusals).
 */
const PERMANENT_REASONS = new Set([0x87, 0x90, 0x95, 0x99, 0x9a, 0x9b]);
const EMPTY = Buffer.alloc(0);

/**
 * The key as text when it is well-formed UTF-8 without control characters (MQTT forbids NUL and
 * brokers such as mosquitto drop a connection over C0/C1 controls); null for binary keys.
 */

export class MqttSink implements Sink<MqttMessage> {
  readonly address: string;
  private readonly cfg: MqttMirrorConfig;
  private readonly edgeId: string;
  /** Outlives connections: it counts the connections a record was at the head of when they ended. */
  private readonly refusals = new DisconnectRefusals();
  private readonly tls: Pick<IClientOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized'>;
  /** remoteTopic split into literal, variable name, literal, …; {edgeId} is already filled in. */
  private readonly template: string[];

  /** Reads the TLS files now, so a wrong path fails the start instead of every connect. */
  constructor(cfg: MqttMirrorConfig, edgeId: string) {
    this.cfg = cfg;
    this.edgeId = edgeId;
    const url = new URL(cfg.url);
    this.address = `${url.protocol}//${url.host}`;
    const read = (key: 'caFile' | 'certFile' | 'keyFile') => {
      const file = cfg.tls[key];
      if (file === null) return undefined;
      try {
        return fs.readFileSync(file);
      } catch (err) {
        throw new TributaryError('INVALID_CONFIG', `mirror ${cfg.name}: tls.${key} ${file}: ${(err as Error).message}`, { mirror: cfg.name }, { cause: err });
      }
    };
    const [ca, cert, key] = [read('caFile'), read('certFile'), read('keyFile')];
    // Node's `ca` replaces the default roots; caFile adds to them, so a public broker still verifies.
    this.tls = { ...(ca ? { ca: [...tls.rootCertificates, ca.toString('utf8')] } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), rejectUnauthorized: cfg.tls.rejectUnauthorized };
    this.template = cfg.remoteTopic.replaceAll('{edgeId}', edgeId).split(/\{(topic|partition|offset|key)\}/);
  }

  prepare(sourceTopic: string, partition: number, record: DecodedRecord): MqttMessage {
    const key = record.key === null ? null : cleanText(record.key);
    let topic = this.template[0]!;
    for (let i = 1; i < this.template.length; i += 2) {
      const name = this.template[i];
      if (name === 'topic') topic += sourceTopic;
      else if (name === 'partition') topic += partition;
      else if (name === 'offset') topic += record.offset;
      else if (record.key !== null) topic += key === null ? record.key.toString('hex') : key.replace(/[+#]/g, '_');
      topic += this.template[i + 1]!;
    }
    const payload = record.value ?? EMPTY;
    const origin = `${this.edgeId}/${sourceTopic}/${partition}/${record.offset}`;
    let properties: MessageProperties | null = null;
    let propertyBytes = 0;
    if (this.cfg.protocolVersion === 5) {
      // User properties cost 1 identifier byte and two 2-byte length prefixes each; the sink's own
      // come first, the record's headers after them.
      const user: Record<string, string | string[]> = { origin };
      propertyBytes = 5 + 'origin'.length + Buffer.byteLength(origin);
      if (key !== null) {
        user.key = key;
        propertyBytes += 5 + 'key'.length + Buffer.byteLength(key);
      } else if (record.key !== null) {
        user.keyBase64 = record.key.toString('base64');
        propertyBytes += 5 + 'keyBase64'.length + user.keyBase64.length;
      }
      const fromHeaders = headerProperties(record.headers, user);
      properties = fromHeaders.properties;
      propertyBytes += fromHeaders.bytes;
    }
    // The PUBLISH packet's size: variable header (topic, packet id, properties) plus payload, then
    // the fixed header byte and the Remaining Length varint.
    const remaining = 2 + Buffer.byteLength(topic) + (this.cfg.qos > 0 ? 2 : 0) + (this.cfg.protocolVersion === 5 ? remainingLengthBytes(propertyBytes) + propertyBytes : 0) + payload.length;
    return { origin, topic, payload, properties, bytes: 1 + remainingLengthBytes(remaining) + remaining };
  }

  connect(signal: AbortSignal): Promise<MqttSinkConnection> {
    const cfg = this.cfg;
    const clientOpts: IClientOptions = {
      protocolVersion: cfg.protocolVersion,
      clientId: cfg.clientId ?? `tributary-${this.edgeId}-${cfg.name}`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: cfg.connectTimeoutMs,
      keepalive: Math.round(cfg.keepaliveMs / 1000),
      // MQTT.js would otherwise clear and set its ping timer on every PUBACK: a timer per record.
      // A PINGREQ every keepalive while shipping costs two bytes each way.
      reschedulePings: false,
      queueQoSZero: false,
      ...(cfg.username !== null ? { username: cfg.username } : {}),
      ...(cfg.password !== null ? { password: cfg.password } : {}),
      ...this.tls,
    };
    const client = mqtt.connect(cfg.url, clientOpts);
    return new Promise((resolve, reject) => {
      let lastError: Error | undefined;
      const onError = (err: Error) => (lastError = err);
      const onClose = () => {
        cleanup();
        client.end(true);
        reject(connectError(this.address, lastError));
      };
      const onConnect = (connack: IConnackPacket) => {
        cleanup();
        resolve(new MqttSinkConnection(client, connack, cfg.qos, this.refusals));
      };
      const onAbort = () => {
        lastError = new Error('mirror stopping');
        client.end(true);
      };
      const cleanup = () => {
        client.off('error', onError);
        client.off('close', onClose);
        client.off('connect', onConnect);
        signal.removeEventListener('abort', onAbort);
      };
      if (signal.aborted) queueMicrotask(onAbort);
      else signal.addEventListener('abort', onAbort, { once: true });
      client.on('error', onError);
      client.once('close', onClose);
      client.once('connect', onConnect);
    });
  }
}

export class MqttSinkConnection implements SinkConnection<MqttMessage> {
  readonly maxInflight: number;
  readonly closed: Promise<TributaryError | undefined>;
  private readonly client: MqttClient;
  private readonly qos: 0 | 1;
  /** The upstream's Maximum Packet Size: a bigger PUBLISH would get us disconnected, so refuse it here. */
  private readonly packetBytesMax: number;
  private readonly refusals: DisconnectRefusals;
  /** Sent and not yet acknowledged, oldest first, with when they were sent. */
  private readonly unacked = new Map<MqttMessage, number>();
  private closedByUs = false;

  constructor(client: MqttClient, connack: IConnackPacket, qos: 0 | 1, refusals: DisconnectRefusals) {
    this.client = client;
    this.qos = qos;
    this.refusals = refusals;
    this.maxInflight = connack.properties?.receiveMaximum ?? 65535;
    this.packetBytesMax = connack.properties?.maximumPacketSize ?? 268_435_460;
    this.closed = new Promise((resolve) => {
      let lastError: Error | undefined;
      let disconnect: IDisconnectPacket | undefined;
      client.on('error', (err) => (lastError = err));
      client.once('disconnect', (packet) => (disconnect = packet));
      client.once('close', () => {
        const [oldest] = this.unacked;
        this.refusals.connectionEnded(!this.closedByUs && (lastError === undefined || disconnect !== undefined), oldest && { origin: oldest[0].origin, sentMs: oldest[1] });
        if (disconnect !== undefined) {
          const code = disconnect.reasonCode ?? 0;
          const reason = `upstream disconnected us: reason 0x${code.toString(16)}${disconnect.properties?.reasonString ? ` (${disconnect.properties.reasonString})` : ''}`;
          resolve(new TributaryError(PERMANENT_REASONS.has(code) ? 'UPSTREAM_REJECTED' : 'UPSTREAM_UNAVAILABLE', reason, { disconnectReason: code }));
        } else resolve(lastError ? new TributaryError('UPSTREAM_UNAVAILABLE', `upstream connection lost: ${lastError.message}`, undefined, { cause: lastError }) : undefined);
      });
    });
  }

  send(message: MqttMessage, done: SendDone): boolean {
    if (!this.client.connected) return false;
    const refusal = message.bytes > this.packetBytesMax
      ? new TributaryError('UPSTREAM_REJECTED', `a ${message.bytes}-byte PUBLISH exceeds the upstream's maximum packet size of ${this.packetBytesMax} bytes`)
      : this.refusals.refusal(message.origin);
    if (refusal !== null) {
      queueMicrotask(() => done(refusal));
      return true;
    }
    this.unacked.set(message, performance.now());
    this.client.publish(message.topic, message.payload, { qos: this.qos, ...(message.properties ? { properties: message.properties } : {}) }, (err) => {
      this.unacked.delete(message);
      if (!err) done(undefined);
      // MQTT.js fails every unacknowledged publish with "Connection closed" as the link ends, before it
      // says why (a keepalive timeout, a socket error): those report the link's own reason.
      else if (err.message === CONNECTION_CLOSED) void this.closed.then((reason) => done(reason ?? publishError(err)));
      else done(publishError(err));
    });
    return true;
  }

  async close(): Promise<void> {
    this.closedByUs = true;
    await this.client.endAsync(true);
  }
}

const CONNECTION_CLOSED = 'Connection closed';

function publishError(err: Error & { code?: unknown }): TributaryError {
  const code = typeof err.code === 'number' ? err.code : -1;
  const name: ErrorName = PERMANENT_REASONS.has(code) ? 'UPSTREAM_REJECTED' : 'UPSTREAM_UNAVAILABLE';
  return new TributaryError(name, code >= 0 ? `${err.message} (reason 0x${code.toString(16)})` : err.message, undefined, { cause: err });
}

function connectError(address: string, err: Error | undefined): TributaryError {
  const code = (err as { code?: unknown } | undefined)?.code;
  // CONNACK refusals (bad credentials, not authorized, banned) come with a numeric reason code.
  if (typeof code === 'number') return new TributaryError('UPSTREAM_REJECTED', `${address} refused the connection: ${err!.message}`, { url: address }, { cause: err });
  // MQTT.js's own connectTimeout ends the attempt with this error.
  if (err?.message === 'connack timeout') return new TributaryError('TIMEOUT', `${address} did not answer CONNECT in time`, { url: address }, { cause: err });
  return new TributaryError('UPSTREAM_UNAVAILABLE', `cannot connect to ${address}: ${err?.message ?? 'connection closed'}`, { url: address }, { cause: err });
}

