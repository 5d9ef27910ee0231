// `tributary passwd`: turns a password into the scrypt hash that auth.users[].passwordHash holds, so
// no plain password ever sits in a config file. On a terminal it prompts twice without echo;
// otherwise it reads the first line of stdin (for scripts: `printf %s "$PW" | tributary passwd`).

import type { Command } from 'commander';
import { hashPassword } from '../listeners/mqtt/auth.ts';
import { UsageError } from './errors.ts';
import { writeOut } from './output.ts';

export function registerPasswd(program: Command): void {
  program
    .command('passwd')
    .description('hash a password for an MQTT user (auth.users in the config)')
    .option('-u, --username <name>', 'print a whole auth.users entry (YAML) for this username')
    .addHelpText(
      'after',
      `
Prints scrypt$N$r$p$salt$hash (salted scrypt, N=16384, r=8, p=1). Each run picks a new salt, so the
same password gives a different string every time; any of them verifies.

Examples:
  $ tributary passwd
  $ printf '%s' "$SENSOR_PASSWORD" | tributary passwd --username sensor-1 >> users.yaml`,
    )
    .action(async (opts: { username?: string }) => {
      const password = process.stdin.isTTY ? await promptTwice() : firstLine(await readStdin());
      if (password.length === 0) throw new UsageError('the password is empty');
      const hash = await hashPassword(password);
      await writeOut(opts.username === undefined ? `${hash}\n` : `- username: ${JSON.stringify(opts.username)}\n  passwordHash: ${hash}\n`);
    });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function firstLine(text: string): string {
  return text.split('\n')[0].replace(/\r$/, '');
}

async function promptTwice(): Promise<string> {
  const first = await prompt('Password: ');
  const second = await prompt('Again: ');
  if (first !== second) throw new UsageError('the two passwords differ');
  return first;
}

/** Reads one line from the terminal in raw mode, echoing nothing. Ctrl-C aborts. */
function prompt(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let text = '';
    const finish = (err: Error | null) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish(null);
        if (ch === '\u0003') return finish(new UsageError('cancelled'));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}
