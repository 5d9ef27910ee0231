// kafka-console-consumer's and kafka-console-producer's `--property k=v` settings that Tributary
// understands: how `consume` prints a record (print.key, print.timestamp…) and how `produce` splits
// a line into key and value (parse.key, key.separator). Names, defaults and output follow Kafka's
// DefaultMessageFormatter and LineMessageReader, so a script written for them keeps working.

import type { ConsumedRecord } from '../client/index.ts';
import { TributaryError } from '../errors.ts';
import { UsageError } from './errors.ts';

export interface PrintProperties {
  printKey: boolean;
  printValue: boolean;
  printTimestamp: boolean;
  printPartition: boolean;
  printOffset: boolean;
  printHeaders: boolean;
  keySeparator: string;
  headersSeparator: string;
}

export interface ParseProperties {
  parseKey: boolean;
  keySeparator: string;
}

const PRINT_KNOWN = ['print.key', 'print.value', 'print.timestamp', 'print.partition', 'print.offset', 'print.headers', 'key.separator', 'headers.separator'] as const;
const PARSE_KNOWN = ['parse.key', 'key.separator'] as const;

export function printProperties(pairs: [string, string][] = []): PrintProperties {
  const p = known(pairs, PRINT_KNOWN);
  return {
    printKey: flag(p, 'print.key', false),
    printValue: flag(p, 'print.value', true),
    printTimestamp: flag(p, 'print.timestamp', false),
    printPartition: flag(p, 'print.partition', false),
    printOffset: flag(p, 'print.offset', false),
    printHeaders: flag(p, 'print.headers', false),
    keySeparator: p.get('key.separator') ?? '\t',
    headersSeparator: p.get('headers.separator') ?? ',',
  };
}

export function parseProperties(pairs: [string, string][] = []): ParseProperties {
  const p = known(pairs, PARSE_KNOWN);
  const keySeparator = p.get('key.separator') ?? '\t';
  if (keySeparator === '') throw new UsageError('--property key.separator must not be empty');
  return { parseKey: flag(p, 'parse.key', false), keySeparator };
}

/** The fields Kafka prints, in its order, joined by key.separator: `CreateTime:1700000000000\tkey\tvalue`. */
export function renderWithProperties(r: ConsumedRecord, p: PrintProperties): Buffer {
  const fields: (string | Buffer)[] = [];
  if (p.printTimestamp) fields.push(`CreateTime:${r.timestampMs}`);
  if (p.printPartition) fields.push(`Partition:${r.partition}`);
  if (p.printOffset) fields.push(`Offset:${r.offset}`);
  if (p.printHeaders)
    fields.push(r.headers.length === 0 ? 'NO_HEADERS' : r.headers.map((h) => `${h.key}:${h.value === null ? 'null' : h.value.toString()}`).join(p.headersSeparator));
  if (p.printKey) fields.push(r.key ?? 'null');
  if (p.printValue) fields.push(r.value ?? '');
  const parts: Buffer[] = [];
  fields.forEach((f, i) => {
    if (i > 0) parts.push(Buffer.from(p.keySeparator));
    parts.push(typeof f === 'string' ? Buffer.from(f) : f);
  });
  parts.push(Buffer.from('\n'));
  return Buffer.concat(parts);
}

/** parse.key: the line split at the first key.separator; a line without one is an error naming it, as in Kafka. */
export function splitKey(line: string, lineNumber: number, p: ParseProperties): { key: string; value: string } | undefined {
  if (!p.parseKey) return undefined;
  const at = line.indexOf(p.keySeparator);
  if (at < 0) throw new TributaryError('INVALID_REQUEST', `stdin line ${lineNumber} has no key separator ${JSON.stringify(p.keySeparator)} (--property parse.key=true)`);
  return { key: line.slice(0, at), value: line.slice(at + p.keySeparator.length) };
}

function known(pairs: [string, string][], names: readonly string[]): Map<string, string> {
  for (const [name] of pairs)
    if (!names.includes(name)) throw new UsageError(`unknown --property ${name}; known: ${names.join(', ')}`);
  return new Map(pairs);
}

function flag(p: Map<string, string>, name: string, fallback: boolean): boolean {
  const text = p.get(name);
  if (text === undefined) return fallback;
  if (/^true$/i.test(text)) return true;
  if (/^false$/i.test(text)) return false;
  throw new UsageError(`--property ${name}=${text}: expected true or false`);
}
