import { describe, expect, it } from 'vitest';
import { formatDuration, formatSize, parseDuration, parseSize } from '../../src/config/units.ts';

describe('parseSize', () => {
  it.each([
    [0, 0],
    [4096, 4096],
    ['4096', 4096],
    ['512B', 512],
    ['1KB', 1000],
    ['10MB', 10_000_000],
    ['2GB', 2_000_000_000],
    ['1TB', 1e12],
    ['512KiB', 512 * 1024],
    ['64MiB', 64 * 2 ** 20],
    ['1GiB', 2 ** 30],
    ['2TiB', 2 * 2 ** 40],
    ['64mib', 64 * 2 ** 20],
    ['64 MiB', 64 * 2 ** 20],
    [' 1kb ', 1000],
  ])('%j → %d', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it.each([-1, 1.5, Number.NaN, Infinity, '', 'MiB', '-1', '1.5MiB', '10 bytes', '1Mb/s', '1e6', '99999999TiB'])(
    'rejects %j',
    (input) => {
      expect(parseSize(input)).toBeUndefined();
    },
  );
});

describe('parseDuration', () => {
  it.each([
    [0, 0],
    [1500, 1500],
    ['1500', 1500],
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['3h', 10_800_000],
    ['7d', 604_800_000],
    ['7D', 604_800_000],
  ])('%j → %d', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([-1, 0.5, '', 's', '-5s', '1.5h', '5 minutes', '1w', '10us'])('rejects %j', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });
});

describe('formatting for messages', () => {
  it.each([
    [4 * 2 ** 20, '4MiB'],
    [4096, '4KiB'],
    [2 ** 30, '1GiB'],
    [1000, '1000B'],
    [0, '0B'],
  ])('size %d → %s', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
    expect(parseSize(text)).toBe(bytes);
  });

  it.each([
    [86_400_000, '1d'],
    [30_000, '30s'],
    [90_000, '90s'],
    [1500, '1500ms'],
    [0, '0ms'],
  ])('duration %d → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});
