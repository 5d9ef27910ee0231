// A broker with the MQTT listener on ephemeral ports, MQTT.js clients on it, a raw MQTT peer for
// bytes MQTT.js would never send, and readers of what the listener appended to the log.
import net from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { decodeRecordBatch, splitBatches, type DecodedRecord } from '../../src/format/record-batch.ts';
import type { ProduceRequest } from '../../src/broker/broker.ts';
import type { RunningTributary } from '../../src/main.ts';
import { merge, startTestBroker, type TestBroker } from './broker.ts';
import { onCleanup } from './temp.ts';

export interface MqttTestBroker extends TestBroker {
  mqttPort: number;
}

/** Edge + MQTT (TCP and WebSocket) on 127.0.0.1, ephemeral ports, temp data dir; `over` is merged into the config. */
export async function startMqttBroker(over: Record<string, unknown> = {}): Promise<MqttTestBroker> {
  const broker = await startTestBroker(merge({ listeners: { mqtt: { enabled: true, host: '127.0.0.1', port: 0, ws: { port: 0 } } } }, over));
  return Object.assign(broker, { mqttPort: broker.running.mqtt!.port });
}

/** An MQTT.js client connected to the broker, ended after the test. No reconnects: a test sees every close. */
export async function connectMqtt(broker: MqttTestBroker | number, opts: IClientOptions = {}): Promise<MqttClient> {
  const port = typeof broker === 'number' ? broker : broker.mqttPort;
  const client = await mqtt.connectAsync({ host: '127.0.0.1', port, reconnectPeriod: 0, ...opts });
  onCleanup(() => client.endAsync(true));
  return client;
}

/** Holds every append until the returned release is called (also at cleanup). */
export function holdAppends(running: RunningTributary): () => void {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  onCleanup(async () => release());
  const produce = running.broker.produce.bind(running.broker);
  running.broker.produce = async (req: ProduceRequest) => {
    await held;
    return produce(req);
  };
  return release;
}

/** MQTT.js clients on `port`, ended at the test's end: `connect(clientId)`. */
export function mqttClients(port: number, opts: IClientOptions = {}): (clientId: string) => Promise<MqttClient> {
  return async (clientId) => {
    const c = await mqtt.connectAsync({ host: '127.0.0.1', port, clientId, reconnectPeriod: 0, ...opts });
    onCleanup(() => c.endAsync(true));
    return c;
  };
}

/**
 * A well-behaved client during a flood: publishes one QoS 1 message at a time on `topic` until
 * stop(), which resolves with the number acknowledged (each acknowledged before the next is sent).
 */
export function canaryLoop(canary: MqttClient, topic = 'canary/ping'): { acked: () => number; stop: () => Promise<number> } {
  let running = true;
  let acked = 0;
  const loop = (async () => {
    while (running) {
      await canary.publishAsync(topic, 'ping', { qos: 1 });
      acked++;
    }
  })();
  return {
    acked: () => acked,
    stop: async () => {
      running = false;
      await loop;
      return acked;
    },
  };
}

/** The error a refused MQTT.js connect fails with. */
export async function connectRefusal(port: number, opts: IClientOptions = {}): Promise<Error & { code?: number }> {
  const client = mqtt.connect({ host: '127.0.0.1', port, reconnectPeriod: 0, connectTimeout: 5_000, ...opts });
  onCleanup(() => client.endAsync(true));
  return new Promise((resolve, reject) => {
    client.once('error', resolve);
    client.once('connect', () => reject(new Error('the broker accepted the connection')));
  });
}

/** Resolves when the client's connection is closed. */
export function closed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => (client.connected ? client.once('close', () => resolve()) : resolve()));
}

/** Every record of a partition as the log holds it now. */
export async function logRecords(running: RunningTributary, topic: string, partition = 0): Promise<DecodedRecord[]> {
  if (running.broker.store.getTopic(topic) === undefined) return [];
  const out: DecodedRecord[] = [];
  for (;;) {
    const r = await running.broker.fetch(topic, partition, out.length, 4 << 20, 0);
    const records = splitBatches(Buffer.concat(r.batches)).flatMap((b) => decodeRecordBatch(b)).filter((x) => x.offset >= out.length);
    if (records.length === 0) return out;
    out.push(...records);
  }
}

export function headers(record: DecodedRecord): Record<string, string> {
  return Object.fromEntries(record.headers.map((h) => [h.key, h.value === null ? '' : Buffer.from(h.value).toString()]));
}

/** A TCP peer speaking MQTT bytes directly through mqtt-packet: RawMqtt (3.1.1), mqtt5-raw.ts's RawMqtt5. */
export class RawMqttPeer {
  readonly packets: Packet[] = [];
  closed = false;
  private readonly parser: ReturnType<typeof mqttPacket.parser>;
  private waiters: (() => void)[] = [];

  protected constructor(
    readonly socket: net.Socket,
    private readonly protocolVersion: 4 | 5 = 4,
  ) {
    this.parser = mqttPacket.parser({ protocolVersion });
    this.parser.on('packet', (p: Packet) => {
      this.packets.push(p);
      this.notify();
    });
    this.parser.on('error', () => socket.destroy());
    socket.on('data', (d) => this.parser.parse(d));
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    socket.on('error', () => undefined);
  }

  /** A TCP connection to the broker, closed at the test's end. */
  protected static async open(port: number): Promise<net.Socket> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    onCleanup(async () => void socket.destroy());
    return socket;
  }

  /** Several packets go in one write: the broker reads them at once. */
  send(...packets: Packet[]): void {
    this.socket.write(Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion: this.protocolVersion }))));
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  async waitFor(match: (p: Packet) => boolean, timeoutMs = 5_000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.packets.find(match);
      if (found) return found;
      if (this.closed) throw new Error(`socket closed; packets so far: ${JSON.stringify(this.packets.map((p) => p.cmd))}`);
      if (Date.now() > deadline) throw new Error(`timed out; packets so far: ${JSON.stringify(this.packets.map((p) => p.cmd))}`);
      await this.tick(deadline);
    }
  }

  async waitClosed(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`socket still open; packets so far: ${JSON.stringify(this.packets.map((p) => p.cmd))}`);
      await this.tick(deadline);
    }
  }

  private tick(deadline: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, Math.min(50, Math.max(0, deadline - Date.now())));
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

/** A raw MQTT 3.1.1 peer. */
export class RawMqtt extends RawMqttPeer {
  static async connect(port: number): Promise<RawMqtt> {
    return new RawMqtt(await RawMqttPeer.open(port));
  }

  /** Connects and completes CONNECT/CONNACK as MQTT 3.1.1. */
  static async session(port: number, clientId: string, clean = true): Promise<RawMqtt> {
    const peer = await RawMqtt.connect(port);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean, clientId, keepalive: 0 });
    await peer.waitFor((p) => p.cmd === 'connack');
    return peer;
  }
}

/** A raw WebSocket to the MQTT WebSocket port, past its handshake. */
export async function rawWebSocket(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  onCleanup(async () => void socket.destroy());
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(
    'GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n',
  );
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  return socket;
}
