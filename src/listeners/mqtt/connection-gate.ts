// Sits between a client's connection and aedes' packet parser: refuses a packet larger than
// messageBytesMax (or with a broken Remaining Length) as soon as its fixed header arrives, and stops
// handing bytes to aedes while the client has too many appends in flight.
//
// aedes 1.2 reads a connection only through `conn.read(null)` on 'readable' and after each packet
// is handled (node_modules/aedes/lib/client.js, nextBatch), and parses whatever that returns. Every
// packet of one read is handled concurrently, and a new 'readable' event lets it read again before
// earlier packets are done, so aedes alone does not bound a client's packets in flight. Wrapping
// `read` gives one place that sees every byte before the parser and can leave bytes in the socket's
// buffer: once that buffer is full Node stops reading the socket and TCP pushes back on the device.
// Neither mqtt-packet's parser nor aedes has a maximum packet size for MQTT 3.1.1; without this the
// parser buffers whatever Remaining Length a client announces (up to 256 MB).

import type { Duplex } from 'node:stream';
import { TributaryError } from '../../errors.ts';
import { PacketScanner } from '../../protocol/mqtt/packet-scanner.ts';

export class ConnectionGate {
  private readonly conn: Duplex;
  private readonly scanner: PacketScanner;
  private paused = false;

  /** Installs the gate on `conn`; `refuse` is called once with the reason before it is destroyed. */
  constructor(conn: Duplex, packetBytesMax: number, refuse: (err: TributaryError) => void) {
    this.conn = conn;
    this.scanner = new PacketScanner(packetBytesMax);
    const read = conn.read.bind(conn);
    conn.read = (size?: number) => {
      if (this.paused) return null;
      const chunk: unknown = read(size);
      if (!Buffer.isBuffer(chunk)) return chunk;
      const scan = this.scanner.push(chunk);
      if (scan.ok) return chunk;
      const err =
        scan.reason === 'too-large'
          ? new TributaryError('FRAME_TOO_LARGE', `MQTT packet of ${scan.packetBytes} bytes exceeds listeners.mqtt.messageBytesMax (${scan.packetBytesMax})`)
          : new TributaryError('MALFORMED_FRAME', 'MQTT Remaining Length longer than four bytes');
      refuse(err);
      conn.destroy(err);
      return null;
    };
  }

  /** Stops (true) or resumes (false) handing bytes to aedes. */
  setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    // aedes reads again only on 'readable' or when a packet is done; after a pause neither may come.
    if (!paused && !this.conn.destroyed) this.conn.emit('readable');
  }
}
