// `tributary produce` with keys from the input (--key-field): a line without its key is an error
// naming the line, never an unkeyed record; what came before it is sent and counted.
import { describe, expect, it } from 'vitest';
import { Admin } from '../../src/client/index.ts';
import { freePort, startChildBroker } from '../helpers/child-broker.ts';
import { lines, run } from '../helpers/cli.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

describe('tributary produce --key-field', () => {
  it('stops at a line without the field (or with it null): earlier lines sent, that line and later ones not, exit 1', async () => {
    const broker = await startChildBroker(tempDir(), await freePort());
    const env = { TRIBUTARY_BROKER: `127.0.0.1:${broker.port}` };
    const admin = await Admin.connect({ port: broker.port });
    onCleanup(() => admin.close());
    await admin.createTopic({ name: 'keyed', partitions: 1 });

    const missing = await run(['produce', 'keyed', '--key-field', 'device'], { env, input: '{"device":"a"}\n{"device":"b"}\n{"temp":3}\n{"device":"c"}\n' });
    expect(missing.code).toBe(1);
    expect(lines(missing.stderr)).toEqual(['produced 2 records to keyed', 'tributary: INVALID_REQUEST: stdin line 3 has no field "device" (--key-field), or it is null']);
    const nulled = await run(['produce', 'keyed', '--key-field', 'device'], { env, input: '\n{"device":null}\n' });
    expect(nulled.code).toBe(1);
    expect(lines(nulled.stderr)).toEqual(['produced 0 records to keyed', 'tributary: INVALID_REQUEST: stdin line 2 has no field "device" (--key-field), or it is null']);

    const consumed = await run(['consume', 'keyed', '--offset', 'earliest', '--format', 'json'], { env });
    expect(lines(consumed.stdout).map((l) => (JSON.parse(l) as { key: string | null }).key)).toEqual(['a', 'b']);
  });

  it('stops the same way at a line too large for a batch: earlier lines sent, that line and later ones not, the error naming the line', async () => {
    const broker = await startChildBroker(tempDir(), await freePort());
    const env = { TRIBUTARY_BROKER: `127.0.0.1:${broker.port}` };
    const admin = await Admin.connect({ port: broker.port });
    onCleanup(() => admin.close());
    await admin.createTopic({ name: 'sized', partitions: 1 });
    const after = Array.from({ length: 1000 }, (_, i) => `after-${i}`);
    const input = ['first', 'second', 'x'.repeat(300_000), ...after].join('\n') + '\n';
    const r = await run(['produce', 'sized'], { env, input });
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual(['produced 2 records to sized', 'tributary: RECORD_TOO_LARGE: stdin line 3: a record of 300004 bytes does not fit a batch of at most 262144 bytes']);
    const consumed = await run(['consume', 'sized', '--offset', 'earliest'], { env });
    expect(lines(consumed.stdout)).toEqual(['first', 'second']);
  });
});
