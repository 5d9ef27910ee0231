import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.ts';

/** A destination that collects what is written to it; `isTTY` makes it look like a terminal. */
function capture(isTTY = false) {
  const stream = Object.assign(new PassThrough(), { isTTY });
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  return { stream, text: () => chunks.join('') };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('createLogger', () => {
  it('writes small JSON lines: level, time, pid, name, no hostname', async () => {
    const out = capture();
    const log = await createLogger({ level: 'info', pretty: false, name: 'broker', destination: out.stream });
    log.info({ topic: 't' }, 'hello');
    log.debug('hidden');
    await tick();
    const lines = out.text().trim().split('\n');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]);
    expect(entry).toMatchObject({ level: 30, pid: process.pid, name: 'broker', topic: 't', msg: 'hello' });
    expect(entry).not.toHaveProperty('hostname');
  });

  it('is JSON on "auto" when the destination is not a terminal', async () => {
    const out = capture(false);
    (await createLogger({ level: 'info', pretty: 'auto', destination: out.stream })).info('x');
    await tick();
    expect(JSON.parse(out.text())).toMatchObject({ msg: 'x' });
  });

  it.each([[true, false] as const, ['auto', true] as const])('is pretty when pretty=%s (terminal: %s)', async (pretty, isTTY) => {
    const out = capture(isTTY);
    (await createLogger({ level: 'debug', pretty, name: 'broker', destination: out.stream })).debug('hello pretty');
    await tick();
    await tick();
    expect(out.text()).toContain('hello pretty');
    expect(out.text()).toContain('DEBUG');
    expect(() => JSON.parse(out.text())).toThrow();
  });

  it('rejects an unknown level', async () => {
    await expect(createLogger({ level: 'loud', pretty: false })).rejects.toThrow();
  });
});
