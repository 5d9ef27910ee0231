// Checks the UTF-8 strings of one MQTT 3.1/3.1.1/5 packet body as its bytes arrive, in pieces of any
// size: the CONNECT's client id, will topic and username, the PUBLISH topic, and the SUBSCRIBE and
// UNSUBSCRIBE topic filters. MQTT 5 adds properties (a variable byte integer length, then that many
// bytes) to the CONNECT, its will, the PUBLISH, SUBSCRIBE and UNSUBSCRIBE: their strings (user
// property names and values, content type, response topic...) are checked too. The CONNECT says
// which version its connection speaks (`connectLevel`); the caller passes it for every later packet. mqtt-packet decodes them with Buffer.toString, which turns a malformed
// sequence into U+FFFD and carries on, so a client could subscribe to, publish to or be named by a
// string it never sent. Only the strings are checked: a field whose length passes the end of its
// packet, or anything else wrong with the packet, is left to the parser, so a packet this accepts
// may still be refused there, never the other way round. A string is collected before it is checked
// (at most 65,535 bytes, its two-byte length); every other byte is only counted.
// Pure: no I/O, imports nothing else from src/. Section numbers cite MQTT 3.1.1, [MQTT5-x] MQTT 5.

import { isUtf8 } from 'node:buffer';

/** The string of a packet that is not acceptable [MQTT-1.5.3-1, MQTT-1.5.3-2]. */
export type StringField = 'client id' | 'will topic' | 'username' | 'topic' | 'topic filter' | 'property';

export interface BadString {
  field: StringField;
  /** The CONNECT's client id, when it was read and is acceptable (for the log line). */
  clientId?: string;
}

/** What a packet program asks for next: `take` collects n bytes and hands them back, `skip` passes them. */
type Request = { take: number } | { skip: number };
type Program = Generator<Request, BadString | null, Uint8Array>;

/** A body's first request: nothing asked yet. Never changed in place, so one serves every packet. */
const START: Request = { skip: 0 };

const CONNECT = 1;
const PUBLISH = 3;
const SUBSCRIBE = 8;
const UNSUBSCRIBE = 10;

/** The CONNECT protocol level of MQTT 5 [MQTT5-3.1.2.2]. */
export const MQTT5_LEVEL = 5;

/** What follows each MQTT 5 property identifier [MQTT5-2.2.2.2]: bytes to skip, or a kind to read. */
type PropertyValue = 1 | 2 | 4 | 'varint' | 'string' | 'binary' | 'pair';
const PROPERTY_VALUES: Record<number, PropertyValue> = {
  0x01: 1, // payload format indicator
  0x02: 4, // message expiry interval
  0x03: 'string', // content type
  0x08: 'string', // response topic
  0x09: 'binary', // correlation data
  0x0b: 'varint', // subscription identifier
  0x11: 4, // session expiry interval
  0x12: 'string', // assigned client identifier
  0x13: 2, // server keep alive
  0x15: 'string', // authentication method
  0x16: 'binary', // authentication data
  0x17: 1, // request problem information
  0x18: 4, // will delay interval
  0x19: 1, // request response information
  0x1a: 'string', // response information
  0x1c: 'string', // server reference
  0x1f: 'string', // reason string
  0x21: 2, // receive maximum
  0x22: 2, // topic alias maximum
  0x23: 2, // topic alias
  0x24: 1, // maximum QoS
  0x25: 1, // retain available
  0x26: 'pair', // user property
  0x27: 4, // maximum packet size
  0x28: 1, // wildcard subscription available
  0x29: 1, // subscription identifier available
  0x2a: 1, // shared subscription available
};

/** Whether packets of this type (the fixed header's high four bits) hold strings this checks. */
export function hasStrings(type: number): boolean {
  return type === CONNECT || type === PUBLISH || type === SUBSCRIBE || type === UNSUBSCRIBE;
}

/**
 * [MQTT-1.5.3-1] a string must be well-formed UTF-8 (no overlong forms such as c0 80, no surrogates);
 * [MQTT-1.5.3-2] it must not contain U+0000. Either way the receiver closes the connection.
 */
export function stringAcceptable(bytes: Uint8Array): boolean {
  return isUtf8(bytes) && !bytes.includes(0);
}

export class StringFields {
  private type: number;
  /** The fixed header's low four bits (a PUBLISH's QoS). */
  private flags: number;
  /** The connection's protocol level (its CONNECT's), for packets other than CONNECT. */
  private level: number;
  /** Made on the first bytes that do not hold a whole PUBLISH topic (the common case needs none). */
  private program: Program | null = null;
  private remaining: number;
  private request: Request | null = START;
  private parts: Uint8Array[] = [];
  private have = 0;
  /** The first unacceptable string, once found. */
  bad: BadString | null = null;
  /** A CONNECT's protocol level, once its bytes were read; null before, and for other packets. */
  connectLevel: number | null = null;

  /**
   * `type` is the fixed header's packet type (hasStrings must hold), `bodyBytes` its Remaining
   * Length, `level` the protocol level of the connection's CONNECT (4, MQTT 3.1.1, before one),
   * `flags` the fixed header's low four bits.
   */
  constructor(type: number, bodyBytes: number, level = 4, flags = 0) {
    this.type = type;
    this.remaining = bodyBytes;
    this.level = level;
    this.flags = flags;
  }

  /** Starts over on the next packet's body, as a new StringFields(type, bodyBytes, level, flags) would: the scanner keeps one. */
  reset(type: number, bodyBytes: number, level = 4, flags = 0): this {
    this.type = type;
    this.remaining = bodyBytes;
    this.level = level;
    this.flags = flags;
    this.connectLevel = null;
    this.program = null;
    this.request = START;
    if (this.have > 0) {
      this.parts = [];
      this.have = 0;
    }
    this.bad = null;
    return this;
  }

  /** True once nothing more of this packet needs checking (also after a bad string); false before its first bytes. */
  get done(): boolean {
    return this.request === null;
  }

  /** Takes the next bytes of the body; false once a string is not acceptable. */
  push(bytes: Uint8Array): boolean {
    if (this.program === null) {
      if (this.request === null || bytes.length === 0) return this.bad === null;
      const v5 = this.level === MQTT5_LEVEL;
      const qos = (this.flags >> 1) & 3;
      // A PUBLISH whose topic is all in its first piece (nearly every one): one check, no program;
      // MQTT 5 also needs its properties in that piece to be empty, or it takes the program.
      if (this.type === PUBLISH && bytes.length >= 2) {
        const length = (bytes[0] << 8) | bytes[1];
        if (bytes.length >= 2 + length) {
          if (length <= this.remaining - 2 && !stringAcceptable(bytes.subarray(2, 2 + length))) {
            this.bad = { field: 'topic' };
            this.request = null;
            return false;
          }
          const propertiesAt = 2 + length + (qos > 0 ? 2 : 0);
          if (!v5 || bytes[propertiesAt] === 0 || propertiesAt >= this.remaining) {
            this.request = null;
            return true;
          }
        }
      }
      const left = () => this.remaining;
      this.program =
        this.type === CONNECT ? connect(left, (level) => (this.connectLevel = level)) : this.type === PUBLISH ? publish(left, v5, qos > 0) : filters(left, this.type === SUBSCRIBE, v5);
      this.request = this.advance(undefined);
    }
    let i = 0;
    while (this.request !== null && i < bytes.length) {
      if ('skip' in this.request) {
        const n = Math.min(this.request.skip, bytes.length - i);
        i += n;
        this.remaining -= n;
        this.request = this.request.skip === n ? this.advance(undefined) : { skip: this.request.skip - n };
        continue;
      }
      const n = Math.min(this.request.take - this.have, bytes.length - i);
      this.parts.push(bytes.subarray(i, i + n));
      this.have += n;
      i += n;
      this.remaining -= n;
      if (this.have < this.request.take) continue;
      const taken = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.have);
      this.parts = [];
      this.have = 0;
      this.request = this.advance(taken);
    }
    return this.bad === null;
  }

  /** Runs the program to its next request that needs bytes; null once it returned. */
  private advance(input: Uint8Array | undefined): Request | null {
    const program = this.program!;
    let step = program.next(input as Uint8Array);
    for (;;) {
      if (step.done) {
        this.bad = step.value;
        return null;
      }
      const r = step.value;
      const n = 'take' in r ? r.take : r.skip;
      if (n > 0) return r;
      step = program.next(new Uint8Array(0));
    }
  }
}

/** The outcome of one length-prefixed field: its bytes, or null when it passes the end of the packet. */
function* field(left: () => number, keep: boolean): Generator<Request, Uint8Array | null, Uint8Array> {
  if (left() < 2) return null;
  const prefix = yield { take: 2 };
  const length = (prefix[0] << 8) | prefix[1];
  if (length > left()) return null;
  if (!keep) {
    yield { skip: length };
    return new Uint8Array(0);
  }
  return yield { take: length };
}

/** A variable byte integer [MQTT5-1.5.5] (at most four bytes), or null when malformed or cut by the packet's end. */
function* varint(left: () => number): Generator<Request, number | null, Uint8Array> {
  let value = 0;
  for (let i = 0, weight = 1; i < 4; i++, weight *= 128) {
    if (left() < 1) return null;
    const byte = (yield { take: 1 })[0];
    value += (byte & 0x7f) * weight;
    if ((byte & 0x80) === 0) return value;
  }
  return null;
}

/**
 * MQTT 5 properties: a variable byte integer length, then that many bytes of properties, each an
 * identifier and its value [MQTT5-2.2.2]. Checks their strings [MQTT-1.5.4-1, MQTT-1.5.4-2];
 * `end` when they are malformed (a length past the packet, an unknown identifier...): the parser's.
 */
function* properties(left: () => number): Generator<Request, BadString | null | 'end', Uint8Array> {
  const length = yield* varint(left);
  if (length === null || length > left()) return 'end';
  const end = left() - length;
  const inside = () => left() - end;
  while (inside() > 0) {
    const value = PROPERTY_VALUES[(yield { take: 1 })[0]];
    if (value === undefined) return 'end';
    if (typeof value === 'number') {
      if (inside() < value) return 'end';
      yield { skip: value };
    } else if (value === 'varint') {
      if ((yield* varint(inside)) === null) return 'end';
    } else if (value === 'binary') {
      if ((yield* field(inside, false)) === null) return 'end';
    } else {
      for (let n = value === 'pair' ? 2 : 1; n > 0; n--) {
        const string = yield* checked(inside, 'property');
        if (string !== null) return string;
      }
    }
  }
  return null;
}

/** Why a string ends a program: null if it is fine, `end` if the packet ended first, else what is wrong. */
function* checked(left: () => number, name: StringField): Generator<Request, BadString | null | 'end', Uint8Array> {
  const bytes = yield* field(left, true);
  if (bytes === null) return 'end';
  return stringAcceptable(bytes) ? null : { field: name };
}

// [MQTT-3.1.2] protocol name, level, flags, keep alive; [MQTT-3.1.3] client id, will topic, will
// message, username, password — the latter two are binary. MQTT 5 adds properties after the keep
// alive [MQTT5-3.1.2.11] and will properties before the will topic [MQTT5-3.1.3.2].
function* connect(left: () => number, seen: (level: number) => void): Program {
  if ((yield* field(left, false)) === null || left() < 4) return null;
  const head = yield { take: 4 };
  const level = head[0];
  const flags = head[1];
  seen(level);
  const v5 = level === MQTT5_LEVEL;
  if (v5) {
    const props = yield* properties(left);
    if (props !== null) return props === 'end' ? null : props;
  }
  const id = yield* field(left, true);
  if (id === null) return null;
  if (!stringAcceptable(id)) return { field: 'client id' };
  const clientId = Buffer.from(id).toString('utf8');
  if (flags & 0x04) {
    if (v5) {
      const props = yield* properties(left);
      if (props !== null) return props === 'end' ? null : { ...props, clientId };
    }
    const will = yield* checked(left, 'will topic');
    if (will === 'end') return null;
    if (will !== null) return { ...will, clientId };
    if ((yield* field(left, false)) === null) return null;
  }
  if (flags & 0x80) {
    const user = yield* checked(left, 'username');
    if (user !== null && user !== 'end') return { ...user, clientId };
  }
  return null;
}

// [MQTT-3.3.2.1] the topic name opens the variable header; MQTT 5: the packet id (QoS 1 and 2),
// then properties [MQTT5-3.3.2.3].
function* publish(left: () => number, v5: boolean, packetId: boolean): Program {
  const topic = yield* checked(left, 'topic');
  if (topic !== null || !v5) return topic === 'end' ? null : topic;
  if (packetId) {
    if (left() < 2) return null;
    yield { skip: 2 };
  }
  const props = yield* properties(left);
  return props === 'end' ? null : props;
}

// [MQTT-3.8.3] / [MQTT-3.10.3] a packet id, then filters, each followed by a QoS byte in a SUBSCRIBE
// (MQTT 5: subscription options, in the same place); MQTT 5 has properties after the packet id
// [MQTT5-3.8.2.1, MQTT5-3.10.2.1].
function* filters(left: () => number, qosByte: boolean, v5: boolean): Program {
  if (left() < 2) return null;
  yield { skip: 2 };
  if (v5) {
    const props = yield* properties(left);
    if (props !== null) return props === 'end' ? null : props;
  }
  while (left() > 0) {
    const filter = yield* checked(left, 'topic filter');
    if (filter !== null) return filter === 'end' ? null : filter;
    if (qosByte) {
      if (left() < 1) return null;
      yield { skip: 1 };
    }
  }
  return null;
}
