// `tributary topics alter`: grows partitions, changes retention end to end (stored in LMDB, kept
// across a restart, enforced on the records already stored), and refuses what Kafka refuses.
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { Admin, Producer } from '../../src/client/index.ts';
import { freePort, startChildBroker, type ChildBroker } from '../helpers/child-broker.ts';
import { lines, run } from '../helpers/cli.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

interface Described {
  name: string;
  retentionMs: number;
  retentionBytes: number;
  partitions: { partition: number; logStartOffset: number; nextOffset: number }[];
}

async function stop(broker: ChildBroker): Promise<void> {
  broker.child.kill('SIGTERM');
  expect(await broker.exited).toBe(0);
}

describe('tributary topics alter', () => {
  it('grows partitions and changes retention: shown after the change, kept across a restart, and enforced on stored records', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    let broker = await startChildBroker(dataDir, port);
    const env = { TRIBUTARY_BROKER: `127.0.0.1:${port}` };
    const cli = (args: string[]) => run(args, { env });
    const describeJson = async () => JSON.parse((await cli(['topics', 'describe', 'alt', '--json'])).stdout) as Described;

    expect((await cli(['topics', 'create', 'alt', '--partitions', '2', '--retention', '7d', '--retention-bytes', '-1'])).code).toBe(0);
    const producer = await Producer.connect({ port });
    const twoDaysAgo = Date.now() - 2 * 86_400_000;
    // One batch per send (each awaited): three two days old in partition 0, five of about 1070 bytes in partition 1.
    for (let i = 0; i < 3; i++) await producer.send({ topic: 'alt', partition: 0, value: `old-${i}`, timestampMs: twoDaysAgo });
    for (let i = 0; i < 5; i++) await producer.send({ topic: 'alt', partition: 1, value: 'x'.repeat(1000) });
    await producer.close();

    const grown = await cli(['topics', 'alter', 'alt', '--partitions', '4']);
    expect(grown.code).toBe(0);
    expect(grown.stderr).toBe('altered topic alt\n');
    expect(lines(grown.stdout)[0]).toBe('topic alt: 4 partitions, retention 7d, retention-bytes unlimited, 8 records');
    expect(grown.stdout).toMatch(/^3\s+0\s+0\s+0$/m);

    // A day's retention: the two-day-old records go, the fresh ones stay.
    const byAge = await cli(['topics', 'alter', 'alt', '--retention', '1d']);
    expect(byAge.code).toBe(0);
    expect(lines(byAge.stdout)[0]).toMatch(/^topic alt: 4 partitions, retention 1d, retention-bytes unlimited, \d records$/);
    await expect.poll(async () => (await describeJson()).partitions[0].logStartOffset, { timeout: 15_000 }).toBe(3);
    expect((await describeJson()).partitions[1].logStartOffset).toBe(0);

    // 2 KiB per partition: Kafka's rule drops the oldest batches while what remains is still at least
    // the limit, so of five ~1070-byte batches the last two stay.
    const bySize = await cli(['topics', 'alter', 'alt', '--retention-bytes', '2KiB', '--json']);
    expect(bySize.code).toBe(0);
    expect(JSON.parse(bySize.stdout)).toMatchObject({ name: 'alt', retentionMs: 86_400_000, retentionBytes: 2048 });
    await expect.poll(async () => (await describeJson()).partitions[1].logStartOffset, { timeout: 15_000 }).toBe(3);
    expect((await describeJson()).partitions[1].nextOffset).toBe(5);

    await stop(broker);
    // Restarted with its Kafka listener on: Kafka clients read the same stored retention.
    const kafkaPort = await freePort();
    broker = await startChildBroker(dataDir, port, { TRIBUTARY_LISTENERS__KAFKA__ENABLED: 'true', TRIBUTARY_LISTENERS__KAFKA__HOST: '127.0.0.1', TRIBUTARY_LISTENERS__KAFKA__PORT: String(kafkaPort) });
    const restarted = await describeJson();
    expect(restarted).toMatchObject({ retentionMs: 86_400_000, retentionBytes: 2048 });
    expect(restarted.partitions.map((p) => [p.logStartOffset, p.nextOffset])).toEqual([
      [3, 3],
      [3, 5],
      [0, 0],
      [0, 0],
    ]);
    expect((await cli(['topics', 'list'])).stdout).toMatch(/^alt\s+4\s+2\s+1d\s+2KiB$/m);
    const kafkaAdmin = new Kafka({ brokers: [`127.0.0.1:${kafkaPort}`], logLevel: logLevel.NOTHING }).admin();
    await kafkaAdmin.connect();
    onCleanup(() => kafkaAdmin.disconnect());
    const configs = await kafkaAdmin.describeConfigs({ resources: [{ type: 2, name: 'alt' }], includeSynonyms: false });
    expect(Object.fromEntries(configs.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]))).toMatchObject({ 'retention.ms': '86400000', 'retention.bytes': '2048' });
    await kafkaAdmin.disconnect();

    // Back to unlimited, in one call with a grow.
    const both = await cli(['topics', 'alter', 'alt', '--partitions', '5', '--retention', '-1', '--retention-bytes', '-1', '--json']);
    expect(JSON.parse(both.stdout)).toMatchObject({ retentionMs: -1, retentionBytes: -1, partitions: expect.arrayContaining([expect.objectContaining({ partition: 4 })]) });
    await stop(broker);
  }, 90_000);

  it('refuses an unknown topic and a lower partition count (exit 1), and bad or missing values (exit 2), changing nothing', async () => {
    const broker = await startChildBroker(tempDir(), await freePort());
    const env = { TRIBUTARY_BROKER: `127.0.0.1:${broker.port}` };
    const cli = (args: string[]) => run(args, { env });
    const admin = await Admin.connect({ port: broker.port });
    onCleanup(() => admin.close());
    await admin.createTopic({ name: 'fixed', partitions: 3, retentionMs: 3_600_000, retentionBytes: -1 });

    const unknown = await cli(['topics', 'alter', 'nope', '--partitions', '4']);
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(lines(unknown.stderr)).toEqual(['tributary: UNKNOWN_TOPIC: unknown topic nope']);
    expect(await admin.listTopics()).toHaveLength(1);

    const shrink = await cli(['topics', 'alter', 'fixed', '--partitions', '2', '--retention', '1d']);
    expect(shrink).toMatchObject({ code: 1, stdout: '' });
    expect(lines(shrink.stderr)).toEqual(['tributary: INVALID_REQUEST: topic fixed has 3 partitions; the count can only grow']);

    for (const [args, message] of [
      [[], /^tributary: INVALID_REQUEST: topics alter needs at least one of --partitions, --retention, --retention-bytes$/],
      [['--partitions', '0'], /^tributary: INVALID_REQUEST: .*--partitions.*expected an integer 1\.\.1024/],
      [['--partitions', '2000'], /^tributary: INVALID_REQUEST: .*--partitions.*expected an integer 1\.\.1024/],
      [['--retention', 'forever'], /^tributary: INVALID_REQUEST: .*--retention.*expected -1 \(unlimited\) or a duration/],
      [['--retention-bytes', 'lots'], /^tributary: INVALID_REQUEST: .*--retention-bytes.*expected -1 \(unlimited\) or a size/],
    ] as [string[], RegExp][]) {
      const r = await cli(['topics', 'alter', 'fixed', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(lines(r.stderr)).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(message);
    }
    expect(await admin.describeTopic('fixed')).toMatchObject({ retentionMs: 3_600_000, retentionBytes: -1, partitions: { length: 3 } });
  }, 60_000);
});
