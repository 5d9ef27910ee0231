// The values of $SYS/broker/... from given readings, on a given clock: Mosquitto's formats, only
// changed topics republished, and the load averages Mosquitto 2.0.11 publishes (100 PUBLISHes in
// one 2 s update gave it 97.54, 19.90 and 6.66 for publish/received 1min, 5min and 15min).
import { describe, expect, it } from 'vitest';
import { SysTopics, type SysReading } from '../../../src/listeners/mqtt/sys-topics.ts';

function reading(over: Partial<SysReading> = {}): SysReading {
  return {
    clientsConnected: 1, clientsDisconnected: 0, clientsMaximum: 1, connections: 1,
    received: { packets: 0, bytes: 0 }, sent: { packets: 0, bytes: 0 },
    publishReceived: 0, publishSent: 0, publishDropped: 0, retained: 0, subscriptions: 0,
    storeMessages: 0, storeBytes: 0, heapBytes: 1, ...over,
  };
}

describe('SysTopics', () => {
  it('publishes every topic first, then only those whose text changed (uptime every time, version once)', () => {
    let now = 1_000_000;
    let r = reading();
    const published: [string, string][] = [];
    const sys = new SysTopics({ intervalS: 2, version: 'tributary version 9', read: () => r, publish: (t, p) => published.push([t, p]), nowMs: () => now });
    sys.tick();
    const first = new Map(published);
    expect(first.size).toBe(42);
    expect(first.get('$SYS/broker/version')).toBe('tributary version 9');
    expect(first.get('$SYS/broker/uptime')).toBe('0 seconds');
    expect(first.get('$SYS/broker/load/publish/received/1min')).toBe('0.00');
    published.length = 0;
    now += 2_000;
    r = reading({ publishReceived: 100, clientsConnected: 2 });
    sys.tick();
    const second = new Map(published);
    expect(second.get('$SYS/broker/uptime')).toBe('2 seconds');
    expect(second.get('$SYS/broker/clients/connected')).toBe('2');
    expect(second.get('$SYS/broker/clients/total')).toBe('2');
    expect(second.get('$SYS/broker/publish/messages/received')).toBe('100');
    // 100 in 2 s = 3000/min, weighted: 3000 × (1 − e^(−2/60)), (1 − e^(−2/300)), (1 − e^(−2/900)).
    expect(second.get('$SYS/broker/load/publish/received/1min')).toBe('98.35');
    expect(second.get('$SYS/broker/load/publish/received/5min')).toBe('19.93');
    expect(second.get('$SYS/broker/load/publish/received/15min')).toBe('6.66');
    expect(second.has('$SYS/broker/version')).toBe(false);
    expect(second.has('$SYS/broker/messages/received')).toBe(false);
    published.length = 0;
    now += 2_000;
    sys.tick();
    // Nothing new: the 1-minute average decays (as Mosquitto's: 97.54 → 92.78 in its run).
    expect(Number(new Map(published).get('$SYS/broker/load/publish/received/1min'))).toBeCloseTo(98.35 * Math.exp(-2 / 60), 1);
  });

  it('leaves out what the session store does not know (aedes in-memory persistence)', () => {
    const published: string[] = [];
    new SysTopics({ intervalS: 1, version: 'v', read: () => reading({ clientsDisconnected: null, retained: null }), publish: (t) => published.push(t) }).tick();
    expect(published).not.toContain('$SYS/broker/clients/disconnected');
    expect(published).not.toContain('$SYS/broker/clients/total');
    expect(published).not.toContain('$SYS/broker/retained messages/count');
    expect(published).toHaveLength(39);
  });
});
