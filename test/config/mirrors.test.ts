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
        protocolVersion: 5,
        clientId: null,
        username: null,
        password: null,
        tls: { caFile: null, certFile: null, keyFile: null, rejectUnauthorized: true },
        topics: ['telemetry'],
        priorities: {},
        remoteTopic: 'edge/{edgeId}/{topic}',
        startFrom: 'earliest',
        qos: 1,
        windowMax: 100,
        windowBytesMax: 16 * 1024 * 1024,
        batch: { bytesMax: 65_536, lingerMs: 0 },
        rateLimitBytesPerSec: -1,
        onRejected: 'skip',
        keepaliveMs: 30_000,
        connectTimeoutMs: 10_000,
        ackTimeoutMs: 30_000,
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
    for (const url of ['mqtt://127.0.0.1:99999', 'mqtt://127.0.0.1:-5'])
      expect(problems({ mirrors: [{ ...minimal.mirrors[0], url }] })).toContain(`mirrors.0.url (mirror cloud): got "${url}", expected an mqtt:// or mqtts:// URL with a host and a port from 1 to 65535`);
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

  it('takes topic patterns, priorities for listed topics only, sizes and rates in units', () => {
    const m = minimal.mirrors[0];
    const config = parseConfig({ mirrors: [{ ...m, topics: ['alarms', 'sensors.*'], priorities: { alarms: 10, 'sensors.*': -1 }, batch: { bytesMax: '16KiB', lingerMs: '20ms' }, rateLimitBytesPerSec: '8KiB' }] }, 'test');
    expect(config.mirrors[0]).toMatchObject({ topics: ['alarms', 'sensors.*'], priorities: { alarms: 10, 'sensors.*': -1 }, batch: { bytesMax: 16_384, lingerMs: 20 }, rateLimitBytesPerSec: 8192 });
    expect(problems({ mirrors: [{ ...m, priorities: { other: 1 } }] })).toContain('mirrors.0.priorities.other (mirror cloud): got "other", expected a name or pattern listed in topics');
    expect(problems({ mirrors: [{ ...m, topics: ['bad/name'] }] })).toContain('mirrors.0.topics.0 (mirror cloud)');
    expect(problems({ mirrors: [{ ...m, onRejected: 'ignore' }] })).toContain('mirrors.0.onRejected (mirror cloud)');
  });

  it('needs the origin in the topic under MQTT 3.1.1, and mqtts:// for TLS files', () => {
    const m = minimal.mirrors[0];
    expect(problems({ mirrors: [{ ...m, protocolVersion: 4 }] })).toContain('with {partition} and {offset} under protocolVersion 4');
    expect(parseConfig({ mirrors: [{ ...m, protocolVersion: 4, remoteTopic: 'edge/{edgeId}/{topic}/{partition}/{offset}' }] }, 'test').mirrors[0]).toMatchObject({ protocolVersion: 4 });
    expect(problems({ mirrors: [{ ...m, tls: { caFile: '/etc/ca.pem' } }] })).toContain('mirrors.0.url (mirror cloud): got "mqtt://127.0.0.1:1886", expected an mqtts:// URL (tls files are set)');
    expect(problems({ mirrors: [{ ...m, url: 'mqtts://h:8883', tls: { certFile: '/c.pem' } }] })).toContain('mirrors.0.tls.keyFile (mirror cloud)');
  });

  it('fills in a Kafka mirror and refuses what Kafka cannot take', () => {
    const kafka = { name: 'central', sink: 'kafka', brokers: ['k1:9092', '[::1]:9093'], topics: ['telemetry'] };
    expect(parseConfig({ edgeId: 'gw-1', mirrors: [kafka] }, 'test').mirrors[0]).toEqual({
      ...kafka,
      clientId: null,
      tls: { enabled: false, caFile: null, certFile: null, keyFile: null, rejectUnauthorized: true },
      sasl: null,
      priorities: {},
      remoteTopic: 'edge.{edgeId}.{topic}',
      startFrom: 'earliest',
      createTopics: false,
      compression: 'none',
      maxMessageBytes: 1_048_588,
      windowMax: 10_000,
      windowBytesMax: 16 * 1024 * 1024,
      batch: { bytesMax: 65_536, lingerMs: 0 },
      rateLimitBytesPerSec: -1,
      onRejected: 'skip',
      connectTimeoutMs: 10_000,
      ackTimeoutMs: 30_000,
      backoff: { initialMs: 500, maxMs: 30_000 },
    });
    expect(problems({ mirrors: [{ ...kafka, brokers: ['k1'] }] })).toContain('mirrors.0.brokers.0 (mirror central): got "k1", expected a broker address host:port');
    expect(problems({ mirrors: [{ ...kafka, brokers: ['k1:99999'] }] })).toContain('mirrors.0.brokers.0 (mirror central): got "k1:99999", expected a broker address host:port with a port from 1 to 65535');
    expect(problems({ mirrors: [{ ...kafka, remoteTopic: 'edge/{edgeId}/{topic}' }] })).toContain('mirrors.0.remoteTopic (mirror central)');
    expect(problems({ mirrors: [{ ...kafka, remoteTopic: 'edge.{partition}' }] })).toContain('not {partition}');
    expect(problems({ mirrors: [{ ...kafka, tls: { caFile: '/ca.pem' } }] })).toContain('mirrors.0.tls.enabled (mirror central): got false, expected true (tls files are set)');
    expect(problems({ mirrors: [{ ...kafka, sasl: { mechanism: 'GSSAPI', username: 'u', password: 'p' } }] })).toContain('PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512');
    expect(problems({ mirrors: [{ ...kafka, compression: 'brotli' }] })).toContain('none, gzip, snappy, lz4 or zstd');
    // An MQTT key on a Kafka mirror is refused, not ignored.
    expect(problems({ mirrors: [{ ...kafka, qos: 1 }] })).toMatch(/mirrors\.0.*qos/);
    expect(problems({ mirrors: [{ ...kafka, sink: 'amqp' }] })).toContain('mirrors.0.sink (mirror central): got "amqp", expected mqtt or kafka');
    expect(problems({ mirrors: [{ name: 'x', topics: ['t'] }] })).toContain('mirrors.0.sink (mirror x): got nothing, expected mqtt or kafka');
  });
});
