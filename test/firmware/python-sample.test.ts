// firmware-samples/python against a live broker: the example produces readings with the
// standard-library client (idempotent, a window of frames, the link dropped mid-stream and
// retransmitted), and every reading is stored exactly once; a second run reads them back with the
// Python FETCH. Runs /usr/bin/python3 (the system's, without site packages), else python3.

import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../src/format/record-batch.ts';
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

/** Runs Python code with the sample's directory importable; resolves its stdout. */
function pythonCode(code: string, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(python, ['-E', '-s', '-c', `import sys; sys.path.insert(0, ${JSON.stringify(sampleDir)})\n${code}`, ...args], { env: {}, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const spec = readFileSync(new URL('../../src/protocol/edge/SPEC.md', import.meta.url), 'utf8');
const specHex = (name: string): string => {
  const m = new RegExp('^```hex example=' + name + '\\n([\\s\\S]*?)^```$', 'm').exec(spec);
  if (m === null) throw new Error(`no hex example ${name}`);
  return m[1].replace(/\s+/g, '');
};

describe('Python sample (firmware-samples/python)', () => {
  it("encodes the SPEC's HELLO, REGISTER and PRODUCE examples byte for byte, and decodes a broker batch", async () => {
    const encoded = await pythonCode(
      [
        'import tributary_edge as t',
        "print(bytes(t.encode_hello(1, True, 30000, 65536, 'gw-7', b's3cret')).hex())",
        "print(bytes(t.encode_register(1, 0, 'telemetry', True)).hex())",
        "print(bytes(t.encode_produce(1, 0, -1, 1, 1700000000000, [b'hello'])).hex())",
        "print('%08x' % t.crc32c(b'123456789'))",
      ].join('\n'),
    );
    expect(encoded.stderr).toBe('');
    expect(encoded.stdout.trim().split('\n')).toEqual([specHex('hello'), specHex('register'), specHex('produce'), 'e3069283']);

    // A batch as the broker stores it (baseOffset 0, keys, a header, a tombstone), decoded from offset 1.
    const batch = encodeRecordBatch([
      { timestampMs: 1000, key: Buffer.from('k0'), value: Buffer.from('v0'), headers: [] },
      { timestampMs: 1250, key: null, value: Buffer.from('v1'), headers: [{ key: 'unit', value: Buffer.from('C') }] },
      { timestampMs: 900, key: Buffer.from('k2'), value: null, headers: [] },
    ]);
    const decoded = await pythonCode(
      [
        'import tributary_edge as t',
        'for o, ts, k, v in t.decode_batches(bytes.fromhex(sys.argv[1]), 1): print(o, ts, k, v)',
        'b = bytearray.fromhex(sys.argv[1]); b[-1] ^= 1',
        'try:\n    t.decode_batches(bytes(b), 0)\nexcept t.EdgeError as e:\n    print(e.code)',
      ].join('\n'),
      [batch.toString('hex')],
    );
    expect(decoded.stderr).toBe('');
    expect(decoded.stdout.trim().split('\n')).toEqual(["1 1250 None b'v1'", "2 900 b'k2' None", '2']);
  });


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
