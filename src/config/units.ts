// Sizes and durations as people write them in config files. Both decimal (MB = 10^6) and binary
// (MiB = 2^20) units are accepted because disk vendors speak one and memory/LMDB the other.
// Units are case-insensitive: these are bytes, never bits, so "mb" has only one sensible meaning.

const sizeUnits: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

const durationUnits: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

// Integers only: "1.1MB" would be 1100000.0000000002 in floating point.
const quantity = /^(\d+)\s*([a-z]*)$/i;

function parseQuantity(value: number | string, units: Record<string, number>, bareUnit: string): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = quantity.exec(value.trim());
  if (match === null) return undefined;
  const factor = units[(match[2] || bareUnit).toLowerCase()];
  if (factor === undefined) return undefined;
  const result = Number(match[1]) * factor;
  return Number.isSafeInteger(result) ? result : undefined;
}

/** Bytes from a non-negative integer or a string like `512KiB`, `64MiB`, `10MB`, `4096`; undefined if invalid. */
export function parseSize(value: number | string): number | undefined {
  return parseQuantity(value, sizeUnits, 'b');
}

/** Milliseconds from a non-negative integer or a string like `500ms`, `30s`, `5m`, `3h`, `7d`; undefined if invalid. */
export function parseDuration(value: number | string): number | undefined {
  return parseQuantity(value, durationUnits, 'ms');
}

/** The shortest exact spelling of a byte count, for messages: 4194304 → "4MiB", 1000 → "1000B". */
export function formatSize(bytes: number): string {
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB'] as const) {
    const factor = sizeUnits[unit.toLowerCase()];
    if (bytes !== 0 && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}B`;
}

/** The shortest exact spelling of a duration, for messages: 86400000 → "1d", 1500 → "1500ms". */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const factor = durationUnits[unit];
    if (ms !== 0 && ms % factor === 0) return `${ms / factor}${unit}`;
  }
  return `${ms}ms`;
}
