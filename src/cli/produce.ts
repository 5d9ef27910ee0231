// `tributary produce TOPIC`: one record per stdin line through the client's Producer. Sends are
// pipelined (the producer batches them) with a bounded number awaiting their ack, so a large file
// streams through in constant memory.

import readline from 'node:readline';
import { Option, type Command } from 'commander';
import { Producer, type ProducerRecord, type RecordMetadata } from '../client/index.ts';
import { asTributaryError, TributaryError } from '../errors.ts';
import { limits } from '../limits.ts';
import { acks, integer, keyValue } from './args.ts';
import { addConnectionOptions, connectOptions, type ConnectionFlags } from './connection.ts';
import { writeOut } from './output.ts';
import { UsageError } from './errors.ts';
import { parseProperties, splitKey, type ParseProperties } from './properties.ts';
import { interruptOnSignal } from './signals.ts';

const PENDING_MAX = 10_000;

interface ProduceFlags extends ConnectionFlags {
  key?: string;
  keyField?: string;
  partition?: number;
  acks: 0 | 1 | 'all';
  header?: [string, string][];
  json?: boolean;
  property?: [string, string][];
}

export function registerProduce(program: Command): void {
  addConnectionOptions(program.command('produce').argument('<topic>', 'topic to write to'))
    .description('write one record per stdin line (the line is the value; empty lines are skipped)')
    .addOption(new Option('-k, --key <key>', 'key of every record').conflicts('keyField'))
    .option('-K, --key-field <field>', 'parse each line as a JSON object and use this field as the key')
    .option('-p, --partition <n>', 'partition (default: by key hash, round robin without a key)', integer(0, limits.partitionsMax - 1))
    .option('-a, --acks <level>', 'acknowledgement: 0 none, 1 committed, all flushed to disk', acks, 1)
    .option('-H, --header <key=value>', 'header on every record (repeatable)', keyValue)
    .option('--json', 'print the metadata of every record (topic, partition, offset) as a JSON line on stdout')
    .option('--property <name=value>', "kafka-console-producer's line reader settings (repeatable): parse.key=true, key.separator=SEP (default a tab)", keyValue)
    .addHelpText(
      'after',
      `
--property parse.key=true splits each line at the first key.separator (a tab unless set): the part
before it is the key, the rest the value. A line without the separator is an error naming the line,
handled as a --key-field error below.

A summary goes to stderr at the end: "produced N records to TOPIC".

With --key-field, a line that is not a JSON object, or lacks the field (or has it null), is an
error naming the line: the lines before it are sent (and counted in the summary), that line and
the rest of stdin are not, and the exit code is 1. A line the producer refuses (a record over the
256 KiB a batch holds) stops the run the same way.

Examples:
  $ echo 'hello' | tributary produce telemetry
  $ tail -f /var/log/sensor.jsonl | tributary produce telemetry --key-field deviceId --acks all
  $ tributary produce alarms --key pump-7 --header source=plc --header line=3 < alarms.txt
  $ seq 1 1000 | tributary produce numbers --partition 0 --json
  $ printf 'pump-7:on\\npump-8:off\\n' | tributary produce alarms --property parse.key=true --property key.separator=:`,
    )
    .action(async (topic: string, opts: ProduceFlags) => {
      await produce(topic, opts);
    });
}

async function produce(topic: string, opts: ProduceFlags): Promise<void> {
  const parse = parseProperties(opts.property);
  if (parse.parseKey && (opts.key !== undefined || opts.keyField !== undefined)) throw new UsageError('--property parse.key=true cannot be used with --key or --key-field');
  const producer = await Producer.connect({ ...connectOptions(opts), acks: opts.acks });
  const headers = opts.header === undefined ? undefined : Object.fromEntries(opts.header);
  // The first line whose send failed: reading stops there, as for a line that cannot be parsed. A
  // record refused before it is sent (too large for a batch) fails before the next line is read.
  let failed: { error: unknown; lineNumber: number } | null = null;
  // Oldest first: --json prints metadata in input order.
  const pending: Promise<RecordMetadata>[] = [];
  let produced = 0;
  const settleOldest = async () => {
    const metadata = await pending.shift()!.catch((err: unknown) => {
      throw failed !== null ? lineFailure(failed) : err;
    });
    produced++;
    if (opts.json) await writeOut(`${JSON.stringify(metadata)}\n`);
  };
  const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  // Ctrl-C ends the input: what was read is still sent and counted.
  const stop = interruptOnSignal();
  stop.signal.addEventListener('abort', () => input.close());
  try {
    let lineNumber = 0;
    for await (const line of input) {
      if (failed !== null) break;
      lineNumber++;
      if (line === '') continue;
      const record: ProducerRecord = { topic, ...keyAndValue(line, lineNumber, opts, parse), headers, partition: opts.partition };
      const sent = producer.send(record);
      const at = lineNumber;
      sent.catch((error: unknown) => (failed ??= { error, lineNumber: at }));
      pending.push(sent);
      // Until the topic is known the producer holds records and refuses one only later, after the
      // lines behind it were sent: the first record waits for its answer, the rest are refused at once.
      if (pending.length === 1 && produced === 0) await sent.then(noop, noop);
      if (pending.length >= PENDING_MAX) await settleOldest();
    }
    if (failed !== null) throw lineFailure(failed);
    while (pending.length > 0) await settleOldest();
  } finally {
    stop.dispose();
    await producer.close().catch(() => undefined);
    // A failed line or send stops the loop, but close() still flushed the sends behind it: what they
    // stored is counted (and listed with --json) too, in input order.
    for (const outcome of await Promise.allSettled(pending.splice(0))) {
      if (outcome.status !== 'fulfilled') continue;
      produced++;
      if (opts.json) await writeOut(`${JSON.stringify(outcome.value)}\n`);
    }
    process.stderr.write(`produced ${produced} record${produced === 1 ? '' : 's'} to ${topic}\n`);
  }
}

const noop = () => undefined;

/** A send's failure, naming its line as the parse errors do. */
function lineFailure({ error, lineNumber }: { error: unknown; lineNumber: number }): TributaryError {
  const e = asTributaryError(error);
  return new TributaryError(e.codeName, `stdin line ${lineNumber}: ${e.message}`, e.context, { cause: error });
}

function keyAndValue(line: string, lineNumber: number, opts: ProduceFlags, parse: ParseProperties): { key: string | null; value: string } {
  return splitKey(line, lineNumber, parse) ?? { key: keyOf(line, lineNumber, opts), value: line };
}

function keyOf(line: string, lineNumber: number, opts: ProduceFlags): string | null {
  if (opts.keyField === undefined) return opts.key ?? null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new TributaryError('INVALID_REQUEST', `stdin line ${lineNumber} is not a JSON object, so it has no field "${opts.keyField}" (--key-field)`);
  const key = (parsed as Record<string, unknown>)[opts.keyField];
  // A record sent without its key would land on a partition its key never maps to: refuse it instead.
  if (key === undefined || key === null) throw new TributaryError('INVALID_REQUEST', `stdin line ${lineNumber} has no field "${opts.keyField}" (--key-field), or it is null`);
  return typeof key === 'string' ? key : JSON.stringify(key);
}
