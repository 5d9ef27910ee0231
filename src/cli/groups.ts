// `tributary groups list|describe|reset-offsets|delete`: kafka-consumer-groups for Tributary, through
// the client's Admin.

import { Option, type Command } from 'commander';
import type { GroupDescription, ResetPlanEntry } from '../client/index.ts';
import { printJson, withAdmin } from './admin.ts';
import { addConnectionOptions, type ConnectionFlags } from './connection.ts';
import { addResetTargetOptions, resetTarget, topicPartition, type ResetTargetFlags } from './reset-target.ts';
import { formatColumns } from './table.ts';

interface ResetFlags extends ConnectionFlags, ResetTargetFlags {
  topic: { topic: string; partition?: number };
  execute?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export function registerGroups(program: Command): void {
  const groups = program
    .command('groups')
    .description('list, describe, reset the offsets of and delete consumer groups')
    .addHelpText(
      'after',
      `
Examples:
  $ tributary groups list
  $ tributary groups describe rules-engine
  $ tributary groups reset-offsets rules-engine --topic telemetry --to-earliest
  $ tributary groups reset-offsets rules-engine --topic telemetry:2 --shift-by -100 --execute
  $ tributary groups delete rules-engine`,
    );

  addConnectionOptions(groups.command('list'))
    .description('list consumer groups (with members or committed offsets) with their state and member count')
    .option('--json', 'print JSON (an array of {group, state, members})')
    .addHelpText('after', '\nExamples:\n  $ tributary groups list\n  $ tributary groups list --json | jq -r ".[].group"')
    .action(async (opts: ConnectionFlags & { json?: boolean }) => {
      const list = await withAdmin(opts, (admin) => admin.listGroups());
      if (opts.json) return printJson(list);
      if (list.length === 0) return void process.stdout.write('no consumer groups\n');
      process.stdout.write(formatColumns(['GROUP', 'STATE', 'MEMBERS'], list.map((g) => [g.group, g.state, String(g.members)])));
    });

  addConnectionOptions(groups.command('describe').argument('<group>', 'group name'))
    .description('show a group: state and members, and per partition the committed offset, the log end, the lag and the owner')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
LAG is LOG-END-OFFSET minus CURRENT-OFFSET, the committed offset ("-" when nothing is committed:
the lag then counts from the partition's first retained record, as it does when retention deleted
past the committed offset). A member with no partitions is a row with "-" for topic and partition.

Examples:
  $ tributary groups describe rules-engine
  $ tributary groups describe rules-engine --json | jq '[.partitions[].lag] | add'`,
    )
    .action(async (group: string, opts: ConnectionFlags & { json?: boolean }) => {
      const d = await withAdmin(opts, (admin) => admin.describeGroup(group));
      if (opts.json) return printJson(d);
      process.stdout.write(`group ${d.group}: ${d.state}, generation ${d.generation}, strategy ${d.strategy}, ${d.members.length} member${d.members.length === 1 ? '' : 's'}\n\n`);
      process.stdout.write(formatColumns(['GROUP', 'TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'LOG-END-OFFSET', 'LAG', 'CONSUMER-ID', 'HOST', 'CLIENT-ID'], describeRows(d)));
    });

  const reset = addConnectionOptions(groups.command('reset-offsets').argument('<group>', 'group name'))
    .description("move a group's committed offsets (only while it has no members); a dry run unless --execute")
    .requiredOption('--topic <topic[:partition]>', 'the topic, or one partition of it', topicPartition);
  // Exactly one target: each conflicts with the others (none at all is refused in the action).
  addResetTargetOptions(reset, 'the committed offset');
  reset
    .addOption(new Option('--dry-run', 'only show what would change (the default)').conflicts('execute'))
    .option('--execute', 'commit the new offsets')
    .option('--json', 'print JSON ({group, executed, partitions: [{topic, partition, previous, offset}]})')
    .addHelpText(
      'after',
      `
PREVIOUS is the committed offset before ("-": none); NEW is where it goes. Kafka's option names work
as they are (--to-earliest, --to-offset 42, --to-datetime 2026-12-01T08:00:00.000, --shift-by -10).
--execute on a group that does not exist yet creates it with these offsets, as Kafka does.

Examples:
  $ tributary groups reset-offsets rules-engine --topic telemetry --to-earliest
  $ tributary groups reset-offsets rules-engine --topic telemetry --to-datetime 2026-12-01T08:00:00.000 --execute
  $ tributary groups reset-offsets rules-engine --topic telemetry:0 --to 1500 --execute`,
    )
    .action(async (group: string, opts: ResetFlags) => {
      const target = resetTarget(opts);
      const execute = opts.execute === true;
      const plan = await withAdmin(opts, (admin) => admin.resetOffsets({ group, topic: opts.topic.topic, partition: opts.topic.partition, target, execute }));
      if (opts.json) return printJson({ group, executed: execute, partitions: plan });
      process.stdout.write(formatColumns(['TOPIC', 'PARTITION', 'PREVIOUS', 'NEW'], plan.map(planRow)));
      process.stderr.write(
        execute ? `reset the offsets of group ${group} on ${plural(plan.length, 'partition')}\n` : 'dry run: nothing changed (add --execute to commit these offsets)\n',
      );
    });

  addConnectionOptions(groups.command('delete').argument('<group>', 'group name'))
    .description('delete a group and its committed offsets (only while it has no members)')
    .addHelpText('after', '\nExamples:\n  $ tributary groups delete rules-engine')
    .action(async (group: string, opts: ConnectionFlags) => {
      await withAdmin(opts, (admin) => admin.deleteGroup(group));
      process.stderr.write(`deleted group ${group}\n`);
    });
}

/** One row per partition; then a row for each member that owns none, as kafka-consumer-groups shows them. */
function describeRows(d: GroupDescription): string[][] {
  const members = new Map(d.members.map((m) => [m.memberId, m]));
  const rows = d.partitions.map((p) => {
    const m = members.get(p.memberId);
    return [d.group, p.topic, String(p.partition), offset(p.committed), String(p.logEndOffset), String(p.lag), m?.memberId ?? '-', m?.host ?? '-', m?.clientId ?? '-'];
  });
  const owners = new Set(d.partitions.map((p) => p.memberId));
  for (const m of d.members) if (!owners.has(m.memberId)) rows.push([d.group, '-', '-', '-', '-', '-', m.memberId, m.host, m.clientId]);
  return rows;
}

function planRow(p: ResetPlanEntry): string[] {
  return [p.topic, String(p.partition), offset(p.previous), String(p.offset)];
}

function offset(n: number): string {
  return n < 0 ? '-' : String(n);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
