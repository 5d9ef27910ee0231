// A minimal MQTT 5 upstream broker for mirror tests: accepts CONNECT v5, answers PUBACK for QoS 1 and
// records every PUBLISH (with its user properties) before acking, so a connection cut between the two
// shows up as a duplicate. aedes 1.2 cannot be the upstream: it refuses MQTT 5 CONNECTs (its
// connect handler accepts protocol versions 3 and 4 only), and the mirror speaks MQTT 5.
import net from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { onCleanup } from './temp.ts';

export interface UpstreamPublish {
  topic: string;
  payload: string;
  qos: number;
  userProperties: Record<string, string | string[]>;
  /** edgeId/topic/partition/offset, parsed. */
  origin: { edgeId: string; topic: string; partition: number; offset: number };
}

export interface Upstream {
  port: number;
  received: UpstreamPublish[];
  connects: number;
  /** Largest number of QoS 1 publishes received and not yet acked on one connection. */
  maxInflight: number;
  /** Closes the listener and cuts every connection. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

export interface UpstreamOptions {
  port?: number;
  /** Sent in CONNACK. */
  receiveMaximum?: number;
  /** Delays each PUBACK, so a window fills up. */
  ackDelayMs?: number;
}

export async function startUpstream(opts: UpstreamOptions = {}): Promise<Upstream> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | null = null;
  const up: Upstream = {
    port: opts.port ?? 0,
    received: [],
    connects: 0,
    maxInflight: 0,
    async stop() {
      if (server === null) return;
      const s = server;
      server = null;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    async start() {
      if (server !== null) return;
      const s = net.createServer((socket) => serve(socket));
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(up.port, '127.0.0.1', () => resolve());
      });
      up.port = (s.address() as net.AddressInfo).port;
      server = s;
    },
  };

  function serve(socket: net.Socket): void {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    let inflight = 0;
    const send = (packet: Packet) => {
      if (!socket.destroyed) socket.write(mqttPacket.generate(packet, { protocolVersion: 5 }));
    };
    parser.on('error', () => socket.destroy());
    parser.on('packet', (packet: Packet) => {
      switch (packet.cmd) {
        case 'connect':
          if (packet.protocolVersion !== 5) {
            socket.destroy();
            return;
          }
          up.connects++;
          send({ cmd: 'connack', reasonCode: 0, sessionPresent: false, properties: opts.receiveMaximum ? { receiveMaximum: opts.receiveMaximum } : {} });
          return;
        case 'publish': {
          const userProperties = (packet.properties?.userProperties ?? {}) as Record<string, string | string[]>;
          const [edgeId = '', topic = '', partition = '-1', offset = '-1'] = String(userProperties.origin ?? '').split('/');
          up.received.push({
            topic: packet.topic,
            payload: Buffer.from(packet.payload).toString(),
            qos: packet.qos,
            userProperties,
            origin: { edgeId, topic, partition: Number(partition), offset: Number(offset) },
          });
          if (packet.qos === 1) {
            inflight++;
            up.maxInflight = Math.max(up.maxInflight, inflight);
            const ack = () => {
              inflight--;
              send({ cmd: 'puback', messageId: packet.messageId!, reasonCode: 0 });
            };
            if (opts.ackDelayMs) setTimeout(ack, opts.ackDelayMs);
            else ack();
          }
          return;
        }
        case 'pingreq':
          send({ cmd: 'pingresp' });
          return;
        case 'disconnect':
          socket.end();
          return;
        default:
          return;
      }
    });
    socket.on('data', (chunk) => parser.parse(chunk));
  }

  await up.start();
  onCleanup(() => up.stop());
  return up;
}

/** Polls until `done()` or the deadline; throws with `what` on timeout. */
export async function until(done: () => boolean, what: string, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
