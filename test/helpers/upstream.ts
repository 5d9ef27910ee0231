// A minimal MQTT 5 upstream broker for mirror tests: accepts CONNECT v5, answers PUBACK for QoS 1 and
// records every PUBLISH (with its user properties) before acking, so a connection cut between the two
// shows up as a duplicate. aedes 1.2 cannot be the upstream: it refuses MQTT 5 CONNECTs (its
// connect handler accepts protocol versions 3 and 4 only), and the mirror speaks MQTT 5.
import net from 'node:net';
import tls from 'node:tls';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { onCleanup } from './temp.ts';

export interface UpstreamPublish {
  topic: string;
  payload: string;
  qos: number;
  userProperties: Record<string, string | string[]>;
  /** The PUBLISH's MQTT 5 properties as MQTT.js / mqtt-packet decoded them (user properties included). */
  properties: Record<string, unknown>;
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

/** The in-process upstream can also refuse publishes and hold acks back. */
export interface TestUpstream extends Upstream {
  /** Publishes refused with a PUBACK error reason (see UpstreamOptions.rejectPayloads); not in `received`. */
  rejected: UpstreamPublish[];
  /** While true, PUBACKs are held back (a link that hangs without a TCP error); false sends them. */
  holdAcks: boolean;
  /** While true, PINGREQs go unanswered (an idle link that hangs); the connection stays open. */
  ignorePings: boolean;
  /** PINGREQs received, answered or not. */
  pings: number;
}

export interface UpstreamOptions {
  port?: number;
  /** Sent in CONNACK. */
  receiveMaximum?: number;
  /** Delays each PUBACK, so a window fills up. */
  ackDelayMs?: number;
  /** Sent in CONNACK. */
  maximumPacketSize?: number;
  /** Payload → PUBACK reason code (e.g. 0x87 not authorized) for publishes to refuse. */
  rejectPayloads?: Record<string, number>;
  /** Payloads whose first PUBACK is never sent (one lost ack while the others flow). */
  dropAckOnce?: string[];
  /** A PUBLISH with this payload makes the upstream drop the connection (a refusal by disconnect). */
  disconnectOnPayload?: string;
  /** Drop every connection right after CONNACK (a broker that accepts and then throws us out). */
  closeAfterConnack?: boolean;
  /** Serve MQTT over TLS; with `ca`, clients must present a certificate it signed. */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
}

export async function startUpstream(opts: UpstreamOptions = {}): Promise<TestUpstream> {
  const sockets = new Set<net.Socket>();
  const dropOnce = new Set(opts.dropAckOnce ?? []);
  /** Acks held while holdAcks is set; an ack whose socket is gone by then is a no-op (send checks). */
  const held: (() => void)[] = [];
  let holding = false;
  let server: net.Server | null = null;
  const up: TestUpstream = {
    port: opts.port ?? 0,
    received: [],
    connects: 0,
    maxInflight: 0,
    rejected: [],
    ignorePings: false,
    pings: 0,
    get holdAcks() {
      return holding;
    },
    set holdAcks(hold: boolean) {
      holding = hold;
      if (!hold) for (const ack of held.splice(0)) ack();
    },
    async stop() {
      if (server === null) return;
      const s = server;
      server = null;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    async start() {
      if (server !== null) return;
      const t = opts.tls;
      const s = t
        ? tls.createServer({ cert: t.cert, key: t.key, ...(t.ca ? { ca: t.ca, requestCert: true, rejectUnauthorized: true } : {}) }, (socket) => serve(socket))
        : net.createServer((socket) => serve(socket));
      s.on('tlsClientError', () => undefined);
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
          send({
            cmd: 'connack',
            reasonCode: 0,
            sessionPresent: false,
            properties: { ...(opts.receiveMaximum ? { receiveMaximum: opts.receiveMaximum } : {}), ...(opts.maximumPacketSize ? { maximumPacketSize: opts.maximumPacketSize } : {}) },
          });
          if (opts.closeAfterConnack) socket.destroy();
          return;
        case 'publish': {
          const userProperties = (packet.properties?.userProperties ?? {}) as Record<string, string | string[]>;
          const [edgeId = '', topic = '', partition = '-1', offset = '-1'] = String(userProperties.origin ?? '').split('/');
          const publish = {
            topic: packet.topic,
            payload: Buffer.from(packet.payload).toString(),
            qos: packet.qos,
            userProperties,
            properties: (packet.properties ?? {}) as Record<string, unknown>,
            origin: { edgeId, topic, partition: Number(partition), offset: Number(offset) },
          };
          if (publish.payload === opts.disconnectOnPayload) {
            socket.destroy();
            return;
          }
          const reasonCode = opts.rejectPayloads?.[publish.payload] ?? 0;
          (reasonCode === 0 ? up.received : up.rejected).push(publish);
          if (packet.qos === 1) {
            inflight++;
            up.maxInflight = Math.max(up.maxInflight, inflight);
            const ack = () => {
              if (holding) {
                held.push(ack);
                return;
              }
              inflight--;
              send({ cmd: 'puback', messageId: packet.messageId!, reasonCode });
            };
            if (dropOnce.delete(publish.payload)) return;
            if (opts.ackDelayMs) setTimeout(ack, opts.ackDelayMs);
            else ack();
          }
          return;
        }
        case 'pingreq':
          up.pings++;
          if (!up.ignorePings) send({ cmd: 'pingresp' });
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
export async function until(done: () => boolean | Promise<boolean>, what: string, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
