// Incoming QoS 2 packets awaiting PUBREL: [clientId, messageId] → packet in LMDB, and per client the
// stored messageIds in memory, so a lookup of an unknown id and cleanIncoming read nothing.

import type { Database } from 'lmdb';
import { TributaryError } from '../../errors.ts';
import type { TxnStage } from './txn-stage.ts';
import { asAedesPacket } from './packet.ts';
import type { MqttPacket } from './types.ts';

export class IncomingPackets {
  private readonly db: Database<MqttPacket, [string, number]>;
  private readonly writes: TxnStage;
  private readonly ids = new Map<string, Set<number>>();

  constructor(db: Database<MqttPacket, [string, number]>, writes: TxnStage) {
    this.db = db;
    this.writes = writes;
  }

  load(): void {
    this.ids.clear();
    for (const [clientId, messageId] of this.db.getKeys()) this.idsOf(clientId).add(messageId);
  }

  store(clientId: string, packet: MqttPacket & { messageId: number }): void {
    const stored = asAedesPacket(packet);
    // aedes-packet clears a QoS > 0 messageId; here it is the key and must be kept.
    stored.messageId = packet.messageId;
    this.idsOf(clientId).add(packet.messageId);
    this.writes.put(this.db, [clientId, packet.messageId], stored);
  }

  /** Whether the client has a QoS 2 PUBLISH awaiting its PUBREL. */
  has(clientId: string): boolean {
    return (this.ids.get(clientId)?.size ?? 0) > 0;
  }

  get(clientId: string, messageId: number): MqttPacket {
    const packet = this.ids.get(clientId)?.has(messageId) ? this.writes.get(this.db, [clientId, messageId]) : undefined;
    if (!packet) throw noSuchPacket(clientId, messageId);
    return packet;
  }

  delete(clientId: string, messageId: number): void {
    const ids = this.ids.get(clientId);
    if (!ids?.delete(messageId)) throw noSuchPacket(clientId, messageId);
    if (ids.size === 0) this.ids.delete(clientId);
    this.writes.remove(this.db, [clientId, messageId]);
  }

  clean(clientId: string): void {
    for (const messageId of this.ids.get(clientId) ?? []) this.writes.remove(this.db, [clientId, messageId]);
    this.ids.delete(clientId);
  }

  private idsOf(clientId: string): Set<number> {
    let ids = this.ids.get(clientId);
    if (!ids) this.ids.set(clientId, (ids = new Set()));
    return ids;
  }
}

function noSuchPacket(clientId: string, messageId: number): TributaryError {
  return new TributaryError('INVALID_REQUEST', `client ${clientId} has no stored incoming packet with messageId ${messageId}`, { clientId, messageId });
}
