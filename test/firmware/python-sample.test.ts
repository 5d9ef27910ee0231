// firmware-samples/python against a live broker: the example produces readings with the
// standard-library client (idempotent, a window of frames, the link dropped mid-stream and
// retransmitted), and every reading is stored exactly once; a second run reads them back with the
// Python FETCH. Runs /usr/bin/python3 (the system's, without site packages), else python3.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTopic, readAll, startTestBroker } from '../helpers/broker.ts';
import { tempDir } from '../helpers/temp.ts';

const sampleDir = new URL('../../firmware-samples/python/', import.meta.url).pathname;
const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function run(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(python, ['-E', '-s', join(sampleDir, 'produce_readings.py'), ...args], { cwd, env: {}, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('Python sample (firmware-samples/python)', () => {
  it('stores every reading exactly once across a dropped link, and reads them back with its own FETCH', async () => {
    const broker = await startTestBroker();
    await createTopic(broker, 'readings', 3);
    const cwd = tempDir();
    const count = 500;
    const { host, port } = broker.url;

    const produced = await run(['produce', host, String(port), 'sensor-7', 'readings', String(count), '10', '5'], cwd);
    expect(produced.stderr).toBe('');
    expect(produced.code).toBe(0);
    expect(produced.stdout).toMatch(/dropping the link with [1-9]\d* frames unanswered/);
    expect(produced.stdout).toContain(`produced ${count} readings in 50 frames`);

    const expected = Array.from({ length: count }, (_, i) => `sensor-7-${String(i + 1).padStart(6, '0')}`);
    const stored = await readAll(broker, 'readings', 3, count);
    expect(stored.map((r) => r.value!.toString()).sort()).toEqual(expected);

    const readBack = await run(['read', host, String(port), 'readings'], cwd);
    expect(readBack.stderr).toBe('');
    expect(readBack.code).toBe(0);
    const lines = readBack.stdout.trim().split('\n').map((l) => l.split(' '));
    expect(lines).toHaveLength(count);
    expect(lines.map((l) => l[2]).sort()).toEqual(expected);
    const fromTs = new Map(stored.map((r) => [`${r.partition} ${r.offset}`, r.value!.toString()]));
    for (const [partition, offset, value] of lines) expect(fromTs.get(`${partition} ${offset}`)).toBe(value);

    // A second run under the same client id continues its seq from the reserved block: nothing it
    // sends is taken for a duplicate of the first run's frames.
    const again = await run(['produce', host, String(port), 'sensor-7', 'readings', '20', '10'], cwd);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('0 acknowledged as duplicates');
    expect(await readAll(broker, 'readings', 3, count + 20)).toHaveLength(count + 20);
  });
});
