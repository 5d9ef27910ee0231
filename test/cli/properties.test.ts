// kafka-console-consumer's and -producer's --property settings on `tributary consume` and
// `tributary produce`, run from the built CLI against a broker child process.
import { describe, expect, it } from 'vitest';
import { Admin, Producer } from '../../src/client/index.ts';
import { freePort, startChildBroker } from '../helpers/child-broker.ts';
import { lines, run } from '../helpers/cli.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

describe('tributary produce/consume --property', () => {
  it('parse.key splits at the first separator; print.* prints the fields in Kafka order and format', async () => {
    const broker = await startChildBroker(tempDir(), await freePort());
    const env = { TRIBUTARY_BROKER: `127.0.0.1:${broker.port}` };
    const admin = await Admin.connect({ port: broker.port });
    onCleanup(() => admin.close());
    await admin.createTopic({ name: 'props', partitions: 1 });

    const produced = await run(['produce', 'props', '--property', 'parse.key=true', '--property', 'key.separator=:', '--header', 'src=plc'], {
      env,
      input: 'pump-7:on\npump-8:off:again\n',
    });
    expect(produced).toMatchObject({ code: 0, stderr: 'produced 2 records to props\n' });
    const tabbed = await run(['produce', 'props', '--property', 'parse.key=true'], { env, input: 'pump-9\tstarted\n' });
    expect(tabbed.code).toBe(0);
    const producer = await Producer.connect({ port: broker.port });
    await producer.send({ topic: 'props', value: 'bare', timestampMs: 1_700_000_000_000 });
    await producer.close();

    const consumed = await run(
      ['consume', 'props', '--offset', 'earliest', '--property', 'print.key=true', '--property', 'print.timestamp=true', '--property', 'print.headers=true'],
      { env },
    );
    expect(consumed.code).toBe(0);
    const out = lines(consumed.stdout);
    expect(out).toHaveLength(4);
    expect(out[0]).toMatch(/^CreateTime:\d{13}\tsrc:plc\tpump-7\ton$/);
    expect(out[1]).toMatch(/^CreateTime:\d{13}\tsrc:plc\tpump-8\toff:again$/);
    expect(out[2]).toMatch(/^CreateTime:\d{13}\tNO_HEADERS\tpump-9\tstarted$/);
    expect(out[3]).toBe('CreateTime:1700000000000\tNO_HEADERS\tnull\tbare');

    const custom = await run(
      ['consume', 'props', '--offset', '1', '--max', '1', '--property', 'print.partition=true', '--property', 'print.offset=true', '--property', 'print.key=TRUE', '--property', 'key.separator= | '],
      { env },
    );
    expect(custom).toMatchObject({ code: 0, stdout: 'Partition:0 | Offset:1 | pump-8 | off:again\n' });
    const noValue = await run(['consume', 'props', '--offset', '0', '--max', '1', '--property', 'print.key=true', '--property', 'print.value=false'], { env });
    expect(noValue).toMatchObject({ code: 0, stdout: 'pump-7\n' });

    const twoHeaders = await run(['produce', 'props', '--header', 'a=1', '--header', 'b=2'], { env, input: 'v\n' });
    expect(twoHeaders.code).toBe(0);
    const headers = await run(['consume', 'props', '--offset', '4', '--property', 'print.headers=true', '--property', 'headers.separator=;', '--property', 'print.value=false'], { env });
    expect(headers).toMatchObject({ code: 0, stdout: 'a:1;b:2\n' });

    // A line without the separator stops the run as Kafka's reader does: earlier lines are sent.
    const missing = await run(['produce', 'props', '--property', 'parse.key=true', '--property', 'key.separator=:'], { env, input: 'a:1\nno separator\nb:2\n' });
    expect(missing.code).toBe(1);
    expect(lines(missing.stderr)).toEqual(['produced 1 record to props', 'tributary: INVALID_REQUEST: stdin line 2 has no key separator ":" (--property parse.key=true)']);
    expect((await admin.describeTopic('props')).partitions[0].nextOffset).toBe(6);
  });

  it.each([
    [['consume', 't', '--property', 'print.colour=true'], /^tributary: INVALID_REQUEST: unknown --property print\.colour; known: print\.key, print\.value, print\.timestamp, print\.partition, print\.offset, print\.headers, key\.separator, headers\.separator$/],
    [['consume', 't', '--property', 'print.key=yes'], /^tributary: INVALID_REQUEST: --property print\.key=yes: expected true or false$/],
    [['consume', 't', '--property', 'print.key'], /^tributary: INVALID_REQUEST: .*--property.*expected key=value/],
    [['consume', 't', '--format', 'json', '--property', 'print.key=true'], /^tributary: INVALID_REQUEST: --property applies to --format value only/],
    [['produce', 't', '--property', 'parse.headers=true'], /^tributary: INVALID_REQUEST: unknown --property parse\.headers; known: parse\.key, key\.separator$/],
    [['produce', 't', '--property', 'parse.key=true', '--key', 'k'], /^tributary: INVALID_REQUEST: --property parse\.key=true cannot be used with --key or --key-field$/],
    [['produce', 't', '--property', 'key.separator='], /^tributary: INVALID_REQUEST: --property key\.separator must not be empty$/],
  ])('refuses %j: one line, exit 2, before connecting', async (args, message) => {
    // No broker listens there: a usage error must come before any connection attempt.
    const r = await run(args, { env: { TRIBUTARY_BROKER: `127.0.0.1:${await freePort()}` } });
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(message);
  });
});
