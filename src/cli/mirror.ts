// `tributary mirror status|pause|resume|retry|reset` through the broker's HTTP listener (src/listeners/http.ts):
// mirrors live in the broker process, and the edge protocol has no frames for them.

import { setTimeout as sleep } from 'node:timers/promises';
import { Option, type Command } from 'commander';
import { ErrorCode, TributaryError, type ErrorName } from '../errors.ts';
import type { MirrorResetEntry, MirrorResetResult, MirrorRetryResult, MirrorStatus } from '../mirror/status.ts';
import { addHttpOption, addHttpTokenOption, httpAddress } from './connection.ts';
import { ConnectError } from './errors.ts';
import { bytes, writeOut } from './output.ts';
import { addResetTargetOptions, resetTarget, topicPartition, type ResetTargetFlags } from './reset-target.ts';
import { interruptOnSignal } from './signals.ts';
import { fmtInt, formatColumns } from './table.ts';

const REQUEST_TIMEOUT_MS = 10_000;
const REFRESH_MS = 1_000;
/** Refreshes the rate is averaged over: one second alone jumps with every window of acks. */
const RATE_SAMPLES = 5;
const BAR_WIDTH = 20;
const LAST_ERROR_MAX = 72;

interface HttpFlags {
  http: string;
  token?: string;
}

interface ResetFlags extends HttpFlags, ResetTargetFlags {
  topic?: { topic: string; partition?: number };
  dryRun?: boolean;
  json?: boolean;
}

interface StatusFlags extends HttpFlags {
  json?: boolean;
  watch?: boolean;
  once?: boolean;
}

export function registerMirror(program: Command): void {
  const mirror = program
    .command('mirror')
    .description('show, pause, resume, retry and reset the mirrors that ship topics upstream (through the HTTP listener)')
    .addHelpText(
      'after',
      `
Examples:
  $ tributary mirror status
  $ tributary mirror status cloud --watch
  $ tributary mirror pause cloud
  $ tributary mirror resume cloud --http 192.168.1.20:8088 --token s3cret
  $ tributary mirror retry cloud
  $ tributary mirror reset cloud --to-datetime 2026-12-01T08:00:00Z --dry-run`,
    );

  addHttpOption(mirror.command('status').argument('[name]', 'one mirror (default: all of them)'))
    .description('show state, backlog and counters; while a backlog drains on a terminal, a progress bar until it is shipped')
    .option('--json', 'print the JSON of the HTTP API (with per-partition cursors) and exit')
    .addOption(new Option('-w, --watch', 'refresh every second until every backlog is shipped (also when stdout is not a terminal: a line per refresh)').conflicts(['once', 'json']))
    .option('--once', 'print the table and exit, even on a terminal with a backlog draining')
    .addHelpText(
      'after',
      `
The progress bar counts what was shipped since the command started against what is still left;
Ctrl-C stops watching (the mirror goes on).

Examples:
  $ tributary mirror status
  $ tributary mirror status cloud --json | jq .backlogRecords
  $ tributary mirror status --watch
  $ TRIBUTARY_HTTP=10.0.0.5:8088 tributary mirror status --once`,
    )
    .action(async (name: string | undefined, opts: StatusFlags) => {
      await status(name, opts);
    });

  for (const action of ['pause', 'resume'] as const) {
    addHttpTokenOption(addHttpOption(mirror.command(action).argument('<name>', 'mirror name (mirrors[].name)')))
      .description(
        action === 'pause'
          ? 'stop shipping: close the upstream connection and keep the backlog until resumed (survives restarts)'
          : 'start shipping again after a pause or a failure (onRejected: stop)',
      )
      .addHelpText(
        'after',
        `
Admin actions need the broker's listeners.http.adminToken when it sets one; without one, the broker
takes them only from its own machine (a loopback client).

Examples:
  $ tributary mirror ${action} cloud
  $ TRIBUTARY_HTTP_TOKEN=s3cret tributary mirror ${action} cloud --http 192.168.1.20:8088`,
      )
      .action(async (name: string, opts: HttpFlags) => {
        const s = (await request(opts, 'POST', `/mirrors/${encodeURIComponent(name)}/${action}`)) as MirrorStatus;
        await writeOut(`${stateLine(s)}\n`);
      });
  }

  addHttpTokenOption(addHttpOption(mirror.command('retry').argument('<name>', 'mirror name (mirrors[].name)')))
    .description('connect now instead of waiting out the backoff (after the uplink came back); nothing to do when connected')
    .addHelpText(
      'after',
      `
A mirror that cannot reach its upstream waits longer after each failure (backoff.initialMs up to
backoff.maxMs). retry ends the wait: the next attempt starts now. A connected or connecting mirror is
left alone (exit code 0, it says so); a paused or failed one needs resume (an INVALID_REQUEST error, exit code 1). An attempt
that fails backs off again, as the next failure in a row.

Examples:
  $ tributary mirror retry cloud
  $ TRIBUTARY_HTTP_TOKEN=s3cret tributary mirror retry cloud --http 192.168.1.20:8088`,
    )
    .action(async (name: string, opts: HttpFlags) => {
      const r = (await request(opts, 'POST', `/mirrors/${encodeURIComponent(name)}/retry`)) as MirrorRetryResult;
      await writeOut(`${r.message}\n`);
    });

  const reset = addHttpTokenOption(addHttpOption(mirror.command('reset').argument('<name>', 'mirror name (mirrors[].name)')))
    .description("move a paused mirror's cursors: rewind to ship records again, or skip ahead (as kafka-consumer-groups --reset-offsets)")
    .option('--topic <topic[:partition]>', 'one topic the mirror ships, or one partition of it (default: every partition it ships)', topicPartition);
  addResetTargetOptions(reset, 'the cursor');
  reset
    .option('--dry-run', 'only show what would change')
    .option('--json', 'print JSON ({mirror, dryRun, partitions: [{topic, partition, previous, offset}]})')
    .addHelpText(
      'after',
      `
The mirror must be paused (tributary mirror pause NAME), as Kafka resets only the offsets of a group
without members; the new cursors are written before the command returns, and shipping starts from
them on resume. Targets are clamped to the records the partition still holds. PREVIOUS is the cursor
before (the log start when the mirror never shipped from the partition), NEW where it goes. Records
shipped again after a rewind keep their origin and count as resent (RESENT in mirror status).

Examples:
  $ tributary mirror pause cloud
  $ tributary mirror reset cloud --to-datetime 2026-12-01T08:00:00Z --dry-run
  $ tributary mirror reset cloud --to-datetime 2026-12-01T08:00:00Z
  $ tributary mirror reset cloud --topic telemetry:0 --shift-by -100
  $ tributary mirror reset cloud --topic alarms --to-latest
  $ tributary mirror resume cloud`,
    )
    .action(async (name: string, opts: ResetFlags) => {
      // The target's fields are the body's (src/listeners/http-mirrors.ts).
      const body = { ...resetTarget(opts), ...opts.topic, dryRun: opts.dryRun === true };
      const r = (await request(opts, 'POST', `/mirrors/${encodeURIComponent(name)}/reset`, body)) as MirrorResetResult;
      if (opts.json) return writeOut(`${JSON.stringify(r, null, 2)}\n`);
      await writeOut(formatColumns(['TOPIC', 'PARTITION', 'PREVIOUS', 'NEW'], r.partitions.map(planRow)));
      process.stderr.write(
        r.dryRun
          ? 'dry run: nothing changed (run it again without --dry-run to move the cursors)\n'
          : `reset the cursors of mirror ${name} on ${r.partitions.length} partition${r.partitions.length === 1 ? '' : 's'}; resume it to ship from them\n`,
      );
    });
}

function planRow(p: MirrorResetEntry): string[] {
  return [p.topic, String(p.partition), String(p.previous), String(p.offset)];
}

async function status(name: string | undefined, opts: StatusFlags): Promise<void> {
  const fetchStatuses = async () =>
    name === undefined ? ((await request(opts, 'GET', '/mirrors')) as MirrorStatus[]) : [(await request(opts, 'GET', `/mirrors/${encodeURIComponent(name)}`)) as MirrorStatus];
  const first = await fetchStatuses();
  if (opts.json) return writeOut(`${JSON.stringify(name === undefined ? first : first[0], null, 2)}\n`);
  if (first.length === 0) return writeOut('no mirrors configured\n');
  await writeOut(table(first));
  const tty = process.stdout.isTTY === true;
  const draining = first.some((s) => s.state === 'connected' && s.backlogRecords > 0);
  if (opts.watch || (tty && draining && !opts.once)) await watch(first, name !== undefined, fetchStatuses, tty);
}

function table(statuses: MirrorStatus[]): string {
  return formatColumns(
    ['NAME', 'STATE', 'BACKLOG', 'BACKLOG-BYTES', 'OLDEST', 'SHIPPED', 'RESENT', 'REJECTED', 'DROPPED', 'LAST-ERROR'],
    statuses.map((s) => [
      s.name,
      s.state,
      fmtInt(s.backlogRecords),
      bytes(s.backlogBytes),
      s.oldestUnshippedAgeMs === null ? '-' : duration(s.oldestUnshippedAgeMs),
      fmtInt(s.shippedRecords),
      fmtInt(s.resentRecords),
      fmtInt(s.rejectedRecords),
      fmtInt(s.droppedUnshippedRecords),
      s.lastError === null ? '-' : truncate(`${duration(s.lastError.ageMs)} ago: ${s.lastError.code}: ${s.lastError.message}`, LAST_ERROR_MAX),
    ]),
  );
}

function stateLine(s: MirrorStatus): string {
  const oldest = s.oldestUnshippedAgeMs === null ? '' : `, oldest ${duration(s.oldestUnshippedAgeMs)}`;
  return `mirror ${s.name}: ${s.state}, backlog ${fmtInt(s.backlogRecords)} records (${bytes(s.backlogBytes)})${oldest}`;
}

// ---- watching a backlog drain ----

/**
 * Records that left the backlog: resends were counted as shipped twice, and records the upstream
 * refused (policy skip) or the disk budget deleted leave it without being shipped.
 */
function drained(s: MirrorStatus): number {
  return s.shippedRecords - s.resentRecords + s.rejectedRecords + s.droppedUnshippedRecords;
}

interface Progress {
  /** drained() when watching started; lowered if the broker restarts and its counters start over. */
  base: number;
  /** drained() - base at the last RATE_SAMPLES refreshes, with their times. */
  samples: { atMs: number; done: number }[];
}

async function watch(first: MirrorStatus[], named: boolean, fetchStatuses: () => Promise<MirrorStatus[]>, redraw: boolean): Promise<void> {
  // Paused and failed mirrors wait for an operator, so watching them would never end — unless asked for by name.
  const watched = first.filter((s) => named || (s.backlogRecords > 0 && s.state !== 'paused' && s.state !== 'failed'));
  if (watched.length === 0) return writeOut('no backlog to watch\n');
  const progress = new Map(watched.map((s): [string, Progress] => [s.name, { base: drained(s), samples: [] }]));
  // The first Ctrl-C ends the watch after the refresh under way.
  const stop = interruptOnSignal();
  let drawnLines = 0;
  try {
    let statuses = first;
    for (;;) {
      const now = Date.now();
      const current = statuses.filter((s) => progress.has(s.name));
      const lines = current.map((s) => barLine(s, progress.get(s.name)!, now));
      const output = lines.map((l) => `${l}\n`).join('');
      // A terminal gets the bars redrawn in place; a pipe or file a line per mirror per refresh.
      await writeOut(redraw && drawnLines > 0 ? `\x1b[${drawnLines}A\x1b[0J${output}` : output);
      drawnLines = lines.length;
      if (current.every((s) => s.backlogRecords === 0)) return;
      await sleep(REFRESH_MS, undefined, { signal: stop.signal }).catch(() => undefined);
      if (stop.signal.aborted) return;
      statuses = await fetchStatuses();
    }
  } finally {
    stop.dispose();
  }
}

function barLine(s: MirrorStatus, p: Progress, now: number): string {
  p.base = Math.min(p.base, drained(s));
  const done = drained(s) - p.base;
  p.samples.push({ atMs: now, done });
  if (p.samples.length > RATE_SAMPLES) p.samples.shift();
  const oldest = p.samples[0]!;
  const rate = now > oldest.atMs ? ((done - oldest.done) * 1000) / (now - oldest.atMs) : 0;
  const fraction = s.backlogRecords === 0 ? 1 : done / (done + s.backlogRecords);
  const filled = Math.floor(fraction * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  let tail: string;
  if (s.backlogRecords === 0) tail = 'done';
  else if (s.state !== 'connected') tail = s.state;
  else tail = rate > 0 ? `ETA ${duration(Math.ceil(s.backlogRecords / rate) * 1000)}` : 'ETA -';
  return `${s.name}  ${bar} ${percent}  ${fmtInt(s.backlogRecords)} left  ${fmtInt(Math.round(rate))} rec/s  ${tail}`;
}

// ---- HTTP ----

async function request(flags: HttpFlags, method: 'GET' | 'POST', path: string, payload?: unknown): Promise<unknown> {
  const address = httpAddress(flags);
  const url = `http://${address}${path}`;
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method,
      headers: { ...(flags.token === undefined ? {} : { authorization: `Bearer ${flags.token}` }), ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
      signal: timeout,
    });
    text = await res.text();
  } catch (err) {
    if (timeout.aborted) throw new TributaryError('TIMEOUT', `no answer from the HTTP listener at ${address} within ${REQUEST_TIMEOUT_MS / 1000}s`);
    // fetch rejects with "fetch failed"; what went wrong is in the cause.
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
    if (typeof cause?.code === 'string')
      throw new ConnectError(cause.code, `cannot reach the HTTP listener at ${address} (is the broker running with listeners.http enabled? point --http or $TRIBUTARY_HTTP at it)`, { cause: err });
    throw new TributaryError('UNKNOWN', `request to ${url} failed: ${String(cause?.message ?? (err as Error).message)}`, undefined, { cause: err });
  }
  const body = parseJson(text);
  if (res.ok && body !== undefined) return body;
  const error = (body as { error?: unknown; message?: unknown } | undefined)?.error;
  if (typeof error !== 'string' || !(error in ErrorCode)) throw new TributaryError('UNKNOWN', `unexpected answer from ${url}: HTTP ${res.status} ${truncate(text.trim(), 100)}`);
  if (error === 'NOT_AUTHORIZED' && res.status === 401)
    throw new TributaryError(
      'NOT_AUTHORIZED',
      flags.token === undefined
        ? 'the broker requires a token: pass --token or set $TRIBUTARY_HTTP_TOKEN (its listeners.http.adminToken)'
        : 'the broker refused the token (it must be its listeners.http.adminToken)',
    );
  throw new TributaryError(error as ErrorName, String((body as { message?: unknown }).message ?? `HTTP ${res.status}`));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

// ---- formatting ----


const durationUnits = [
  [86_400, 'd'],
  [3_600, 'h'],
  [60, 'm'],
  [1, 's'],
] as const;

/** The two largest units: 850ms, 42s, 5m 3s, 2h, 3d 4h. */
function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = Math.round(ms / 1000);
  const i = durationUnits.findIndex(([size]) => seconds >= size);
  const [size, unit] = durationUnits[i]!;
  const next = durationUnits[i + 1];
  const minor = next === undefined ? 0 : Math.floor((seconds % size) / next[0]);
  return `${Math.floor(seconds / size)}${unit}${minor > 0 ? ` ${minor}${next![1]}` : ''}`;
}

function truncate(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}
