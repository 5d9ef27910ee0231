/** Left-aligned columns separated by two spaces, one line per row, for terminal output. */
export function formatColumns(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((cells) => `${cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()}\n`).join('');
}

// Made on first use, not at import: the broker imports this module too (through the command line's
// modules), and an Intl formatter loads ICU's locale data, about 5 MB of RSS that an idle broker never
// needs.
let integer: Intl.NumberFormat | undefined;

/** "1,234,567": counts in tables and bench figures. */
export function fmtInt(n: number): string {
  integer ??= new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  return integer.format(n);
}
