// How the CLI fails: one line `tributary: <CODE>: <message>` on stderr per problem, exit 2 for
// usage and config errors (fix the command line or the file), 1 for runtime errors (retry may
// help). Codes come from src/errors.ts, or are the errno name for system errors (ECONNREFUSED).

import { isTributaryError } from '../errors.ts';

/** The command line asks for something impossible; reported as INVALID_REQUEST with exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A system error (ECONNREFUSED, …) away from the edge listener: its message says what to check instead. */
export class ConnectError extends Error {
  override readonly name = 'ConnectError';
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

interface Failure {
  code: string;
  /** One line each. */
  lines: string[];
  exitCode: typeof EXIT_RUNTIME | typeof EXIT_USAGE;
}

function describeFailure(err: unknown): Failure {
  if (err instanceof UsageError) return { code: 'INVALID_REQUEST', lines: [oneLine(err.message)], exitCode: EXIT_USAGE };
  if (isTributaryError(err, 'INVALID_CONFIG')) return { code: err.codeName, lines: err.message.split('\n'), exitCode: EXIT_USAGE };
  if (err instanceof ConnectError) return { code: err.code, lines: [oneLine(err.message)], exitCode: EXIT_RUNTIME };
  const message = err instanceof Error ? err.message : String(err);
  // The client reports a failed connect as UNKNOWN with the system error as its cause.
  const errno = errnoCode(err) ?? (isTributaryError(err, 'UNKNOWN') ? errnoCode(err.cause) : undefined);
  if (errno !== undefined) return { code: errno, lines: [oneLine(message) + (hints[errno] ?? '')], exitCode: EXIT_RUNTIME };
  if (isTributaryError(err)) return { code: err.codeName, lines: [oneLine(message)], exitCode: EXIT_RUNTIME };
  return { code: 'UNKNOWN', lines: [oneLine(message)], exitCode: EXIT_RUNTIME };
}

const hints: Record<string, string> = {
  ECONNREFUSED: ' (is the broker running? point --broker or $TRIBUTARY_BROKER at its edge listener)',
};

function errnoCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? code : undefined;
}

/** Prints the failure and returns its exit code. */
export function reportFailure(err: unknown): number {
  const f = describeFailure(err);
  process.stderr.write(f.lines.map((line) => `tributary: ${f.code}: ${line}\n`).join(''));
  return f.exitCode;
}

function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join('; ');
}
