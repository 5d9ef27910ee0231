// Building blocks of the config schema: sections, bounded numbers, sizes and durations with their
// "expected ..." texts, and helpers for cross-field checks. The root schema (schema.ts) and the mirror
// sinks' own schemas (src/mirror/sinks/*/config.ts) share them.

import { z } from 'zod';
import { formatDuration, formatSize, parseDuration, parseSize } from './units.ts';

/**
 * A nested object of settings; `null` (a YAML key with everything below it commented out) means `{}`.
 * The object may rewrite its keys after validation (an old key name folded into the new one).
 */
export function section<Schema extends StrictObject | z.ZodPipe<StrictObject, z.ZodTransform>>(object: Schema) {
  return z.preprocess((value) => value ?? {}, object);
}
export type StrictObject = z.ZodObject<z.ZodRawShape, z.core.$strict>;

/** The keys of a schema made by `section()` (or the root object); undefined for leaves. */
export function sectionShape(schema: z.core.$ZodType): z.core.$ZodShape | undefined {
  if (schema instanceof z.ZodObject) return schema.shape;
  // A section's preprocess keeps the object in `out`; a section's own transform keeps it in `in`.
  if (schema instanceof z.ZodPipe) return sectionShape(schema.out) ?? sectionShape(schema.in);
  return undefined;
}

export function intRange(min: number, max: number) {
  const expected = { error: `an integer ${min}..${max}` };
  return z.int(expected).min(min, expected).max(max, expected);
}

export function nonEmptyString(what: string) {
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

export const size = (range: QuantityRange) => quantity('a size', '512KiB, 64MiB, 10MB or 4096', parseSize, formatSize, range);
export const duration = (range: QuantityRange) =>
  quantity('a duration', '500ms, 30s, 5m, 3h, 7d or 1000', parseDuration, formatDuration, range);

// Intervals feed setTimeout, which fires at once for anything above 2^31-1 ms (~24.8 days); a day
// is already far longer than any sensible keepalive or retention check.
export const timerMsMax = 86_400_000;

export const host = () => nonEmptyString('a host name or IP address');
export const filePath = () => nonEmptyString('a file path or null').nullable().default(null);
export const acks = () => z.union([z.literal(0), z.literal(1), z.literal('all')], { error: '0, 1 or all' }).default(1);

/**
 * zod skips an object's refinements once an issue inside it aborted parsing (a value of the wrong
 * type), so a file with a type error and a cross-field error reported one per run. With this, a
 * cross-field check runs whenever the object itself is one; each check then looks only at the values
 * that parsed (their type is checked again) and says nothing about the rest, already reported.
 */
export const alongsideOtherIssues = { when: (payload: { value: unknown }) => isPlainObject(payload.value) };

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The keys of a value that may not have parsed: its own when it is an object, else none. */
export function fields(value: unknown): Record<string, unknown> {
  return isPlainObject(value) ? value : {};
}
