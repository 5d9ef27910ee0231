// The built CLI (dist/tributary.mjs, built by vitest's global setup) run as a child process, the way
// operators and scripts run it: exit codes, one-line errors, and a broker round trip.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import packageJson from '../../package.json' with { type: 'json' };
import { Admin, Producer } from '../../src/client/index.ts';
import { scramCredentialProblem } from '../../src/auth/scram-credential.ts';
import { verifyPassword } from '../../src/auth/password.ts';
import { bundlePath, type ChildBroker, cleanEnv, freePort, mqttListenerEnv, startChildBroker, waitForPort } from '../helpers/child-broker.ts';
import { lines, run } from '../helpers/cli.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

/** SIGTERM must be a graceful shutdown: exit code 0. */
async function stopGracefully(broker: ChildBroker): Promise<void> {
  broker.child.kill('SIGTERM');
  expect(await broker.exited).toBe(0);
}

beforeAll(() => {
  expect(fs.existsSync(bundlePath), `${bundlePath} is missing: vitest's global setup runs node build.mjs`).toBe(true);
});

describe('tributary CLI without a broker', () => {
  it('--version prints the package version', async () => {
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(packageJson.version);
  });

  it.each([[], ['start'], ['topics'], ['topics', 'list'], ['topics', 'create'], ['topics', 'describe'], ['topics', 'alter'], ['topics', 'delete'], ['produce'], ['consume'], ['bench'], ['passwd'], ['doctor']])(
    '%j --help shows usage and examples',
    async (...command: string[]) => {
      const r = await run([...command, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: tributary ${command.join(' ')}`.trim());
      expect(r.stdout).toContain('Examples:');
    },
  );

  it.each([
    [['topics', 'lsit'], /^tributary: INVALID_REQUEST: unknown command 'lsit' \(Did you mean list\?\)$/],
    [['topics', 'create', 't', '--partitions', 'zero'], /^tributary: INVALID_REQUEST: .*--partitions.*expected an integer/],
    [['topics', 'create', 't', '--retention', 'forever'], /^tributary: INVALID_REQUEST: .*--retention.*duration/],
    [['consume', 't', '--offset', 'first'], /^tributary: INVALID_REQUEST: .*--offset/],
    [['produce', 't', '--key', 'k', '--key-field', 'f'], /^tributary: INVALID_REQUEST: .*cannot be used with/],
    [['topics', 'list', '--broker', 'host:port'], /^tributary: INVALID_REQUEST: --broker "host:port" is not HOST:PORT/],
    [['bench', '--only', 'warp'], /^tributary: INVALID_REQUEST: .*unknown benchmark warp/],
    [['mirror', 'status', '--watch', '--once'], /^tributary: INVALID_REQUEST: .*--watch.*cannot be used with.*--once/],
    [['mirror', 'status', '--watch', '--json'], /^tributary: INVALID_REQUEST: .*--watch.*cannot be used with.*--json/],
    [['mirror', 'pause'], /^tributary: INVALID_REQUEST: missing required argument 'name'$/],
    [['passwd', '--scram', 'sha512'], /^tributary: INVALID_REQUEST: option '--scram \[mechanism\]' argument 'sha512' is invalid\. Allowed choices are SCRAM-SHA-256, SCRAM-SHA-512\.$/],
    [['mirror', 'status', '--http', 'host:port'], /^tributary: INVALID_REQUEST: --http "host:port" is not HOST:PORT \(e\.g\. 127\.0\.0\.1:8088\)$/],
  ])('usage error %j: one line, exit 2', async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(message);
  });

  it('start with a bad config file prints one INVALID_CONFIG line naming the key and exits 2', async () => {
    const file = path.join(tempDir(), 'bad.yaml');
    fs.writeFileSync(file, 'listeners:\n  edge:\n    port: seven\n');
    const r = await run(['start', '--config', file]);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual([`tributary: INVALID_CONFIG: config file ${file}: listeners.edge.port: got "seven", expected an integer 0..65535`]);
  });

  it('start on a port in use prints one EADDRINUSE line naming the key and exits 1', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise((resolve) => server.close(() => resolve())));
    const port = (server.address() as net.AddressInfo).port;
    const r = await run(['start'], {
      env: { TRIBUTARY_DATA_DIR: tempDir(), TRIBUTARY_LISTENERS__EDGE__HOST: '127.0.0.1', TRIBUTARY_LISTENERS__EDGE__PORT: String(port), TRIBUTARY_LISTENERS__HTTP__ENABLED: 'false' },
    });
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([`tributary: EADDRINUSE: cannot listen on 127.0.0.1:${port}: address already in use (change listeners.edge.port or stop the process using it)`]);
  });

  it.each([
    ['listeners.kafka.port', { TRIBUTARY_LISTENERS__KAFKA__PORT: 'SHARED', TRIBUTARY_LISTENERS__MQTT__ENABLED: 'false' }],
    ['listeners.mqtt.ws.port', { TRIBUTARY_LISTENERS__KAFKA__ENABLED: 'false', TRIBUTARY_LISTENERS__MQTT__PORT: 'FREE', TRIBUTARY_LISTENERS__MQTT__WS__PORT: 'SHARED' }],
  ])('start with two listeners configured on one port names the second, whose bind failed (%s)', async (key, listeners) => {
    const [port, free] = [await freePort(), await freePort()];
    const env: Record<string, string> = {
      TRIBUTARY_DATA_DIR: tempDir(),
      TRIBUTARY_LISTENERS__EDGE__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__EDGE__PORT: String(port),
      TRIBUTARY_LISTENERS__KAFKA__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__MQTT__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__HTTP__ENABLED: 'false',
    };
    for (const [name, value] of Object.entries(listeners)) env[name] = value === 'SHARED' ? String(port) : value === 'FREE' ? String(free) : value;
    const r = await run(['start'], { env });
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([`tributary: EADDRINUSE: cannot listen on 127.0.0.1:${port}: address already in use (change ${key} or stop the process using it)`]);
  });

  it('a client command with no broker listening prints one ECONNREFUSED line and exits 1', async () => {
    const r = await run(['topics', 'list'], { env: { TRIBUTARY_BROKER: `127.0.0.1:${await freePort()}` } });
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^tributary: ECONNREFUSED: /);
  });
});

describe('tributary CLI against a broker', () => {
  it('creates, lists, describes and deletes topics, produces stdin lines by key field and consumes them back', async () => {
    const broker = await startChildBroker(tempDir(), await freePort());
    const env = { TRIBUTARY_BROKER: `127.0.0.1:${broker.port}` };
    const cli = (args: string[], input?: string) => run(args, { env, input });

    const created = await cli(['topics', 'create', 'cli-rt', '--partitions', '2', '--retention', '1d', '--retention-bytes', '64MiB']);
    expect(created).toMatchObject({ code: 0, stderr: 'created topic cli-rt\n' });
    const again = await cli(['topics', 'create', 'cli-rt']);
    expect(again.code).toBe(1);
    expect(lines(again.stderr)).toEqual(['tributary: TOPIC_EXISTS: topic cli-rt already exists']);

    const listed = await cli(['topics', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^cli-rt\s+2\s+0\s+1d\s+64MiB$/m);
    expect(JSON.parse((await cli(['topics', 'list', '--json'])).stdout)).toEqual([
      {
        name: 'cli-rt',
        retentionMs: 86_400_000,
        retentionBytes: 64 * 2 ** 20,
        partitions: [0, 1].map((partition) => ({ partition, logStartOffset: 0, nextOffset: 0 })),
      },
    ]);

    const input = ['{"device":"d1","v":1}', '{"device":"d2","v":2}', '{"device":"d1","v":3}'];
    const produced = await cli(['produce', 'cli-rt', '--key-field', 'device', '--acks', 'all', '--header', 'src=cli-test'], `${input.join('\n')}\n`);
    expect(produced).toMatchObject({ code: 0, stderr: 'produced 3 records to cli-rt\n' });

    const described = JSON.parse((await cli(['topics', 'describe', 'cli-rt', '--json'])).stdout) as { partitions: { logStartOffset: number; nextOffset: number }[] };
    expect(described.partitions.map((p) => p.logStartOffset)).toEqual([0, 0]);
    expect(described.partitions.reduce((sum, p) => sum + p.nextOffset, 0)).toBe(3);
    expect((await cli(['topics', 'describe', 'cli-rt'])).stdout).toMatch(/PARTITION\s+LOG-START-OFFSET\s+NEXT-OFFSET/);

    const consumed = await cli(['consume', 'cli-rt', '--offset', 'earliest', '--max', '3', '--format', 'json']);
    expect(consumed.code).toBe(0);
    const records = lines(consumed.stdout).map((l) => JSON.parse(l) as { partition: number; offset: number; key: string; value: string; headers: unknown; encoding: string });
    expect(records.map((r) => r.value).sort()).toEqual([...input].sort());
    for (const r of records) {
      expect(r.key).toBe((JSON.parse(r.value) as { device: string }).device);
      expect(r).toMatchObject({ headers: [{ key: 'src', value: 'cli-test' }], encoding: 'utf8' });
    }
    // One key, one partition, in produce order.
    const d1 = records.filter((r) => r.key === 'd1');
    expect(new Set(d1.map((r) => r.partition)).size).toBe(1);
    expect(d1.map((r) => r.value)).toEqual([input[0], input[2]]);

    // Without --max and --follow it stops at the end of the log.
    const values = await cli(['consume', 'cli-rt', '--from-beginning']);
    expect(values.code).toBe(0);
    expect(lines(values.stdout).sort()).toEqual([...input].sort());

    expect(await cli(['topics', 'delete', 'cli-rt'])).toMatchObject({ code: 0, stderr: 'deleted topic cli-rt\n' });
    expect(JSON.parse((await cli(['topics', 'list', '--json'])).stdout)).toEqual([]);

    await stopGracefully(broker);
  }, 60_000);
});

describe('tributary produce and consume details', () => {
  it('counts what was stored when a later line fails; reads one partition from an offset; base64 for bytes that are not UTF-8', async () => {
    const broker = await startChildBroker(tempDir(), await freePort());
    const env = { TRIBUTARY_BROKER: `127.0.0.1:${broker.port}` };
    const cli = (args: string[], input?: string) => run(args, { env, input });
    expect((await cli(['topics', 'create', 'details', '--partitions', '2'])).code).toBe(0);

    const failed = await cli(['produce', 'details', '--partition', '1', '--key-field', 'd', '--json'], '{"d":"a"}\n{"d":"b"}\n{"d":"c"}\nnot json\n');
    expect(failed.code).toBe(1);
    expect(lines(failed.stderr)).toEqual(['produced 3 records to details', 'tributary: INVALID_REQUEST: stdin line 4 is not a JSON object, so it has no field "d" (--key-field)']);
    expect(lines(failed.stdout).map((l) => JSON.parse(l) as { partition: number; offset: number })).toEqual([0, 1, 2].map((offset) => expect.objectContaining({ partition: 1, offset })));

    const producer = await Producer.connect({ host: '127.0.0.1', port: broker.port });
    await producer.send({ topic: 'details', partition: 1, value: Buffer.from([0xff, 0xfe]) });
    await producer.close();

    const consumed = await cli(['consume', 'details', '--partition', '1', '--offset', '1', '--format', 'json']);
    expect(consumed.code).toBe(0);
    expect(lines(consumed.stdout).map((l) => JSON.parse(l) as unknown)).toEqual([
      expect.objectContaining({ partition: 1, offset: 1, key: 'b', value: '{"d":"b"}', encoding: 'utf8' }),
      expect.objectContaining({ partition: 1, offset: 2, key: 'c', value: '{"d":"c"}', encoding: 'utf8' }),
      expect.objectContaining({ partition: 1, offset: 3, key: null, value: '//4=', encoding: 'base64' }),
    ]);
    expect(await cli(['consume', 'details', '--offset', 'latest'])).toMatchObject({ code: 0, stdout: '' });
    expect(lines((await cli(['consume', 'details', '--partition', '0', '--from-beginning'])).stdout)).toEqual([]);

    await stopGracefully(broker);
  }, 60_000);
});

/** util-linux `script` gives the command a pseudo-terminal, so stdin.isTTY holds as in a shell. */
const hasScript = spawnSync('script', ['--version']).status === 0;

const shellQuote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;
const passwdCommand = [process.execPath, bundlePath, 'passwd'].map(shellQuote).join(' ');

/**
 * Runs the shell `command` on a terminal and types each step's keys once its prompt shows, as a
 * person would; keys sent earlier would meet the terminal before the command is ready for them.
 * The output is what the terminal got (\r\n line ends). Killed after 10 s.
 */
function typeInTerminal(command: string, steps: [prompt: string, keys: string][]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['--quiet', '--return', '--flush', '--command', command, '/dev/null'], { env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let seen = 0;
    let step = 0;
    child.stdout.on('data', (d) => {
      output += d;
      while (step < steps.length) {
        const [prompt, keys] = steps[step];
        const at = output.indexOf(prompt, seen);
        if (at < 0) break;
        seen = at + prompt.length;
        child.stdin.write(keys);
        step++;
      }
    });
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('tributary produce and consume on Ctrl-C', () => {
  it('produce sends what it read and exits 0; consume --follow exits 0 after what it printed', async () => {
    const broker = await startChildBroker(tempDir(), await freePort());
    const env = { TRIBUTARY_BROKER: `127.0.0.1:${broker.port}` };
    const producer = spawn(process.execPath, [bundlePath, 'produce', 'ctrl-c'], { env: { ...cleanEnv(), ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    onCleanup(async () => void producer.kill('SIGKILL'));
    let stderr = '';
    producer.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => producer.once('close', resolve));
    // stdin stays open, as at a terminal: only the interrupt ends the input.
    producer.stdin.write('one\ntwo\n');
    const admin = await Admin.connect({ host: '127.0.0.1', port: broker.port });
    onCleanup(() => admin.close());
    await expect
      .poll(async () => (await admin.describeTopic('ctrl-c').catch(() => null))?.partitions[0]?.nextOffset ?? 0, { timeout: 10_000 })
      .toBe(2);
    producer.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(lines(stderr)).toEqual(['produced 2 records to ctrl-c']);

    const follow = await run(['consume', 'ctrl-c', '--from-beginning', '--follow'], { env, interruptAfterMs: 1_500 });
    expect(follow.code).toBe(0);
    expect(lines(follow.stdout)).toEqual(['one', 'two']);
  });
});

describe('tributary passwd', () => {
  it('hashes the first line of stdin into a hash that verifies, or a whole auth.users entry', async () => {
    const r = await run(['passwd'], { input: 'correct horse\nignored\n' });
    expect(r.code).toBe(0);
    const hash = r.stdout.trim();
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$\S+\$\S+$/);
    expect(await verifyPassword(Buffer.from('correct horse'), hash)).toBe(true);
    expect(await verifyPassword(Buffer.from('correct horse\n'), hash)).toBe(false);
    const entry = await run(['passwd', '--username', 'sensor-1'], { input: 'pw' });
    expect(entry.stdout).toMatch(/^- username: "sensor-1"\n  passwordHash: scrypt\$\S+\n  scramSha256: scram-sha-256\$4096\$\S+\n  scramSha512: scram-sha-512\$4096\$\S+\n$/);
    expect(scramCredentialProblem('sha256', /scramSha256: (\S+)/.exec(entry.stdout)![1])).toBeNull();
    expect(scramCredentialProblem('sha512', /scramSha512: (\S+)/.exec(entry.stdout)![1])).toBeNull();
    const alone = await run(['passwd', '--scram'], { input: 'pw' });
    expect(alone.stdout).toMatch(/^scram-sha-256\$4096\$[^$\s]+\$[^$\s]+\$[^$\s]+\n$/);
    const alone512 = await run(['passwd', '--scram', 'SCRAM-SHA-512'], { input: 'pw' });
    expect(alone512.stdout).toMatch(/^scram-sha-512\$4096\$[^$\s]+\$[^$\s]+\$[^$\s]+\n$/);
    expect(scramCredentialProblem('sha512', alone512.stdout.trim())).toBeNull();
  });

  it('refuses an empty password with exit 2', async () => {
    const r = await run(['passwd'], { input: '' });
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual(['tributary: INVALID_REQUEST: the password is empty']);
  });

  it.each(['', '\n', '\r\n'])('refuses piped input %j promptly, with exit 2 and one line', async (input) => {
    const r = await run(['passwd'], { input, timeoutMs: 5_000 });
    expect(r).toEqual({ code: 2, stdout: '', stderr: 'tributary: INVALID_REQUEST: the password is empty\n' });
  });

  describe.runIf(hasScript || process.env.CI)('on a terminal', () => {
    it('hashes what is typed at both prompts, echoing none of it', async () => {
      const r = await typeInTerminal(passwdCommand, [
        ['Password: ', 'secret\r'],
        ['Again: ', 'secret\r'],
      ]);
      expect(r.code, r.output).toBe(0);
      const [password, again, hash, ...rest] = r.output.split('\r\n');
      expect([password, again, rest]).toEqual(['Password: ', 'Again: ', ['']]);
      expect(await verifyPassword(Buffer.from('secret'), hash)).toBe(true);
    });

    it('takes Ctrl-D on an empty line as end of input: the piped refusal, not a hang', async () => {
      const r = await typeInTerminal(passwdCommand, [['Password: ', '\x04']]);
      expect(r).toEqual({ code: 2, output: 'Password: \r\ntributary: INVALID_REQUEST: the password is empty\r\n' });
    });

    it('drops Ctrl-D typed mid-line and honours Backspace', async () => {
      const r = await typeInTerminal(passwdCommand, [
        ['Password: ', 'sec\x04ret\r'],
        ['Again: ', 'secrx\x7fet\r'],
      ]);
      expect(r.code, r.output).toBe(0);
      const hash = r.output.split('\r\n')[2];
      expect(hash, JSON.stringify(r.output)).toMatch(/^scrypt\$/);
      expect(await verifyPassword(Buffer.from('secret'), hash!)).toBe(true);
    });

    it('exits 130 on Ctrl-C and leaves the terminal cooked and echoing', async () => {
      const r = await typeInTerminal(`${passwdCommand}; code=$?; stty -a; exit $code`, [['Password: ', 'sec\x03']]);
      expect(r.code, r.output).toBe(130);
      expect(r.output).toMatch(/^Password: \r\nspeed /);
      expect(r.output).toMatch(/(^|\s)icanon\s/m);
      expect(r.output).toMatch(/(^|\s)echo\s/m);
    });
  });
});

describe('tributary consume on an MQTT-fed topic', () => {
  it('shows the MQTT headers with --format json', async () => {
    const mqttPort = await freePort();
    const broker = await startChildBroker(tempDir(), await freePort(), {
      ...mqttListenerEnv(mqttPort),
    });
    await waitForPort(broker, mqttPort);
    const client = await mqtt.connectAsync({ host: '127.0.0.1', port: mqttPort, clientId: 'meter-4', reconnectPeriod: 0 });
    await client.publishAsync('meters/4/kwh', '12.5', { qos: 1, retain: true });
    await client.endAsync();
    const r = await run(['consume', 'mqtt', '--from-beginning', '--format', 'json'], { env: { TRIBUTARY_BROKER: `127.0.0.1:${broker.port}` } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      topic: 'mqtt',
      key: 'meters/4/kwh',
      value: '12.5',
      headers: [
        { key: 'mqtt.topic', value: 'meters/4/kwh' },
        { key: 'mqtt.clientId', value: 'meter-4' },
        { key: 'mqtt.qos', value: '1' },
        { key: 'mqtt.retain', value: 'true' },
      ],
    });
    await stopGracefully(broker);
  }, 60_000);
});

describe('tributary bench', () => {
  it('--quick --only codec,append prints the machine and a table of figures with targets', async () => {
    const r = await run(['bench', '--quick', '--only', 'codec,append'], { timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^machine: \d+ ×/);
    expect(r.stdout).toMatch(/^BENCH\s+CASE\s+RESULT\s+TARGET\s+VERDICT$/m);
    expect(r.stdout).toMatch(/^codec\s+encode PRODUCE.*frames\/s/m);
    expect(r.stdout).toMatch(/^append\s+acks=1, .*rec\/s.*≥ 1,000,000 rec\/s\s+(PASS|MISS) by \d+%$/m);
    expect(r.stdout).toMatch(/^append\s+acks=all, /m);
    expect(r.stdout).not.toMatch(/^(read|edge|latency|rss)\s/m);
  }, 90_000);

  it('--quick --only group-rebalance,group-commit,group-consume prints a row per consumer-group case', async () => {
    const r = await run(['bench', '--quick', '--only', 'group-rebalance,group-commit,group-consume'], { timeoutMs: 150_000 });
    expect(r.code, r.stderr).toBe(0);
    for (const [from, to] of [[1, 2], [3, 4]]) {
      expect(r.stdout).toMatch(new RegExp(`^group-rebalance\\s+join, ${from} → ${to} members: .* \\d+\\.\\d+ ms`, 'm'));
      expect(r.stdout).toMatch(new RegExp(`^group-rebalance\\s+death, ${to} → ${from} members: .* -?\\d+\\.\\d+ ms`, 'm'));
    }
    expect(r.stdout).toMatch(/^group-commit\s+1 member \(all 3 partitions\), 1 in flight .*[\d,]+ commits\/s/m);
    expect(r.stdout).toMatch(/^group-commit\s+3 members \(1 partition each\), 32 in flight .*[\d,]+ commits\/s/m);
    expect(r.stdout).toMatch(/^group-consume\s+1 plain Consumer, .*[\d,]+ rec\/s/m);
    expect(r.stdout).toMatch(/^group-consume\s+3 plain Consumers, .*[\d,]+ rec\/s/m);
    expect(r.stdout).toMatch(/^group-consume\s+group of 1 .*[\d,]+ rec\/s, .*× plain, [\d,]+ handed out again/m);
    expect(r.stdout).toMatch(/^group-consume\s+group of 3 .*[\d,]+ rec\/s, .*× plain, [\d,]+ handed out again/m);
  }, 180_000);

  it('--quick --only kafka-produce,kafka-consume prints kafkajs and kcat beside the edge protocol (each checked: every record stored, every record read)', async () => {
    const r = await run(['bench', '--quick', '--only', 'kafka-produce,kafka-consume'], { timeoutMs: 150_000 });
    expect(r.code, r.stderr).toBe(0);
    for (const bench of ['kafka-produce', 'kafka-consume']) {
      expect(r.stdout).toMatch(new RegExp(`^${bench}\\s+edge protocol: .*[\\d,]+ rec/s`, 'm'));
      expect(r.stdout).toMatch(new RegExp(`^${bench}\\s+kafkajs 2\\.2\\.4: .*[\\d,]+ rec/s, .*× the edge protocol`, 'm'));
      expect(r.stdout).toMatch(new RegExp(`^${bench}\\s+kcat -[PC] \\(librdkafka 2\\.0\\.2\\): .*[\\d,]+ rec/s, .*× the edge protocol`, 'm'));
    }
  }, 180_000);

  it('--quick --only mirror-drain prints the drain with ingest, the main thread starved or not, and the CPU both targets need', async () => {
    const r = await run(['bench', '--quick', '--only', 'mirror-drain'], { timeoutMs: 150_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^mirror-drain\s+plain MQTT\.js v5 client → mosquitto, .*[\d,]+ rec\/s/m);
    expect(r.stdout).toMatch(/^mirror-drain\s+mirror drains 20,000 × 100 B backlog, .*[\d.]+× plain MQTT\.js/m);
    const row = /^mirror-drain\s+mirror drains while 1 edge client produces .*$/m.exec(r.stdout)?.[0] ?? '';
    expect(row).toMatch(/drain [\d,]+ rec\/s \([\d.]+× alone\), ingest [\d,]+ rec\/s \([\d.]+× alone: [\d,]+\)/);
    expect(row).toMatch(/CPU broker \d+% \/ generator \d+% \/ mosquitto \d+%/);
    expect(row).toMatch(/broker main thread on a CPU \d+%, waiting for one \d+% of the time \(ingest alone: \d+% \/ \d+%\)/);
    const budget = /0\.8× ingest alone \((\d+)%\) \+ 0\.5× drain alone \((\d+)%\) = (\d+)% of (\d+)%/.exec(row);
    expect(budget, row).not.toBeNull();
    const [ingestAlone, drainAlone, needed, available] = budget!.slice(1).map(Number);
    expect(Math.abs(0.8 * ingestAlone + 0.5 * drainAlone - needed)).toBeLessThanOrEqual(1.5);
    expect(available).toBe(os.availableParallelism() * 100);
  }, 180_000);
});
