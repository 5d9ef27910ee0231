// Parsers for option values. They throw commander's InvalidArgumentError, which commander reports
// as a usage error naming the option.

import { InvalidArgumentError } from 'commander';
import { parseDuration, parseSize } from '../config/units.ts';

export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): number => {
    const n = Number(text);
    if (!/^-?\d+$/.test(text.trim()) || n < min || n > max) throw new InvalidArgumentError(`expected an integer ${min}..${max}`);
    return n;
  };
}

/** A duration like 7d or 500ms, or -1 for unlimited; milliseconds. */
export function retentionMs(text: string): number {
  if (text.trim() === '-1') return -1;
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1) throw new InvalidArgumentError('expected -1 (unlimited) or a duration like 30m, 12h, 7d');
  return ms;
}

/** A size like 1GiB or 500MB, or -1 for unlimited; bytes. */
export function retentionBytes(text: string): number {
  if (text.trim() === '-1') return -1;
  const bytes = parseSize(text);
  if (bytes === undefined || bytes < 1) throw new InvalidArgumentError('expected -1 (unlimited) or a size like 512MiB, 1GiB, 10GB');
  return bytes;
}

/** --acks 0|1|all */
export function acks(text: string): 0 | 1 | 'all' {
  if (text === '0' || text === '1') return Number(text) as 0 | 1;
  if (text === 'all') return 'all';
  throw new InvalidArgumentError('expected 0, 1 or all');
}

/** Collects a repeatable k=v option. */
export function keyValue(text: string, previous: [string, string][] = []): [string, string][] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('expected key=value');
  return [...previous, [text.slice(0, eq), text.slice(eq + 1)]];
}
