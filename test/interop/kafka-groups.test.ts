// Consumer groups of independent Kafka clients on the broker's coordinator (classic groups): kcat -G
// (librdkafka 2.0.2) with three members, one SIGKILLed and its partitions taken over with nothing
// skipped; a confluent-kafka group running while the broker is SIGKILLed and restarted under it, and
// a kafkajs 2.2.4 group before and after a broker SIGKILL, both resuming from their committed
// offsets; a kafka-python 2.0.2 group committing and resuming; `tributary groups describe` showing
// the Kafka group with its lag, and `tributary groups reset-offsets` resetting one. .ci/run installs
// kcat, python3-confluent-kafka and python3-kafka; under CI a missing one fails these tests instead
// of skipping them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { freePort, startChildBroker, type ChildBroker } from '../helpers/child-broker.ts';
import { run, runProcess } from '../helpers/cli.ts';
import { startKafkaBroker, type KafkaTestBroker } from '../helpers/kafka.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

const PYTHON = '/usr/bin/python3';
const PY_GROUP = path.resolve('test/interop/kafka/py-group.py');
const hasKcat = spawnSync('kcat', ['-V']).error === undefined;
const hasPython = spawnSync(PYTHON, ['-c', 'import confluent_kafka, kafka']).status === 0;

/** Polls `check` (every 50 ms) until it returns true; fails with `what` and the last state after `ms`. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 90_000, state: () => unknown = () => ''): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(state())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A long-running child whose stdout lines are collected, SIGKILLed at cleanup if still running. */
function spawnCollect(command: string, args: string[]): { child: ChildProcess; lines: () => string[]; stderr: () => string } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, lines: () => out.split('\n').filter((l) => l !== ''), stderr: () => err };
}

async function kcatProduce(bootstrap: string, topic: string, partition: number, values: string[]): Promise<void> {
  const r = await runProcess('kcat', ['-b', bootstrap, '-P', '-t', topic, '-p', String(partition)], { input: values.join('\n') + '\n', timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`kcat -P exited ${r.code}: ${r.stderr}`);
}

/** 10 records per partition of a 3-partition topic, values naming partition and round. */
async function produceRound(bootstrap: string, topic: string, round: number): Promise<string[]> {
  const all: string[] = [];
  for (let p = 0; p < 3; p++) {
    const values = Array.from({ length: 10 }, (_, i) => `r${round}-p${p}-${i}`);
    await kcatProduce(bootstrap, topic, p, values);
    all.push(...values);
  }
  return all;
}

/** A broker child with the Kafka listener, killable with SIGKILL and restartable on the same data dir and ports. */
async function kafkaChild(dataDir: string, edgePort: number, kafkaPort: number): Promise<ChildBroker> {
  return startChildBroker(dataDir, edgePort, {
    TRIBUTARY_LISTENERS__KAFKA__ENABLED: 'true',
    TRIBUTARY_LISTENERS__KAFKA__HOST: '127.0.0.1',
    TRIBUTARY_LISTENERS__KAFKA__PORT: String(kafkaPort),
  });
}

async function killBroker(broker: ChildBroker): Promise<void> {
  broker.child.kill('SIGKILL');
  await broker.exited;
}

async function createTopic(bootstrap: string, topic: string): Promise<void> {
  const admin = new Kafka({ clientId: 'groups-admin', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
  await admin.disconnect();
}

describe.runIf((hasKcat && hasPython) || process.env.CI)('Kafka client groups against the coordinator', () => {
  it('has kcat, python3-confluent-kafka and python3-kafka installed (.ci/run installs them)', () => {
    expect(hasKcat).toBe(true);
    expect(hasPython).toBe(true);
  });

  it('kcat -G: 3 members share a 3-partition topic; one SIGKILLed, the others take its partitions and nothing is skipped; groups describe shows the lag', async () => {
    const b: KafkaTestBroker = await startKafkaBroker();
    const bootstrap = `127.0.0.1:${b.kafkaPort}`;
    b.running.broker.createTopic({ name: 'kg-topic', partitions: 3 });
    const groups = b.running.broker.groups;
    // -u: unbuffered, so what a member printed before it was killed is kept. Short session and
    // commit interval keep the test short; everything else is librdkafka's defaults.
    const members = [1, 2, 3].map(() =>
      spawnCollect('kcat', ['-b', bootstrap, '-G', 'kg', '-u', '-X', 'session.timeout.ms=6000', '-X', 'auto.commit.interval.ms=200', '-X', 'auto.offset.reset=earliest', '-f', '%s\n', 'kg-topic']),
    );
    const owners = () => groups.describeGroup('kg').partitions.filter((p) => p.memberId !== '').length;
    await until('3 members owning the 3 partitions', () => groups.membership('kg')?.state === 'stable' && groups.membership('kg')!.members.length === 3 && owners() === 3, 60_000, () => groups.membership('kg'));
    // Each member owns one partition (range over 3 partitions and 3 members).
    expect(groups.describeGroup('kg').partitions.map((p) => p.memberId).sort()).toEqual(groups.describeGroup('kg').members.map((m) => m.memberId).sort());

    const seen = () => new Set(members.flatMap((m) => m.lines()));
    const first = await produceRound(bootstrap, 'kg-topic', 1);
    await until('round 1 consumed', () => first.every((v) => seen().has(v)));

    members[0]!.child.kill('SIGKILL');
    // Its session expires; the survivors rejoin and split the three partitions.
    await until('2 members owning the 3 partitions', () => groups.membership('kg')?.state === 'stable' && groups.membership('kg')!.members.length === 2 && owners() === 3, 60_000, () => groups.membership('kg'));
    const second = await produceRound(bootstrap, 'kg-topic', 2);
    await until('round 2 consumed by the survivors', () => second.every((v) => seen().has(v)), 90_000, () => second.filter((v) => !seen().has(v)));
    const survivors = new Set(members.slice(1).flatMap((m) => m.lines()));
    expect(second.filter((v) => !survivors.has(v))).toEqual([]);

    // The same group in the edge admin CLI: members, committed offsets and lag 0 once committed.
    await until('offsets committed to the log end', () => groups.describeGroup('kg').partitions.every((p) => p.committed === 20));
    const out = await run(['groups', 'describe', 'kg', '-b', `127.0.0.1:${b.url.port}`, '--json']);
    expect(out.code).toBe(0);
    const described = JSON.parse(out.stdout) as { state: string; members: unknown[]; partitions: { partition: number; committed: number; lag: number }[] };
    expect(described.state).toBe('stable');
    expect(groups.describeGroup('kg').protocol).toBe('range');
    expect(described.members).toHaveLength(2);
    expect(described.partitions.map((p) => [p.partition, p.committed, p.lag])).toEqual([
      [0, 20, 0],
      [1, 20, 0],
      [2, 20, 0],
    ]);
  });

  it('confluent-kafka group: commits, the broker is SIGKILLed and restarted under it, it resumes from its committed offsets (nothing skipped, nothing again)', async () => {
    const dataDir = tempDir();
    const [edgePort, kafkaPort] = [await freePort(), await freePort()];
    let broker = await kafkaChild(dataDir, edgePort, kafkaPort);
    const bootstrap = `127.0.0.1:${kafkaPort}`;
    await createTopic(bootstrap, 'cg-topic');
    const first = await produceRound(bootstrap, 'cg-topic', 1);
    const consumer = spawnCollect(PYTHON, [PY_GROUP, JSON.stringify({ bootstrap, group: 'cg', topic: 'cg-topic', count: 60 })]);
    const values = () => consumer.lines().map((l) => (JSON.parse(l) as { v: string }).v);
    await until('round 1 consumed and committed', () => values().length >= 30, 90_000, () => consumer.stderr());

    await killBroker(broker);
    broker = await kafkaChild(dataDir, edgePort, kafkaPort);
    // Membership died with the broker: the consumer learns it (UNKNOWN_MEMBER_ID) and joins again. A
    // record fetched before that could not be committed and would come again (at least once, as with
    // a Kafka coordinator that moved): round 2 is produced once the group is back.
    await until('the consumer joined again', async () => {
      const r = await run(['groups', 'describe', 'cg', '-b', `127.0.0.1:${edgePort}`, '--json']);
      const d = r.code === 0 ? (JSON.parse(r.stdout) as { state: string; members: unknown[] }) : null;
      return d?.state === 'stable' && d.members.length === 1;
    });
    const second = await produceRound(bootstrap, 'cg-topic', 2);
    const exited = new Promise<number | null>((resolve) => consumer.child.once('exit', (code) => resolve(code)));
    expect(await exited).toBe(0);
    // Every record once: each was committed before it was printed, so after the restart the group
    // resumed exactly where it was.
    expect(values().sort()).toEqual([...first, ...second].sort());

    const out = await run(['groups', 'describe', 'cg', '-b', `127.0.0.1:${edgePort}`, '--json']);
    expect(out.code).toBe(0);
    const described = JSON.parse(out.stdout) as { partitions: { committed: number; lag: number }[] };
    expect(described.partitions.map((p) => [p.committed, p.lag])).toEqual([
      [20, 0],
      [20, 0],
      [20, 0],
    ]);
  });

  it('kafka-python group: commits each record and a new consumer of the group resumes after them', async () => {
    const b = await startKafkaBroker();
    const bootstrap = `127.0.0.1:${b.kafkaPort}`;
    b.running.broker.createTopic({ name: 'kp-topic', partitions: 3 });
    const consume = async (count: number): Promise<string[]> => {
      const r = await runProcess(PYTHON, [PY_GROUP, JSON.stringify({ bootstrap, group: 'kp', topic: 'kp-topic', count, lib: 'kafka-python' })], { timeoutMs: 150_000 });
      if (r.code !== 0) throw new Error(`kafka-python group exited ${r.code}: ${r.stderr}`);
      return r.stdout.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { v: string }).v);
    };
    const first = await produceRound(bootstrap, 'kp-topic', 1);
    expect((await consume(30)).sort()).toEqual([...first].sort());
    const second = await produceRound(bootstrap, 'kp-topic', 2);
    expect((await consume(30)).sort()).toEqual([...second].sort());
    expect(b.running.broker.groups.describeGroup('kp').partitions.map((p) => p.committed)).toEqual([20, 20, 20]);
  });

  it('kafkajs group: commits, the broker is SIGKILLed and restarted, a new consumer of the group resumes from the committed offsets', async () => {
    const dataDir = tempDir();
    const [edgePort, kafkaPort] = [await freePort(), await freePort()];
    let broker = await kafkaChild(dataDir, edgePort, kafkaPort);
    const bootstrap = `127.0.0.1:${kafkaPort}`;
    await createTopic(bootstrap, 'kj-topic');
    const first = await produceRound(bootstrap, 'kj-topic', 1);

    const consumeUntil = async (want: string[]): Promise<string[]> => {
      const kafka = new Kafka({ clientId: 'groups-kafkajs', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 100 } });
      const consumer = kafka.consumer({ groupId: 'kj', sessionTimeout: 6000, heartbeatInterval: 500 });
      onCleanup(() => consumer.disconnect());
      await consumer.connect();
      await consumer.subscribe({ topic: 'kj-topic', fromBeginning: true });
      const got: string[] = [];
      // Each message's offset is committed as it is resolved (autoCommitThreshold 1).
      await consumer.run({ autoCommitThreshold: 1, eachMessage: async ({ message }) => void got.push(message.value!.toString()) });
      await until('kafkajs consumed its records', () => want.every((v) => got.includes(v)), 90_000, () => got.length);
      await consumer.disconnect();
      return got;
    };

    const before = await consumeUntil(first);
    expect(before.sort()).toEqual([...first].sort());
    await killBroker(broker);
    broker = await kafkaChild(dataDir, edgePort, kafkaPort);
    const second = await produceRound(bootstrap, 'kj-topic', 2);
    const after = await consumeUntil(second);
    // Resumed at the committed offsets: round 1 is not read again.
    expect(after.sort()).toEqual([...second].sort());

    // The Kafka group's offsets are reset with the edge CLI, and a Kafka admin reads them back.
    const reset = await run(['groups', 'reset-offsets', 'kj', '--topic', 'kj-topic', '--to-earliest', '--execute', '-b', `127.0.0.1:${edgePort}`]);
    expect(reset.code).toBe(0);
    const admin = new Kafka({ clientId: 'groups-admin', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    onCleanup(() => admin.disconnect());
    const offsets = await admin.fetchOffsets({ groupId: 'kj', topics: ['kj-topic'] });
    expect(offsets[0]!.partitions.map((p) => [p.partition, p.offset]).sort()).toEqual([
      [0, '0'],
      [1, '0'],
      [2, '0'],
    ]);
  });
});
