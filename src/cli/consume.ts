// `tributary consume TOPIC`: prints records. As kafka-console-consumer, it starts at the end of each
// partition unless --from-beginning or --offset says otherwise. Without --follow it reads up to the
// end of each partition as it was when the command started (what `topics describe` showed), then
// exits; with --follow it keeps long-polling until SIGINT, --max or --timeout-ms.
// `tributary consume TOPIC --group G` reads as a member of consumer group G instead: the broker
// assigns the partitions, it starts at the group's committed offsets (else at the end, or the start
// with --from-beginning) and commits what it printed after each poll (at-least-once), until
// SIGINT/SIGTERM, --max or --timeout-ms.

import { isUtf8 } from 'node:buffer';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { Admin, Consumer, GroupConsumer, type ConsumedRecord, type OffsetCommit } from '../client/index.ts';
import { isTributaryError, TributaryError } from '../errors.ts';
import { topicNameProblem } from '../broker/topic-name.ts';
import { limits } from '../limits.ts';
import { integer, keyValue } from './args.ts';
import { addConnectionOptions, connectOptions, type ConnectionFlags } from './connection.ts';
import { UsageError } from './errors.ts';
import { writeOut } from './output.ts';
import { printProperties, renderWithProperties, type PrintProperties } from './properties.ts';
import { interruptOnSignal } from './signals.ts';

/** Long-poll per fetch: bounds how late SIGINT and --timeout-ms are noticed. */
const POLL_WAIT_MS = 500;

type StartOffset = number | 'earliest' | 'latest';

interface ConsumeFlags extends ConnectionFlags {
  partition?: number;
  offset?: StartOffset;
  fromBeginning?: boolean;
  max?: number;
  follow?: boolean;
  format: 'value' | 'json';
  timeoutMs?: number;
  group?: string;
  from?: 'earliest' | 'latest';
  property?: [string, string][];
}

export function registerConsume(program: Command): void {
  addConnectionOptions(program.command('consume').argument('<topic>', 'topic to read'))
    .description('print records of a topic: new ones, or with --from-beginning from the first one, to the end of the log (or on, with --follow)')
    .addOption(new Option('-p, --partition <n>', 'read only this partition (default: all of them)').argParser(integer(0, limits.partitionsMax - 1)).conflicts('group'))
    .addOption(new Option('-o, --offset <offset>', 'where to start in each partition: an offset, earliest or latest (default: latest)').argParser(startOffset).conflicts(['group', 'fromBeginning']))
    .option('--from-beginning', 'start at the first record still stored (of each partition without a committed offset, with --group)')
    .option('-g, --group <group>', 'read as a member of this consumer group: from its committed offsets, committing what was printed; runs until Ctrl-C')
    .addOption(new Option('--from <where>', 'with --group: where a partition without a committed offset starts, earliest (as --from-beginning) or latest (default latest)').argParser(resetPolicy).conflicts('fromBeginning'))
    .option('-n, --max <n>', 'stop after this many records', integer(1))
    .option('-f, --follow', 'keep waiting for new records (until Ctrl-C) instead of stopping at the end of the log')
    .option('--format <format>', 'value: the value alone, one per line; json: a JSON object per line', format, 'value')
    .option('--property <name=value>', "kafka-console-consumer's formatter settings (repeatable): print.key, print.timestamp, print.partition, print.offset, print.headers, print.value (true/false), key.separator, headers.separator", keyValue)
    .option('--timeout-ms <ms>', 'stop when no record came for this long (an error unless --follow or --group)', integer(1))
    .addHelpText(
      'after',
      `
Without --from-beginning or --offset, consume starts at the end of each partition, as
kafka-console-consumer does: it prints only records written after it started, so without --follow it
prints nothing. --from-beginning starts at the first record still stored.

A topic that does not exist is an error (UNKNOWN_TOPIC), except with --follow: then consume says so
on stderr and waits until the topic is created (it asks the broker again after a pause growing from
100 ms to 1 s), then reads it from its first record (all of them were written after the start), or
from where --offset says; Ctrl-C or --timeout-ms end the wait, exit code 0. With --group the member
joins at once and gets the topic's partitions in the rebalance its creation starts; records written
before that rebalance are printed only with --from-beginning.

--format json prints topic, partition, offset, timestampMs, key, value and headers. Keys and values
are UTF-8 text, or base64 when a record holds bytes that are not UTF-8: its "encoding" says which.

With --group G the broker assigns this member some of the topic's partitions (all of them while it
is G's only member); each starts at G's committed offset, or when G has none at the end (Kafka's
default) or with --from-beginning at the start. What was printed is committed after each poll, so a
restarted member goes on after the last committed record; one killed between printing and
committing prints those records again. It runs until Ctrl-C or SIGTERM (then leaves the group), --max or --timeout-ms
without a record (not an error with --group). --partition and --offset do not apply: the group
assigns partitions, and its offsets are moved with tributary groups reset-offsets.

--property prints what kafka-console-consumer prints, in its order, the fields separated by
key.separator (a tab unless set): CreateTime:MS, Partition:N, Offset:N, the headers (k:v joined by
headers.separator, a comma unless set; NO_HEADERS when there are none), the key (null when there is
none) and the value. It applies to --format value only.

Examples:
  $ tributary consume telemetry --from-beginning
  $ tributary consume alarms --follow                                # new records, until Ctrl-C (waits for alarms to exist)
  $ tributary consume telemetry --from-beginning --property print.key=true --property print.timestamp=true --property key.separator=' | '
  $ tributary consume telemetry --partition 2 --offset 1500 --max 10 --format json
  $ tributary consume telemetry --group dashboard --from-beginning   # share the partitions with other members
  $ tributary consume telemetry --from-beginning --format json | jq -r .key`,
    )
    .action(async (topic: string, opts: ConsumeFlags) => {
      await consume(topic, opts);
    });
}

function startOffset(text: string): StartOffset {
  if (text === 'earliest' || text === 'latest') return text;
  if (/^\d+$/.test(text)) return Number(text);
  throw new InvalidArgumentError('expected an offset (0 or more), earliest or latest');
}

function resetPolicy(text: string): 'earliest' | 'latest' {
  if (text === 'earliest' || text === 'latest') return text;
  throw new InvalidArgumentError('expected earliest or latest');
}

function format(text: string): 'value' | 'json' {
  if (text === 'value' || text === 'json') return text;
  throw new InvalidArgumentError('expected value or json');
}

async function consume(topic: string, opts: ConsumeFlags): Promise<void> {
  if (opts.property !== undefined && opts.format === 'json') throw new UsageError('--property applies to --format value only (--format json prints every field)');
  const print = printProperties(opts.property);
  if (opts.group !== undefined) return consumeInGroup(topic, opts.group, opts, print);
  if (opts.from !== undefined) throw new UsageError('--from applies to --group only (without a group, --offset or --from-beginning says where to start)');
  const startedMs = Date.now();
  // The first Ctrl-C ends the wait for the topic, or the loop after the current poll.
  const stop = interruptOnSignal();
  let consumer: Consumer | undefined;
  try {
    const found = await partitionEnds(topic, opts, stop.signal, startedMs);
    if (found === undefined) return;
    // A topic created after the start holds only records written since: all of them are "new".
    const offset = opts.offset ?? (opts.fromBeginning || found.waited ? 'earliest' : 'latest');
    const ends = found.ends;
    const assigned = [...ends.entries()].filter(([, end]) => opts.follow || hasRecordsToPrint(offset, end));
    if (assigned.length === 0) return;

    consumer = await Consumer.connect({
      ...connectOptions(opts),
      maxWaitMs: POLL_WAIT_MS,
      // An explicit offset that is gone should be an error, not a silent jump.
      autoOffsetReset: typeof offset === 'number' ? 'none' : 'earliest',
    });
    await consumer.assign(assigned.map(([partition]) => ({ topic, partition, offset })));
    let printed = 0;
    let lastRecordMs = startedMs;
    const reading = consumer;
    const done = () => !opts.follow && assigned.every(([partition, end]) => reading.position(topic, partition) >= end.next);
    while (!stop.signal.aborted && !done()) {
      const records = await consumer.poll();
      const out: Buffer[] = [];
      for (const r of records) {
        if (!opts.follow && r.offset >= ends.get(r.partition)!.next) continue;
        out.push(opts.format === 'json' ? renderJson(r) : renderWithProperties(r, print));
        if (++printed === opts.max) break;
      }
      if (out.length > 0) {
        await writeOut(Buffer.concat(out));
        lastRecordMs = Date.now();
      }
      if (printed === opts.max) break;
      if (opts.timeoutMs !== undefined && Date.now() - lastRecordMs >= opts.timeoutMs) {
        if (opts.follow) break;
        throw new TributaryError('TIMEOUT', `no record for ${opts.timeoutMs} ms before the end of ${topic} was reached`);
      }
    }
  } finally {
    stop.dispose();
    await consumer?.close().catch(() => undefined);
  }
}

/** Membership ended under a commit: the partitions' next owner prints those records again. */
const LOST_MEMBERSHIP = ['UNKNOWN_MEMBER', 'ILLEGAL_GENERATION', 'FENCED_INSTANCE', 'NOT_ASSIGNED'] as const;

async function consumeInGroup(topic: string, group: string, opts: ConsumeFlags, print: PrintProperties): Promise<void> {
  const consumer = await GroupConsumer.connect({
    ...connectOptions(opts),
    group,
    topics: [topic],
    autoOffsetReset: opts.from ?? (opts.fromBeginning ? 'earliest' : 'latest'),
    maxWaitMs: POLL_WAIT_MS,
    // What was printed is committed right after printing, and only that: with --max, records handed
    // out beyond it were not printed and must not be committed by close() either.
    autoCommitIntervalMs: 0,
  });
  const stop = interruptOnSignal();
  try {
    let printed = 0;
    let lastRecordMs = Date.now();
    while (!stop.signal.aborted) {
      const records = await consumer.poll();
      const out: Buffer[] = [];
      const next = new Map<number, OffsetCommit>();
      for (const r of records) {
        out.push(opts.format === 'json' ? renderJson(r) : renderWithProperties(r, print));
        next.set(r.partition, { topic, partition: r.partition, offset: r.offset + 1 });
        if (++printed === opts.max) break;
      }
      if (out.length > 0) {
        await writeOut(Buffer.concat(out));
        lastRecordMs = Date.now();
      }
      // Everything handed out was printed: commit every position, also where a partition started
      // by --from without a record yet (a later member starts there, as with Kafka). Cut by --max:
      // only what was printed.
      const cut = out.length < records.length;
      await consumer.commit(cut ? [...next.values()] : undefined).catch((err: unknown) => {
        if (!LOST_MEMBERSHIP.some((code) => isTributaryError(err, code))) throw err;
      });
      if (printed === opts.max) break;
      if (opts.timeoutMs !== undefined && Date.now() - lastRecordMs >= opts.timeoutMs) break;
    }
  } finally {
    stop.dispose();
    await consumer.close().catch(() => undefined);
  }
}

/** The first and the longest pause between two looks for a topic that does not exist yet. */
const TOPIC_WAIT_FIRST_MS = 100;
const TOPIC_WAIT_MAX_MS = 1_000;

type PartitionEnds = Map<number, { logStart: number; next: number }>;

/**
 * Each partition's log start and next offset now: the end of a run without --follow. With
 * --follow a topic that does not exist yet is waited for (`waited`), until it exists, Ctrl-C
 * (undefined) or --timeout-ms (undefined). The edge protocol has no event for a new topic, so
 * METADATA is asked again after a pause that doubles from 100 ms up to 1 s.
 */
async function partitionEnds(topic: string, opts: ConsumeFlags, signal: AbortSignal, startedMs: number): Promise<{ ends: PartitionEnds; waited: boolean } | undefined> {
  const problem = topicNameProblem(topic);
  if (problem !== null) throw new TributaryError('INVALID_TOPIC', problem);
  const admin = await Admin.connect(connectOptions(opts));
  let metadata;
  let waited = false;
  try {
    for (let pauseMs = TOPIC_WAIT_FIRST_MS; metadata === undefined; pauseMs = Math.min(pauseMs * 2, TOPIC_WAIT_MAX_MS)) {
      metadata = await admin.describeTopic(topic).catch((err: unknown) => {
        if (!opts.follow || !isTributaryError(err, 'UNKNOWN_TOPIC')) throw err;
        return undefined;
      });
      if (metadata !== undefined) break;
      if (!waited) process.stderr.write(`waiting for topic ${topic} to be created (Ctrl-C to stop)\n`);
      waited = true;
      const leftMs = opts.timeoutMs === undefined ? pauseMs : Math.min(pauseMs, startedMs + opts.timeoutMs - Date.now());
      if (leftMs <= 0 || !(await pause(leftMs, signal))) return undefined;
    }
  } finally {
    await admin.close().catch(() => undefined);
  }
  const ends: PartitionEnds = new Map(metadata.partitions.map((p) => [p.partition, { logStart: p.logStartOffset, next: p.nextOffset }]));
  if (opts.partition === undefined) return { ends, waited };
  const end = ends.get(opts.partition);
  if (end === undefined)
    throw new TributaryError('INVALID_PARTITION', `topic ${topic} has no partition ${opts.partition} (it has ${metadata.partitions.length})`);
  return { ends: new Map([[opts.partition, end]]), waited };
}

/** False when `signal` aborted the pause. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal.addEventListener('abort', onAbort);
  });
}

/** Without --follow, a partition whose start is already at its end is not read at all. */
function hasRecordsToPrint(offset: StartOffset, end: { logStart: number; next: number }): boolean {
  if (offset === 'latest') return false;
  return (offset === 'earliest' ? end.logStart : offset) < end.next;
}

function renderJson(r: ConsumedRecord): Buffer {
  const bytes = [r.key, r.value, ...r.headers.map((h) => h.value)];
  const encoding = bytes.every((b) => b === null || isUtf8(b)) ? 'utf8' : 'base64';
  const text = (b: Buffer | null) => (b === null ? null : b.toString(encoding));
  const json = {
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    timestampMs: r.timestampMs,
    key: text(r.key),
    value: text(r.value),
    headers: r.headers.map((h) => ({ key: h.key, value: text(h.value) })),
    encoding,
  };
  return Buffer.from(`${JSON.stringify(json)}\n`);
}
