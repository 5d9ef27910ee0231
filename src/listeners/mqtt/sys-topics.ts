// The broker's own $SYS/broker/... topics, named and formatted as Mosquitto publishes them
// (mosquitto(8), BROKER STATUS), so dashboards and Home Assistant sensors made for Mosquitto read
// Tributary unchanged. One timer for the broker, every sysIntervalS: each tick reads the counters the
// listener keeps anyway (nothing is counted per message here) and publishes, retained at QoS 0,
// every topic whose text changed since it was last published, as Mosquitto does (uptime every
// time; version once).
//
// Never: publish per message or per client, or write these to the log (they are aedes publishes,
// which pass no authorizePublish and so no route), or keep them across a restart (retained.ts keeps
// $SYS/ retained messages in memory only).

import type { PacketTotals } from '../../protocol/mqtt/packet-counter.ts';

/** What one tick reads; counters only grow, the rest are levels now. */
export interface SysReading {
  clientsConnected: number;
  /** Persistent sessions (clean session 0) whose client is not connected; null when unknown. */
  clientsDisconnected: number | null;
  clientsMaximum: number;
  /** Connections accepted, all transports (for load/connections). */
  connections: number;
  received: PacketTotals;
  sent: PacketTotals;
  publishReceived: number;
  publishSent: number;
  publishDropped: number;
  /** Retained messages held, these $SYS/ ones included; null when unknown. */
  retained: number | null;
  subscriptions: number;
  /** Records held in the partition logs and their stored bytes. */
  storeMessages: number;
  storeBytes: number;
  heapBytes: number;
}

export interface SysTopicsOptions {
  intervalS: number;
  /** "tributary version X": $SYS/broker/version. */
  version: string;
  read: () => SysReading;
  /** Publishes one retained QoS 0 message from the broker itself. */
  publish: (topic: string, payload: string) => void;
  nowMs?: () => number;
}

/** The counters with a load average, and the topic part under $SYS/broker/load/. */
const LOADS = [
  ['messages/received', (r: SysReading) => r.received.packets],
  ['messages/sent', (r: SysReading) => r.sent.packets],
  ['publish/received', (r: SysReading) => r.publishReceived],
  ['publish/sent', (r: SysReading) => r.publishSent],
  ['publish/dropped', (r: SysReading) => r.publishDropped],
  ['bytes/received', (r: SysReading) => r.received.bytes],
  ['bytes/sent', (r: SysReading) => r.sent.bytes],
  ['connections', (r: SysReading) => r.connections],
] as const;

/** Mosquitto's three windows, in minutes. */
const WINDOWS = [1, 5, 15] as const;

export class SysTopics {
  private readonly opts: SysTopicsOptions;
  private readonly now: () => number;
  private readonly startedMs: number;
  private readonly published = new Map<string, string>();
  /** Per load counter: its value at the previous tick and its averages per window. */
  private readonly loads = LOADS.map(() => ({ last: 0, averages: WINDOWS.map(() => 0) }));
  private lastTickMs: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(opts: SysTopicsOptions) {
    this.opts = opts;
    this.now = opts.nowMs ?? Date.now;
    this.startedMs = this.now();
    this.lastTickMs = this.startedMs;
  }

  /** Publishes the tree now and every intervalS; 0 publishes nothing. */
  start(): void {
    if (this.opts.intervalS === 0) return;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.opts.intervalS * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One update; the timer calls it every intervalS. */
  tick(): void {
    const r = this.opts.read();
    const nowMs = this.now();
    const elapsedMin = (nowMs - this.lastTickMs) / 60_000;
    this.lastTickMs = nowMs;
    const values: [string, string][] = [
      ['version', this.opts.version],
      ['uptime', `${Math.floor((nowMs - this.startedMs) / 1000)} seconds`],
      ['clients/connected', String(r.clientsConnected)],
      ['clients/maximum', String(r.clientsMaximum)],
      ['messages/received', String(r.received.packets)],
      ['messages/sent', String(r.sent.packets)],
      ['bytes/received', String(r.received.bytes)],
      ['bytes/sent', String(r.sent.bytes)],
      ['publish/messages/received', String(r.publishReceived)],
      ['publish/messages/sent', String(r.publishSent)],
      ['publish/messages/dropped', String(r.publishDropped)],
      ['subscriptions/count', String(r.subscriptions)],
      ['store/messages/count', String(r.storeMessages)],
      ['store/messages/bytes', String(r.storeBytes)],
      ['heap/current', String(r.heapBytes)],
    ];
    if (r.clientsDisconnected !== null) {
      values.push(['clients/disconnected', String(r.clientsDisconnected)]);
      values.push(['clients/total', String(r.clientsConnected + r.clientsDisconnected)]);
    }
    if (r.retained !== null) values.push(['retained messages/count', String(r.retained)]);
    LOADS.forEach(([name, counter], i) => {
      const load = this.loads[i]!;
      const value = counter(r);
      // Events per minute over the last tick, folded into exponentially weighted averages over 1,
      // 5 and 15 minutes, printed with two decimals: what Mosquitto 2.0.11 publishes (100 PUBLISHes
      // in one 2 s tick gave it 97.54, 19.90 and 6.66; this formula gives 98.35, 19.93, 6.66).
      const rate = elapsedMin > 0 ? (value - load.last) / elapsedMin : 0;
      load.last = value;
      WINDOWS.forEach((window, w) => {
        const decay = Math.exp(-elapsedMin / window);
        load.averages[w] = rate + decay * (load.averages[w]! - rate);
        values.push([`load/${name}/${window}min`, load.averages[w]!.toFixed(2)]);
      });
    });
    for (const [name, text] of values) {
      const topic = `$SYS/broker/${name}`;
      if (this.published.get(topic) === text) continue;
      this.published.set(topic, text);
      this.opts.publish(topic, text);
    }
  }
}
