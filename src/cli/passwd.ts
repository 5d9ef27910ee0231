// `tributary passwd`: turns a password into the scrypt hash that auth.users[].passwordHash holds, and
// the SCRAM-SHA-256 and SCRAM-SHA-512 credentials of auth.users[].scramSha256 and .scramSha512 (Kafka
// SASL SCRAM cannot use a scrypt hash), so no plain password ever sits in a config file. On a terminal it prompts twice without echo;
// otherwise it reads the first line of stdin (for scripts: `printf %s "$PW" | tributary passwd`).

import { Option, type Command } from 'commander';
import { makeScramCredential, SCRAM, SCRAM_HASHES } from '../auth/scram-credential.ts';
import { hashPassword } from '../auth/password.ts';
import { UsageError } from './errors.ts';
import { writeOut } from './output.ts';

export function registerPasswd(program: Command): void {
  program
    .command('passwd')
    .description('hash a password for a user of MQTT and Kafka (auth.users in the config)')
    .option('-u, --username <name>', 'print a whole auth.users entry (YAML) for this username: passwordHash, scramSha256 and scramSha512')
    .addOption(
      new Option('--scram [mechanism]', 'print the SCRAM credential (auth.users[].scramSha256, or scramSha512 for SCRAM-SHA-512) instead of the scrypt hash').choices(
        SCRAM_HASHES.map((h) => SCRAM[h].mechanism),
      ),
    )
    .addHelpText(
      'after',
      `
Prints scrypt$N$r$p$salt$hash (salted scrypt, N=16384, r=8, p=1). Each run picks a new salt, so the
same password gives a different string every time; any of them verifies. With --username, the entry
also holds scramSha256: scram-sha-256$4096$salt$StoredKey$ServerKey and scramSha512:
scram-sha-512$4096$salt$StoredKey$ServerKey, which Kafka clients using SASL SCRAM-SHA-256 and
SCRAM-SHA-512 need (PLAIN and MQTT use the scrypt hash). --scram alone prints the SCRAM-SHA-256
credential; --scram SCRAM-SHA-512 the SCRAM-SHA-512 one.

Examples:
  $ tributary passwd
  $ printf '%s' "$SENSOR_PASSWORD" | tributary passwd --username sensor-1 >> users.yaml
  $ printf '%s' "$SENSOR_PASSWORD" | tributary passwd --scram
  $ printf '%s' "$SENSOR_PASSWORD" | tributary passwd --scram SCRAM-SHA-512`,
    )
    .action(async (opts: { username?: string; scram?: true | string }) => {
      const password = process.stdin.isTTY ? await promptTwice() : firstLine(await readStdin());
      if (password.length === 0) throw new UsageError(EMPTY_PASSWORD);
      if (opts.scram !== undefined && opts.username === undefined)
        return writeOut(`${await makeScramCredential(password, opts.scram === 'SCRAM-SHA-512' ? 'sha512' : 'sha256')}\n`);
      const hash = await hashPassword(password);
      if (opts.username === undefined) return writeOut(`${hash}\n`);
      const scram = await Promise.all(SCRAM_HASHES.map(async (h) => `  ${SCRAM[h].userKey}: ${await makeScramCredential(password, h)}\n`));
      await writeOut(`- username: ${JSON.stringify(opts.username)}\n  passwordHash: ${hash}\n${scram.join('')}`);
    });
}

/** Also the answer to end of input before any password, piped or typed (Ctrl-D): either way none was given. */
const EMPTY_PASSWORD = 'the password is empty';

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

/**
 * Reads one line from the terminal in raw mode, echoing nothing. Raw mode hands every key to us, so
 * the terminal's own meanings are redone here: Ctrl-D on an empty line is end of input, Ctrl-C
 * exits 130 as the SIGINT it stands for would.
 */
function prompt(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    // Raw before the prompt shows: keys typed once it is up must not reach the cooked line
    // discipline, which would echo them and act on Ctrl-C and Ctrl-D itself.
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    process.stderr.write(question);
    stdin.resume();
    // Code points, so Backspace removes a whole character even outside the BMP.
    const chars: string[] = [];
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          finish();
          return resolve(chars.join(''));
        }
        if (ch === '\u0003') {
          finish();
          process.exit(130);
        }
        if (ch === '\u0004') {
          // Mid-line it is dropped: submitting half a password would only fail the comparison later.
          if (chars.length > 0) continue;
          finish();
          return reject(new UsageError(EMPTY_PASSWORD));
        }
        if (ch === '\u007f' || ch === '\b') chars.pop();
        else chars.push(ch);
      }
    };
    stdin.on('data', onData);
  });
}
