// Outgoing QoS 1/2 queues, one per client: [clientId, seq] → packet in LMDB, seq a counter that only
// grows, so a client's key range is its queue in order. In memory, per client, the ids that
// outgoingUpdate and outgoingClearMessageId search by (brokerId, brokerCounter, messageId): a search
// reads no packet, an update reads and rewrites the one it finds.

import type { Database } from 'lmdb';
import { TributaryError } from '../../errors.ts';
import type { GroupCommit } from './group-commit.ts';
import { asAedesPacket } from './packet.ts';
import type { MqttPacket } from './types.ts';

interface Queued {
  seq: number;
  brokerId: string | undefined;
  brokerCounter: number | undefined;
  messageId: number | undefined;
}

export class OutgoingQueues {
  private readonly db: Database<MqttPacket, [string, number]>;
  private readonly writes: GroupCommit;
  private readonly queues = new Map<string, Queued[]>();
  private nextSeq = 0;

  constructor(db: Database<MqttPacket, [string, number]>, writes: GroupCommit) {
    this.db = db;
    this.writes = writes;
  }

  load(): void {
    this.queues.clear();
    for (const { key, value } of this.db.getRange()) {
      this.queueOf(key[0]).push(queued(key[1], value));
      // Never lower: after a failed commit the staged seqs are gone, but reusing one buys nothing.
      this.nextSeq = Math.max(this.nextSeq, key[1] + 1);
    }
  }

  enqueue(clientId: string, packet: MqttPacket): void {
    const stored = asAedesPacket(packet);
    const seq = this.nextSeq++;
    this.queueOf(clientId).push(queued(seq, stored));
    this.writes.put(this.db, [clientId, seq], stored);
  }

  /**
   * Gives the queued copy of a packet from this broker (same brokerCounter) the packet's messageId,
   * or replaces a packet from elsewhere with the same messageId (a PUBREL replaces its PUBLISH).
   * brokerCounter decides within one broker because messageIds wrap at 65535.
   */
  update(clientId: string, packet: MqttPacket): void {
    const queue = this.queues.get(clientId) ?? [];
    for (let i = 0; i < queue.length; i++) {
      const q = queue[i];
      if (q.brokerId === packet.brokerId) {
        if (q.brokerCounter !== packet.brokerCounter) continue;
        const stored = this.read(clientId, q.seq);
        stored.messageId = packet.messageId;
        q.messageId = packet.messageId;
        this.writes.put(this.db, [clientId, q.seq], stored);
        return;
      }
      if (q.messageId === packet.messageId) {
        const replacement = { ...packet };
        queue[i] = queued(q.seq, replacement);
        this.writes.put(this.db, [clientId, q.seq], replacement);
        return;
      }
    }
    throw new TributaryError('INVALID_REQUEST', `client ${clientId} has no queued packet to update with messageId ${String(packet.messageId)}`, {
      clientId,
      messageId: packet.messageId,
    });
  }

  /** Removes the first queued packet with this messageId and returns it; none is not an error. */
  clear(clientId: string, messageId: number | undefined): MqttPacket | undefined {
    const queue = this.queues.get(clientId);
    const i = queue?.findIndex((q) => q.messageId === messageId) ?? -1;
    if (!queue || i < 0) return undefined;
    const { seq } = queue[i];
    const packet = this.read(clientId, seq);
    queue.splice(i, 1);
    if (queue.length === 0) this.queues.delete(clientId);
    this.writes.remove(this.db, [clientId, seq]);
    return packet;
  }

  /** The client's queue as it is now, in order; packets are read as the stream is consumed. */
  stream(clientId: string): Iterable<MqttPacket> {
    return this.readAll(clientId, (this.queues.get(clientId) ?? []).map((q) => q.seq));
  }

  // A packet cleared after the stream was made is skipped, one updated is read as updated.
  private *readAll(clientId: string, seqs: number[]): Generator<MqttPacket> {
    for (const seq of seqs) {
      const packet = this.writes.get(this.db, [clientId, seq]);
      if (packet) yield packet;
    }
  }

  private read(clientId: string, seq: number): MqttPacket {
    const packet = this.writes.get(this.db, [clientId, seq]);
    if (!packet) throw new TributaryError('STORAGE_FAILED', `queued packet ${seq} of client ${clientId} is indexed but not stored`, { clientId, seq });
    return packet;
  }

  private queueOf(clientId: string): Queued[] {
    let queue = this.queues.get(clientId);
    if (!queue) this.queues.set(clientId, (queue = []));
    return queue;
  }
}

function queued(seq: number, packet: MqttPacket): Queued {
  return { seq, brokerId: packet.brokerId, brokerCounter: packet.brokerCounter, messageId: packet.messageId };
}
