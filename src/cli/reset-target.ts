// The arguments of `groups reset-offsets`, in kafka-consumer-groups' spellings: --to-earliest,
// --to-latest, --to-offset N, --to-datetime YYYY-MM-DDTHH:mm:SS.sss, --shift-by N, plus the short
// form --to earliest|latest|N|DATETIME; and --topic T or T:P.

import { InvalidArgumentError, Option, type Command } from 'commander';
import type { ResetTarget } from '../client/index.ts';
import { DATE_TIME_EXPECTED, parseDateTime } from '../format/date-time.ts';
import { limits } from '../limits.ts';
import { integer } from './args.ts';
import { UsageError } from './errors.ts';

export interface ResetTargetFlags {
  to?: ResetTarget;
  toEarliest?: boolean;
  toLatest?: boolean;
  toOffset?: number;
  toDatetime?: number;
  shiftBy?: number;
}

const TARGETS = ['to', 'toEarliest', 'toLatest', 'toOffset', 'toDatetime', 'shiftBy'];

/** The target options, each conflicting with the others; `shiftFrom` names what --shift-by moves from. */
export function addResetTargetOptions(command: Command, shiftFrom: string): Command {
  const target = (name: string, flags: string, description: string, parse?: (text: string) => unknown) => {
    const option = new Option(flags, description).conflicts(TARGETS.filter((t) => t !== name));
    command.addOption(parse ? option.argParser(parse) : option);
  };
  target('to', '--to <target>', 'earliest, latest, an offset or a date-time (the same as the --to-… options)', toTarget);
  target('toEarliest', '--to-earliest', 'the first retained offset');
  target('toLatest', '--to-latest', 'the log end (the next offset to be written)');
  target('toOffset', '--to-offset <offset>', 'this offset (clamped to the retained records)', integer(0));
  target('toDatetime', '--to-datetime <date-time>', 'the first record at or after YYYY-MM-DDTHH:mm:SS.sss (UTC unless it ends with Z, +hh:mm or -hh:mm)', dateTime);
  target('shiftBy', '--shift-by <n>', `${shiftFrom} plus n (negative: back), clamped to the retained records`, integer(-Number.MAX_SAFE_INTEGER));
  return command;
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

/** --to-datetime: Kafka's YYYY-MM-DDTHH:mm:SS.sss, UTC without a zone (../format/date-time.ts). */
export function dateTime(text: string): number {
  const ms = parseDateTime(text);
  if (ms === null) throw new InvalidArgumentError(`expected ${DATE_TIME_EXPECTED}`);
  return ms;
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
