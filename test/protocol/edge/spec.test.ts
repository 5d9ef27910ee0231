// SPEC.md is the document firmware authors implement from: these tests keep it honest against the code.

import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCode, errorDescriptions, type ErrorName } from '../../../src/errors.ts';
import { FrameDecoder, encodeFrame } from '../../../src/protocol/edge/codec.ts';
import { FrameType, type Frame } from '../../../src/protocol/edge/frames.ts';
import { encodeRecordBatch, type RecordInput } from '../../../src/format/record-batch.ts';

const specPath = new URL('../../../src/protocol/edge/SPEC.md', import.meta.url);
const spec = readFileSync(specPath, 'utf8');
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

const member = 'gw-7-0d9c';

/** The frames of [EDGE-11] (with [EDGE-11.8] of version 3) and [EDGE-12.21], by the name in each ```hex example=NAME block. */
const examples: Record<string, Frame> = {
  hello: {
    type: 'hello',
    version: 1,
    idempotent: true,
    keepaliveMs: 30_000,
    frameBytesMax: 65_536,
    clientId: 'gw-7',
    token: text('s3cret'),
  },
  register: { type: 'register', corr: 1, alias: 0, topic: 'telemetry', create: true },
  produce: {
    type: 'produce',
    seq: 1,
    alias: 0,
    partition: -1,
    acks: 1,
    baseTimestampMs: 1_700_000_000_000,
    records: [{ timestampDeltaMs: 0, key: null, value: text('hello'), headers: [] }],
  },
  ack: { type: 'ack', entries: [{ seq: 1, partition: 0, baseOffset: 42, duplicate: false }] },
  'produce-keyed': {
    type: 'produce',
    seq: 2,
    alias: 0,
    partition: 3,
    acks: 'all',
    baseTimestampMs: 1_700_000_000_000,
    records: [
      { timestampDeltaMs: 0, key: text('k1'), value: text('21.5'), headers: [] },
      { timestampDeltaMs: 250, key: null, value: text('21.7'), headers: [{ key: 'unit', value: text('C') }] },
    ],
  },
  'ack-cumulative': {
    type: 'ack',
    entries: [
      { seq: 2, partition: 3, baseOffset: 1000, duplicate: false },
      { seq: 5, partition: 0, baseOffset: 0, duplicate: true },
    ],
  },
  error: { type: 'error', refKind: 'request', ref: 7, code: ErrorCode.UNKNOWN_TOPIC, message: 'no topic x' },
  'join-group': {
    type: 'join-group',
    corr: 2,
    group: 'dash',
    memberId: '',
    instanceId: '',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 0,
    strategy: 0,
    pattern: '',
    topics: ['telemetry'],
  },
  joined: {
    type: 'joined',
    corr: 2,
    generation: 1,
    memberId: member,
    sessionTimeoutMs: 10_000,
    heartbeatMs: 3333,
    assignment: [{ topic: 'telemetry', partitions: [0, 2] }],
  },
  heartbeat: { type: 'heartbeat', corr: 3, group: 'dash', memberId: member, generation: 1 },
  'commit-offsets': {
    type: 'commit-offsets',
    corr: 4,
    group: 'dash',
    memberId: member,
    generation: 1,
    offsets: [{ alias: 0, partition: 0, offset: 43, metadata: '' }],
  },
  'produce-commit': {
    type: 'produce-commit',
    corr: 5,
    flush: false,
    group: 'dash',
    memberId: member,
    generation: 1,
    batches: [{ alias: 1, partition: -1, baseTimestampMs: 0, records: [{ timestampDeltaMs: 0, key: null, value: text('hot'), headers: [] }] }],
    offsets: [{ alias: 0, partition: 2, offset: 8, metadata: '' }],
  },
  produced: { type: 'produced', corr: 5, batches: [{ partition: 1, baseOffset: 17 }] },
  'out-of-range': { type: 'out-of-range', corr: 9, partition: 0, offset: 3, side: 'below', logStartOffset: 120, nextOffset: 342 },
};

/** z(x) of [EDGE-8.4]: the bytes of x as a zigzag varint. */
function z(x: number): number {
  let u = x >= 0 ? 2 * x : -2 * x - 1;
  let n = 1;
  while (u >= 128) {
    u = Math.floor(u / 128);
    n++;
  }
  return n;
}

/** S of [EDGE-8.4] for unkeyed, header-less records of these value sizes, all with one timestamp. */
function storedBatchBytes(valueSizes: number[]): number {
  let s = 61;
  valueSizes.forEach((v, i) => {
    const b = 1 + z(0) + z(i) + 1 + z(v) + v + z(0);
    s += z(b) + b;
  });
  return s;
}

function record(valueBytes: number): RecordInput {
  return { timestampMs: 1_700_000_000_000, key: null, value: new Uint8Array(valueBytes), headers: [] };
}

interface HexBlock {
  hex: string;
  /** The first column of the byte-by-byte table that follows the block, joined. */
  tableHex: string;
}

function hexBlocks(): Map<string, HexBlock> {
  const blocks = new Map<string, HexBlock>();
  for (const m of spec.matchAll(/^```hex example=([\w-]+)\n([\s\S]*?)^```$/gm)) {
    const rows = tableAt(m.index + m[0].length);
    blocks.set(m[1], { hex: m[2].replace(/\s+/g, ''), tableHex: rows.map((r) => r[0].replace(/[`\s]/g, '')).join('') });
  }
  return blocks;
}

/** Rows of the first markdown table at or after `start`. */
function tableAt(start: number): string[][] {
  // Tables inside a list item are indented.
  const lines = spec.slice(start).split('\n').map((l) => l.trimStart());
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, -1).split('|').map((cell) => cell.trim()));
  }
  return rows;
}

/** Rows of the first markdown table after the heading that contains `heading`. */
function tableAfter(heading: string): string[][] {
  const start = spec.indexOf(heading);
  expect(start).toBeGreaterThan(-1);
  return tableAt(start);
}

describe('SPEC.md', () => {
  it('worked examples are exactly what encodeFrame produces, and decode back', () => {
    const blocks = hexBlocks();
    expect([...blocks.keys()].sort()).toEqual(Object.keys(examples).sort());
    for (const [name, frame] of Object.entries(examples)) {
      const encoded = encodeFrame(frame);
      const block = blocks.get(name) as HexBlock;
      expect(block.hex, name).toBe(encoded.toString('hex'));
      const { frames, failure } = new FrameDecoder(4096).push(Buffer.from(block.hex, 'hex'));
      expect(failure).toBeUndefined();
      expect(frames).toHaveLength(1);
    }
  });

  it('the byte-by-byte table under each worked example holds exactly its bytes, in order', () => {
    for (const [name, block] of hexBlocks()) expect(block.tableHex, name).toBe(block.hex);
  });

  it('the error table matches src/errors.ts exactly', () => {
    const rows = tableAfter('### [EDGE-10.2] Error codes');
    const expected = (Object.entries(ErrorCode) as [ErrorName, number][]).map(([name, code]) => [
      String(code),
      name,
      errorDescriptions[name],
    ]);
    expect(rows).toEqual(expected);
  });

  it('has a layout section for every frame type, titled with its name and type byte', () => {
    for (const [name, type] of Object.entries(FrameType)) {
      const hex = `0x${type.toString(16).padStart(2, '0')}`;
      // Version 1 frames and OUT_OF_RANGE of version 3 are in [EDGE-5], the group frames of version 2 in [EDGE-12].
      expect(spec).toMatch(new RegExp(`^### \\[EDGE-(5|12)\\.\\d+\\] ${name} \\(${hex}\\)$`, 'm'));
    }
  });

  it('[EDGE-8.4]: the formula for a stored batch is what the broker stores, and the table follows from it', () => {
    const rows = tableAfter('| F (frameBytesMax)');
    expect(rows.length).toBeGreaterThan(0);
    for (const [f, v, stored] of rows) {
      const frameBytesMax = Number(f.split(' ')[0]);
      const value = Number(v);
      expect(storedBatchBytes([value]), f).toBe(Number(stored));
      expect(encodeRecordBatch([record(value)]).length, f).toBe(Number(stored));
      // The largest: it fits F − 64, one byte more does not.
      expect(storedBatchBytes([value]), f).toBeLessThanOrEqual(frameBytesMax - 64);
      expect(storedBatchBytes([value + 1]), f).toBeGreaterThan(frameBytesMax - 64);
    }
    // n 20-byte readings: 61 + 27n + max(0, n − 64), and the counts the SPEC names.
    for (const [frameBytesMax, n] of [
      [256, 4],
      [4096, 144],
      [65536, 2338],
    ]) {
      const values = (k: number) => Array.from({ length: k }, () => 20);
      expect(storedBatchBytes(values(n))).toBe(61 + 27 * n + Math.max(0, n - 64));
      expect(encodeRecordBatch(values(n).map(record)).length).toBe(storedBatchBytes(values(n)));
      expect(storedBatchBytes(values(n))).toBeLessThanOrEqual(frameBytesMax - 64);
      expect(storedBatchBytes(values(n + 1))).toBeGreaterThan(frameBytesMax - 64);
    }
  });

  it('defines every section the code cites', () => {
    const defined = new Set([...spec.matchAll(/^#+ (\[EDGE-[\d.]+\])/gm)].map((m) => m[1]));
    const listener = readdirSync(new URL('../../../src/listeners/edge/', import.meta.url)).map((f) => `../../listeners/edge/${f}`);
    const client = readdirSync(new URL('../../../src/client/', import.meta.url)).filter((f) => f.endsWith('.ts')).map((f) => `../../client/${f}`);
    for (const file of ['codec.ts', 'varint.ts', ...listener, ...client]) {
      const source = readFileSync(new URL(`../../../src/protocol/edge/${file}`, import.meta.url), 'utf8');
      for (const [cite] of source.matchAll(/\[EDGE-[\d.]+\]/g)) expect(defined, `${file} cites ${cite}`).toContain(cite);
    }
  });
});
