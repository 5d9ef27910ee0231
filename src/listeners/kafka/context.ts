// What every Kafka API handler is given: the broker, the node this listener presents to clients, and
// the connection's identity for logs. Handlers turn a decoded request into broker calls and return
// the response body (null: no response, Produce with acks 0).

import type { Logger } from 'pino';
import type { Broker } from '../../broker/broker.ts';
import type { LogTopicRight } from '../../auth/acl.ts';
import type { Identity } from '../../auth/password.ts';

/** The one node of this "cluster": Metadata, FindCoordinator and partition leaders all name it. */
export const NODE_ID = 0;

export interface KafkaContext {
  broker: Broker;
  log: Logger;
  clientId: string | null;
  /** The connection itself: what a group member joined on (members one connection may create are limited). */
  connection: object;
  /** The client's address, shown by group descriptions. */
  clientHost: string;
  /** Who sent the request: the SASL username (null without SASL) and the client id, for ACLs. */
  principal: Identity;
  /** auth.acls: may this client read, write or administer the log topic? (No rules: always true.) */
  may(right: LogTopicRight, topic: string): boolean;
  /** Where clients are told to connect (listeners.kafka.advertisedHost/Port, else what this client reached). */
  advertisedHost: string;
  advertisedPort: number;
  clusterId: string;
  /** Aborted when the connection closes or the broker stops: long-polls end early. */
  signal: AbortSignal;
  /**
   * Reserves `bytes` of the listener's shared fetch budget for this request's answer, waiting in
   * arrival order for room; false when the connection went away first. The connection gives it back
   * once the kernel took the answer (or the connection closed).
   */
  reserveAnswer(bytes: number): Promise<boolean>;
  /** Gives back what this request reserved, before its answer (a long-poll that waits again). */
  releaseAnswer(): void;
}

// Each handler decodes its own body type; the table (api-table.ts) keys them by API.
export type KafkaHandler = (ctx: KafkaContext, version: number, body: never) => unknown;
