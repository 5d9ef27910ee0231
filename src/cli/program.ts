// The `tributary` command line: commander wiring, and the one place where failures become exit
// codes. Commands live in their own modules and only throw; this module prints.

import { Command, CommanderError } from 'commander';
import packageJson from '../../package.json' with { type: 'json' };
import { registerBench } from './bench.ts';
import { registerConsume } from './consume.ts';
import { registerDoctor } from './doctor.ts';
import { EXIT_USAGE, reportFailure } from './errors.ts';
import { explainHandshakeFailure } from './listener-probe.ts';
import { registerGroups } from './groups.ts';
import { registerMirror } from './mirror.ts';
import { exitQuietlyOnClosedStdout } from './output.ts';
import { registerPasswd } from './passwd.ts';
import { registerProduce } from './produce.ts';
import { registerStart } from './start.ts';
import { registerTopics } from './topics.ts';

export function createProgram(): Command {
  const program = new Command('tributary')
    .description('Kafka-style streaming broker for edge gateways')
    .version(packageJson.version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    // Settings set here are inherited by every command created with .command() below.
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`tributary: INVALID_REQUEST: ${usageMessage(text)}\n`) })
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      `
Examples:
  $ tributary start --config tributary.yaml
  $ tributary topics create telemetry --partitions 4
  $ printf 'a\\nb\\n' | tributary produce telemetry
  $ tributary consume telemetry --format json --max 10
  $ tributary mirror status --watch
  $ tributary groups describe rules-engine
  $ tributary passwd --username sensor-1
  $ tributary doctor --config /etc/tributary/config.yaml
  $ tributary <command> --help`,
    );
  registerStart(program);
  registerDoctor(program);
  registerTopics(program);
  registerProduce(program);
  registerConsume(program);
  registerGroups(program);
  registerMirror(program);
  registerBench(program);
  registerPasswd(program);
  return program;
}

export async function runCli(argv: string[]): Promise<void> {
  exitQuietlyOnClosedStdout();
  try {
    await createProgram().parseAsync(argv);
  } catch (err) {
    // commander has already printed its own usage errors (through outputError above).
    if (err instanceof CommanderError) process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
    else process.exitCode = reportFailure(await explainHandshakeFailure(err));
  }
}

/** commander's "error: …" text, possibly with a "(Did you mean …?)" line, as one line. */
function usageMessage(text: string): string {
  return text
    .replace(/^error: /, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ');
}
