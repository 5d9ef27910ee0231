// Wills: clientId → will packet in LMDB, and in memory each will's brokerId, which is all streamWill
// filters on.

import type { Database } from 'lmdb';
import type { TxnStage } from './txn-stage.ts';
import type { MqttPacket } from './types.ts';

export class WillStore {
  private readonly db: Database<MqttPacket, string>;
  private readonly writes: TxnStage;
  private readonly brokerOf = new Map<string, string | undefined>();

  constructor(db: Database<MqttPacket, string>, writes: TxnStage) {
    this.db = db;
    this.writes = writes;
  }

  load(): void {
    this.brokerOf.clear();
    for (const { key, value } of this.db.getRange()) this.brokerOf.set(key, value.brokerId);
  }

  put(clientId: string, will: MqttPacket): void {
    this.brokerOf.set(clientId, will.brokerId);
    this.writes.put(this.db, clientId, { ...will });
  }

  get(clientId: string): MqttPacket | undefined {
    return this.brokerOf.has(clientId) ? this.writes.get(this.db, clientId) : undefined;
  }

  delete(clientId: string): MqttPacket | undefined {
    const will = this.get(clientId);
    if (this.brokerOf.delete(clientId)) this.writes.remove(this.db, clientId);
    return will;
  }

  /** Wills stored by brokers not in `brokers` (aedes passes the brokers it has heard from lately). */
  ofOtherBrokers(brokers: Readonly<Record<string, unknown>>): Iterable<MqttPacket> {
    const clientIds: string[] = [];
    for (const [clientId, brokerId] of this.brokerOf) if (brokerId === undefined || !brokers[brokerId]) clientIds.push(clientId);
    return this.read(clientIds);
  }

  // Read lazily as the stream is consumed; a will deleted meanwhile is skipped.
  private *read(clientIds: string[]): Generator<MqttPacket> {
    for (const clientId of clientIds) {
      const will = this.writes.get(this.db, clientId);
      if (will) yield will;
    }
  }
}
