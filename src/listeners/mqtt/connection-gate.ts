// Sits between a client's connection and aedes' packet parser: refuses a packet larger than
// messageBytesMax (or with a broken Remaining Length, or a string that is not well-formed UTF-8: a
// client id, will topic, username, topic or topic filter) as soon as its bytes arrive, hands aedes
// nothing after the first packet (CONNECT) until the CONNACK accepting it is sent, and stops handing
// bytes to aedes while the client has too many appends in flight.
//
// aedes reads a connection only through `conn.read(null)` on 'readable' and after each packet
// is handled (node_modules/aedes/lib/client.js, nextBatch), and parses whatever that returns. Every
// packet of one read is handled concurrently, and a new 'readable' event lets it read again before
// earlier packets are done, so aedes alone does not bound a client's packets in flight. Wrapping
// `read` gives one place that sees every byte before the parser and can leave bytes in the socket's
// buffer: once that buffer is full Node stops reading the socket and TCP pushes back on the device.
// Neither mqtt-packet's parser nor aedes has a maximum packet size for MQTT 3.1.1; without this the
// parser buffers whatever Remaining Length a client announces (up to 256 MB).
//
// Before CONNACK, aedes queues packets that arrive in the CONNECT's read (at most `queueLimit`, 42 by
// default, then it drops the client) and hands those of a later read straight to its handlers while
// authentication is still running, with `client.id` null: a PUBLISH reached the append path
// unauthenticated that way. Holding every byte after the CONNECT until the CONNACK removes both:
// pipelined packets wait in the socket's buffer (bounded in bytes, TCP pushes back beyond it) and
// then take the normal path, in-flight bound included (MQTT 3.1.1 §3.1.4 lets a client send before
// the CONNACK); when the CONNECT is refused they are never processed [MQTT-3.1.4-5].

import type { Duplex } from 'node:stream';
import { TributaryError } from '../../errors.ts';
import type { PacketTotals } from '../../protocol/mqtt/packet-counter.ts';
import { PacketScanner, type ScanResult } from '../../protocol/mqtt/packet-scanner.ts';

type Phase = 'connect' | 'awaiting-connack' | 'connected';

export class ConnectionGate {
  private readonly conn: Duplex;
  private readonly scanner: PacketScanner;
  private paused = false;
  private phase: Phase = 'connect';
  /** Bytes read after the CONNECT in the same read, not scanned yet, handed to aedes after CONNACK. */
  private held: Buffer | null = null;
  /** A packet was refused: nothing more is handed to aedes. */
  private refused = false;

  /**
   * Installs the gate on `conn`; `refuse` is called once with the reason, and with the client id of a
   * CONNECT refused for its will topic or username (aedes never saw it). The gate destroys the
   * connection then, unless `refuse` returns true: it closes it itself (an MQTT 5 DISCONNECT first).
   * `received` adds up the packets and bytes handed on.
   */
  constructor(conn: Duplex, packetBytesMax: number, refuse: (err: TributaryError, connectClientId: string | null) => boolean | void, received: PacketTotals = { packets: 0, bytes: 0 }) {
    this.conn = conn;
    this.scanner = new PacketScanner(packetBytesMax);
    const read = conn.read.bind(conn);
    conn.read = (size?: number) => {
      if (this.refused || this.paused || this.phase === 'awaiting-connack') return null;
      const fresh: unknown = read(size);
      const chunk = this.takeHeld(fresh);
      if (chunk === null) return fresh;
      const first = this.phase === 'connect';
      const scan = this.scanner.push(chunk, first ? 1 : Infinity);
      if (!scan.ok) {
        const err = refusal(scan);
        this.refused = true;
        if (!refuse(err, scan.reason === 'bad-string' ? (scan.clientId ?? null) : null)) conn.destroy(err);
        return null;
      }
      // Every byte is scanned once (held bytes only later), so the totals count each packet once.
      received.packets += scan.packetsEnded;
      received.bytes += scan.scannedBytes;
      if (!first || scan.packetsEnded === 0) return chunk;
      this.phase = 'awaiting-connack';
      if (scan.scannedBytes < chunk.length) this.held = chunk.subarray(scan.scannedBytes);
      return chunk.subarray(0, scan.scannedBytes);
    };
  }

  /** Stops (true) or resumes (false) handing bytes to aedes. */
  setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    if (!paused) this.wake();
  }

  /** The CONNACK accepting the client is sent: what it pipelined behind its CONNECT goes to aedes. */
  connected(): void {
    if (this.phase === 'connected') return;
    this.phase = 'connected';
    this.wake();
  }

  /** aedes reads again only on 'readable' or when a packet is done; after a hold neither may come. */
  private wake(): void {
    if (!this.paused && !this.conn.destroyed) this.conn.emit('readable');
  }

  private takeHeld(fresh: unknown): Buffer | null {
    const held = this.held;
    this.held = null;
    if (!Buffer.isBuffer(fresh)) return held;
    return held === null ? fresh : Buffer.concat([held, fresh]);
  }
}

/** Names of the packet types whose strings the scanner checks, for the refusal message. */
const PACKET_NAMES: Record<number, string> = { 1: 'CONNECT', 3: 'PUBLISH', 8: 'SUBSCRIBE', 10: 'UNSUBSCRIBE' };

function refusal(scan: Exclude<ScanResult, { ok: true }>): TributaryError {
  switch (scan.reason) {
    case 'too-large':
      return new TributaryError('FRAME_TOO_LARGE', `MQTT packet of ${scan.packetBytes} bytes exceeds listeners.mqtt.messageBytesMax (${scan.packetBytesMax})`);
    case 'bad-length':
      return new TributaryError('MALFORMED_FRAME', 'MQTT Remaining Length longer than four bytes');
    case 'bad-string':
      return new TributaryError('MALFORMED_FRAME', `${PACKET_NAMES[scan.packetType]} ${scan.field} is not well-formed UTF-8 or contains U+0000 [MQTT-1.5.3-1, MQTT-1.5.3-2]`);
  }
}
