// TCP segment counters of one loopback socket, read from the kernel with iproute2's `ss -ti`
// (segs_in/segs_out: every segment, pure ACKs included). Benchmarks use them to count IP packets,
// which a byte counter above the socket cannot see. Null where `ss` is missing or the socket is gone.

import { execFileSync } from 'node:child_process';

export interface SegmentCounts {
  /** Segments the socket received. */
  in: number;
  /** Segments the socket sent. */
  out: number;
}

/** Counters of the established socket 127.0.0.1:localPort ↔ 127.0.0.1:remotePort. */
export function tcpSegments(localPort: number, remotePort: number): SegmentCounts | null {
  let text: string;
  try {
    text = execFileSync('ss', ['-tinH', 'state', 'established', `( sport = :${localPort} and dport = :${remotePort} )`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
  const field = (name: string) => new RegExp(`\\b${name}:(\\d+)`).exec(text)?.[1];
  const segsIn = field('segs_in');
  const segsOut = field('segs_out');
  return segsIn === undefined || segsOut === undefined ? null : { in: Number(segsIn), out: Number(segsOut) };
}
