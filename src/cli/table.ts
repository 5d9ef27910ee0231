/** Left-aligned columns separated by two spaces, one line per row, for terminal output. */
export function formatColumns(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((cells) => `${cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()}\n`).join('');
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** "1,234,567": counts in tables and bench figures. */
export function fmtInt(n: number): string {
  return integer.format(n);
}
