// Kafka's default partitioner, bit for bit: a keyed record lands on the same partition number here
// and on a Kafka cluster with the same partition count. Unkeyed records go round robin.
// murmur2 is written out (20 lines) rather than pulled in: the npm ports are unmaintained, and the
// test pins it to Kafka's own UtilsTest vectors.

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2): a signed 32-bit hash. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = length & ~3;
  const rest = length & 3;
  if (rest === 3) h ^= data[tail + 2] << 16;
  if (rest >= 2) h ^= data[tail + 1] << 8;
  if (rest >= 1) h = Math.imul(h ^ data[tail], M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's `Utils.toPositive(murmur2(key)) % numPartitions`. */
export function partitionForKey(key: Uint8Array, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}

/** Chooses partitions for records without an explicit one. One instance per topic. */
export class RoundRobin {
  private counter = 0;

  next(partitions: number): number {
    const p = this.counter % partitions;
    this.counter = (this.counter + 1) % 0x7fffffff;
    return p;
  }
}
