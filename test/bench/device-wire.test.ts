// `tributary bench --only device-wire` through the built CLI: the bytes it reports per reading are
// the sizes the protocols' specs give for these frames, so the counting proxy counts exactly.
import { describe, expect, it } from 'vitest';
import { run } from '../helpers/cli.ts';

interface Row {
  case: string;
  metrics: Record<string, number | null>;
}

describe('tributary bench --only device-wire', () => {
  it('reports bytes and acknowledgements per 20-byte reading that match the edge SPEC and MQTT 3.1.1 sizes', async () => {
    const r = await run(['bench', '--quick', '--json', '--only', 'device-wire'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { results: Row[]; problems: string[] };
    expect(out.problems).toEqual([]);
    const find = (pattern: RegExp) => {
      const rows = out.results.filter((row) => pattern.test(row.case));
      expect(rows, pattern.source).toHaveLength(1);
      return rows[0].metrics;
    };

    // [EDGE-5.5]/[EDGE-7.6]: length 1 + type 1 + seq 1 (< 128 in the quick run) + alias 1 + partition 1
    // + acks 1 + baseTimestampMs 6 + count 1, then the record: flags 1 + value length 1 + 20.
    // ACK [EDGE-5.6]: length, type, count, firstSeq, partition, baseOffset (< 128), flags.
    const edge1 = find(/^edge protocol, .*1 reading per frame/);
    expect(edge1).toMatchObject({ upBytesPerReading: 35, downBytesPerReading: 7, acksPerReading: 1, upFramesPerReading: 1 });
    // One frame of 50 readings a second apart: the length varint 2 bytes, seq 2 bytes (the device's
    // sequence continues from the case before); records 1..8 carry a 2-byte delta, 9..49 a 3-byte one.
    const edge50 = find(/^edge protocol, .*50 readings per frame/);
    expect(edge50.upBytesPerReading).toBeCloseTo((15 + 22 + 8 * 24 + 41 * 25) / 50, 9);
    expect(edge50).toMatchObject({ acksPerReading: 0.02, upFramesPerReading: 0.02 });

    // PUBLISH QoS 1: fixed header 2 + topic length 2 + topic + packet id 2 + payload 20; PUBACK 4.
    // CONNECT of a 11-byte client id 25 + DISCONNECT 2; CONNACK 4.
    const layout = find(/^MQTT .*"sensors\/sensor-0001\/telemetry"/);
    expect(layout).toMatchObject({ upBytesPerReading: 2 + 2 + 29 + 2 + 20, downBytesPerReading: 4, acksPerReading: 1, connectionUpBytes: 27, connectionDownBytes: 4 });
    const long = find(/^MQTT .*a long topic/);
    expect(long).toMatchObject({ upBytesPerReading: 2 + 2 + 75 + 2 + 20, downBytesPerReading: 4, acksPerReading: 1 });

    // Packet counts come from the kernel when `ss` is there: at least one each way per acknowledged frame.
    for (const m of [edge1, edge50, layout, long]) {
      if (m.upPacketsPerReading === null) continue;
      expect(m.upPacketsPerReading).toBeGreaterThanOrEqual(m.upFramesPerReading!);
      expect(m.downPacketsPerReading).toBeGreaterThanOrEqual(m.acksPerReading!);
    }
  }, 150_000);
});
