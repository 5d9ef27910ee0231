// The last warn, error and fatal log entries, for the status page: a pino destination that keeps a
// bounded ring of parsed lines. It sees every line the logger writes at those levels, the mirror
// thread's too (they are relayed to the main logger), and holds at most statusRecentLogsMax entries
// of at most statusLogTextCharsMax characters each, whatever is logged.

import { limits } from '../limits.ts';

export interface RecentLogEntry {
  /** Unix time in milliseconds. */
  timeMs: number;
  level: 'warn' | 'error' | 'fatal';
  message: string;
  /** The error code when the line carries one (a TributaryError's name, an errno code), else null. */
  code: string | null;
  /** The line's other fields as JSON (listener, topic, client, err…), cut to statusLogTextCharsMax. */
  context: string;
}

const levelNames: Record<number, RecentLogEntry['level']> = { 40: 'warn', 50: 'error', 60: 'fatal' };
/** The same on every line of the process, or said by the fields above. */
const dropped = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name', 'v']);

export class RecentLogs {
  private readonly entries: RecentLogEntry[] = [];

  /** pino's destination interface: one serialized JSON line per call. */
  write(line: string): void {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const level = levelNames[parsed.level as number];
    if (level === undefined) return;
    this.entries.push(toEntry(parsed, level));
    if (this.entries.length > limits.statusRecentLogsMax) this.entries.shift();
  }

  /** Newest first. */
  list(): RecentLogEntry[] {
    return this.entries.slice().reverse();
  }
}

function toEntry(line: Record<string, unknown>, level: RecentLogEntry['level']): RecentLogEntry {
  const context: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(line)) if (!dropped.has(key)) context[key] = value;
  const err = context.err as Record<string, unknown> | undefined;
  // A stack is for the log file; the page shows what happened and where.
  if (err !== null && typeof err === 'object') context.err = { ...err, stack: undefined };
  const code = pickCode(line.code) ?? pickCode(err?.codeName) ?? pickCode(err?.code) ?? pickCode(line.error);
  return {
    timeMs: typeof line.time === 'number' ? line.time : Date.now(),
    level,
    message: cut(typeof line.msg === 'string' ? line.msg : err && typeof err.message === 'string' ? err.message : ''),
    code,
    context: cut(JSON.stringify(context)),
  };
}

function pickCode(value: unknown): string | null {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : null;
}

function cut(text: string): string {
  return text.length <= limits.statusLogTextCharsMax ? text : `${text.slice(0, limits.statusLogTextCharsMax - 1)}…`;
}
