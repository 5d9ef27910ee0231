// The arguments of `groups reset-offsets`, in kafka-consumer-groups' spellings: --to-earliest,
// --to-latest, --to-offset N, --to-datetime YYYY-MM-DDTHH:mm:SS.sss, --shift-by N, plus the short
// form --to earliest|latest|N|DATETIME; and --topic T or T:P.

import { InvalidArgumentError } from 'commander';
import type { ResetTarget } from '../client/index.ts';
import { limits } from '../limits.ts';
import { UsageError } from './errors.ts';

export interface ResetTargetFlags {
  to?: ResetTarget;
  toEarliest?: boolean;
  toLatest?: boolean;
  toOffset?: number;
  toDatetime?: number;
  shiftBy?: number;
}

/** The one target the flags name; a usage error for none (commander refuses two: they conflict). */
export function resetTarget(flags: ResetTargetFlags): ResetTarget {
  if (flags.to !== undefined) return flags.to;
  if (flags.toEarliest) return { to: 'earliest' };
  if (flags.toLatest) return { to: 'latest' };
  if (flags.toOffset !== undefined) return { to: 'offset', offset: flags.toOffset };
  if (flags.toDatetime !== undefined) return { to: 'datetime', timestampMs: flags.toDatetime };
  if (flags.shiftBy !== undefined) return { to: 'shift', by: flags.shiftBy };
  throw new UsageError('name where to move the offsets: --to-earliest, --to-latest, --to-offset N, --to-datetime YYYY-MM-DDTHH:mm:SS.sss, --shift-by N or --to …');
}

/** --to earliest|latest|OFFSET|DATETIME */
export function toTarget(text: string): ResetTarget {
  if (text === 'earliest' || text === 'latest') return { to: text };
  if (/^\d+$/.test(text)) return { to: 'offset', offset: Number(text) };
  if (text.includes('T')) return { to: 'datetime', timestampMs: dateTime(text) };
  throw new InvalidArgumentError('expected earliest, latest, an offset, or a date-time like 2026-12-01T08:00:00.000');
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(Z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Kafka's --to-datetime: YYYY-MM-DDTHH:mm:SS.sss with an optional zone (Z, +hh, +hhmm, +hh:mm); without
 * one the time is UTC, as in kafka-consumer-groups (not the local time). Milliseconds may be left out.
 */
export function dateTime(text: string): number {
  const m = DATE_TIME.exec(text.trim());
  const invalid = new InvalidArgumentError('expected a date-time YYYY-MM-DDTHH:mm:SS.sss, optionally with a zone (Z, +02:00); without one it is UTC');
  if (m === null) throw invalid;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const millis = m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0'));
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  // Date.UTC rolls 2026-02-30 over into March: a date that does not come back unchanged is not one.
  const back = new Date(utc);
  if (back.getUTCFullYear() !== year || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) throw invalid;
  return utc - zoneOffsetMs(m[8], invalid);
}

function zoneOffsetMs(zone: string | undefined, invalid: Error): number {
  if (zone === undefined || zone === 'Z') return 0;
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
  if (hours > 23 || minutes > 59) throw invalid;
  return (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes) * 60_000;
}

/** --topic T or T:P (a topic name has no colon). */
export function topicPartition(text: string): { topic: string; partition?: number } {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { topic: text };
  const partition = text.slice(colon + 1);
  if (colon === 0 || !/^\d+$/.test(partition) || Number(partition) >= limits.partitionsMax)
    throw new InvalidArgumentError(`expected TOPIC or TOPIC:PARTITION with a partition 0..${limits.partitionsMax - 1}`);
  return { topic: text.slice(0, colon), partition: Number(partition) };
}
