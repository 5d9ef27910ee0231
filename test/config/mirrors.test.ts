import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';

const minimal = {
  edgeId: 'gw-1',
  mirrors: [{ name: 'cloud', sink: 'mqtt', url: 'mqtt://127.0.0.1:1886', topics: ['telemetry'], remoteTopic: 'edge/{edgeId}/{topic}' }],
};

function problems(raw: unknown): string {
  try {
    parseConfig(raw, 'test');
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the config was accepted');
}

describe('mirrors config', () => {
  it('accepts the issue minimal config and fills in defaults', () => {
    const config = parseConfig(minimal, 'test');
    expect(config.edgeId).toBe('gw-1');
    expect(config.mirrors).toEqual([
      {
        name: 'cloud',
        sink: 'mqtt',
        url: 'mqtt://127.0.0.1:1886',
        clientId: null,
        username: null,
        password: null,
        topics: ['telemetry'],
        remoteTopic: 'edge/{edgeId}/{topic}',
        qos: 1,
        windowMax: 100,
        backoff: { initialMs: 500, maxMs: 30_000 },
      },
    ]);
  });

  it('names the mirror in field errors', () => {
    const m = { ...minimal.mirrors[0], qos: 2, windowMax: 65535, url: 'http://x' };
    const text = problems({ mirrors: [m] });
    expect(text).toContain('mirrors.0.qos (mirror cloud): got 2, expected 0 or 1');
    expect(text).toContain('mirrors.0.windowMax (mirror cloud)');
    expect(text).toContain('mirrors.0.url (mirror cloud)');
  });

  it('rejects duplicate names, unknown template variables, wildcards and inverted backoff', () => {
    const m = minimal.mirrors[0];
    expect(problems({ mirrors: [m, m] })).toContain('mirrors.1.name (mirror cloud): got "cloud", expected a mirror name not used by an earlier mirror');
    expect(problems({ mirrors: [{ ...m, remoteTopic: 'edge/{site}/#' }] })).toMatch(/remoteTopic \(mirror cloud\).*\{site\}/);
    expect(problems({ mirrors: [{ ...m, remoteTopic: 'edge/#' }] })).toContain('without the wildcards');
    expect(problems({ mirrors: [{ ...m, backoff: { initialMs: '10s', maxMs: '1s' } }] })).toContain('mirrors.0.backoff.maxMs (mirror cloud)');
    expect(problems({ mirrors: [{ ...m, topics: [] }] })).toContain('mirrors.0.topics (mirror cloud)');
    expect(problems({ mirrors: [{ ...m, colour: 'red' }] })).toContain('unknown key "mirrors.0.colour" (mirror cloud)');
  });
});
