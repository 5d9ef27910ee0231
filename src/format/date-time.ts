// Kafka's date-time spelling (kafka-consumer-groups --to-datetime), shared by the CLI's reset targets
// and the mirrors' startFrom: YYYY-MM-DDTHH:mm:SS.sss with an optional zone (Z, +hh, +hhmm, +hh:mm);
// without one the time is UTC, as in kafka-consumer-groups (not the local time). Milliseconds may be
// left out.

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(Z|[+-]\d{2}(?::?\d{2})?)?$/;

export const DATE_TIME_EXPECTED = 'a date-time YYYY-MM-DDTHH:mm:SS.sss, optionally with a zone (Z, +02:00); without one it is UTC';

/** Unix milliseconds, or null when `text` is not such a date-time (or not a real date). */
export function parseDateTime(text: string): number | null {
  const m = DATE_TIME.exec(text.trim());
  if (m === null) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const millis = m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0'));
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  // Date.UTC rolls 2026-02-30 over into March: a date that does not come back unchanged is not one.
  const back = new Date(utc);
  if (back.getUTCFullYear() !== year || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) return null;
  const zone = zoneOffsetMs(m[8]);
  return zone === null ? null : utc - zone;
}

function zoneOffsetMs(zone: string | undefined): number | null {
  if (zone === undefined || zone === 'Z') return 0;
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
  if (hours > 23 || minutes > 59) return null;
  return (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes) * 60_000;
}
