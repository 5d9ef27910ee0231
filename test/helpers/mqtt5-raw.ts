// A TCP peer speaking MQTT 5 packets through mqtt-packet (properties, reason codes), for the MQTT 5
// conformance suite and the session expiry tests: test/helpers/mqtt.ts's RawMqtt parses as 3.1.1.
// The barriers are those of mqtt-conformance.ts, for this peer.
import net from 'node:net';
import type { IConnectPacket, Packet } from 'mqtt-packet';
import { RawMqttPeer } from './mqtt.ts';

export type PacketOf<C extends Packet['cmd']> = Extract<Packet, { cmd: C }>;

export class RawMqtt5 extends RawMqttPeer {
  protected constructor(socket: net.Socket) {
    super(socket, 5);
  }

  static async connect(port: number): Promise<RawMqtt5> {
    return new RawMqtt5(await RawMqttPeer.open(port));
  }

  /** Connects as MQTT 5 (clean start, keep alive 0 unless given) and waits for the CONNACK. */
  static async session(port: number, clientId: string, connect: Partial<IConnectPacket> = {}): Promise<{ peer: RawMqtt5; connack: PacketOf<'connack'> }> {
    const peer = await RawMqtt5.connect(port);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId, keepalive: 0, ...connect });
    const connack = (await peer.waitFor((p) => p.cmd === 'connack')) as PacketOf<'connack'>;
    return { peer, connack };
  }

  received<C extends Packet['cmd']>(cmd: C): PacketOf<C>[] {
    return this.packets.filter((p): p is PacketOf<C> => p.cmd === cmd);
  }

  /** The PUBLISHes got so far, as "topic=payload". */
  deliveries(): string[] {
    return this.received('publish').map((p) => `${p.topic}=${p.payload.toString()}`);
  }

  /** PINGREQ, then its PINGRESP: whatever the broker was to send before in answer to earlier packets has been sent. */
  async barrier(): Promise<void> {
    const before = this.received('pingresp').length;
    this.send({ cmd: 'pingreq' });
    await this.waitFor(() => this.received('pingresp').length > before);
  }

  /** Ends the TCP connection without DISCONNECT and waits for it to close. */
  async drop(): Promise<void> {
    this.socket.destroy();
    await this.waitClosed();
  }
}

/** Polls `check` (every 20 ms, at most `timeoutMs`) until it is true: for outcomes that come with time, such as an expiry. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves once the wall clock is past `ms` (epoch): what message and session expiry are measured against. */
export async function clockPast(ms: number): Promise<void> {
  while (Date.now() <= ms) await new Promise((resolve) => setTimeout(resolve, Math.min(100, ms - Date.now() + 1)));
}
