// `tributary topics list|create|describe|alter|delete` through the client's Admin.

import type { Command } from 'commander';
import { formatDuration, formatSize } from '../config/units.ts';
import { limits } from '../limits.ts';
import type { TopicMetadata } from '../protocol/edge/frames.ts';
import { printJson, withAdmin } from './admin.ts';
import { integer, retentionBytes, retentionMs } from './args.ts';
import { addConnectionOptions, type ConnectionFlags } from './connection.ts';
import { UsageError } from './errors.ts';
import { formatColumns } from './table.ts';

export function registerTopics(program: Command): void {
  const topics = program
    .command('topics')
    .description('list, create, describe, alter and delete topics')
    .addHelpText(
      'after',
      `
Examples:
  $ tributary topics list
  $ tributary topics create telemetry --partitions 4 --retention 3d --retention-bytes 2GiB
  $ tributary topics describe telemetry --json
  $ tributary topics alter telemetry --partitions 8 --retention 12h
  $ tributary topics delete telemetry --broker 192.168.1.20:7883`,
    );

  addConnectionOptions(topics.command('list'))
    .description('list topics with partition counts, retention and record counts')
    .option('--json', 'print JSON (an array of topics with their partitions)')
    .addHelpText('after', '\nExamples:\n  $ tributary topics list\n  $ tributary topics list --json | jq -r ".[].name"')
    .action(async (opts: ConnectionFlags & { json?: boolean }) => {
      const list = await withAdmin(opts, (admin) => admin.listTopics());
      if (opts.json) return printJson(list);
      if (list.length === 0) return void process.stdout.write('no topics\n');
      process.stdout.write(
        formatColumns(
          ['TOPIC', 'PARTITIONS', 'RECORDS', 'RETENTION', 'RETENTION-BYTES'],
          list.map((t) => [t.name, String(t.partitions.length), String(recordCount(t)), showRetentionMs(t.retentionMs), showRetentionBytes(t.retentionBytes)]),
        ),
      );
    });

  addConnectionOptions(topics.command('create').argument('<name>', 'topic name: 1-249 of a-z A-Z 0-9 . _ -'))
    .description('create a topic')
    .option('-p, --partitions <n>', 'partition count (default: topics.defaultPartitions of the broker)', integer(1, limits.partitionsMax))
    .option('--retention <duration>', 'delete records older than this: 30m, 12h, 7d, or -1 to keep them (default: the broker default)', retentionMs)
    .option('--retention-bytes <size>', 'keep at most this much per partition: 512MiB, 1GiB, or -1 for no limit (default: the broker default)', retentionBytes)
    .addHelpText('after', '\nExamples:\n  $ tributary topics create telemetry\n  $ tributary topics create alarms --partitions 2 --retention -1\n  $ tributary topics create logs --retention 1d --retention-bytes 256MiB')
    .action(async (name: string, opts: ConnectionFlags & { partitions?: number; retention?: number; retentionBytes?: number }) => {
      await withAdmin(opts, (admin) => admin.createTopic({ name, partitions: opts.partitions, retentionMs: opts.retention, retentionBytes: opts.retentionBytes }));
      process.stderr.write(`created topic ${name}\n`);
    });

  addConnectionOptions(topics.command('describe').argument('<name>', 'topic name'))
    .description('show a topic: retention and, per partition, logStartOffset and nextOffset')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  $ tributary topics describe telemetry\n  $ tributary topics describe telemetry --json')
    .action(async (name: string, opts: ConnectionFlags & { json?: boolean }) => {
      printTopic(await withAdmin(opts, (admin) => admin.describeTopic(name)), opts.json);
    });

  addConnectionOptions(topics.command('alter').argument('<name>', 'topic name'))
    .description('raise the partition count and/or change the retention of a topic, then show it as describe does')
    .option('-p, --partitions <n>', 'the new partition count: not below the current one (existing partitions keep their records)', integer(1, limits.partitionsMax))
    .option('--retention <duration>', 'delete records older than this: 30m, 12h, 7d, or -1 to keep them', retentionMs)
    .option('--retention-bytes <size>', 'keep at most this much per partition: 512MiB, 1GiB, or -1 for no limit', retentionBytes)
    .option('--json', 'print the altered topic as JSON')
    .addHelpText(
      'after',
      `
Any of --partitions, --retention and --retention-bytes, at least one; what is not given stays as it
is. A partition count below the current one is refused (INVALID_REQUEST), as Kafka refuses to
shrink a topic. New retention limits apply to the records already stored: the broker deletes what
they exclude right after the change, and keeps them across restarts.

Examples:
  $ tributary topics alter telemetry --partitions 8
  $ tributary topics alter telemetry --retention 12h --retention-bytes 256MiB
  $ tributary topics alter alarms --retention -1 --json`,
    )
    .action(async (name: string, opts: ConnectionFlags & { partitions?: number; retention?: number; retentionBytes?: number; json?: boolean }) => {
      if (opts.partitions === undefined && opts.retention === undefined && opts.retentionBytes === undefined)
        throw new UsageError('topics alter needs at least one of --partitions, --retention, --retention-bytes');
      const topic = await withAdmin(opts, async (admin) => {
        await admin.alterTopic(name, { partitions: opts.partitions, retentionMs: opts.retention, retentionBytes: opts.retentionBytes });
        return admin.describeTopic(name);
      });
      process.stderr.write(`altered topic ${name}\n`);
      printTopic(topic, opts.json);
    });

  addConnectionOptions(topics.command('delete').argument('<name>', 'topic name'))
    .description('delete a topic and all its records')
    .addHelpText('after', '\nExamples:\n  $ tributary topics delete telemetry')
    .action(async (name: string, opts: ConnectionFlags) => {
      await withAdmin(opts, (admin) => admin.deleteTopic(name));
      process.stderr.write(`deleted topic ${name}\n`);
    });
}

function printTopic(topic: TopicMetadata, json: boolean | undefined): void {
  if (json) return printJson(topic);
  process.stdout.write(
    `topic ${topic.name}: ${topic.partitions.length} partitions, retention ${showRetentionMs(topic.retentionMs)}, ` +
      `retention-bytes ${showRetentionBytes(topic.retentionBytes)}, ${recordCount(topic)} records\n\n`,
  );
  process.stdout.write(
    formatColumns(
      ['PARTITION', 'LOG-START-OFFSET', 'NEXT-OFFSET', 'RECORDS'],
      topic.partitions.map((p) => [String(p.partition), String(p.logStartOffset), String(p.nextOffset), String(p.nextOffset - p.logStartOffset)]),
    ),
  );
}

function recordCount(topic: TopicMetadata): number {
  return topic.partitions.reduce((sum, p) => sum + p.nextOffset - p.logStartOffset, 0);
}

function showRetentionMs(ms: number): string {
  return ms === -1 ? 'unlimited' : formatDuration(ms);
}

function showRetentionBytes(bytes: number): string {
  return bytes === -1 ? 'unlimited' : formatSize(bytes);
}
