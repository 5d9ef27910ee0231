// `tributary bench`: the benchmarks of src/bench, from the bundle, with no test framework.

import { InvalidArgumentError, type Command } from 'commander';
import { checkBrokerCpus } from '../bench/broker-cpus.ts';
import { benchNames, type BenchName } from '../bench/names.ts';

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('measure append/read, codec, end-to-end throughput, ack latency, broker memory and consumer groups on this machine')
    .option('--only <names>', `comma-separated subset of: ${benchNames.join(', ')}`, only, [...benchNames])
    .option('--quick', 'short runs: a smoke test of about half a minute, not figures to quote')
    .option('--json', 'print machine-readable results')
    .option('--broker-cpus <list>', 'run every broker child process under taskset -c LIST (e.g. 0); load generators and mosquitto stay unpinned', brokerCpus)
    .addHelpText(
      'after',
      `
Socket benchmarks start a broker in a child process on 127.0.0.1 with a temp data dir, removed
afterwards. Figures are printed beside their targets; a missed target never fails the command.

Examples:
  $ tributary bench
  $ tributary bench --quick --only codec,append
  $ tributary bench --only edge-1,edge-4,latency --json
  $ tributary bench --only group-rebalance,group-commit,group-consume
  $ tributary bench --only edge-1,mqtt --broker-cpus 0`,
    )
    .action(async (opts: { only: readonly BenchName[]; quick?: boolean; json?: boolean; brokerCpus?: string }) => {
      const { runBench } = await import('../bench/run.ts');
      process.exitCode = await runBench({ only: opts.only, quick: opts.quick === true, json: opts.json === true, brokerCpus: opts.brokerCpus ?? null });
    });
}

function only(text: string): BenchName[] {
  const names = text.split(',').map((n) => n.trim()).filter((n) => n !== '');
  const unknown = names.filter((n) => !(benchNames as readonly string[]).includes(n));
  if (names.length === 0 || unknown.length > 0) throw new InvalidArgumentError(`unknown benchmark ${unknown.join(', ') || '(none given)'}; choose from ${benchNames.join(', ')}`);
  return names as BenchName[];
}

function brokerCpus(text: string): string {
  try {
    return checkBrokerCpus(text.trim());
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}
