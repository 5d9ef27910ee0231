// The MQTT listener's counters. Hot paths bump plain numbers; observability/metrics.ts reads them at
// scrape time. The PUBACK latency histogram is a prom-client Histogram registered nowhere until the
// metrics registry adopts it, so the listener works the same with the HTTP listener off.

import client from 'prom-client';
import type { PacketTotals } from '../../protocol/mqtt/packet-counter.ts';

/** Why a CONNECT was refused (CONNACK return code ≠ 0, or the connection dropped before it). */
export type RefusalReason = 'protocol-version' | 'identifier-rejected' | 'bad-credentials' | 'not-authorized' | 'connections-max';

/** Why the broker closed a connected client. */
export type CloseReason = 'packet-too-large' | 'malformed' | 'append-failed' | 'publish-denied' | 'shutting-down' | 'timeout' | 'protocol-error' | 'subscriber-stalled' | 'receive-maximum-exceeded';

export class MqttMetrics {
  /** PUBLISH packets received from clients, by QoS 0, 1, 2. */
  readonly publishesIn: [number, number, number] = [0, 0, 0];
  /** Publishes no route matched: delivered to subscribers, not logged. */
  unrouted = 0;
  /** Wills that became records when their client went away. */
  willsLogged = 0;
  readonly denied = { publish: 0, subscribe: 0 };
  /** PUBLISHes and wills to $SYS/... from clients, dropped unseen (as Mosquitto drops them). */
  sysPublishesDropped = 0;
  /** PUBLISH packets handed to subscribers' connections (live, retained and queued ones). */
  delivered = 0;
  /** MQTT 5 sessions ended by their Session Expiry Interval (session-expiry.ts). */
  sessionsExpired = 0;
  /** Connections accepted (all transports, before CONNECT). */
  connectionsAccepted = 0;
  /** Every MQTT packet and byte read from clients and written to them (Mosquitto's messages/ and bytes/). */
  readonly received: PacketTotals = { packets: 0, bytes: 0 };
  readonly sent: PacketTotals = { packets: 0, bytes: 0 };
  /** Messages for a subscriber that had no room in its queue (subscriber-queue.ts), by QoS 0, 1, 2. */
  readonly subscriberDropped: [number, number, number] = [0, 0, 0];
  /** Messages not sent to an MQTT 5 client because they exceed its Maximum Packet Size (outbound-flow.ts), by QoS 0, 1, 2. */
  readonly oversizeDropped: [number, number, number] = [0, 0, 0];
  readonly refused = new Map<RefusalReason, number>();
  readonly closed = new Map<CloseReason, number>();
  /** MQTT 5 PUBLISHes whose append failed, answered with a reason code (connection kept), by error code. */
  readonly publishesRefused = new Map<string, number>();
  readonly pubackLatency = new client.Histogram({
    name: 'tributary_mqtt_puback_latency_seconds',
    help: 'From PUBLISH received to PUBACK (QoS 1) or PUBREC (QoS 2) released: the wait for the record to be committed.',
    labelNames: ['qos'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [],
  });
  /** Bound per QoS once, so a PUBACK does not hash a labels object (it runs per message). */
  readonly pubackLatencyByQos = [this.pubackLatency.labels('0'), this.pubackLatency.labels('1'), this.pubackLatency.labels('2')] as const;

  refuse(reason: RefusalReason): void {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
  }

  close(reason: CloseReason): void {
    this.closed.set(reason, (this.closed.get(reason) ?? 0) + 1);
  }

  publishRefused(code: string): void {
    this.publishesRefused.set(code, (this.publishesRefused.get(code) ?? 0) + 1);
  }
}

/** What the metrics registry reads from a running MQTT listener. */
export interface MqttMetricsSource {
  readonly metrics: MqttMetrics;
  /** Clients past CONNACK. */
  readonly clientCount: number;
  /** Messages, and their bytes as subscriber-queue.ts counts them, queued for subscribers now. */
  readonly subscriberQueued: { messages: number; bytes: number };
  /** Subscriptions of connected clients and of persistent sessions whose client is away. */
  readonly subscriptionCount: number;
  /** What the session store knows; null with aedes' in-memory persistence. */
  readonly sessionStats: MqttSessionStats | null;
}

/**
 * Read from the MQTT session store (src/storage/mqtt-persistence.ts) at scrape time and at each
 * $SYS tick, from its in-memory indexes: no storage read.
 */
export interface MqttSessionStats {
  /** Retained messages held, $SYS/ ones included. */
  readonly retainedCount: number;
  /** Client ids of persistent sessions with a subscription, connected or not. */
  persistentClientIds(): Iterable<string>;
  /** Subscriptions of persistent sessions, connected or not. */
  readonly persistentSubscriptionCount: number;
  /** Each persistent session's queue of QoS 1/2 messages not yet acknowledged: [clientId, messages], non-empty ones only. */
  queueDepths(): Iterable<readonly [string, number]>;
}
