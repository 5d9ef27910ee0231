// `tributary mirror status|pause|resume` from the built CLI against a child broker whose mirror
// `cloud` ships to an in-process MQTT 5 upstream; acks are delayed so a backlog drains visibly.
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { MirrorStatus } from '../../src/mirror/status.ts';
import { bundlePath, cleanEnv, freePort, startChildBroker, startedPorts, type ChildBroker } from '../helpers/child-broker.ts';
import { lines, run, runProcess } from '../helpers/cli.ts';
import { tempDir } from '../helpers/temp.ts';
import { startMosquittoUpstream } from '../helpers/mosquitto-upstream.ts';
import { startUpstream, until, type Upstream } from '../helpers/upstream.ts';

const TOKEN = 's3cret';
/** listeners.http.adminToken: the HTTP listener's own, not the edge token. */
const ADMIN_TOKEN = 'admin-s3cret';
const RECORDS = 1200;

interface Edge {
  broker: ChildBroker;
  /** For the CLI: TRIBUTARY_HTTP and TRIBUTARY_BROKER. */
  env: Record<string, string>;
  http: string;
}

/** HTTP on port 0, read back from the broker's start line: a port picked beforehand could be taken meanwhile. */
async function startEdge(upstream: Upstream, dataDir: string, ports: { edge: number }): Promise<Edge> {
  const broker = await startChildBroker(dataDir, ports.edge, {
    // An operator's shell set up for `mirror` must still start the broker.
    TRIBUTARY_HTTP: '127.0.0.1:8088',
    TRIBUTARY_BROKER: `127.0.0.1:${ports.edge}`,
    TRIBUTARY_EDGE_ID: 'gw-1',
    TRIBUTARY_LISTENERS__EDGE__TOKEN: TOKEN,
    TRIBUTARY_LISTENERS__HTTP__ADMIN_TOKEN: ADMIN_TOKEN,
    // Read by `mirror pause/resume`, not a config key: start must not refuse it.
    TRIBUTARY_HTTP_TOKEN: 'for-the-cli',
    TRIBUTARY_LISTENERS__HTTP__ENABLED: 'true',
    TRIBUTARY_LISTENERS__HTTP__HOST: '127.0.0.1',
    TRIBUTARY_LISTENERS__HTTP__PORT: '0',
    TRIBUTARY_MIRRORS: JSON.stringify([
      { name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${upstream.port}`, topics: ['telemetry'], windowMax: 5, backoff: { initialMs: 50, maxMs: 200 } },
    ]),
  });
  const http = `127.0.0.1:${(await startedPorts(broker)).httpPort!}`;
  return { broker, env: { TRIBUTARY_HTTP: http, TRIBUTARY_BROKER: `127.0.0.1:${ports.edge}` }, http };
}

async function produce(edge: Edge, count: number): Promise<void> {
  const input = Array.from({ length: count }, (_, i) => `v${i}\n`).join('');
  expect(await run(['produce', 'telemetry', '--token', TOKEN], { env: edge.env, input })).toMatchObject({ code: 0, stderr: `produced ${count} records to telemetry\n` });
}

/** util-linux `script` gives the command a pseudo-terminal, so stdout.isTTY holds as in a shell. */
const hasScript = spawnSync('script', ['--version']).status === 0;

/** Runs the CLI on a terminal; the output is what the terminal got (\r\n line ends). */
async function runInTerminal(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;
  const command = [process.execPath, bundlePath, ...args].map(quote).join(' ');
  const r = await runProcess('script', ['--quiet', '--return', '--flush', '--command', command, '/dev/null'], { env: { ...cleanEnv(), ...env }, timeoutMs: 30_000 });
  return { code: r.code, output: r.stdout + r.stderr };
}

async function stopGracefully(edge: Edge): Promise<void> {
  edge.broker.child.kill('SIGTERM');
  expect(await edge.broker.exited).toBe(0);
}

async function statusJson(edge: Edge): Promise<MirrorStatus> {
  const r = await run(['mirror', 'status', 'cloud', '--json'], { env: edge.env });
  expect(r, r.stderr).toMatchObject({ code: 0, stderr: '' });
  return JSON.parse(r.stdout) as MirrorStatus;
}

/** Polls the HTTP API (not the CLI: a process per poll is slow) until `done`. */
async function untilStatus(edge: Edge, done: (s: MirrorStatus) => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 8_000;
  while (!done((await (await fetch(`http://${edge.http}/mirrors/cloud`)).json()) as MirrorStatus)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function distinctOffsets(upstream: Upstream): number {
  return new Set(upstream.received.map((r) => `${r.origin.partition}/${r.origin.offset}`)).size;
}

describe('tributary mirror without a broker', () => {
  it.each(['mirror', 'mirror status', 'mirror pause', 'mirror resume', 'mirror retry', 'mirror reset'])('%s --help shows usage and examples', async (command) => {
    const r = await run([...command.split(' '), '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: tributary ${command}`);
    expect(r.stdout).toContain('Examples:');
  });

  it('with nothing listening on --http prints one ECONNREFUSED line naming the address and exits 1', async () => {
    const port = await freePort();
    for (const args of [['mirror', 'status'], ['mirror', 'pause', 'cloud']]) {
      const r = await run(args, { env: { TRIBUTARY_HTTP: `127.0.0.1:${port}` } });
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(lines(r.stderr)).toEqual([
        `tributary: ECONNREFUSED: cannot reach the HTTP listener at 127.0.0.1:${port} (is the broker running with listeners.http enabled? point --http or $TRIBUTARY_HTTP at it)`,
      ]);
    }
  });
});

describe('tributary mirror against a broker', () => {
  it('shows the backlog, pauses (also across a restart), resumes, and watches the backlog drain to 100%', async () => {
    // 5 in flight, 20 ms per ack: about 250 records/s, so 1200 records take seconds to ship.
    const upstream = await startUpstream({ ackDelayMs: 20 });
    await upstream.stop();
    const dataDir = tempDir();
    const ports = { edge: await freePort() };
    let edge = await startEdge(upstream, dataDir, ports);
    const cli = (args: string[], input?: string) => run(args, { env: edge.env, input });

    expect(await cli(['topics', 'create', 'telemetry', '--partitions', '2', '--token', TOKEN])).toMatchObject({ code: 0 });
    await produce(edge, RECORDS);

    // Upstream down: the backlog is the whole topic and stays put.
    await untilStatus(edge, (s) => s.lastError !== null, 'the mirror to fail to connect');
    const all = await cli(['mirror', 'status', '--json']);
    expect(all.code).toBe(0);
    const [down] = JSON.parse(all.stdout) as MirrorStatus[];
    expect(JSON.parse(all.stdout)).toHaveLength(1);
    expect(down).toMatchObject({ name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${upstream.port}`, backlogRecords: RECORDS, shippedRecords: 0, lastError: { code: 'UPSTREAM_UNAVAILABLE' } });
    // When it happened (Unix ms) and how old it was when the status was taken, by the broker's clock.
    expect(down!.lastError!.ageMs).toBeGreaterThanOrEqual(0);
    expect(down!.lastError!.atMs).toBeLessThanOrEqual(Date.now());
    expect(down!.lastError!.atMs).toBeGreaterThan(Date.now() - 60_000);
    expect(['connecting', 'backing-off']).toContain(down!.state);
    expect(down!.partitions.map((p) => [p.topic, p.partition, p.cursor, p.backlogRecords])).toEqual(down!.partitions.map((p, i) => ['telemetry', i, 0, p.nextOffset]));
    expect(down!.partitions.reduce((sum, p) => sum + p.nextOffset, 0)).toBe(RECORDS);
    expect(down!.backlogBytes).toBeGreaterThan(RECORDS * 3);
    expect(down!.oldestUnshippedAgeMs).toBeGreaterThanOrEqual(0);
    const table = await cli(['mirror', 'status']);
    expect(table).toMatchObject({ code: 0, stderr: '' });
    expect(lines(table.stdout)[0]).toMatch(/^NAME\s+STATE\s+BACKLOG\s+BACKLOG-BYTES\s+OLDEST\s+SHIPPED\s+RESENT\s+REJECTED\s+DROPPED\s+LAST-ERROR$/);
    expect(lines(table.stdout)[1]).toMatch(/^cloud\s+(connecting|backing-off)\s+1,200\s+\d+(\.\d)? KiB\s+\d+(ms|s)\s+0\s+0\s+0\s+0\s+\d+(ms|s) ago: UPSTREAM_UNAVAILABLE: /);
    expect(lines(table.stdout)).toHaveLength(2);

    // Upstream up: shipping starts; pause it mid-backlog and nothing more goes upstream.
    await upstream.start();
    await until(() => upstream.received.length >= 50, 'the mirror to ship');
    const paused = await cli(['mirror', 'pause', 'cloud', '--token', ADMIN_TOKEN]);
    expect(paused).toMatchObject({ code: 0, stderr: '' });
    expect(paused.stdout).toMatch(/^mirror cloud: paused, backlog [\d,]+ records \(.+\), oldest .+\n$/);
    await sleep(300);
    const receivedAtPause = upstream.received.length;
    const atPause = await statusJson(edge);
    expect(atPause.state).toBe('paused');
    expect(atPause.backlogRecords).toBeGreaterThan(0);
    expect(atPause.backlogRecords).toBeLessThan(RECORDS);
    await sleep(1_000);
    expect(upstream.received.length).toBe(receivedAtPause);
    expect((await statusJson(edge)).backlogRecords).toBe(atPause.backlogRecords);

    // The pause is persisted: after a restart the mirror does not even connect.
    await stopGracefully(edge);
    const connects = upstream.connects;
    edge = await startEdge(upstream, dataDir, ports);
    await sleep(1_000);
    const restarted = await statusJson(edge);
    expect(restarted).toMatchObject({ state: 'paused', backlogRecords: atPause.backlogRecords, shippedRecords: 0 });
    expect(upstream.connects).toBe(connects);
    expect(upstream.received.length).toBe(receivedAtPause);

    // A paused mirror named with --watch is followed until Ctrl-C, which ends the watch with 0.
    const interrupted = await run(['mirror', 'status', 'cloud', '--watch'], { env: edge.env, interruptAfterMs: 4_000 });
    expect(interrupted, interrupted.stderr).toMatchObject({ code: 0, stderr: '' });
    const pausedBars = lines(interrupted.stdout).filter((l) => l.startsWith('cloud  ['));
    expect(pausedBars.length).toBeGreaterThanOrEqual(2);
    for (const bar of pausedBars) expect(bar).toBe(`cloud  [--------------------]   0%  ${atPause.backlogRecords.toLocaleString('en-US')} left  0 rec/s  paused`);

    // The token from the environment keeps it out of `ps` and the shell history.
    const resumed = await run(['mirror', 'resume', 'cloud'], { env: { ...edge.env, TRIBUTARY_HTTP_TOKEN: ADMIN_TOKEN } });
    expect(resumed).toMatchObject({ code: 0, stderr: '' });
    expect(resumed.stdout).toMatch(/^mirror cloud: (connecting|connected), backlog [\d,]+ records/);

    // Not a terminal: --watch prints a line per refresh and exits 0 once the backlog is shipped.
    const watched = await run(['mirror', 'status', '--watch'], { env: edge.env, timeoutMs: 30_000 });
    expect(watched, watched.stderr).toMatchObject({ code: 0, stderr: '' });
    const bars = lines(watched.stdout).filter((l) => l.startsWith('cloud  ['));
    expect(bars.length, watched.stdout).toBeGreaterThanOrEqual(2);
    for (const bar of bars) expect(bar).toMatch(/^cloud {2}\[[#-]{20}\] +\d{1,3}% {2}[\d,]+ left {2}[\d,]+ rec\/s {2}(ETA \S+( \S+)?|done|connecting|backing-off)$/);
    expect(bars[0]).not.toContain('100%');
    expect(bars.at(-1)).toMatch(/^cloud {2}\[#{20}\] 100% {2}0 left {2}[\d,]+ rec\/s {2}done$/);
    expect(await statusJson(edge)).toMatchObject({ state: 'connected', backlogRecords: 0 });
    expect(distinctOffsets(upstream)).toBe(RECORDS);

    await stopGracefully(edge);
  }, 90_000);

  it.runIf(hasScript || process.env.CI)('on a terminal, status follows a draining backlog by itself, redrawing its bar in place, unless --once', async () => {
    const upstream = await startUpstream({ ackDelayMs: 20 });
    const edge = await startEdge(upstream, tempDir(), { edge: await freePort() });
    await produce(edge, RECORDS);
    await untilStatus(edge, (s) => s.state === 'connected' && s.shippedRecords > 0, 'the mirror to ship');

    const once = await runInTerminal(['mirror', 'status', '--once'], edge.env);
    expect(once.code, once.output).toBe(0);
    expect(once.output.split('\r\n').filter((l) => l !== '')).toEqual([expect.stringMatching(/^NAME\s+STATE/), expect.stringMatching(/^cloud\s+connected\s+[\d,]+\s/)]);

    const watched = await runInTerminal(['mirror', 'status'], edge.env);
    expect(watched.code, watched.output).toBe(0);
    // Every refresh after the first moves up over the previous bar and clears it.
    const frames = watched.output.split('\x1b[1A\x1b[0J');
    expect(frames.length, watched.output).toBeGreaterThanOrEqual(3);
    expect(frames.at(-1)).toMatch(/^cloud {2}\[#{20}\] 100% {2}0 left {2}[\d,]+ rec\/s {2}done\r\n$/);
    expect(frames[0]).toMatch(/^NAME\s+STATE.*\r\ncloud\s+connected.*\r\ncloud {2}\[[#-]{20}\] +\d{1,2}% {2}[\d,]+ left {2}0 rec\/s {2}ETA -\r\n$/s);
    expect(distinctOffsets(upstream)).toBe(RECORDS);

    await stopGracefully(edge);
  }, 60_000);

  it('answers an unknown mirror with UNKNOWN_MIRROR, and pause without the token with NOT_AUTHORIZED (HTTP 401)', async () => {
    const upstream = await startUpstream();
    const edge = await startEdge(upstream, tempDir(), { edge: await freePort() });
    const cli = (args: string[]) => run(args, { env: edge.env });

    for (const args of [
      ['mirror', 'status', 'nope'],
      ['mirror', 'pause', 'nope', '--token', ADMIN_TOKEN],
      ['mirror', 'resume', 'nope', '--token', ADMIN_TOKEN],
      ['mirror', 'retry', 'nope', '--token', ADMIN_TOKEN],
      ['mirror', 'reset', 'nope', '--to-earliest', '--token', ADMIN_TOKEN],
    ]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(lines(r.stderr)).toEqual(['tributary: UNKNOWN_MIRROR: no mirror named nope; configured: cloud']);
    }

    const noToken = await cli(['mirror', 'pause', 'cloud']);
    expect(noToken.code).toBe(1);
    expect(lines(noToken.stderr)).toEqual(['tributary: NOT_AUTHORIZED: the broker requires a token: pass --token or set $TRIBUTARY_HTTP_TOKEN (its listeners.http.adminToken)']);
    // The edge token is not the admin token.
    for (const guess of ['guess', TOKEN]) {
      const wrongToken = await cli(['mirror', 'pause', 'cloud', '--token', guess]);
      expect(wrongToken.code).toBe(1);
      expect(lines(wrongToken.stderr)).toEqual(['tributary: NOT_AUTHORIZED: the broker refused the token (it must be its listeners.http.adminToken)']);
    }
    for (const headers of [{}, { authorization: 'Bearer guess' }] as Record<string, string>[]) {
      const res = await fetch(`http://${edge.http}/mirrors/cloud/pause`, { method: 'POST', headers });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: 'NOT_AUTHORIZED' });
    }
    // Reads stay open, and the refused requests paused nothing.
    expect((await statusJson(edge)).state).not.toBe('paused');

    await stopGracefully(edge);
  }, 60_000);

  it('retry says there is nothing to do when connected; reset refuses a running mirror, shows a dry run, moves the cursors of a paused one and the rewound records go upstream again (mosquitto)', async () => {
    const upstream = await startMosquittoUpstream();
    const edge = await startEdge(upstream, tempDir(), { edge: await freePort() });
    const cli = (args: string[]) => run(args, { env: { ...edge.env, TRIBUTARY_HTTP_TOKEN: ADMIN_TOKEN } });
    expect(await cli(['topics', 'create', 'telemetry', '--partitions', '2', '--token', TOKEN])).toMatchObject({ code: 0 });
    for (const partition of ['0', '1']) {
      const input = Array.from({ length: 10 }, (_, i) => `p${partition}-${i}\n`).join('');
      expect(await run(['produce', 'telemetry', '--partition', partition, '--token', TOKEN], { env: edge.env, input })).toMatchObject({ code: 0 });
    }
    await untilStatus(edge, (s) => s.state === 'connected' && s.backlogRecords === 0 && s.shippedRecords === 20, 'the records shipped');
    const ends = (await statusJson(edge)).partitions.map((p) => p.nextOffset);
    expect(ends).toEqual([10, 10]);

    expect(await cli(['mirror', 'retry', 'cloud'])).toEqual({ code: 0, stdout: `mirror cloud is connected to mqtt://127.0.0.1:${upstream.port}: nothing to retry\n`, stderr: '' });

    const running = await cli(['mirror', 'reset', 'cloud', '--to-earliest']);
    expect(running.code).toBe(1);
    expect(lines(running.stderr)).toEqual([
      "tributary: INVALID_REQUEST: mirror cloud is connected: pause it first (tributary mirror pause cloud); its cursors move only while it is paused, as a Kafka group's offsets only while it has no members",
    ]);
    const badTime = await cli(['mirror', 'reset', 'cloud', '--to-datetime', 'yesterday']);
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toContain('expected a date-time YYYY-MM-DDTHH:mm:SS.sss');
    const noTarget = await cli(['mirror', 'reset', 'cloud']);
    expect(noTarget.code).toBe(2);
    expect(lines(noTarget.stderr)[0]).toMatch(/^tributary: INVALID_REQUEST: name where to move the offsets: --to-earliest/);

    expect((await cli(['mirror', 'pause', 'cloud'])).code).toBe(0);
    const pausedRetry = await cli(['mirror', 'retry', 'cloud']);
    expect(pausedRetry.code).toBe(1);
    expect(lines(pausedRetry.stderr)).toEqual(['tributary: INVALID_REQUEST: mirror cloud is paused: resume it to connect (tributary mirror resume cloud)']);

    const dry = await cli(['mirror', 'reset', 'cloud', '--shift-by', '-3', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(lines(dry.stdout).map((l) => l.split(/\s+/))).toEqual([
      ['TOPIC', 'PARTITION', 'PREVIOUS', 'NEW'],
      ['telemetry', '0', String(ends[0]), String(ends[0]! - 3)],
      ['telemetry', '1', String(ends[1]), String(ends[1]! - 3)],
    ]);
    expect(dry.stderr).toBe('dry run: nothing changed (run it again without --dry-run to move the cursors)\n');
    expect((await statusJson(edge)).partitions.map((p) => p.cursor)).toEqual(ends);

    const reset = await cli(['mirror', 'reset', 'cloud', '--topic', 'telemetry:1', '--to', '0', '--json']);
    expect(reset.code, reset.stderr).toBe(0);
    expect(JSON.parse(reset.stdout)).toEqual({ mirror: 'cloud', dryRun: false, partitions: [{ topic: 'telemetry', partition: 1, previous: ends[1], offset: 0 }] });
    const shift = await cli(['mirror', 'reset', 'cloud', '--topic', 'telemetry:0', '--shift-by', '-3']);
    expect(shift.stderr).toBe('reset the cursors of mirror cloud on 1 partition; resume it to ship from them\n');
    expect((await statusJson(edge)).partitions.map((p) => p.cursor)).toEqual([ends[0]! - 3, 0]);

    const before = upstream.received.length;
    expect((await cli(['mirror', 'resume', 'cloud'])).code).toBe(0);
    await until(() => upstream.received.length === before + 3 + ends[1]!, 'the rewound records upstream again');
    await untilStatus(edge, (s) => s.backlogRecords === 0 && s.resentRecords === 3 + ends[1]!, 'the resends counted');
    expect(distinctOffsets(upstream)).toBe(20);

    await stopGracefully(edge);
  }, 60_000);
});
