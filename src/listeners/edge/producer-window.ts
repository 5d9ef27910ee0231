// What an idempotent producer's last answered PRODUCE frames became [EDGE-7.5]: the partition and
// offset of an acknowledged frame, or that it was refused. A retransmission of one of them is answered
// from here, with where its records are. Kept in typed arrays (about 20 bytes a frame, allocated on
// first use) because every idempotent connection has one; it forgets the oldest frame first.

import { limits } from '../../limits.ts';

/** Where an acknowledged frame's records are, or null for a frame answered with ERROR. */
export type Outcome = { partition: number; baseOffset: number } | null;

const REFUSED = -1;

export class ProducerWindow {
  private seqs: Float64Array | null = null;
  private partitions: Int32Array | null = null;
  private offsets: Float64Array | null = null;
  private next = 0;
  private size = 0;

  record(seq: number, outcome: Outcome): void {
    const capacity = limits.edgeProducerWindowFrames;
    if (this.seqs === null) {
      this.seqs = new Float64Array(capacity);
      this.partitions = new Int32Array(capacity);
      this.offsets = new Float64Array(capacity);
    }
    this.seqs[this.next] = seq;
    this.partitions![this.next] = outcome === null ? REFUSED : outcome.partition;
    this.offsets![this.next] = outcome === null ? 0 : outcome.baseOffset;
    this.next = (this.next + 1) % capacity;
    this.size = Math.min(this.size + 1, capacity);
  }

  /** The newest outcome recorded for seq; undefined when it is not (or no longer) known. */
  find(seq: number): Outcome | undefined {
    if (this.seqs === null) return undefined;
    const capacity = this.seqs.length;
    for (let n = 1; n <= this.size; n++) {
      const i = (this.next - n + capacity) % capacity;
      if (this.seqs[i] !== seq) continue;
      const partition = this.partitions![i];
      return partition === REFUSED ? null : { partition, baseOffset: this.offsets![i] };
    }
    return undefined;
  }
}
