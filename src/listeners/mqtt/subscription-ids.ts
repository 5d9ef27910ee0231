// Subscription Identifiers [MQTT-3.3.4-3] on the messages a persistent session gets from its stored
// queue. aedes adds a subscription's identifier to a live message as it matches that subscription
// (lib/handlers/subscribe.js), but a message stored for the session (while it was away, or sent and
// not acknowledged before it left) is stored without it, and aedes sends the stored queue as it is.
// Here the identifiers come back from the subscriptions the session has when the message leaves: all
// of those that match it and carry one [MQTT-3.3.4-4], as the spec asks (aedes puts one on a live
// message matched by several).
//
// Runs once per stored message as the queue drains (aedes-patches.mjs, lib/handlers/connect.js),
// O(the client's subscriptions); never on live traffic.

import type { Client } from 'aedes';
import { matchTopic } from '../../protocol/mqtt/topic-filter.ts';

/** What aedes 2 keeps on a Client that this module reads (not in its type declarations). */
interface SubscribedClient {
  version: number | null;
  /** Filter → aedes' Subscription, whose `si` is the identifier its SUBSCRIBE gave, if any. */
  subscriptions: Record<string, { si?: number }>;
}

/** The PUBLISH aedes is about to send from the stored queue (a fresh QoSPacket: its own object). */
interface StoredPublish {
  topic: string;
  properties?: Record<string, unknown>;
}

/** Sets the packet's Subscription Identifiers from the MQTT 5 client's matching subscriptions. */
export function addSubscriptionIds(client: Client, packet: StoredPublish): void {
  const c = client as unknown as SubscribedClient;
  if (c.version !== 5) return;
  let topicLevels: string[] | null = null;
  const ids: number[] = [];
  for (const [filter, sub] of Object.entries(c.subscriptions)) {
    if (sub.si === undefined) continue;
    topicLevels ??= packet.topic.split('/');
    if (matchTopic(filter.split('/'), topicLevels) !== null) ids.push(sub.si);
  }
  // A new object: aedes shares a stored message's properties with the other copies of that message.
  // An identifier the message came with is not this subscriber's: a publisher may not set one [MQTT-3.3.4-6].
  const { subscriptionIdentifier: stale, ...rest } = packet.properties ?? {};
  if (ids.length > 0) packet.properties = { ...rest, subscriptionIdentifier: ids.length === 1 ? ids[0] : ids };
  else if (stale !== undefined) packet.properties = rest;
}
