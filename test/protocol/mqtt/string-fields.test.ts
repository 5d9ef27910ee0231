import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { PacketScanner } from '../../../src/protocol/mqtt/packet-scanner.ts';
import { StringFields } from '../../../src/protocol/mqtt/string-fields.ts';
import { rawConnect as connect, mqttString as str, rawPacket as packet } from '../../helpers/mqtt-raw.ts';

const subscribe = (...filters: (number[] | string)[]) => packet(0x82, [0, 1, ...filters.flatMap((f) => [...str(f), 1])]);
const unsubscribe = (...filters: (number[] | string)[]) => packet(0xa2, [0, 1, ...filters.flatMap((f) => str(f))]);
const publish = (topic: number[] | string) => packet(0x32, [...str(topic), 0, 1, 0x78]);

const BAD: [string, number[]][] = [
  ['an overlong NUL (c0 80)', [0x61, 0xc0, 0x80]],
  ['a lone continuation byte', [0x61, 0x80]],
  ['a UTF-16 surrogate (ed a0 80)', [0xed, 0xa0, 0x80]],
  ['a truncated sequence', [0x61, 0xe2, 0x82]],
  ['U+0000', [0x61, 0x00, 0x62]],
];

/** The packet's body, the way the scanner hands it over: after the fixed header. */
function bodyOf(p: Buffer): { type: number; body: Buffer } {
  let i = 1;
  while (p[i] & 0x80) i++;
  return { type: p[0] >> 4, body: p.subarray(i + 1) };
}

/** Feeds the body in the given pieces; the final verdict and whether it was done at the end. */
function check(p: Buffer, cuts: number[]): { ok: boolean; bad: unknown; done: boolean } {
  const { type, body } = bodyOf(p);
  const fields = new StringFields(type, body.length);
  let ok = true;
  let at = 0;
  for (const cut of [...cuts, body.length]) {
    ok = fields.push(body.subarray(at, cut)) && ok;
    at = cut;
  }
  return { ok, bad: fields.bad, done: fields.done };
}

/** Every way to cut the body once, and one byte at a time. */
function splits(p: Buffer): number[][] {
  const n = bodyOf(p).body.length;
  return [[], ...Array.from({ length: n - 1 }, (_, i) => [i + 1]), Array.from({ length: n - 1 }, (_, i) => i + 1)];
}

describe('StringFields', () => {
  describe.each(BAD)('refuses a string holding %s, split at every byte', (_what, bad) => {
    it.each([
      ['client id', connect({ id: bad }), { field: 'client id' }],
      ['MQTT 3.1 client id', connect({ id: bad, level: 3 }), { field: 'client id' }],
      ['will topic', connect({ will: { topic: bad, message: [1] } }), { field: 'will topic', clientId: 'dev-1' }],
      ['username', connect({ will: { topic: 'w', message: [0xff] }, username: bad, password: [0xc0, 0x80] }), { field: 'username', clientId: 'dev-1' }],
      ['PUBLISH topic', publish(bad), { field: 'topic' }],
      ['SUBSCRIBE filter (first)', subscribe(bad, 'a/#'), { field: 'topic filter' }],
      ['SUBSCRIBE filter (second)', subscribe('a/#', bad), { field: 'topic filter' }],
      ['UNSUBSCRIBE filter (second)', unsubscribe('a/+', bad), { field: 'topic filter' }],
    ])('in a %s', (_where, p, expected) => {
      for (const cuts of splits(p)) expect(check(p, cuts)).toEqual({ ok: false, bad: expected, done: true });
    });
  });

  it.each([
    ['CONNECT with will, username and binary will message and password', connect({ id: 'caf\u00e9', will: { topic: 'w/\ufffd', message: [0xc0, 0x80, 0] }, username: '\u{1f600}', password: [0xff, 0] })],
    ['CONNECT with an empty client id, MQTT 3.1', connect({ id: '', level: 3 })],
    ['PUBLISH', publish('t/\u00e9')],
    ['SUBSCRIBE with three filters', subscribe('a/#', '+/\u00e9', '$SYS/x')],
    ['UNSUBSCRIBE', unsubscribe('a/#', 'b')],
  ])('takes well-formed strings and binary fields: %s, split at every byte', (_what, p) => {
    for (const cuts of splits(p)) expect(check(p, cuts)).toEqual({ ok: true, bad: null, done: true });
  });

  it('leaves a string longer than its packet to the parser', () => {
    // A SUBSCRIBE whose filter length says 9, with only 2 bytes (c0 80) left.
    expect(check(packet(0x82, [0, 1, 0, 9, 0xc0, 0x80]), [])).toEqual({ ok: true, bad: null, done: true });
    // A CONNECT cut inside its client id.
    expect(check(packet(0x10, [...str('MQTT'), 4, 2, 0, 60, 0, 9, 0xc0]), [])).toEqual({ ok: true, bad: null, done: true });
  });

  it('takes whatever well-formed strings mqtt-packet encodes, cut anywhere', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 20 }).filter((s) => !s.includes('\u0000'));
    fc.assert(
      fc.property(text, text, text, fc.array(fc.nat(), { maxLength: 4 }), (a, b, c, cutSeeds) => {
        for (const p of [
          mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: a, keepalive: 0, username: b, password: Buffer.from([0xc0]), will: { topic: c || 'w', payload: Buffer.from([0xff]), qos: 1, retain: false } }),
          mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: a || 'x', qos: 0 }, { topic: b || 'y', qos: 1 }] }),
          mqttPacket.generate({ cmd: 'unsubscribe', messageId: 1, unsubscriptions: [a || 'x', c || 'z'] }),
          mqttPacket.generate({ cmd: 'publish', topic: c || 'p', payload: Buffer.from(b), qos: 0, dup: false, retain: false }),
        ]) {
          const n = bodyOf(p).body.length;
          const cuts = [...new Set(cutSeeds.map((s) => s % (n + 1)))].sort((x, y) => x - y);
          expect(check(p, cuts)).toEqual({ ok: true, bad: null, done: true });
        }
      }),
    );
  });
});

describe('PacketScanner strings', () => {
  it.each([
    ['CONNECT client id', connect({ id: [0xc0, 0x80] }), { packetType: 1, field: 'client id' }],
    ['CONNECT username', connect({ username: [0x61, 0x00] }), { packetType: 1, field: 'username', clientId: 'dev-1' }],
    ['SUBSCRIBE filter', subscribe('ok', [0xed, 0xa0, 0x80]), { packetType: 8, field: 'topic filter' }],
    ['UNSUBSCRIBE filter', unsubscribe([0x80]), { packetType: 10, field: 'topic filter' }],
  ])('refuses a bad %s behind other packets, fed one byte at a time', (_what, bad, expected) => {
    const stream = Buffer.concat([mqttPacket.generate({ cmd: 'pingreq' }), subscribe('a/b'), publish('t'), bad]);
    const scanner = new PacketScanner(1024);
    const results = [...stream].map((byte) => scanner.push(Buffer.from([byte])));
    // Fails inside the bad packet (a SUBSCRIBE's QoS byte may follow), and stays failed.
    const first = results.findIndex((r) => !r.ok);
    expect(first).toBeGreaterThanOrEqual(stream.length - bad.length);
    for (const r of results.slice(first)) expect(r).toEqual({ ok: false, reason: 'bad-string', ...expected });
    expect(new PacketScanner(1024).push(stream)).toEqual({ ok: false, reason: 'bad-string', ...expected });
  });
});

describe('StringFields, MQTT 5', () => {
  const v5 = { protocolId: 'MQTT', protocolVersion: 5 } as const;
  /** A v5 packet's verdict, fed whole and one byte at a time; `level` 5 for packets after the CONNECT. */
  function checkV5(p: Buffer, level: number): { ok: boolean; bad: unknown; done: boolean }[] {
    const { type, body } = bodyOf(p);
    const verdict = (pieces: Buffer[]) => {
      const fields = new StringFields(type, body.length, level, p[0] & 0x0f);
      let ok = true;
      for (const piece of pieces) ok = fields.push(piece) && ok;
      return { ok, bad: fields.bad, done: fields.done };
    };
    return [verdict([body]), verdict([...body].map((b) => Buffer.from([b])))];
  }

  it('reads the CONNECT past its properties and will properties, and says it is MQTT 5', () => {
    const p = mqttPacket.generate(
      {
        cmd: 'connect',
        ...v5,
        clean: true,
        clientId: 'caf\u00e9',
        keepalive: 0,
        username: 'u',
        properties: { sessionExpiryInterval: 0x00c080, receiveMaximum: 0xc080, userProperties: { a: 'b' } },
        will: { topic: 'w/1', payload: Buffer.from([0xc0, 0x80]), qos: 1, retain: false, properties: { willDelayInterval: 0x00c080, contentType: 'x' } },
      },
      { protocolVersion: 5 },
    );
    const { type, body } = bodyOf(p);
    const fields = new StringFields(type, body.length);
    expect(fields.push(body)).toBe(true);
    expect(fields.connectLevel).toBe(5);
    for (const r of checkV5(p, 4)) expect(r).toEqual({ ok: true, bad: null, done: true });
  });

  it('is not fooled by properties a 3.1.1 reading would take for a client id holding U+0000', () => {
    // Properties 17 01 (length 2): read as 3.1.1, the client id's length is 0x0217 and the id's own
    // length prefix (00 64) sits inside it.
    const body = [...str('MQTT'), 5, 0x06, 0, 0, 2, 0x17, 0x01, ...str('d'.repeat(100)), 0, 0, ...str('w'), ...str('m'.repeat(600))];
    for (const r of checkV5(packet(0x10, body), 4)) expect(r).toEqual({ ok: true, bad: null, done: true });
  });

  it.each([
    ['client id', [...str('MQTT'), 5, 0x02, 0, 0, 0, ...str([0x61, 0xc0, 0x80])], { field: 'client id' }],
    ['will topic behind will properties', [...str('MQTT'), 5, 0x06, 0, 0, 0, ...str('d'), 2, 0x01, 0x01, ...str([0xed, 0xa0, 0x80]), ...str('m')], { field: 'will topic', clientId: 'd' }],
    ['username', [...str('MQTT'), 5, 0x82, 0, 0, 3, 0x21, 0, 5, ...str('d'), ...str([0x61, 0])], { field: 'username', clientId: 'd' }],
  ])('refuses a bad %s in an MQTT 5 CONNECT', (_what, body, expected) => {
    for (const r of checkV5(packet(0x10, body), 4)) expect(r).toEqual({ ok: false, bad: expected, done: true });
  });

  it.each([
    ['SUBSCRIBE', packet(0x82, [0, 1, 2, 0x0b, 0x01, ...str('ok/#'), 0x01, ...str([0x61, 0x80]), 0x02])],
    ['SUBSCRIBE, no properties', packet(0x82, [0, 1, 0, ...str([0xc0, 0x80]), 0x01])],
    ['UNSUBSCRIBE', packet(0xa2, [0, 1, 6, 0x26, ...str('k'), ...str(''), ...str('a'), ...str([0x00])])],
  ])('refuses a bad filter behind the properties of an MQTT 5 %s', (_what, p) => {
    for (const r of checkV5(p, 5)) expect(r).toEqual({ ok: false, bad: { field: 'topic filter' }, done: true });
  });

  it('takes what mqtt-packet encodes for MQTT 5, binary properties holding c0 80 and 00 included', () => {
    const props = { userProperties: { 'k\u00e9': ['v', '\u{1f600}'] }, subscriptionIdentifier: 0x1000 };
    for (const p of [
      mqttPacket.generate({ cmd: 'subscribe', messageId: 1, properties: props, subscriptions: [{ topic: 'a/\u00e9', qos: 1, nl: true, rap: true, rh: 2 }, { topic: 'b', qos: 0 }] }, { protocolVersion: 5 }),
      mqttPacket.generate({ cmd: 'unsubscribe', messageId: 1, properties: { userProperties: { '': '' } }, unsubscriptions: ['a', 'b/#'] }, { protocolVersion: 5 }),
      mqttPacket.generate(
        {
          cmd: 'publish',
          topic: 't',
          payload: Buffer.from([0]),
          qos: 1,
          messageId: 7,
          dup: false,
          retain: false,
          properties: { payloadFormatIndicator: true, messageExpiryInterval: 9, topicAlias: 3, correlationData: Buffer.from([0xc0, 0x80, 0]), responseTopic: 'r/\u00e9', contentType: 'text/plain', userProperties: { a: 'b' }, subscriptionIdentifier: [1, 300] },
        },
        { protocolVersion: 5 },
      ),
      mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.from([0]), qos: 0, dup: false, retain: false, properties: { userProperties: { a: 'b' } } }, { protocolVersion: 5 }),
    ]) {
      for (const r of checkV5(p, 5)) expect(r).toEqual({ ok: true, bad: null, done: true });
    }
  });

  const userProperty = (name: number[], value: number[]) => [0x26, ...str(name), ...str(value)];
  const props = (...bytes: number[]) => [bytes.length, ...bytes];
  it.each([
    ['CONNECT properties', packet(0x10, [...str('MQTT'), 5, 0x02, 0, 0, ...props(...userProperty([0x61], [0x61, 0])), ...str('d')]), { field: 'property' }],
    ['CONNECT will properties', packet(0x10, [...str('MQTT'), 5, 0x06, 0, 0, 0, ...str('d'), ...props(0x03, ...str([0xc0, 0x80])), ...str('w'), ...str('m')]), { field: 'property', clientId: 'd' }],
    ['QoS 1 PUBLISH user property name', packet(0x32, [...str('t'), 0, 1, ...props(0x01, 1, ...userProperty([0xed, 0xa0, 0x80], [0x61]))]), { field: 'property' }],
    ['QoS 0 PUBLISH response topic', packet(0x30, [...str('t'), ...props(0x09, 0, 1, 0xff, 0x08, ...str([0x61, 0x80])), 0x78]), { field: 'property' }],
    ['SUBSCRIBE user property value', packet(0x82, [0, 1, ...props(0x0b, 0x81, 0x01, ...userProperty([0x61], [0x00])), ...str('a'), 1]), { field: 'property' }],
    ['UNSUBSCRIBE user property value', packet(0xa2, [0, 1, ...props(...userProperty([0x61], [0x62, 0xe2, 0x82])), ...str('a')]), { field: 'property' }],
  ])('refuses a bad string in MQTT 5 %s, split at every byte', (_what, p, expected) => {
    const { type, body } = bodyOf(p);
    const level = type === 1 ? 4 : 5;
    for (const cuts of splits(p)) {
      const fields = new StringFields(type, body.length, level, p[0] & 0x0f);
      let ok = true;
      let at = 0;
      for (const cut of [...cuts, body.length]) {
        ok = fields.push(body.subarray(at, cut)) && ok;
        at = cut;
      }
      expect({ ok, bad: fields.bad, done: fields.done }).toEqual({ ok: false, bad: expected, done: true });
    }
  });

  it('leaves malformed MQTT 5 properties to the parser: an unknown identifier, a length past the packet', () => {
    for (const p of [
      packet(0x30, [...str('t'), ...props(0x7f, 0x00), 0x78]),
      packet(0x30, [...str('t'), 9, 0x03, 0, 1]),
      packet(0x82, [0, 1, 0xff, 0xff, 0xff, 0xff, 0x01]),
    ]) {
      for (const r of checkV5(p, 5)) expect(r).toEqual({ ok: true, bad: null, done: true });
    }
  });
});

describe('StringFields, MQTT 5, generated', () => {
  it('takes whatever well-formed packets mqtt-packet encodes for MQTT 5, properties included, cut anywhere', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 20 }).filter((s) => !s.includes('\u0000'));
    fc.assert(
      fc.property(text, text, text, text, fc.array(fc.nat(), { maxLength: 4 }), (a, b, c, prop, cutSeeds) => {
        const userProperties = { [prop || 'k']: prop };
        for (const [p, level] of [
          [mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: a, keepalive: 0, username: b, properties: { userProperties, authenticationMethod: prop }, will: { topic: c || 'w', payload: Buffer.from([0xff]), qos: 1, retain: false, properties: { userProperties, contentType: prop } } }, { protocolVersion: 5 }), 4],
          [mqttPacket.generate({ cmd: 'subscribe', messageId: 1, properties: { userProperties, subscriptionIdentifier: 1 + prop.length }, subscriptions: [{ topic: a || 'x', qos: 0 }, { topic: b || 'y', qos: 1 }] }, { protocolVersion: 5 }), 5],
          [mqttPacket.generate({ cmd: 'unsubscribe', messageId: 1, properties: { userProperties }, unsubscriptions: [a || 'x', c || 'z'] }, { protocolVersion: 5 }), 5],
        ] as const) {
          const { type, body } = bodyOf(p);
          const cuts = [...new Set(cutSeeds.map((s) => s % (body.length + 1)))].sort((x, y) => x - y);
          const fields = new StringFields(type, body.length, level);
          let ok = true;
          let at = 0;
          for (const cut of [...cuts, body.length]) {
            ok = fields.push(body.subarray(at, cut)) && ok;
            at = cut;
          }
          expect({ ok, bad: fields.bad, done: fields.done }).toEqual({ ok: true, bad: null, done: true });
        }
      }),
    );
  });
});

describe('PacketScanner, MQTT 5', () => {
  it('reaches one verdict on random MQTT 5 packets whether fed whole or a byte at a time, and never throws', () => {
    const connect5 = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'f', keepalive: 0 }, { protocolVersion: 5 });
    const typeByte = fc.constantFrom(0x30, 0x32, 0x34, 0x3b, 0x82, 0xa2, 0x10);
    const randomPacket = fc.tuple(typeByte, fc.uint8Array({ maxLength: 60 })).map(([first, body]) => packet(first, [...body]));
    fc.assert(
      fc.property(fc.array(randomPacket, { minLength: 1, maxLength: 5 }), (packets) => {
        const stream = Buffer.concat([connect5, ...packets]);
        const whole = new PacketScanner(4096).push(stream);
        const bytewise = new PacketScanner(4096);
        let last = bytewise.push(stream.subarray(0, 0));
        for (const byte of stream) last = bytewise.push(Buffer.from([byte]));
        expect(last.ok).toBe(whole.ok);
        if (!whole.ok) expect(last).toEqual(whole);
      }),
      { numRuns: 500 },
    );
  });

  it('scans SUBSCRIBE and UNSUBSCRIBE as MQTT 5 after an MQTT 5 CONNECT, and as 3.1.1 after a 3.1.1 one', () => {
    // The subscription identifier 0b 01 read as 3.1.1 is a filter of 0x020b bytes holding the real
    // first filter's length prefix 00 64: refused for U+0000.
    const sub = packet(0x82, [0, 1, 2, 0x0b, 0x01, ...str('a'.repeat(100)), 0x01, ...str('b'.repeat(500)), 0x00]);
    const v5 = new PacketScanner(4096);
    expect(v5.push(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'x', keepalive: 0 }, { protocolVersion: 5 }), 1)).toMatchObject({ ok: true, packetsEnded: 1 });
    expect(v5.protocolLevel).toBe(5);
    expect(v5.push(sub)).toMatchObject({ ok: true, packetsEnded: 1 });
    expect(v5.push(packet(0xa2, [0, 1, 0, ...str([0xc0, 0x80])]))).toEqual({ ok: false, reason: 'bad-string', packetType: 10, field: 'topic filter' });
    const v4 = new PacketScanner(4096);
    expect(v4.push(connect({}))).toMatchObject({ ok: true, packetsEnded: 1 });
    expect(v4.protocolLevel).toBe(4);
    expect(v4.push(sub)).toEqual({ ok: false, reason: 'bad-string', packetType: 8, field: 'topic filter' });
  });
});
