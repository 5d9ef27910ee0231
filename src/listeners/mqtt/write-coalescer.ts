// Writes to MQTT clients, coalesced per loop turn. aedes writes each delivery in a macrotask of its
// own (a setImmediate per packet), and mqtt-packet uncorks on the next tick, so every packet to a
// subscriber became one writev: 18 % of the broker's time with one persistent subscriber. A
// connection written to in this turn stays corked until one shared setImmediate uncorks every such
// connection: the packets of one turn leave in one writev, at most one loop turn later.

// The same wrapper counts the packets and bytes written (packet-counter.ts), for $SYS/broker/.

import type { Duplex } from 'node:stream';
import { PacketCounter, type PacketTotals } from '../../protocol/mqtt/packet-counter.ts';

export class WriteCoalescer {
  private readonly corked = new Set<Duplex>();
  private scheduled = false;
  private readonly sent: PacketTotals;

  constructor(sent: PacketTotals = { packets: 0, bytes: 0 }) {
    this.sent = sent;
  }

  /** Wraps `conn.write`; undone by nothing: the wrapper lives as long as the connection. */
  install(conn: Duplex): void {
    const write = conn.write.bind(conn) as (...args: unknown[]) => boolean;
    const counter = new PacketCounter(this.sent);
    conn.write = ((...args: unknown[]) => {
      const chunk = args[0];
      if (typeof chunk === 'string' || chunk instanceof Uint8Array) counter.push(chunk);
      if (!this.corked.has(conn) && !conn.destroyed) {
        conn.cork();
        this.corked.add(conn);
        if (!this.scheduled) {
          this.scheduled = true;
          setImmediate(() => this.uncorkAll());
        }
      }
      return write(...args);
    }) as Duplex['write'];
  }

  private uncorkAll(): void {
    this.scheduled = false;
    const conns = [...this.corked];
    this.corked.clear();
    for (const conn of conns) conn.uncork();
  }
}
