// Shared subscriptions: `$share/GROUP/filter` [MQTT-4.8.2], for MQTT 5 and MQTT 3.1.1 clients (as
// Mosquitto takes them from both). Each message matching `filter` goes to one member of GROUP:
// round robin over the members that are connected; when none is, it is queued (QoS 1/2) for one of
// the persistent sessions subscribed to the group, round robin too, and sent when that client returns.
//
// How: aedes subscribes a client to its `$share/...` filter as to any other (aedes-patches.mjs lets
// it; its delivery function then carries `client` and `qos`). The listener routes aedes'
// broker.subscribe/unsubscribe of such filters here instead of to mqemitter, so nothing ever matches
// the literal `$share/...`. Each group has one mqemitter listener on its real filter, which picks
// the member and hands the message to that member's own delivery function: ACL-granted at SUBSCRIBE,
// bounded by subscriber-queue.ts, MQTT 5 properties and subscription identifier included.
// Persistent members are known from the session store's writes (persisted(), forgotten()) and,
// after a restart, from what it holds.
//
// Each member gets its own copy of the message under an origin of this module's (brokerId
// `<broker id>/share`, a counter of its own): aedes drops a second copy of one message to one client
// as a duplicate, and the session store finds a queued packet by its origin, so a client that is a
// member of a group and also has a non-shared subscription (or is in two groups) gets each copy
// [MQTT-4.8.2], and each of its queued copies is acknowledged on its own. One origin for all groups
// keeps aedes' per-client duplicate map at one entry however many groups a client joins and leaves;
// aedes drops a copy whose counter is below one it sent that client, so a client's copies reach
// aedes in counter order (`tails`).
//
// Never: deliver one message to two members of a group, or keep a group once it has no member.

import type { AedesPublishPacket, Client } from 'aedes';
import type { Logger } from 'pino';

/** One of aedes' per-subscription delivery functions, tagged by aedes-patches.mjs. */
export type DeliverFunc = ((packet: AedesPublishPacket, cb: () => void) => void) & { client?: Client; qos?: 0 | 1 | 2 };
type Done = (err?: Error | null) => void;

/** What this module needs from aedes: its own (unrouted) mqemitter subscribe, and its session store. */
export interface SharedHost {
  subscribe(filter: string, func: DeliverFunc, done?: Done): void;
  unsubscribe(filter: string, func: DeliverFunc, done?: Done): void;
  enqueue(clientId: string, packet: AedesPublishPacket): Promise<void>;
  brokerId(): string;
}

const PREFIX = '$share/';

/** `$share/GROUP/filter` → its filter; null for any other filter or a malformed one [MQTT-4.8.2-1, MQTT-4.8.2-2]. */
export function sharedFilter(topic: string): string | null {
  if (!topic.startsWith(PREFIX)) return null;
  const slash = topic.indexOf('/', PREFIX.length);
  if (slash <= PREFIX.length || slash === topic.length - 1) return null;
  const group = topic.slice(PREFIX.length, slash);
  if (group.includes('+') || group.includes('#')) return null;
  return topic.slice(slash + 1);
}

interface Member {
  readonly func: DeliverFunc;
  readonly client: Client;
  readonly qos: 0 | 1 | 2;
}

class Group {
  /** Connected members, in the order they joined. */
  readonly live: Member[] = [];
  /** Persistent sessions subscribed (QoS > 0), connected or not: client id → granted QoS. */
  readonly persistent = new Map<string, 1 | 2>();
  nextLive = 0;
  nextPersistent = 0;
  readonly listener: (packet: AedesPublishPacket, cb: () => void) => void;

  constructor(
    readonly topic: string,
    readonly filter: string,
    deliver: (group: Group, packet: AedesPublishPacket, cb: () => void) => void,
  ) {
    this.listener = (packet, cb) => deliver(this, packet, cb);
  }

  get empty(): boolean {
    return this.live.length === 0 && this.persistent.size === 0;
  }
}

export class SharedSubscriptions {
  private readonly host: SharedHost;
  private readonly log: Logger;
  private readonly groups = new Map<string, Group>();
  /** Groups by the persistent sessions in them, so a session's end leaves them all at once. */
  private readonly persistentGroups = new Map<string, Set<Group>>();
  private readonly origin: string;
  private counter = 0;
  /**
   * A client's copies that wait for a persistent session's queue write, chained with those made
   * after them so that each client gets its copies in the order of their counters.
   */
  private readonly tails = new WeakMap<Client, Promise<void>>();

  constructor(host: SharedHost, logger: Logger) {
    this.host = host;
    this.log = logger;
    this.origin = `${host.brokerId()}/share`;
  }

  /** Groups with a member, for tests and metrics. */
  get groupCount(): number {
    return this.groups.size;
  }

  /** aedes subscribes a connected client's delivery function to `$share/...`. */
  subscribe(topic: string, func: DeliverFunc, done?: Done): void {
    const client = func.client;
    const group = this.groupOf(topic);
    if (group === null || client === undefined) return done?.(new Error(`not a shared subscription: ${topic}`));
    group.live.push({ func, client, qos: func.qos ?? 0 });
    done?.();
  }

  /** aedes removes it: UNSUBSCRIBE, a new QoS for the filter, or the connection's end. */
  unsubscribe(topic: string, func: DeliverFunc, done?: Done): void {
    const group = this.groups.get(topic);
    if (group !== undefined) {
      const at = group.live.findIndex((m) => m.func === func);
      if (at !== -1) group.live.splice(at, 1);
      this.dropIfEmpty(group);
    }
    done?.();
  }

  /** The session store took these subscriptions for a persistent session (aedes' addSubscriptions). */
  persisted(clientId: string, subs: readonly { topic: string; qos: number }[]): void {
    for (const sub of subs) {
      if (sharedFilter(sub.topic) === null) continue;
      if (sub.qos === 0) {
        // A QoS 0 subscription queues nothing for an absent client (as aedes does for non-shared ones).
        this.forgotten(clientId, [sub.topic]);
        continue;
      }
      const group = this.groupOf(sub.topic)!;
      group.persistent.set(clientId, sub.qos === 1 ? 1 : 2);
      let of = this.persistentGroups.get(clientId);
      if (of === undefined) this.persistentGroups.set(clientId, (of = new Set()));
      of.add(group);
    }
  }

  /** The session store removed these subscriptions of a session; all of them when `topics` is null (session ended). */
  forgotten(clientId: string, topics: readonly string[] | null): void {
    const of = this.persistentGroups.get(clientId);
    if (of === undefined) return;
    for (const group of [...of]) {
      if (topics !== null && !topics.includes(group.topic)) continue;
      group.persistent.delete(clientId);
      of.delete(group);
      this.dropIfEmpty(group);
    }
    if (of.size === 0) this.persistentGroups.delete(clientId);
  }

  private groupOf(topic: string): Group | null {
    const existing = this.groups.get(topic);
    if (existing !== undefined) return existing;
    const filter = sharedFilter(topic);
    if (filter === null) return null;
    const group = new Group(topic, filter, (g, p, cb) => this.deliver(g, p, cb));
    this.groups.set(topic, group);
    this.host.subscribe(filter, group.listener, (err) => {
      if (err) this.log.error({ filter: topic, err: err.message }, 'MQTT shared subscription: could not listen on its filter');
    });
    return group;
  }

  private dropIfEmpty(group: Group): void {
    if (!group.empty || this.groups.get(group.topic) !== group) return;
    this.groups.delete(group.topic);
    this.host.unsubscribe(group.filter, group.listener);
  }

  /** mqemitter's call for one message matching the group's filter; `cb` lets the publisher go on. */
  private deliver(group: Group, packet: AedesPublishPacket, cb: () => void): void {
    // [MQTT-4.7.2-1] a filter starting with a wildcard does not match topics starting with $.
    const first = group.filter.charCodeAt(0);
    if (packet.topic.charCodeAt(0) === 36 && (first === 43 || first === 35)) return cb();
    const member = this.nextLive(group);
    if (member !== null) return this.deliverLive(group, member, packet, cb);
    // No member connected: a QoS 1/2 message waits in one persistent session's queue; a QoS 0
    // message is not queued for an absent client, as for a non-shared subscription.
    if (packet.qos === 0 || group.persistent.size === 0) return cb();
    const ids = [...group.persistent];
    const [clientId, qos] = ids[group.nextPersistent++ % ids.length];
    const copy = this.copy(packet, Math.min(packet.qos, qos) as 1 | 2);
    this.host.enqueue(clientId, copy).then(cb, (err: unknown) => {
      this.log.error({ clientId, filter: group.topic, mqttTopic: packet.topic, err }, 'MQTT shared subscription: could not queue a message for an absent member: dropped');
      cb();
    });
  }

  /** The next connected member, round robin; members whose connection is ending are passed over. */
  private nextLive(group: Group): Member | null {
    const n = group.live.length;
    for (let i = 0; i < n; i++) {
      const member = group.live[group.nextLive++ % n];
      if (!member.client.closed) return member;
    }
    return null;
  }

  private deliverLive(group: Group, member: Member, packet: AedesPublishPacket, cb: () => void): void {
    const qos = Math.min(packet.qos, member.qos) as 0 | 1 | 2;
    const copy = this.copy(packet, qos);
    const client = member.client;
    // A persistent session keeps its QoS 1/2 copy in its queue until acknowledged, as aedes does for
    // a non-shared subscription: a member that goes away gets it again when it comes back.
    const store = qos > 0 && !client.clean;
    const before = this.tails.get(client);
    if (!store && before === undefined) return member.func(copy, cb);
    const tail = (before ?? Promise.resolve())
      .then(() => (store ? this.host.enqueue(client.id, copy) : undefined))
      .then(
        () => member.func(copy, cb),
        (err: unknown) => {
          this.log.error({ clientId: client.id, filter: group.topic, mqttTopic: packet.topic, err }, 'MQTT shared subscription: could not queue a message for its member: dropped');
          cb();
        },
      );
    this.tails.set(client, tail);
    void tail.then(() => {
      if (this.tails.get(client) === tail) this.tails.delete(client);
    });
  }

  /** The member's own copy: this module's origin and the next counter (header comment), the QoS it gets. */
  private copy(packet: AedesPublishPacket, qos: 0 | 1 | 2): AedesPublishPacket {
    const copy = {
      cmd: 'publish',
      brokerId: this.origin,
      brokerCounter: ++this.counter,
      topic: packet.topic,
      payload: packet.payload,
      qos,
      retain: packet.retain,
      dup: false,
    } as AedesPublishPacket & { clientId?: string; properties?: unknown; messageExpiry?: number };
    const from = packet as typeof copy;
    if (from.clientId !== undefined) copy.clientId = from.clientId;
    if (from.properties !== undefined) copy.properties = from.properties;
    if (from.messageExpiry !== undefined) copy.messageExpiry = from.messageExpiry;
    return copy;
  }
}

/** The parts of aedes install() reaches into: its subscribe pair and its session store. */
interface AedesInternals {
  id: string;
  subscribe(topic: string, func: DeliverFunc, done?: Done): void;
  unsubscribe(topic: string, func: DeliverFunc, done?: Done): void;
  persistence: {
    addSubscriptions(client: { id: string }, subs: { topic: string; qos: number }[]): Promise<void>;
    removeSubscriptions(client: { id: string }, topics: string[]): Promise<void>;
    cleanSubscriptions(client: { id: string }): Promise<void>;
    subscriptionsByClient(client: { id: string }): Promise<{ topic: string; qos: number }[]>;
    outgoingEnqueueCombi(subs: { clientId: string }[], packet: AedesPublishPacket): Promise<void>;
  };
}

/**
 * Routes aedes' subscriptions to `$share/...` filters to a new SharedSubscriptions, which learns the
 * persistent members from the session store's writes and, for the sessions the store holds already
 * (`persistentClientIds`: after a restart), from their stored subscriptions. Before any client connects.
 */
export async function installSharedSubscriptions(aedes: object, logger: Logger, persistentClientIds: Iterable<string>): Promise<SharedSubscriptions> {
  const a = aedes as AedesInternals;
  const subscribe = a.subscribe.bind(aedes);
  const unsubscribe = a.unsubscribe.bind(aedes);
  const store = a.persistence;
  const shared = new SharedSubscriptions(
    {
      subscribe,
      unsubscribe,
      enqueue: (clientId, packet) => store.outgoingEnqueueCombi([{ clientId }], packet),
      brokerId: () => a.id,
    },
    logger,
  );
  // Only a client's subscription carries `client` (aedes-patches.mjs); anything else goes on as it was.
  a.subscribe = (topic, func, done) => (topic.startsWith(PREFIX) && func.client !== undefined ? shared.subscribe(topic, func, done) : subscribe(topic, func, done));
  a.unsubscribe = (topic, func, done) => (topic.startsWith(PREFIX) && func.client !== undefined ? shared.unsubscribe(topic, func, done) : unsubscribe(topic, func, done));
  const add = store.addSubscriptions.bind(store);
  const remove = store.removeSubscriptions.bind(store);
  const clean = store.cleanSubscriptions.bind(store);
  store.addSubscriptions = async (client, subs) => {
    await add(client, subs);
    shared.persisted(client.id, subs);
  };
  store.removeSubscriptions = async (client, topics) => {
    await remove(client, topics);
    shared.forgotten(client.id, topics);
  };
  store.cleanSubscriptions = async (client) => {
    await clean(client);
    shared.forgotten(client.id, null);
  };
  for (const id of [...persistentClientIds]) shared.persisted(id, await store.subscriptionsByClient({ id }));
  return shared;
}
