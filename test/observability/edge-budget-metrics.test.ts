// /metrics shows what edge connections hold from the listener's shared budgets [EDGE-8.3] [EDGE-2.2]:
// a client that asks for large fetches and never reads shows in the write budget until it goes away.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { startTributary } from '../../src/main.ts';
import { merge } from '../helpers/broker.ts';
import { produceFrame, RawPeer } from '../helpers/raw-edge.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

const MiB = 1024 * 1024;

/** Scrapes until `done` holds: the gauges change when the broker's sockets do, which a test cannot await. */
async function until(done: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function gauge(scrape: string, name: string, budget: string): number {
  const line = new RegExp(`^${name}\\{budget="${budget}"\\} (\\S+)$`, 'm').exec(scrape);
  if (line === null) throw new Error(`no ${name}{budget="${budget}"} in the scrape`);
  return Number(line[1]);
}

describe('edge budget metrics', () => {
  it('show the write budget held by a client that never reads, and its release when it closes', async () => {
    const config = parseConfig(
      merge({ dataDir: tempDir(), listeners: { edge: { host: '127.0.0.1', port: 0, writeBytesTotalMax: '16MiB' }, http: { host: '127.0.0.1', port: 0 }, mqtt: { enabled: false }, kafka: { enabled: false } } }, {}),
      'test',
    );
    const running = await startTributary(config, pino({ level: 'silent' }));
    onCleanup(() => running.close());
    const edgePort = running.edge!.port;
    const scrape = async () => (await fetch(`http://127.0.0.1:${running.http!.port}/metrics`)).text();

    const writer = await RawPeer.hello(edgePort, { frameBytesMax: 4 * MiB, clientId: 'writer' });
    writer.send({ type: 'register', corr: 1, alias: 1, topic: 'big', create: true });
    await writer.waitFor((f) => f.type === 'registered');
    for (let seq = 1; seq <= 4; seq++) writer.send(produceFrame(seq, ['x'.repeat(3_000_000)]));
    await writer.waitFor((f) => f.type === 'ack' && f.entries.some((e) => e.seq === 4), 20_000);

    const before = await scrape();
    expect(gauge(before, 'tributary_edge_budget_used_bytes', 'write')).toBe(0);
    expect(gauge(before, 'tributary_edge_budget_max_bytes', 'write')).toBe(16 * MiB);
    expect(gauge(before, 'tributary_edge_budget_max_bytes', 'partial-frame')).toBe(config.listeners.edge.partialFrameBytesTotalMax);

    const hog = await RawPeer.hello(edgePort, { frameBytesMax: 4 * MiB, clientId: 'hog' });
    hog.send({ type: 'register', corr: 1, alias: 1, topic: 'big', create: false });
    await hog.waitFor((f) => f.type === 'registered');
    hog.socket.pause();
    hog.socket.removeAllListeners('data');
    for (let i = 0; i < 8; i++) hog.send({ type: 'fetch', corr: 10 + i, alias: 1, partition: 0, offset: i % 4, maxBytes: 4 * MiB, maxWaitMs: 0 });
    let held = 0;
    await until(async () => {
      held = gauge(await scrape(), 'tributary_edge_budget_used_bytes', 'write');
      return held > 0;
    }, 'the never-reading client to hold fetch answers');
    expect(held).toBeLessThanOrEqual(16 * MiB);

    hog.socket.destroy();
    await until(async () => gauge(await scrape(), 'tributary_edge_budget_used_bytes', 'write') === 0, 'the write budget to be given back');
    expect(gauge(await scrape(), 'tributary_edge_budget_waiters', 'write')).toBe(0);
  }, 60_000);
});
