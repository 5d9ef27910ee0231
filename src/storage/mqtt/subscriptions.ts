// Persistent-session subscriptions. LMDB keeps [clientId, topic filter] → options; two in-memory
// indexes are rebuilt from it at load: by client (restoring a session, counting clients) and by
// filter in a qlobber trie, which matches the topic of every QoS > 0 PUBLISH to the offline
// subscribers to queue it for. A QoS 0 subscription is restored with its session but never matched:
// nothing is queued for it.

import type { Database } from 'lmdb';
import QlobberSub from 'qlobber/aedes/qlobber-sub.js';
import type { TxnStage } from './txn-stage.ts';
import { MQTT_WILDCARDS } from './topic-match.ts';
import type { MqttSubscription, StoredSubscription, TopicSubscription } from './types.ts';

export class SubscriptionStore {
  private readonly db: Database<StoredSubscription, [string, string]>;
  private readonly writes: TxnStage;
  private readonly byClient = new Map<string, Map<string, StoredSubscription>>();
  private readonly trie = new QlobberSub(MQTT_WILDCARDS);

  constructor(db: Database<StoredSubscription, [string, string]>, writes: TxnStage) {
    this.db = db;
    this.writes = writes;
  }

  load(): void {
    this.byClient.clear();
    this.trie.clear();
    for (const { key, value } of this.db.getRange()) this.index(key[0], key[1], value);
  }

  /** Whether the client has a subscription. */
  has(clientId: string): boolean {
    return (this.byClient.get(clientId)?.size ?? 0) > 0;
  }

  /** A filter subscribed again replaces the earlier options, also within one call. */
  add(clientId: string, subs: readonly MqttSubscription[]): void {
    for (const sub of subs) {
      const options: StoredSubscription = { qos: sub.qos, rh: sub.rh, rap: sub.rap, nl: sub.nl };
      // Stored only when present, so subscriptions without one keep the shape aedes gave them.
      if (sub.subscriptionIdentifier !== undefined) options.subscriptionIdentifier = sub.subscriptionIdentifier;
      this.index(clientId, sub.topic, options);
      this.writes.put(this.db, [clientId, sub.topic], options);
    }
  }

  remove(clientId: string, topics: readonly string[]): void {
    const subs = this.byClient.get(clientId);
    if (!subs) return;
    for (const topic of topics) {
      const options = subs.get(topic);
      if (!options) continue;
      if (options.qos > 0) this.trie.remove(topic, { clientId, topic });
      subs.delete(topic);
      this.writes.remove(this.db, [clientId, topic]);
    }
    if (subs.size === 0) this.byClient.delete(clientId);
  }

  clean(clientId: string): void {
    const subs = this.byClient.get(clientId);
    if (subs) this.remove(clientId, [...subs.keys()]);
  }

  ofClient(clientId: string): MqttSubscription[] {
    return [...(this.byClient.get(clientId) ?? [])].map(([topic, options]) => ({ topic, ...options }));
  }

  /** The QoS > 0 subscriptions whose filter matches `topic`. */
  matching(topic: string): TopicSubscription[] {
    return this.trie.match(topic) as TopicSubscription[];
  }

  /** QoS > 0 subscriptions, and clients with any subscription. */
  count(): { subsCount: number; clientsCount: number } {
    return { subsCount: this.trie.subscriptionsCount, clientsCount: this.byClient.size };
  }

  /** Clients with a subscription. */
  clientIds(): Iterable<string> {
    return this.byClient.keys();
  }

  /** Subscriptions of every QoS. */
  get total(): number {
    let n = 0;
    for (const subs of this.byClient.values()) n += subs.size;
    return n;
  }

  /** Clients subscribed to exactly this filter. */
  clientsOf(topic: string): string[] {
    const ids: string[] = [];
    for (const [clientId, subs] of this.byClient) if (subs.has(topic)) ids.push(clientId);
    return ids;
  }

  private index(clientId: string, topic: string, options: StoredSubscription): void {
    let subs = this.byClient.get(clientId);
    if (!subs) this.byClient.set(clientId, (subs = new Map()));
    if (options.qos > 0) this.trie.add(topic, { clientId, topic, qos: options.qos, rh: options.rh, rap: options.rap, nl: options.nl });
    else if ((subs.get(topic)?.qos ?? 0) > 0) this.trie.remove(topic, { clientId, topic });
    subs.set(topic, options);
  }
}
