// A TCP peer speaking MQTT 5 packets through mqtt-packet (properties, reason codes), for the MQTT 5
// conformance suite and the session expiry tests: test/helpers/mqtt.ts's RawMqtt parses as 3.1.1.
// The barriers are those of mqtt-conformance.ts, for this peer.
import net from 'node:net';
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet';
import { onCleanup } from './temp.ts';

export type PacketOf<C extends Packet['cmd']> = Extract<Packet, { cmd: C }>;

export class RawMqtt5 {
  readonly packets: Packet[] = [];
  closed = false;
  private readonly parser = mqttPacket.parser({ protocolVersion: 5 });
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: net.Socket) {
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

  static async connect(port: number): Promise<RawMqtt5> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    onCleanup(async () => void socket.destroy());
    return new RawMqtt5(socket);
  }

  /** Connects as MQTT 5 (clean start, keep alive 0 unless given) and waits for the CONNACK. */
  static async session(port: number, clientId: string, connect: Partial<IConnectPacket> = {}): Promise<{ peer: RawMqtt5; connack: PacketOf<'connack'> }> {
    const peer = await RawMqtt5.connect(port);
    peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId, keepalive: 0, ...connect });
    const connack = (await peer.waitFor((p) => p.cmd === 'connack')) as PacketOf<'connack'>;
    return { peer, connack };
  }

  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: 5 }));
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
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

  /** Ends the TCP connection without DISCONNECT and waits for it to close. */
  async drop(): Promise<void> {
    this.socket.destroy();
    await this.waitClosed();
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
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

/** Polls `check` (every 20 ms, at most `timeoutMs`) until it is true: for outcomes that come with time, such as an expiry. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
