// The aedes 1.x persistence, kept in named databases of the data dir's one LMDB environment, so MQTT
// sessions, subscriptions, retained messages, queued QoS 1/2 deliveries, incoming QoS 2 packets and
// wills survive a restart together with the logs.
//
// aedes 1.x calls the promise interface of aedes-persistence 11 (the shape of its asyncPersistence.js:
// methods without callbacks, streams as Node Readables) and refuses a persistence whose setup() is not
// an AsyncFunction. Reads are served from in-memory indexes and values staged this turn, so they see
// every write made before them; writes of one event-loop turn share one transaction (mqtt/txn-stage.ts)
// and resolve after it.
//
// The environment belongs to the LogStore, and every transaction commit goes through its sideTxn (room
// checks, shared fail-stop): destroy() commits what is staged and must run before the store closes.

import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { TributaryError } from '../errors.ts';
import type { SideWriteStore } from './log-store.ts';
import { assertKeyFits, TxnStage } from './mqtt/txn-stage.ts';
import { IncomingPackets } from './mqtt/incoming.ts';
import { OutgoingQueues } from './mqtt/outgoing.ts';
import { RetainedStore } from './mqtt/retained.ts';
import { SessionExpiryStore, type SessionExpiryEntry } from './mqtt/session-expiry.ts';
import { SubscriptionStore } from './mqtt/subscriptions.ts';
import type { MqttBrokerRef, MqttClientRef, MqttPacket, MqttSubscription, TopicSubscription } from './mqtt/types.ts';
import { WillStore } from './mqtt/wills.ts';

export type { SessionExpiryEntry } from './mqtt/session-expiry.ts';
export type { MqttBrokerRef, MqttClientRef, MqttPacket, MqttSubscription, TopicSubscription } from './mqtt/types.ts';

export class MqttPersistence {
  private readonly writes: TxnStage;
  private readonly retained: RetainedStore;
  private readonly subscriptions: SubscriptionStore;
  private readonly outgoing: OutgoingQueues;
  private readonly incoming: IncomingPackets;
  private readonly wills: WillStore;
  private readonly sessionExpiry: SessionExpiryStore;
  private brokerRef: MqttBrokerRef | null = null;
  private destroyed = false;

  /** `store`: the LogStore whose environment and transaction rules the MQTT state shares. */
  constructor(store: SideWriteStore, logger: Logger) {
    const lmdb = store.lmdb;
    // A failed transaction commit leaves the indexes ahead of LMDB: rebuild them from what is committed.
    this.writes = new TxnStage(store, logger.child({ module: 'mqtt-persistence' }), () => this.load());
    this.retained = new RetainedStore(lmdb.mqttRetained, this.writes);
    this.subscriptions = new SubscriptionStore(lmdb.mqttSubscriptions, this.writes);
    this.outgoing = new OutgoingQueues(lmdb.mqttOutgoing, this.writes);
    this.incoming = new IncomingPackets(lmdb.mqttIncoming, this.writes);
    this.wills = new WillStore(lmdb.mqttWills, this.writes);
    this.sessionExpiry = new SessionExpiryStore(lmdb.mqttSessionExpiry, this.writes);
    this.load();
  }

  /** The broker given to setup(); null before. */
  get broker(): MqttBrokerRef | null {
    return this.brokerRef;
  }

  /** Transactions committed so far; the writes of one event-loop turn share one. */
  get txnCommits(): number {
    return this.writes.txnCommits;
  }

  // ---- counts for $SYS/broker/... and /metrics (listeners/mqtt/metrics.ts MqttSessionStats) ----

  get retainedCount(): number {
    return this.retained.count;
  }

  persistentClientIds(): Iterable<string> {
    return this.subscriptions.clientIds();
  }

  get persistentSubscriptionCount(): number {
    return this.subscriptions.total;
  }

  queueDepths(): Iterable<readonly [string, number]> {
    return this.outgoing.depths();
  }

  async setup(broker: MqttBrokerRef): Promise<void> {
    this.brokerRef = broker;
  }

  // ---- retained ----

  storeRetained(packet: MqttPacket & { topic: string }): Promise<void> {
    // $SYS/ retained messages live in memory only (mqtt/retained.ts): no transaction to wait for.
    if (packet.topic.startsWith('$SYS/')) {
      this.retained.store(packet);
      return Promise.resolve();
    }
    return this.write(() => {
      assertKeyFits(packet.topic);
      this.retained.store(packet);
    });
  }

  createRetainedStream(pattern: string): Readable {
    return Readable.from(this.retained.matching([pattern]));
  }

  createRetainedStreamCombi(patterns: readonly string[]): Readable {
    return Readable.from(this.retained.matching(patterns));
  }

  // ---- subscriptions ----

  addSubscriptions(client: MqttClientRef, subs: readonly MqttSubscription[]): Promise<void> {
    return this.write(() => {
      for (const sub of subs) assertKeyFits([client.id, sub.topic]);
      this.subscriptions.add(client.id, subs);
    });
  }

  removeSubscriptions(client: MqttClientRef, topics: readonly string[]): Promise<void> {
    return this.write(() => this.subscriptions.remove(client.id, topics));
  }

  cleanSubscriptions(client: MqttClientRef): Promise<void> {
    return this.write(() => this.subscriptions.clean(client.id));
  }

  async subscriptionsByClient(client: MqttClientRef): Promise<MqttSubscription[]> {
    return this.subscriptions.ofClient(client.id);
  }

  /** Whether a persistent session subscribes to `topic`: its QoS 1 PUBLISH is then queued before its PUBACK (aedes-patches.mjs). */
  hasSubscriptions(topic: string): boolean {
    return this.subscriptions.matching(topic).length > 0;
  }

  /**
   * Whether a client has stored session state: subscriptions, queued QoS 1/2 messages, or QoS 2
   * PUBLISHes awaiting PUBREL. aedes answers Session Present from the subscriptions alone (aedes-patches.mjs).
   */
  hasSessionState(clientId: string): boolean {
    return this.subscriptions.has(clientId) || this.outgoing.has(clientId) || this.incoming.has(clientId);
  }

  async subscriptionsByTopic(topic: string): Promise<TopicSubscription[]> {
    return this.subscriptions.matching(topic);
  }

  async countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    return this.subscriptions.count();
  }

  getClientList(topic: string): Readable {
    return Readable.from(this.subscriptions.clientsOf(topic));
  }

  // ---- outgoing QoS 1/2 queues ----

  outgoingEnqueue(sub: { clientId: string }, packet: MqttPacket): Promise<void> {
    return this.write(() => {
      assertKeyFits([sub.clientId, 0]);
      this.outgoing.enqueue(sub.clientId, packet);
    });
  }

  /** Each copy at the lower of the published QoS and the one its subscription was granted [MQTT-3.8.4-6]. */
  outgoingEnqueueCombi(subs: readonly { clientId: string; qos?: number }[], packet: MqttPacket): Promise<void> {
    return this.write(() => {
      for (const sub of subs) assertKeyFits([sub.clientId, 0]);
      for (const sub of subs) this.outgoing.enqueue(sub.clientId, packet, sub.qos);
    });
  }

  /**
   * For a QoS 1 PUBLISH this resolves once staged, and the write is lazy (mqtt/txn-stage.ts). aedes
   * sends a queued packet only after this resolves, one after the other, so waiting for a transaction commit each
   * time capped a reconnecting client's backlog at one packet per fdatasync (50,000 queued messages
   * took 50 s). The update only records the messageId given to a packet already stored; a power cut
   * that takes it back makes the packet go out again under a new id, a duplicate QoS 1 allows. A QoS 2
   * PUBLISH and a PUBREL wait for the transaction commit: a new id for them would break exactly-once.
   */
  outgoingUpdate(client: MqttClientRef, packet: MqttPacket): Promise<void> {
    if (packet.cmd === 'publish' && packet.qos === 1) return this.stageOnly(() => this.outgoing.update(client.id, packet, true));
    return this.write(() => this.outgoing.update(client.id, packet));
  }

  /**
   * aedes passes the PUBACK/PUBCOMP (anything with the messageId); resolves to the removed packet once
   * staged: a removal a power cut takes back sends the PUBLISH (QoS 1) or PUBREL again, which the
   * protocol allows.
   */
  outgoingClearMessageId(client: MqttClientRef, packet: { messageId?: number }): Promise<MqttPacket | undefined> {
    return this.stageOnly(() => this.outgoing.clear(client.id, packet.messageId));
  }

  outgoingStream(client: MqttClientRef): Readable {
    return Readable.from(this.outgoing.stream(client.id));
  }

  // ---- incoming QoS 2 ----

  incomingStorePacket(client: MqttClientRef, packet: MqttPacket & { messageId: number }): Promise<void> {
    return this.write(() => {
      assertKeyFits([client.id, packet.messageId]);
      this.incoming.store(client.id, packet);
    });
  }

  async incomingGetPacket(client: MqttClientRef, packet: { messageId: number }): Promise<MqttPacket> {
    return this.incoming.get(client.id, packet.messageId);
  }

  incomingDelPacket(client: MqttClientRef, packet: { messageId: number }): Promise<void> {
    return this.write(() => this.incoming.delete(client.id, packet.messageId));
  }

  cleanIncoming(client: MqttClientRef): Promise<void> {
    return this.write(() => this.incoming.clean(client.id));
  }

  // ---- wills ----

  /** Stamps the will with this broker's id and the client id, on the caller's object too, as aedes expects. */
  putWill(client: MqttClientRef, will: MqttPacket): Promise<void> {
    return this.write(() => {
      if (!this.brokerRef) throw new TributaryError('INVALID_REQUEST', 'putWill before setup(): the will needs the broker id');
      assertKeyFits(client.id);
      will.brokerId = this.brokerRef.id;
      will.clientId = client.id;
      this.wills.put(client.id, will);
    });
  }

  async getWill(client: MqttClientRef): Promise<MqttPacket | undefined> {
    return this.wills.get(client.id);
  }

  delWill(client: MqttClientRef): Promise<MqttPacket | undefined> {
    return this.write(() => this.wills.delete(client.id));
  }

  /** Wills of brokers not listed: aedes publishes those of brokers it stopped hearing from. */
  streamWill(brokers: Readonly<Record<string, unknown>> = {}): Readable {
    return Readable.from(this.wills.ofOtherBrokers(brokers));
  }

  // ---- MQTT 5 session expiry (not part of aedes' interface: listeners/mqtt/session-expiry.ts) ----

  /** Resolves once committed (an entry written again unchanged costs no write). */
  putSessionExpiry(clientId: string, entry: SessionExpiryEntry): Promise<void> {
    return this.write(() => {
      assertKeyFits(clientId);
      this.sessionExpiry.put(clientId, entry);
    });
  }

  deleteSessionExpiry(clientId: string): Promise<void> {
    return this.write(() => this.sessionExpiry.delete(clientId));
  }

  sessionExpiries(): [string, SessionExpiryEntry][] {
    return this.sessionExpiry.all();
  }

  hasSessionExpiry(clientId: string): boolean {
    return this.sessionExpiry.has(clientId);
  }

  // ---- lifecycle ----

  /** Commits what is staged; later writes are refused. Leaves the environment open. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const staged = this.writes.txnCommitted();
    this.writes.flush();
    await staged;
  }

  private async write<T>(apply: () => T): Promise<T> {
    if (this.writes.failed) throw this.writes.failed;
    if (this.destroyed) throw new TributaryError('SHUTTING_DOWN', 'the MQTT persistence is closed');
    const result = apply();
    await this.writes.txnCommitted();
    return result;
  }

  /** Like write(), without waiting for the transaction commit; a later failed transaction commit stops writes as usual. */
  private async stageOnly<T>(apply: () => T): Promise<T> {
    if (this.writes.failed) throw this.writes.failed;
    if (this.destroyed) throw new TributaryError('SHUTTING_DOWN', 'the MQTT persistence is closed');
    return apply();
  }

  private load(): void {
    this.retained.load();
    this.subscriptions.load();
    this.outgoing.load();
    this.incoming.load();
    this.wills.load();
    this.sessionExpiry.load();
  }
}
