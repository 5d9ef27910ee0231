// Where `tributary consume` starts, as kafka-console-consumer: at the end of each partition unless
// --from-beginning (or --offset) says otherwise, with or without --group.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Producer } from '../../src/client/index.ts';
import { bundlePath, cleanEnv, freePort, startChildBroker } from '../helpers/child-broker.ts';
import { lines, run } from '../helpers/cli.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

describe('tributary consume start position', () => {
  it('starts at the end without --from-beginning: prints nothing without --follow, only new records with it', async () => {
    const broker = await startChildBroker(tempDir(), await freePort());
    const env = { TRIBUTARY_BROKER: `127.0.0.1:${broker.port}` };
    const producer = await Producer.connect({ port: broker.port });
    onCleanup(() => producer.close());
    await producer.sendBatch([{ topic: 'start', value: 'old-1' }, { topic: 'start', value: 'old-2' }]);

    expect(await run(['consume', 'start'], { env })).toMatchObject({ code: 0, stdout: '' });
    expect(await run(['consume', 'start', '--from-beginning'], { env })).toMatchObject({ code: 0, stdout: 'old-1\nold-2\n' });
    expect(await run(['consume', 'start', '--offset', '1'], { env })).toMatchObject({ code: 0, stdout: 'old-2\n' });

    // --follow from the end: records written while it runs are printed, the old ones never.
    const follower = spawn(process.execPath, [bundlePath, 'consume', 'start', '--follow', '--max', '1'], { env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    onCleanup(async () => void follower.kill('SIGKILL'));
    let stdout = '';
    follower.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => follower.once('close', resolve));
    // It has no way to say when it reached the end: new records are written until it prints one.
    let n = 0;
    await expect
      .poll(
        async () => {
          await producer.send({ topic: 'start', value: `new-${n++}` });
          return lines(stdout).length;
        },
        { timeout: 15_000 },
      )
      .toBeGreaterThan(0);
    expect(await exited).toBe(0);
    expect(lines(stdout)).toHaveLength(1);
    expect(lines(stdout)[0]).toMatch(/^new-\d+$/);
  });
});
