// [MQTT-1.5.3-1, MQTT-1.5.3-2]: a client id, will topic, username or SUBSCRIBE/UNSUBSCRIBE topic
// filter that is not well-formed UTF-8, or holds U+0000, closes the connection — against a real
// broker over a raw socket, one packet type at a time. Without the check mqtt-packet turned the bytes
// into U+FFFD: the client was named, subscribed or unsubscribed by a string it never sent.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.ts';
import { startTributary } from '../../../src/main.ts';
import { connectMqtt, RawMqtt } from '../../helpers/mqtt.ts';
import { rawConnect, mqttString as str, rawPacket as packet } from '../../helpers/mqtt-raw.ts';
import { onCleanup, tempDir } from '../../helpers/temp.ts';

interface Line {
  level: number;
  msg: string;
  code?: string;
  clientId?: string | null;
  err?: string;
}

async function start() {
  const lines: Line[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const config = parseConfig({ dataDir: tempDir(), listeners: { edge: { host: '127.0.0.1', port: 0 }, http: { enabled: false }, mqtt: { host: '127.0.0.1', port: 0, ws: { enabled: false } }, kafka: { enabled: false } } }, 'test');
  const running = await startTributary(config, logger);
  onCleanup(() => running.close());
  return { running, port: running.mqtt!.port, lines };
}

/** An MQTT 3.1.1 CONNECT with clean session, keep alive 0, and the given optional fields. */
const connect = (id: number[] | string, opt: { willTopic?: number[]; username?: number[] } = {}): Buffer =>
  rawConnect({ id, will: opt.willTopic && { topic: opt.willTopic, message: str('gone') }, username: opt.username });

const OVERLONG_NUL = [0x61, 0xc0, 0x80];

describe('MQTT strings that are not well-formed UTF-8', () => {
  it.each([
    ['client id (c0 80)', connect(OVERLONG_NUL), null],
    ['client id holding U+0000', connect([0x61, 0x00]), null],
    ['will topic (a surrogate, ed a0 80)', connect('dev-w', { willTopic: [0x77, 0xed, 0xa0, 0x80] }), 'dev-w'],
    ['username (a lone continuation byte)', connect('dev-u', { username: [0x75, 0x80] }), 'dev-u'],
  ])('closes a CONNECT whose %s without a CONNACK', async (_what, bytes, clientId) => {
    const { running, port, lines } = await start();
    const peer = await RawMqtt.connect(port);
    peer.write(bytes);
    await peer.waitClosed();
    expect(peer.packets).toEqual([]);
    expect(running.mqtt!.metrics.closed.get('malformed')).toBe(1);
    expect(running.mqtt!.clientCount).toBe(0);
    expect(lines).toContainEqual(expect.objectContaining({ level: 30, msg: 'closing MQTT connection', code: 'MALFORMED_FRAME', clientId, err: expect.stringMatching(/^CONNECT .* is not well-formed UTF-8/) }));
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });

  it.each([
    ['SUBSCRIBE', packet(0x82, [0, 7, ...str('ok/#'), 1, ...str(OVERLONG_NUL), 1])],
    ['UNSUBSCRIBE', packet(0xa2, [0, 7, ...str([0x61, 0x00, 0x62])])],
  ])('closes a client whose %s topic filter is malformed, without an answer, and serves others', async (what, bytes) => {
    const { running, port, lines } = await start();
    const other = await connectMqtt(port, { clientId: 'other' });
    const peer = await RawMqtt.session(port, 'bad-filter');
    peer.write(bytes);
    await peer.waitClosed();
    expect(peer.packets.map((p) => p.cmd)).toEqual(['connack']);
    expect(running.mqtt!.metrics.closed.get('malformed')).toBe(1);
    expect(lines).toContainEqual(expect.objectContaining({ level: 30, msg: 'closing MQTT connection', code: 'MALFORMED_FRAME', clientId: 'bad-filter', err: expect.stringMatching(new RegExp(`^${what} topic filter is not well-formed UTF-8`)) }));
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
    await other.publishAsync('still/served', 'x', { qos: 1 });
  });

  it('takes well-formed strings everywhere, U+FFFD written out included', async () => {
    const { port } = await start();
    const peer = await RawMqtt.connect(port);
    peer.write(connect('caf\u00e9-\ufffd', { willTopic: [...Buffer.from('w/\u{1f600}')], username: [...Buffer.from('\u00fc')] }));
    expect(await peer.waitFor((p) => p.cmd === 'connack')).toMatchObject({ returnCode: 0 });
    peer.write(packet(0x82, [0, 7, ...str('caf\u00e9/#'), 1]));
    expect(await peer.waitFor((p) => p.cmd === 'suback')).toMatchObject({ granted: [1] });
    peer.write(packet(0xa2, [0, 8, ...str('caf\u00e9/#')]));
    await peer.waitFor((p) => p.cmd === 'unsuback');
  });
});
