// The configuration schema. Every key is optional in a file; parsing fills in the defaults, so the
// `Config` type is fully populated. config/default.yaml and src/config/README.md mirror this file
// and tests keep them in step.
//
// Adding a section: write `mySection: section(z.strictObject({ ... }))` below. Use `section()` for
// every nested object: it makes the object optional and tolerates an empty YAML section (null), and
// the loader relies on it (`sectionShape`) to derive env variable names and did-you-mean hints.
// Leaf schemas carry their own "expected ..." text where the zod default would be unclear.

import { z } from 'zod';
import { limits } from '../limits.ts';
import { formatDuration, formatSize, parseDuration, parseSize } from './units.ts';

/** A nested object of settings; `null` (a YAML key with everything below it commented out) means `{}`. */
function section<Shape extends z.ZodRawShape>(object: z.ZodObject<Shape, z.core.$strict>) {
  return z.preprocess((value) => value ?? {}, object);
}

/** The keys of a schema made by `section()` (or the root object); undefined for leaves. */
export function sectionShape(schema: z.core.$ZodType): z.core.$ZodShape | undefined {
  if (schema instanceof z.ZodObject) return schema.shape;
  if (schema instanceof z.ZodPipe) return sectionShape(schema.out);
  return undefined;
}

function intRange(min: number, max: number) {
  const expected = { error: `an integer ${min}..${max}` };
  return z.int(expected).min(min, expected).max(max, expected);
}

function nonEmptyString(what: string) {
  const expected = { error: what };
  return z.string(expected).min(1, expected);
}

interface QuantityRange {
  min: number;
  max?: number;
  /** Whether -1 ("unlimited") is accepted. */
  unlimited?: boolean;
}

function rangeText(min: number, max: number | undefined, format: (n: number) => string): string {
  if (max !== undefined) return ` from ${format(min)} to ${format(max)}`;
  if (min > 1) return ` of at least ${format(min)}`;
  return min === 1 ? ' above 0' : '';
}

/** A size or duration field: a number or a human string in, a plain number (bytes or ms) out. */
function quantity(
  kind: string,
  examples: string,
  parse: (value: number | string) => number | undefined,
  format: (n: number) => string,
  { min, max, unlimited = false }: QuantityRange,
) {
  const expected = `${unlimited ? '-1 (unlimited) or ' : ''}${kind}${rangeText(min, max, format)}, written like ${examples}`;
  return z.union([z.number(), z.string()], { error: expected }).transform((value, ctx) => {
    if (unlimited && value === -1) return -1;
    const parsed = parse(value);
    if (parsed === undefined || parsed < min || (max !== undefined && parsed > max)) {
      ctx.issues.push({ code: 'custom', message: expected, input: value });
      return z.NEVER;
    }
    return parsed;
  });
}

const size = (range: QuantityRange) => quantity('a size', '512KiB, 64MiB, 10MB or 4096', parseSize, formatSize, range);
const duration = (range: QuantityRange) =>
  quantity('a duration', '500ms, 30s, 5m, 3h, 7d or 1000', parseDuration, formatDuration, range);

// Intervals feed setTimeout, which fires at once for anything above 2^31-1 ms (~24.8 days); a day
// is already far longer than any sensible keepalive or retention check.
const timerMsMax = 86_400_000;

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const host = () => nonEmptyString('a host name or IP address');

export const configSchema = z.strictObject({
  dataDir: nonEmptyString('a directory path').default('./data'),

  log: section(
    z.strictObject({
      level: z.enum(logLevels).default('info'),
      pretty: z.union([z.literal('auto'), z.boolean()], { error: 'auto, true or false' }).default('auto'),
    }),
  ),

  listeners: section(
    z.strictObject({
      edge: section(
        z.strictObject({
          enabled: z.boolean().default(true),
          host: host().default('0.0.0.0'),
          port: intRange(0, 65535).default(7883),
          token: nonEmptyString('a non-empty string or null').nullable().default(null),
          // HELLO itself must fit in a frame, hence the lower bound.
          frameBytesMax: size({ min: limits.edgeHelloBytesMax, max: limits.edgeFrameBytesMax }).default(
            limits.edgeFrameBytesDefault,
          ),
          keepaliveMs: duration({ min: 1, max: timerMsMax }).default(60_000),
          connectionsMax: intRange(1, limits.edgeConnectionsMax).default(1000),
        }),
      ),
      http: section(
        z.strictObject({
          enabled: z.boolean().default(true),
          host: host().default('0.0.0.0'),
          port: intRange(0, 65535).default(8088),
        }),
      ),
    }),
  ),

  topics: section(
    z.strictObject({
      autoCreate: z.boolean().default(true),
      defaultPartitions: intRange(1, limits.partitionsMax).default(1),
      defaultRetentionMs: duration({ min: 1, unlimited: true }).default(7 * 86_400_000),
      defaultRetentionBytes: size({ min: 1, unlimited: true }).default(-1),
    }),
  ),

  storage: section(
    z
      .strictObject({
        diskBudgetBytes: size({ min: 1, unlimited: true }).default(-1),
        diskBudgetPolicy: z.enum(['reject-new', 'drop-oldest']).default('reject-new'),
        minFreeDiskBytes: size({ min: 0 }).default(64 * 2 ** 20),
        mapSizeBytes: size({ min: 2 ** 20 }).default(2 ** 30),
        maxMapSizeBytes: size({ min: 2 ** 20, unlimited: true }).default(-1),
        // Below one maximal append, a large batch could never be queued and would be THROTTLED forever.
        commitQueueBytesMax: size({ min: limits.appendBytesMax }).default(limits.commitQueueBytesMax),
      })
      .superRefine((storage, ctx) => {
        if (storage.maxMapSizeBytes !== -1 && storage.maxMapSizeBytes < storage.mapSizeBytes) {
          ctx.addIssue({
            code: 'custom',
            path: ['maxMapSizeBytes'],
            input: storage.maxMapSizeBytes,
            message: `-1 (unlimited) or a size not below storage.mapSizeBytes (${formatSize(storage.mapSizeBytes)})`,
          });
        }
      }),
  ),

  retention: section(
    z.strictObject({
      checkIntervalMs: duration({ min: 1, max: timerMsMax }).default(30_000),
      // Each step runs in one write transaction; bigger steps stall producers for longer.
      batchesPerStep: intRange(1, 100_000).default(limits.retentionBatchesPerStep),
    }),
  ),
});

export type Config = z.output<typeof configSchema>;
