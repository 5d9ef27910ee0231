// Mutated requests (and responses) of every API and version: the decoders never throw, answer
// either a value or the documented failure, and never build more than the input implies (the
// elements, characters and bytes of a decoded value are at most the bytes of the frame). Bounded:
// a fixed number of cases from a fixed seed, so a run is repeatable and stops by itself.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRequestFrame, decodeResponse, encodeRequest, encodeResponse, type KafkaDecodeReason } from '../../../src/protocol/kafka/codec.ts';
import { allCases, structArb, type Case } from './schema-arbitrary.ts';

const REQUEST_CASES = 20_000;
const RESPONSE_CASES = 6_000;
const SEEDS_PER_VERSION = 5;
const REASONS: readonly KafkaDecodeReason[] = ['malformed', 'unknown_api', 'unsupported_version'];

/** mulberry32: a tiny deterministic PRNG, so a failing case can be replayed from its index. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BIG_INT32S = [0x7fffffff, 0xffffffff, 0x80000000, 0x00010000, 0x00000100];
const BIG_INT16S = [0x7fff, 0xffff, 0x8000, 0x0100];

function mutate(frame: Buffer, rand: () => number): Buffer {
  let b = Buffer.from(frame);
  const at = (n: number) => Math.floor(rand() * Math.max(1, b.length - n + 1));
  const steps = 1 + Math.floor(rand() * 3);
  for (let s = 0; s < steps; s++) {
    const kind = Math.floor(rand() * 7);
    if (kind === 0 && b.length > 0) b[at(1)] = Math.floor(rand() * 256);
    else if (kind === 1) b = b.subarray(0, Math.floor(rand() * b.length));
    else if (kind === 2 && b.length >= 4) b.writeUInt32BE(BIG_INT32S[Math.floor(rand() * BIG_INT32S.length)], at(4));
    else if (kind === 3 && b.length >= 2) b.writeUInt16BE(BIG_INT16S[Math.floor(rand() * BIG_INT16S.length)], at(2));
    else if (kind === 4) {
      const p = at(0);
      const extra = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * 256)));
      b = Buffer.concat([b.subarray(0, p), extra, b.subarray(p)]);
    } else if (kind === 5 && b.length > 0) b[at(1)] = rand() < 0.5 ? 0xff : 0x80;
    else if (kind === 6 && b.length > 0) {
      const p = at(1);
      const q = p + Math.floor(rand() * (b.length - p));
      b = Buffer.concat([b.subarray(0, q), b.subarray(p, q), b.subarray(q)]);
    }
  }
  return b;
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * What a decoded value holds that the input paid for: array elements, string characters (a UUID
 * is 16 input bytes; the zero UUID is also the default of fields a version lacks) and bytes.
 */
function weight(v: unknown): number {
  if (v === ZERO_UUID) return 0;
  if (typeof v === 'string') return UUID_PATTERN.test(v) ? 16 : v.length;
  if (v instanceof Uint8Array) return v.length;
  if (Array.isArray(v)) return v.reduce((sum: number, e) => sum + 1 + weight(e), 0);
  if (v !== null && typeof v === 'object') return Object.values(v).reduce((sum: number, e) => sum + weight(e), 0);
  return 0;
}

function seedsFor(c: Case, seed: number): Buffer[] {
  const bodies = fc.sample(structArb(c.plan), { numRuns: SEEDS_PER_VERSION, seed });
  const apiKey = c.apiKey as 18;
  return bodies.map((body) =>
    c.side === 'request' ? encodeRequest(apiKey, c.version, 1, 'fuzz', body).subarray(4) : encodeResponse(apiKey, c.version, 1, body).subarray(4),
  );
}

function run(side: 'request' | 'response', total: number): { cases: number; ok: number; failures: Record<string, number> } {
  const cases = allCases().filter((c) => c.side === side);
  const perVersion = Math.ceil(total / cases.length);
  const rand = prng(side === 'request' ? 10 : 20);
  const failures: Record<string, number> = {};
  let ok = 0;
  let count = 0;
  cases.forEach((c, i) => {
    const seeds = seedsFor(c, 1000 + i);
    for (let m = 0; m < perVersion; m++) {
      const input = mutate(seeds[m % seeds.length], rand);
      const result = side === 'request' ? decodeRequestFrame(input) : decodeResponse(c.apiKey, c.version, input);
      count++;
      if (result.ok) {
        ok++;
        const value = 'header' in result.value ? result.value.body : result.value.body;
        expect(weight(value), `${c.name} ${side} v${c.version} case ${m}`).toBeLessThanOrEqual(input.length);
      } else {
        expect(REASONS, `${c.name} ${side} v${c.version} case ${m}: ${result.message}`).toContain(result.reason);
        failures[result.reason] = (failures[result.reason] ?? 0) + 1;
      }
    }
  });
  return { cases: count, ok, failures };
}

describe('Kafka codec fuzz', () => {
  it(`${REQUEST_CASES} mutated requests of every API and version decode or fail as documented`, () => {
    const r = run('request', REQUEST_CASES);
    expect(r.cases).toBeGreaterThanOrEqual(REQUEST_CASES);
    // Both outcomes are exercised: mutations that still decode, and every kind of failure.
    expect(r.ok).toBeGreaterThan(0);
    expect(r.failures.malformed).toBeGreaterThan(0);
    expect(r.failures.unsupported_version).toBeGreaterThan(0);
  });

  it(`${RESPONSE_CASES} mutated responses of every API and version decode or fail as documented`, () => {
    const r = run('response', RESPONSE_CASES);
    expect(r.ok).toBeGreaterThan(0);
    expect(r.failures.malformed).toBeGreaterThan(0);
  });

  it('the weight measure counts what a forged count would build', () => {
    expect(weight([[1, 2], 'abc', Buffer.alloc(4), ZERO_UUID, '0123abcd-0000-0000-0000-000000000000'])).toBe(5 + 2 + 3 + 4 + 0 + 16);
  });
});
