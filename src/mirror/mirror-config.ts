// The settings every mirror has, whatever its sink: the engine's (mirror.ts) topics, window, batch,
// rate limit, rejection policy, timeouts and backoff. Each sink's schema (sinks/*/config.ts) adds its
// own keys to these and picks its own window bounds; sinks/configs.ts joins them into one union keyed
// on `sink`.

import { z } from 'zod';
import { duration, fields, intRange, isPlainObject, section, size, timerMsMax } from '../config/fields.ts';
import { parseDateTime } from '../format/date-time.ts';

const mirrorName = z
  .string({ error: 'a mirror name [a-zA-Z0-9._-]{1,64}' })
  .regex(/^[a-zA-Z0-9._-]{1,64}$/, { error: 'a mirror name [a-zA-Z0-9._-]{1,64}' });

// A log topic name, or a pattern where * stands for any run of name characters (names never hold *).
const topicSelector = z
  .string({ error: 'a log topic name or a pattern with * (e.g. sensors.*)' })
  .regex(/^[a-zA-Z0-9._*-]{1,249}$/, { error: 'a log topic name or a pattern with * (e.g. sensors.*)' });

const START_FROM_EXPECTED = 'earliest, latest, a date-time YYYY-MM-DDTHH:mm:SS.sss (UTC unless it ends with Z, +hh:mm or -hh:mm) or Unix epoch milliseconds';

/**
 * Where a partition with no cursor starts when the mirror starts: `earliest` (the first retained
 * record), `latest` (the log end) or a time (Unix ms out: the first record at or after it).
 */
export type StartFrom = 'earliest' | 'latest' | number;

const startFrom = z.union([z.string(), z.number()], { error: START_FROM_EXPECTED }).transform((value, ctx): StartFrom => {
  if (value === 'earliest' || value === 'latest') return value;
  // Up to Date's own limit: a later time would never be reached by a record.
  const ms = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : parseDateTime(value);
  if (ms !== null && Number.isSafeInteger(ms) && ms >= 0 && ms <= 8.64e15) return ms;
  ctx.issues.push({ code: 'custom', message: START_FROM_EXPECTED, input: value });
  return z.NEVER;
});

/** What a sink decides about the engine's keys: how many sends may be in flight. */
export interface EngineDefaults {
  windowMax: { max: number; default: number };
}

export function engineShape(defaults: EngineDefaults) {
  return {
    name: mirrorName,
    topics: z.array(topicSelector, { error: 'a list of log topic names or patterns' }).min(1, { error: 'at least one log topic name or pattern' }),
    /** Topic name or pattern → priority; higher drains first. Topics not listed have priority 0. */
    priorities: z.record(topicSelector, intRange(-1000, 1000), { error: 'a mapping of topic names or patterns to integers -1000..1000' }).default({}),
    startFrom: startFrom.default('earliest'),
    windowMax: intRange(1, defaults.windowMax.max).default(defaults.windowMax.default),
    // Bytes of records in flight (as the sink counts them); bounds memory when records are big.
    windowBytesMax: size({ min: 64 * 1024, max: 1024 * 1024 * 1024 }).default(16 * 1024 * 1024),
    batch: section(
      z.strictObject({
        // Log bytes one partition reads and hands to the sink at a time (Kafka's batch.size).
        bytesMax: size({ min: 1024, max: 4 * 1024 * 1024 }).default(64 * 1024),
        // After a partial batch, wait this long for more records before publishing (Kafka's linger.ms).
        lingerMs: duration({ min: 0, max: 60_000 }).default(0),
      }),
    ),
    // Upstream bytes per second over all the mirror's partitions, as the sink counts them; -1: unlimited.
    rateLimitBytesPerSec: size({ min: 1, unlimited: true }).default(-1),
    /** What a record the upstream refuses for good (not authorized, too large) does to the mirror. */
    onRejected: z.enum(['skip', 'stop'], { error: 'skip (count it and go on) or stop (fail the mirror until resumed)' }).default('skip'),
    connectTimeoutMs: duration({ min: 1, max: timerMsMax }).default(10_000),
    // Sends with no acknowledgement for this long mean a dead link: reconnect and resend.
    ackTimeoutMs: duration({ min: 10, max: timerMsMax }).default(30_000),
    backoff: section(
      z.strictObject({
        initialMs: duration({ min: 1, max: timerMsMax }).default(500),
        maxMs: duration({ min: 1, max: timerMsMax }).default(30_000),
      }),
    ),
  };
}

export type IssueAt = (path: PropertyKey[], input: unknown, message: string) => void;

/** Cross-field checks of the engine's keys, on a mirror that may not have parsed (see fields()). */
export function engineProblems(m: Record<string, unknown>, issue: IssueAt): void {
  const backoff = fields(m.backoff);
  if (typeof backoff.maxMs === 'number' && typeof backoff.initialMs === 'number' && backoff.maxMs < backoff.initialMs)
    issue(['backoff', 'maxMs'], backoff.maxMs, 'a duration not below backoff.initialMs');
  if (isPlainObject(m.priorities) && Array.isArray(m.topics))
    for (const selector of Object.keys(m.priorities)) if (!m.topics.includes(selector)) issue(['priorities', selector], selector, 'a name or pattern listed in topics');
}
