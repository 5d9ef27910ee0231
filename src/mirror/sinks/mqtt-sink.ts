// One MQTT 5 connection to the upstream broker, for one connection attempt only. MQTT.js's own
// reconnect and offline queue stay unused (reconnectPeriod 0, publish refused while disconnected):
// the log is the offline store, and the engine (mirror.ts) owns backoff, window and resends.

import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import { TributaryError } from '../../errors.ts';

export interface MqttSinkOptions {
  url: string;
  clientId: string;
  username: string | null;
  password: string | null;
  qos: 0 | 1;
  connectTimeoutMs?: number;
  /** Gives up the attempt (mirror stopping). */
  signal?: AbortSignal;
}

/** Called once per publish: on PUBACK (QoS 1) or once written (QoS 0); err when refused or lost. */
export type PublishDone = (err?: Error) => void;

export class MqttSinkConnection {
  private readonly client: MqttClient;
  private readonly qos: 0 | 1;
  /** The upstream's receiveMaximum (65535 when it sends none): the window must not exceed it. */
  readonly receiveMaximum: number;
  /** Resolves once when the connection is gone, for whatever reason. */
  readonly closed: Promise<Error | undefined>;

  private constructor(client: MqttClient, connack: IConnackPacket, qos: 0 | 1) {
    this.client = client;
    this.qos = qos;
    this.receiveMaximum = connack.properties?.receiveMaximum ?? 65535;
    this.closed = new Promise((resolve) => {
      let lastError: Error | undefined;
      client.on('error', (err) => (lastError = err));
      client.once('close', () => resolve(lastError));
    });
  }

  /** Connects once; rejects when the upstream is unreachable, refuses or does not answer in time. */
  static connect(opts: MqttSinkOptions): Promise<MqttSinkConnection> {
    const clientOpts: IClientOptions = {
      protocolVersion: 5,
      clientId: opts.clientId,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: opts.connectTimeoutMs ?? 10_000,
      queueQoSZero: false,
      ...(opts.username !== null ? { username: opts.username } : {}),
      ...(opts.password !== null ? { password: opts.password } : {}),
    };
    const client = mqtt.connect(opts.url, clientOpts);
    return new Promise((resolve, reject) => {
      let lastError: Error | undefined;
      const onError = (err: Error) => (lastError = err);
      const onClose = () => {
        cleanup();
        client.end(true);
        reject(new TributaryError('TIMEOUT', `cannot connect to ${opts.url}: ${lastError?.message ?? 'connection closed'}`, { url: opts.url }, { cause: lastError }));
      };
      const onConnect = (connack: IConnackPacket) => {
        cleanup();
        resolve(new MqttSinkConnection(client, connack, opts.qos));
      };
      const onAbort = () => {
        lastError = new Error('mirror stopping');
        client.end(true);
      };
      const cleanup = () => {
        client.off('error', onError);
        client.off('close', onClose);
        client.off('connect', onConnect);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      if (opts.signal?.aborted) queueMicrotask(onAbort);
      else opts.signal?.addEventListener('abort', onAbort, { once: true });
      client.on('error', onError);
      client.once('close', onClose);
      client.once('connect', onConnect);
    });
  }

  /** Publishes now; false (and no callback) when not connected, so nothing lands in MQTT.js's queue. */
  publish(topic: string, payload: Buffer, userProperties: Record<string, string>, done: PublishDone): boolean {
    if (!this.client.connected) return false;
    this.client.publish(topic, payload, { qos: this.qos, properties: { userProperties } }, (err) => done(err ?? undefined));
    return true;
  }

  /** Drops the connection at once; unacked publishes get their callbacks with an error. */
  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
