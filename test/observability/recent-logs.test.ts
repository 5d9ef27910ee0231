// The status page's recent errors: a ring fed by the logger that keeps the newest warn/error/fatal
// lines only, each cut to a bounded size, whatever the logger is asked to write.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { TributaryError } from '../../src/errors.ts';
import { limits } from '../../src/limits.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { RecentLogs } from '../../src/observability/recent-logs.ts';

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let out = '';
  stream.on('data', (d) => (out += d));
  return { stream, text: () => out };
}

describe('recent logs', () => {
  it('keeps the newest warn and error lines (not info), newest first, with their code and context, at most statusRecentLogsMax', async () => {
    const recentLogs = new RecentLogs();
    const out = sink();
    const logger = await createLogger({ level: 'info', pretty: false, destination: out.stream, recentLogs });
    const child = logger.child({ listener: 'edge' });
    child.info('started');
    for (let i = 0; i < limits.statusRecentLogsMax + 10; i++) child.warn({ client: `c-${i}` }, `warning ${i}`);
    child.error({ err: new TributaryError('STORAGE_FULL', 'no room', { freeBytes: 1 }) }, 'write refused');
    const list = recentLogs.list();
    expect(list).toHaveLength(limits.statusRecentLogsMax);
    expect(list[0]).toMatchObject({ level: 'error', message: 'write refused', code: 'STORAGE_FULL' });
    expect(JSON.parse(list[0]!.context)).toMatchObject({ listener: 'edge', err: { message: 'no room' } });
    expect(list[0]!.context).not.toContain('stack');
    expect(list[1]).toMatchObject({ level: 'warn', message: `warning ${limits.statusRecentLogsMax + 9}`, code: null });
    expect(JSON.parse(list[1]!.context)).toEqual({ listener: 'edge', client: `c-${limits.statusRecentLogsMax + 9}` });
    expect(list.at(-1)!.message).toBe('warning 11');
    expect(list.some((e) => e.message === 'started')).toBe(false);
    // The logger's own destination still gets every line.
    expect(out.text().split('\n').filter(Boolean)).toHaveLength(limits.statusRecentLogsMax + 12);
  });

  it('cuts a long message and a large context to statusLogTextCharsMax', async () => {
    const recentLogs = new RecentLogs();
    const logger = await createLogger({ level: 'warn', pretty: false, destination: sink().stream, recentLogs });
    logger.warn({ payload: 'p'.repeat(100_000) }, 'm'.repeat(100_000));
    const [entry] = recentLogs.list();
    expect(entry!.message).toHaveLength(limits.statusLogTextCharsMax);
    expect(entry!.context).toHaveLength(limits.statusLogTextCharsMax);
    expect(entry!.message.endsWith('…')).toBe(true);
  });

  it('is fed by a pretty logger too', async () => {
    const recentLogs = new RecentLogs();
    const out = sink();
    const logger = await createLogger({ level: 'info', pretty: true, destination: out.stream, recentLogs });
    logger.warn({ mirror: 'cloud', code: 'UPSTREAM_UNAVAILABLE' }, 'upstream unreachable');
    expect(recentLogs.list()).toMatchObject([{ level: 'warn', message: 'upstream unreachable', code: 'UPSTREAM_UNAVAILABLE' }]);
    expect(out.text()).toContain('upstream unreachable');
  });
});
