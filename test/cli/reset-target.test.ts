// The reset-offsets argument parsers: Kafka's date-time (UTC without a zone), --to's forms, --topic T[:P].
import { describe, expect, it } from 'vitest';
import { dateTime, resetTarget, topicPartition, toTarget } from '../../src/cli/reset-target.ts';

describe('groups reset-offsets arguments', () => {
  it.each([
    ['2026-12-01T08:00:00.000', Date.UTC(2026, 11, 1, 8)],
    ['2026-12-01T08:00:00', Date.UTC(2026, 11, 1, 8)],
    ['2026-12-01T08:00:00.5', Date.UTC(2026, 11, 1, 8, 0, 0, 500)],
    ['2026-12-01T08:00:00.000Z', Date.UTC(2026, 11, 1, 8)],
    ['2026-12-01T10:00:00.000+02:00', Date.UTC(2026, 11, 1, 8)],
    ['2026-12-01T10:30:00.000+0230', Date.UTC(2026, 11, 1, 8)],
    ['2026-12-01T03:00:00.000-05', Date.UTC(2026, 11, 1, 8)],
    ['2028-02-29T00:00:00.000', Date.UTC(2028, 1, 29)],
  ])('date-time %s', (text, ms) => {
    expect(dateTime(text)).toBe(ms);
  });

  it.each(['2026-12-01', '2026-12-01 08:00:00', '2026-02-30T00:00:00.000', '2026-12-01T24:00:00.000', '2026-12-01T08:60:00', '2026-12-01T08:00:00.000+25:00', '2026-12-01T08:00:00.1234', 'yesterday'])(
    'not a date-time: %s',
    (text) => {
      expect(() => dateTime(text)).toThrow(/expected a date-time/);
    },
  );

  it('--to takes earliest, latest, an offset or a date-time', () => {
    expect(toTarget('earliest')).toEqual({ to: 'earliest' });
    expect(toTarget('latest')).toEqual({ to: 'latest' });
    expect(toTarget('42')).toEqual({ to: 'offset', offset: 42 });
    expect(toTarget('2026-12-01T08:00:00.000')).toEqual({ to: 'datetime', timestampMs: Date.UTC(2026, 11, 1, 8) });
    expect(() => toTarget('-1')).toThrow(/expected earliest, latest/);
  });

  it('the Kafka spellings each name one target; none is a usage error', () => {
    expect(resetTarget({ toEarliest: true })).toEqual({ to: 'earliest' });
    expect(resetTarget({ toLatest: true })).toEqual({ to: 'latest' });
    expect(resetTarget({ toOffset: 7 })).toEqual({ to: 'offset', offset: 7 });
    expect(resetTarget({ toDatetime: 5 })).toEqual({ to: 'datetime', timestampMs: 5 });
    expect(resetTarget({ shiftBy: -3 })).toEqual({ to: 'shift', by: -3 });
    expect(() => resetTarget({})).toThrow(/--to-earliest, --to-latest/);
  });

  it('--topic is TOPIC or TOPIC:PARTITION', () => {
    expect(topicPartition('telemetry')).toEqual({ topic: 'telemetry' });
    expect(topicPartition('telemetry:3')).toEqual({ topic: 'telemetry', partition: 3 });
    for (const bad of ['telemetry:', ':3', 'telemetry:-1', 'telemetry:1,2']) expect(() => topicPartition(bad)).toThrow(/TOPIC:PARTITION/);
  });
});
