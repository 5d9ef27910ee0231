// Kafka's ConsumerProtocol bytes (the "consumer" protocol type): a member's subscription in its
// JoinGroup metadata and its assignment in the leader's SyncGroup. The broker treats both as opaque
// and only reads them to know who owns which partition (describe, lag); a client may send anything,
// so decoding never throws: bytes that do not parse are "unknown" (null).
//
// Subscription v0+: int16 version, [string] topics, nullable bytes userData, then (v1+) owned
// partitions, (v2+) generation, (v3+) rack. Assignment v0+: int16 version, [topic, [int32]]
// partitions, nullable bytes userData. Only the leading fields are read: they have kept their place
// in every version, and later versions only append.

import type { TopicPartitions } from './assignors.ts';

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.at);
    this.at += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.at);
    this.at += 4;
    return v;
  }
  string(): string {
    const n = this.int16();
    if (n < 0) throw new RangeError('null string');
    this.need(n);
    const s = this.buf.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }
  /** An array count that the remaining bytes can hold at `minBytes` per element. */
  count(minBytes: number): number {
    const n = this.int32();
    if (n < 0 || n * minBytes > this.buf.length - this.at) throw new RangeError('bad array count');
    return n;
  }
  private need(n: number): void {
    if (this.at + n > this.buf.length) throw new RangeError('truncated');
  }
}

/** The topics of a subscription; null when the bytes are not one. */
export function decodeSubscriptionTopics(bytes: Buffer): string[] | null {
  try {
    const r = new Reader(bytes);
    if (r.int16() < 0) return null;
    const n = r.count(2);
    const topics: string[] = [];
    for (let i = 0; i < n; i++) topics.push(r.string());
    return topics;
  } catch {
    return null;
  }
}

/** The partitions of an assignment; null when the bytes are not one. */
export function decodeAssignment(bytes: Buffer): TopicPartitions[] | null {
  if (bytes.length === 0) return [];
  try {
    const r = new Reader(bytes);
    if (r.int16() < 0) return null;
    const n = r.count(6);
    const out: TopicPartitions[] = [];
    for (let i = 0; i < n; i++) {
      const topic = r.string();
      const count = r.count(4);
      const partitions: number[] = [];
      for (let j = 0; j < count; j++) partitions.push(r.int32());
      out.push({ topic, partitions });
    }
    return out;
  } catch {
    return null;
  }
}

function stringBytes(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

/** Subscription v0 of these topics, no user data: how a server-assigned member shows to Kafka tools. */
export function encodeSubscription(topics: string[]): Buffer {
  return Buffer.concat([Buffer.from([0, 0]), int32(topics.length), ...topics.map(stringBytes), int32(-1)]);
}

/** Assignment v0 of these partitions, no user data. */
export function encodeAssignment(assignment: TopicPartitions[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0, 0]), int32(assignment.length)];
  for (const tp of assignment) parts.push(stringBytes(tp.topic), int32(tp.partitions.length), ...tp.partitions.map(int32));
  parts.push(int32(-1));
  return Buffer.concat(parts);
}
