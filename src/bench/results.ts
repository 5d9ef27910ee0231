// What a benchmark reports and how the report is printed. Figures only: a missed target is printed,
// never turned into a failure, because timings on a shared 2-core machine drift from run to run.

import { fmtInt, formatColumns } from '../cli/table.ts';

export { fmtInt };

export interface Target {
  /** The metric of the result the target applies to. */
  metric: string;
  op: '>=' | '<=';
  value: number;
  /** How the target reads in the table, e.g. "≥ 1,000,000 rec/s". */
  label: string;
}

export interface BenchResult {
  bench: string;
  /** What was run, e.g. "acks=1, 2,000,000 records". */
  case: string;
  /** Numbers for --json; names carry their unit (recordsPerSec, p99Ms, rssBytes). */
  metrics: Record<string, number | null>;
  /** The same figures for people. */
  summary: string;
  target?: Target;
}

export interface Verdict {
  pass: boolean;
  /** How far past (positive) or short of (negative) the target the figure is, in percent of the target. */
  marginPct: number;
}

export function verdict(result: BenchResult): Verdict | null {
  const t = result.target;
  const actual = t === undefined ? null : result.metrics[t.metric];
  if (t === undefined || actual === null || actual === undefined) return null;
  const margin = t.op === '>=' ? actual / t.value - 1 : 1 - actual / t.value;
  return { pass: margin >= 0, marginPct: margin * 100 };
}

export function verdictText(v: Verdict): string {
  return `${v.pass ? 'PASS' : 'MISS'} by ${Math.abs(v.marginPct).toFixed(0)}%`;
}


export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1], runs: sorted.length };
}

/** "1,234,567 rec/s (median of 3: 1.1M–1.3M)"; a single run is just the figure. */
export function spreadText(s: Spread, unit: string): string {
  const figure = `${fmtInt(s.median)} ${unit}`;
  return s.runs === 1 ? figure : `${figure} (median of ${s.runs}: ${fmtShort(s.min)}–${fmtShort(s.max)})`;
}

function fmtShort(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}k` : n.toFixed(0);
}

export function fmtMB(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export function fmtMs(ms: number): string {
  return `${ms < 10 ? ms.toFixed(2) : ms.toFixed(1)} ms`;
}

export function formatTable(results: readonly BenchResult[]): string {
  return formatColumns(
    ['BENCH', 'CASE', 'RESULT', 'TARGET', 'VERDICT'],
    results.map((r) => {
      const v = verdict(r);
      return [r.bench, r.case, r.summary, r.target?.label ?? '', v === null ? '' : verdictText(v)];
    }),
  );
}
