// Outgoing QoS 1/2 queues, one per client: [clientId, seq] → packet in LMDB, seq a counter that only
// grows, so a client's key range is its queue in order. In memory, per client, the ids that
// outgoingUpdate and outgoingClearMessageId search by (brokerId, brokerCounter, messageId), indexed so
// that each call costs the same whether the queue holds ten packets or a hundred thousand: a client
// back from a long absence drains its whole queue through these two calls, once per packet.

import type { Database } from 'lmdb';
import { TributaryError } from '../../errors.ts';
import { limits } from '../../limits.ts';
import type { TxnStage } from './txn-stage.ts';
import { asAedesPacket } from './packet.ts';
import type { MqttPacket } from './types.ts';

interface Queued {
  seq: number;
  brokerId: string | undefined;
  brokerCounter: number | undefined;
  messageId: number | undefined;
}

/** One client's queue: ordered by seq, with the two lookups aedes needs. */
class ClientQueue {
  /** seq → entry; a Map keeps insertion order, which is seq order, and deletes in O(1). */
  readonly entries = new Map<number, Queued>();
  private readonly byOrigin = new Map<string, Set<Queued>>();
  private readonly byMessageId = new Map<number | undefined, Set<Queued>>();
  /**
   * seq → the packet as stored, decoded when the queue's stream read it: the update that gives it
   * its messageId right after (aedes' emptyQueue) needs it again, and decoding it twice was a fifth
   * of a drain's time. The stream hands out a copy; any change to the stored packet drops the entry.
   */
  readonly lastRead = new Map<number, MqttPacket>();

  /** Map.set keeps the position of a seq already there, so add() also serves replace(). */
  add(q: Queued): void {
    this.entries.set(q.seq, q);
    addTo(this.byOrigin, originKey(q.brokerId, q.brokerCounter), q);
    addTo(this.byMessageId, q.messageId, q);
  }

  remove(q: Queued): void {
    this.entries.delete(q.seq);
    this.lastRead.delete(q.seq);
    this.unindex(q);
  }

  /** Puts `next` in q's place in the queue (same seq). */
  replace(q: Queued, next: Queued): void {
    this.lastRead.delete(q.seq);
    this.unindex(q);
    this.add(next);
  }

  /** Keeps what the stream read of `seq`; the oldest go past limits.mqttStoredReadCacheMessages. */
  remember(seq: number, packet: MqttPacket): void {
    this.lastRead.delete(seq);
    this.lastRead.set(seq, packet);
    if (this.lastRead.size > limits.mqttStoredReadCacheMessages) this.lastRead.delete(this.lastRead.keys().next().value!);
  }

  /** The packet as the stream read it, once: the caller is about to change it. */
  takeRead(seq: number): MqttPacket | undefined {
    const packet = this.lastRead.get(seq);
    if (packet !== undefined) this.lastRead.delete(seq);
    return packet;
  }

  private unindex(q: Queued): void {
    removeFrom(this.byOrigin, originKey(q.brokerId, q.brokerCounter), q);
    removeFrom(this.byMessageId, q.messageId, q);
  }

  setMessageId(q: Queued, messageId: number | undefined): void {
    removeFrom(this.byMessageId, q.messageId, q);
    q.messageId = messageId;
    addTo(this.byMessageId, messageId, q);
  }

  /**
   * The first entry, in queue order, that is the packet's own copy (same brokerId and brokerCounter)
   * or, from another broker, has its messageId: what a front-to-back scan would find first, except
   * for a PUBREL (below).
   */
  findForUpdate(packet: MqttPacket): Queued | undefined {
    if (packet.brokerId === undefined) {
      // A PUBREL has no origin: it replaces the PUBLISH holding its messageId, and a repeated one
      // finds itself. (A front-to-back scan would take any earlier PUBREL for its "own copy", all
      // having no brokerId and no brokerCounter, and give it this messageId: two QoS 2 deliveries in
      // flight would leave the second PUBLISH queued, to be sent again after its PUBCOMP.)
      const publishes = this.byMessageId.get(packet.messageId);
      return first(publishes, (q) => q.brokerId !== undefined) ?? first(publishes);
    }
    const own = first(this.byOrigin.get(originKey(packet.brokerId, packet.brokerCounter)));
    const other = first(this.byMessageId.get(packet.messageId), (q) => q.brokerId !== packet.brokerId);
    if (!own || !other) return own ?? other;
    return own.seq < other.seq ? own : other;
  }

  findByMessageId(messageId: number | undefined): Queued | undefined {
    return first(this.byMessageId.get(messageId));
  }
}

export class OutgoingQueues {
  private readonly db: Database<MqttPacket, [string, number]>;
  private readonly writes: TxnStage;
  private readonly queues = new Map<string, ClientQueue>();
  private nextSeq = 0;

  constructor(db: Database<MqttPacket, [string, number]>, writes: TxnStage) {
    this.db = db;
    this.writes = writes;
  }

  load(): void {
    this.queues.clear();
    for (const { key, value } of this.db.getRange()) {
      this.queueOf(key[0]).add(queued(key[1], value));
      // Never lower: after a failed transaction commit the staged seqs are gone, but reusing one buys nothing.
      this.nextSeq = Math.max(this.nextSeq, key[1] + 1);
    }
  }

  /** Whether the client has a queued packet. */
  has(clientId: string): boolean {
    return (this.queues.get(clientId)?.entries.size ?? 0) > 0;
  }

  enqueue(clientId: string, packet: MqttPacket, grantedQos?: number): void {
    const stored = asAedesPacket(packet);
    if (grantedQos !== undefined && grantedQos < (stored.qos ?? 0)) stored.qos = grantedQos;
    const seq = this.nextSeq++;
    this.queueOf(clientId).add(queued(seq, stored));
    this.writes.put(this.db, [clientId, seq], stored);
  }

  /**
   * Gives the queued copy of a packet from this broker (same brokerCounter) the packet's messageId,
   * or replaces a packet from elsewhere with the same messageId (a PUBREL replaces its PUBLISH).
   * brokerCounter decides within one broker because messageIds wrap at 65535.
   */
  update(clientId: string, packet: MqttPacket, lazy = false): void {
    const queue = this.queues.get(clientId);
    const q = queue?.findForUpdate(packet);
    if (!queue || !q) {
      throw new TributaryError('INVALID_REQUEST', `client ${clientId} has no queued packet to update with messageId ${String(packet.messageId)}`, {
        clientId,
        messageId: packet.messageId,
      });
    }
    if (q.brokerId === packet.brokerId) {
      const stored = queue.takeRead(q.seq) ?? this.read(clientId, q.seq);
      stored.messageId = packet.messageId;
      queue.setMessageId(q, packet.messageId);
      this.writes.put(this.db, [clientId, q.seq], stored, lazy);
      return;
    }
    const replacement = { ...packet };
    queue.replace(q, queued(q.seq, replacement));
    this.writes.put(this.db, [clientId, q.seq], replacement, lazy);
  }

  /**
   * Removes the first queued packet with this messageId and returns it; none is not an error. The
   * removal is a lazy write (mqtt/txn-stage.ts): lost in a power cut, it sends the packet again.
   */
  clear(clientId: string, messageId: number | undefined): MqttPacket | undefined {
    const queue = this.queues.get(clientId);
    const q = queue?.findByMessageId(messageId);
    if (!queue || !q) return undefined;
    const packet = this.read(clientId, q.seq);
    queue.remove(q);
    if (queue.entries.size === 0) this.queues.delete(clientId);
    this.writes.remove(this.db, [clientId, q.seq], true);
    return packet;
  }

  /** [clientId, queued packets] of every non-empty queue. */
  *depths(): Generator<readonly [string, number]> {
    for (const [clientId, queue] of this.queues) yield [clientId, queue.entries.size];
  }

  /** The client's queue as it is now, in order; packets are read as the stream is consumed. */
  stream(clientId: string): Iterable<MqttPacket> {
    return this.readAll(clientId, [...(this.queues.get(clientId)?.entries.keys() ?? [])]);
  }

  // A packet cleared after the stream was made is skipped, one updated is read as updated. aedes
  // changes what it gets (properties too), so it gets a copy and the queue keeps the packet as stored.
  private *readAll(clientId: string, seqs: number[]): Generator<MqttPacket> {
    for (const seq of seqs) {
      const packet = this.writes.get(this.db, [clientId, seq]);
      if (!packet) continue;
      const queue = this.queues.get(clientId);
      if (queue?.entries.has(seq)) queue.remember(seq, packet);
      yield packet.properties === undefined ? { ...packet } : { ...packet, properties: { ...packet.properties } };
    }
  }

  private read(clientId: string, seq: number): MqttPacket {
    const packet = this.writes.get(this.db, [clientId, seq]);
    if (!packet) throw new TributaryError('STORAGE_FAILED', `queued packet ${seq} of client ${clientId} is indexed but not stored`, { clientId, seq });
    return packet;
  }

  private queueOf(clientId: string): ClientQueue {
    let queue = this.queues.get(clientId);
    if (!queue) this.queues.set(clientId, (queue = new ClientQueue()));
    return queue;
  }
}

function queued(seq: number, packet: MqttPacket): Queued {
  return { seq, brokerId: packet.brokerId, brokerCounter: packet.brokerCounter, messageId: packet.messageId };
}

// brokerId is a string or absent; the prefix keeps an absent one apart from the string "undefined".
function originKey(brokerId: string | undefined, brokerCounter: number | undefined): string {
  return brokerId === undefined ? `-${String(brokerCounter)}` : `${String(brokerCounter)}:${brokerId}`;
}

function addTo<K>(index: Map<K, Set<Queued>>, key: K, q: Queued): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(q);
}

function removeFrom<K>(index: Map<K, Set<Queued>>, key: K, q: Queued): void {
  const set = index.get(key);
  if (!set?.delete(q)) return;
  if (set.size === 0) index.delete(key);
}

/**
 * The lowest-seq entry of a set that passes `accept`. A set's insertion order is not seq order (an
 * entry joins a messageId's set when it gets that id), but the sets that get searched hold one entry
 * or a few: messageIds are unique among unacknowledged packets, brokerCounters within a broker.
 */
function first(set: Set<Queued> | undefined, accept?: (q: Queued) => boolean): Queued | undefined {
  let best: Queued | undefined;
  if (!set) return undefined;
  for (const q of set) if ((!accept || accept(q)) && (!best || q.seq < best.seq)) best = q;
  return best;
}
