import { describe, expect, it } from 'vitest';
import { murmur2, partitionForKey, RoundRobin } from '../../src/broker/partitioner.ts';

describe("Kafka's default partitioner", () => {
  // Vectors from Apache Kafka's UtilsTest.testMurmur2.
  it.each([
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
    ['', 275646681],
  ])('murmur2(%j) = %d', (key, hash) => {
    expect(murmur2(Buffer.from(key))).toBe(hash);
  });

  it('maps keys to partitions as toPositive(murmur2) % n', () => {
    expect(partitionForKey(Buffer.from('foobar'), 50)).toBe(16);
    expect(partitionForKey(Buffer.from('21'), 7)).toBe((-973932308 & 0x7fffffff) % 7);
  });

  it('spreads unkeyed records round robin', () => {
    const rr = new RoundRobin();
    expect([0, 1, 2, 3, 4].map(() => rr.next(3))).toEqual([0, 1, 2, 0, 1]);
  });
});
