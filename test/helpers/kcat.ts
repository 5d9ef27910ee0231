// Reading a Kafka topic "from the outside" with kcat (librdkafka), as an operator of the central
// cluster would. .ci/run installs kcat; tests gate on `hasKcat || process.env.CI`, so under CI a
// missing kcat fails them instead of skipping them.
import { spawnSync } from 'node:child_process';
import { runProcess } from './cli.ts';

export const hasKcat = spawnSync('kcat', ['-V']).error === undefined;

export interface KcatRecord {
  partition: number;
  offset: number;
  /** null when kcat reports a key length of -1. */
  key: string | null;
  /** In order, duplicates kept; kcat prints them as n=v CSV, so names and values must hold no `,` or `=`. */
  headers: [string, string][];
  value: string;
}

// Tab-separated, one record a line: the values the tests generate hold no tab, newline, `,` or `=`.
const FORMAT = '%p\t%o\t%K\t%k\t%h\t%s\n';

/** kcat against the broker on 127.0.0.1:`port`; its stdout, or an error with its stderr. */
export async function kcat(port: number, args: string[]): Promise<string> {
  const r = await runProcess('kcat', ['-b', `127.0.0.1:${port}`, ...args], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`kcat ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Every record of `topic` (all partitions, from the beginning to the end at the time of reading). */
export async function kcatReadAll(port: number, topic: string): Promise<KcatRecord[]> {
  return parseKcat(await kcat(port, ['-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', FORMAT]));
}

/** The `origin` header of a record read by kcat, parsed: edgeId/topic/partition/offset. */
export function originOf(record: KcatRecord): { edgeId: string; topic: string; partition: number; offset: number } {
  const origin = record.headers.find(([name]) => name === 'origin')?.[1];
  if (origin === undefined) throw new Error(`no origin header at ${record.partition}/${record.offset}`);
  const [edgeId = '', topic = '', partition = '', offset = ''] = origin.split('/');
  return { edgeId, topic, partition: Number(partition), offset: Number(offset) };
}

export function parseKcat(text: string): KcatRecord[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const fields = line.split('\t');
      if (fields.length !== 6) throw new Error(`unexpected kcat line: ${JSON.stringify(line)}`);
      const [partition, offset, keyLength, key, headers, value] = fields as [string, string, string, string, string, string];
      return {
        partition: Number(partition),
        offset: Number(offset),
        key: keyLength === '-1' ? null : key,
        headers: headers === '' ? [] : headers.split(',').map((h) => h.split('=') as [string, string]),
        value,
      };
    });
}
