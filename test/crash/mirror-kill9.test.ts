// kill -9 of the edge in the middle of draining a backlog upstream: after the restart the mirror
// resumes from its last persisted cursor. Every record arrives upstream, first occurrences in offset
// order, and every duplicate (the resend window after the crash) carries its origin and is counted
// as a resend by the restarted broker.
import { describe, expect, it } from 'vitest';
import { freePort, startChildBroker, startedPorts } from '../helpers/child-broker.ts';
import type { MirrorStatus } from '../../src/mirror/status.ts';
import { produceFrame, RawPeer } from '../helpers/raw-edge.ts';
import { mosquittoBinary, startMosquittoUpstream } from '../helpers/mosquitto-upstream.ts';
import { LogStore } from '../../src/storage/log-store.ts';
import { MirrorCursors } from '../../src/storage/mirror-cursors.ts';
import { silentLogger, storeOptions, tempDir } from '../helpers/temp.ts';
import { startUpstream, until, type Upstream } from '../helpers/upstream.ts';

const RECORDS = 3000;
const PER_FRAME = 100;

const frame = (seq: number) => produceFrame(seq, Array.from({ length: PER_FRAME }, (_, i) => `r${(seq - 1) * PER_FRAME + i}`));

const upstreams: [string, () => Promise<Upstream>][] = [['in-process MQTT 5 upstream', () => startUpstream()]];
// .ci/run installs mosquitto: under CI a missing binary fails this test rather than skipping it.
if (mosquittoBinary() !== null || process.env.CI) upstreams.push(['mosquitto', () => startMosquittoUpstream()]);

describe.each(upstreams)('kill -9 of the edge mid-drain, upstream %s', (_name, startUp) => {
  it('ships every record after the restart, in order, duplicates only with their origin', async () => {
    const up = await startUp();
    const dataDir = tempDir();
    const port = await freePort();
    const env = {
      TRIBUTARY_EDGE_ID: 'gw-1',
      TRIBUTARY_MIRRORS: JSON.stringify([
        { name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${up.port}`, topics: ['telemetry'], remoteTopic: 'edge/{edgeId}/{topic}', windowMax: 20, backoff: { initialMs: 50, maxMs: 200 },
          // ~50-byte publishes at 40 KiB/s: a burst of ~800, then ~800/s, so the kill lands mid-drain
          // whatever the upstream's speed.
          rateLimitBytesPerSec: 40_960,
          // One stored batch (100 records) per read: the high mark is written ahead per read.
          batch: { bytesMax: 1024 } },
      ]),
      TRIBUTARY_LISTENERS__HTTP__ENABLED: 'true',
      TRIBUTARY_LISTENERS__HTTP__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__HTTP__PORT: '0',
    };
    // The upstream is down while the backlog builds up.
    await up.stop();
    const first = await startChildBroker(dataDir, port, env);
    const peer = await RawPeer.hello(port);
    peer.send({ type: 'register', corr: 1, alias: 1, topic: 'telemetry', create: true });
    await peer.waitFor((f) => f.type === 'registered');
    const frames = RECORDS / PER_FRAME;
    peer.send(...Array.from({ length: frames }, (_, i) => frame(i + 1)));
    await peer.waitFor((f) => f.type === 'ack' && f.entries.some((e) => e.seq === frames));

    await up.start();
    await until(() => up.received.length >= 500, '500 records upstream', 15_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const beforeCrash = up.received.map((r) => r.origin.offset);
    expect(new Set(beforeCrash).size).toBeLessThan(RECORDS);
    // The cursor the crash left on disk: the restart ships again from there.
    const store = new LogStore(storeOptions(dataDir));
    const cursor = new MirrorCursors(store, 'cloud', silentLogger).get(store.getTopic('telemetry')!.id, 0) ?? 0;
    await store.close();

    const second = await startChildBroker(dataDir, port, env);
    await until(() => new Set(up.received.map((r) => r.origin.offset)).size >= RECORDS, `${RECORDS} distinct records upstream`, 30_000);
    // Every resend leaves before the first send of a higher offset (one partition, in order).
    const status = (await (await fetch(`http://127.0.0.1:${(await startedPorts(second)).httpPort!}/mirrors/cloud`)).json()) as MirrorStatus;

    const firsts: number[] = [];
    const seen = new Set<number>();
    for (const r of up.received) {
      expect(r.origin).toMatchObject({ edgeId: 'gw-1', topic: 'telemetry', partition: 0 });
      expect(r.payload).toBe(`r${r.origin.offset}`);
      if (!seen.has(r.origin.offset)) {
        seen.add(r.origin.offset);
        firsts.push(r.origin.offset);
      }
    }
    expect(firsts).toEqual(Array.from({ length: RECORDS }, (_, i) => i));
    const duplicates = up.received.length - RECORDS;
    // Only what reached the upstream before the crash at or past the persisted cursor (cursors are
    // written at most every 100 ms) comes again, plus at most a window still on its way when counted.
    expect(duplicates).toBeLessThanOrEqual(beforeCrash.filter((offset) => offset >= cursor).length + 20);
    expect(duplicates).toBeGreaterThan(0);
    // Each duplicate is a record the restarted broker published again, and counted as such; it may
    // count more: records of the last reserved read (100) that had not left when the crash came, and
    // publishes the crash kept from reaching the upstream (a window, 20).
    expect(status.resentRecords).toBeGreaterThanOrEqual(duplicates);
    expect(status.resentRecords).toBeLessThanOrEqual(duplicates + 100 + 20);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 60_000);
});
