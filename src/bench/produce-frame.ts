// A PRODUCE frame encoded once and re-sent with new sequence numbers. seq must grow from frame to
// frame [EDGE-7.5], so each send patches it in place: the template is encoded with a 4-byte seq
// and every later seq is written as a padded 4-byte varint, which decoders accept [EDGE-3.2]. The
// rest of the frame, records included, is never encoded again.

import { randomBytes } from 'node:crypto';
import { encodeFrame } from '../protocol/edge/codec.ts';
import type { Acks } from '../protocol/edge/frames.ts';
import { readUvarint } from '../protocol/edge/varint.ts';

const SEQ_BYTES = 4;
/** The smallest seq whose minimal varint has SEQ_BYTES bytes. */
const SEQ_PLACEHOLDER = 2 ** 21;
/** The largest seq a SEQ_BYTES varint holds. */
export const SEQ_MAX = 2 ** 28 - 1;

export interface ProduceTemplate {
  bytes: Buffer;
  /** Where the seq varint starts: after the length varint and the type byte. */
  seqAt: number;
  records: number;
}

/**
 * `keyEvery` n > 0: every n-th record of the frame (the n-th, the 2n-th...) has a key of its own
 * (`key-<index>`), the others none. The first record stays unkeyed: a frame whose first record is keyed
 * goes to that key's partition, not round-robin. `valueAt`: each record's value (valueBytes long, so
 * every template of one shape has its seq at the same place); by default one random value for all.
 */
export function produceTemplate(opts: { alias: number; acks: Acks; records: number; valueBytes: number; keyEvery?: number; valueAt?: (index: number) => Buffer }): ProduceTemplate {
  const same = randomBytes(opts.valueBytes);
  const valueAt = opts.valueAt ?? (() => same);
  const every = opts.keyEvery ?? 0;
  const bytes = encodeFrame({
    type: 'produce',
    seq: SEQ_PLACEHOLDER,
    alias: opts.alias,
    partition: -1,
    acks: opts.acks,
    // 0 = the broker's receive time [EDGE-7.2], so a frame encoded once stays current.
    baseTimestampMs: 0,
    records: Array.from({ length: opts.records }, (_, i) => ({ timestampDeltaMs: 0, key: every > 0 && i % every === every - 1 ? Buffer.from(`key-${i}`) : null, value: valueAt(i), headers: [] })),
  });
  const typeAt = readUvarint(bytes, 0, { value: 0 });
  return { bytes, seqAt: typeAt + 1, records: opts.records };
}

/** Writes `seq` (1..SEQ_MAX) into a copy of the template's bytes. */
export function writeSeq(frame: Buffer, seqAt: number, seq: number): void {
  if (seq > SEQ_MAX) throw new RangeError(`seq ${seq} does not fit the ${SEQ_BYTES}-byte field`);
  let rest = seq;
  for (let i = 0; i < SEQ_BYTES - 1; i++) {
    frame[seqAt + i] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  frame[seqAt + SEQ_BYTES - 1] = rest;
}
