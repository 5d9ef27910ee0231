// Requests as real clients put them on the wire, built byte by byte from the Kafka protocol
// specification (the clients themselves are exercised by the interop tests of the listener), and
// the response header rule that trips clients: ApiVersions answers with header v0 at every version.

import { describe, expect, expectTypeOf, it } from 'vitest';
import { ApiKey } from '../../../src/protocol/kafka/apis.ts';
import {
  decodeRequest,
  decodeRequestFrame,
  decodeRequestHeader,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  responseHeaderVersion,
} from '../../../src/protocol/kafka/codec.ts';

/** Hex bytes; `#` starts a comment that runs to the end of the line. */
const hex = (s: string): Buffer => Buffer.from(s.replace(/#.*$/gm, '').replace(/\s+/g, ''), 'hex');

describe('requests as clients send them', () => {
  // librdkafka 2.0.2 (kcat, confluent-kafka) opens every connection with ApiVersions v3. v3 is
  // flexible, so the request header is v2: api key, version, correlation id, then the client id as
  // a NON-compact nullable string (int16 length; the header's client id never became compact),
  // then an empty tagged-field section. The body's two strings are compact (unsigned varint
  // length + 1), and the body ends with its own empty tagged-field section.
  const librdkafkaApiVersions = hex(`
    0012 0003 00000001            # api key 18, version 3, correlation id 1
    0007 72646b61666b61           # client id "rdkafka" (int16 length 7)
    00                            # header tagged fields: none
    0b 6c69627264 6b61666b61      # client software name "librdkafka" (compact: 10 + 1)
    06 322e302e32                 # client software version "2.0.2" (compact: 5 + 1)
    00                            # body tagged fields: none
  `);

  it('ApiVersions v3 as librdkafka sends it', () => {
    const decoded = decodeRequestFrame(librdkafkaApiVersions);
    expect(decoded).toEqual({
      ok: true,
      value: {
        header: { apiKey: 18, apiVersion: 3, correlationId: 1, clientId: 'rdkafka', headerBytes: 18 },
        body: { clientSoftwareName: 'librdkafka', clientSoftwareVersion: '2.0.2' },
      },
    });
    const encoded = encodeRequest(18, 3, 1, 'rdkafka', { clientSoftwareName: 'librdkafka', clientSoftwareVersion: '2.0.2' });
    expect(encoded.subarray(4)).toEqual(librdkafkaApiVersions);
    expect(encoded.readInt32BE(0)).toBe(librdkafkaApiVersions.length);
  });

  it('ApiVersions v0 as kafka-python probes: header v1 and an empty body', () => {
    const frame = hex('0012 0000 00000001 0012 6b61666b612d707974686f6e2d322e302e32');
    const decoded = decodeRequestFrame(frame);
    expect(decoded.ok && decoded.value.header.clientId).toBe('kafka-python-2.0.2');
    // Fields of later versions read as their defaults.
    expect(decoded.ok && decoded.value.body).toEqual({ clientSoftwareName: '', clientSoftwareVersion: '' });
  });

  // kafka-python 2.0.2 asks for metadata with v1 (non-flexible: header v1, int16 strings, int32
  // array counts). Asking for every topic is a null array (count -1), which v1 allows.
  it('Metadata v1 as kafka-python sends it, for all topics and for one topic', () => {
    const all = hex('0003 0001 00000002 0012 6b61666b612d707974686f6e2d322e302e32 ffffffff');
    const one = hex('0003 0001 00000003 0012 6b61666b612d707974686f6e2d322e302e32 00000001 0008 6d792d746f706963');
    const a = decodeRequestFrame(all);
    const o = decodeRequestFrame(one);
    expect(a.ok && a.value.body.topics).toBeNull();
    expect(o.ok && o.value.body.topics).toEqual([{ topicId: '00000000-0000-0000-0000-000000000000', name: 'my-topic' }]);
    // allowAutoTopicCreation only exists from v4; before it Kafka's default (true) applies.
    expect(o.ok && o.value.body.allowAutoTopicCreation).toBe(true);
    expect(encodeRequest(3, 1, 2, 'kafka-python-2.0.2', { topics: null }).subarray(4)).toEqual(all);
    expect(encodeRequest(3, 1, 3, 'kafka-python-2.0.2', { topics: [{ name: 'my-topic' }] }).subarray(4)).toEqual(one);
  });

  // @platformatic/kafka 1.35.0 sends Metadata v11 with one byte too many: the
  // includeClusterAuthorizedOperations flag that v11 removed. Kafka never checks that a request was
  // read to its end, so the client works against Kafka; it must work here too.
  it('Metadata v11 as @platformatic/kafka sends it, with a trailing byte, decodes as Kafka reads it', () => {
    const body = hex(`
      03                                   # topics: compact array of 2
      00000000000000000000000000000000 0261 00   # topic id (zero), name "a", tagged fields
      00000000000000000000000000000000 0262 00   # topic id (zero), name "b", tagged fields
      01                                   # allowAutoTopicCreation
      00                                   # includeTopicAuthorizedOperations
      00                                   # tagged fields: none
      00                                   # the extra byte
    `);
    const decoded = decodeRequest(3, 11, body);
    expect(decoded).toMatchObject({ ok: true, value: { allowAutoTopicCreation: true, topics: [{ name: 'a' }, { name: 'b' }] } });
  });

  it('Metadata v0 has no null topics: count -1 is malformed there (v0 asks for all with an empty list)', () => {
    const body = hex('ffffffff');
    expect(decodeRequest(3, 0, body)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(decodeRequest(3, 1, body)).toMatchObject({ ok: true, value: { topics: null } });
  });

  it('Produce v3 passes the record batch through as a view of the input, untouched', () => {
    const batch = Buffer.from('00000000000000000000003dffffffff02aabbccdd', 'hex');
    const frame = encodeRequest(0, 3, 9, 'p', {
      transactionalId: null,
      acks: -1,
      timeoutMs: 30000,
      topicData: [{ name: 't', partitionData: [{ index: 0, records: batch }] }],
    }).subarray(4);
    const decoded = decodeRequestFrame(frame);
    if (!decoded.ok) throw new Error(decoded.message);
    const records = (decoded.value.body.topicData as { partitionData: { records: Buffer }[] }[])[0].partitionData[0].records;
    expect(records).toEqual(batch);
    expect(records.buffer).toBe(frame.buffer);
  });
});

describe('response headers', () => {
  // ApiVersions v3 response: header v0 (correlation id only, NO tagged-field byte: ApiVersionsResponse.json keeps the header length unchanged), then
  // a flexible body: error code, compact array of (key, min, max, tagged fields), throttle time,
  // tagged fields.
  it('ApiVersions v3 response has no header tag byte', () => {
    const frame = encodeResponse(18, 3, 1, { errorCode: 0, apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 3 }], throttleTimeMs: 0 });
    expect(frame).toEqual(
      hex(`
        00000013                      # size 19
        00000001                      # correlation id 1 (header v0: nothing after it)
        0000                          # error code 0
        02 0012 0000 0003 00          # one api key: 18, v0-3, no tagged fields
        00000000                      # throttle time 0
        00                            # body tagged fields: none
      `),
    );
    expect(responseHeaderVersion(18, 3)).toBe(0);
    expect(decodeResponse(18, 3, frame.subarray(4))).toMatchObject({ ok: true, value: { correlationId: 1, body: { errorCode: 0 } } });
  });

  it('other flexible responses have header v1, with the tag byte', () => {
    expect(responseHeaderVersion(3, 9)).toBe(1);
    expect(responseHeaderVersion(3, 8)).toBe(0);
    const frame = encodeResponse(12, 4, 7, { errorCode: 0 });
    // size 12, correlation id 7, header tags 00, throttle 0, error code 0, body tags 00
    expect(frame).toEqual(hex('0000000c 00000007 00 00000000 0000 00'));
  });

  it('a tagged field differing from its default is written in the tagged section', () => {
    const frame = encodeResponse(18, 3, 1, { errorCode: 0, apiKeys: [], throttleTimeMs: 0, zkMigrationReady: true });
    // ... throttle time, then 1 tagged field: tag 3, size 1, value 01
    expect(frame.subarray(4 + 4)).toEqual(hex('0000 01 00000000 01 03 01 01'));
    expect(decodeResponse(18, 3, frame.subarray(4))).toMatchObject({ ok: true, value: { body: { zkMigrationReady: true } } });
  });
});

describe('header failures carry what the listener needs to answer', () => {
  it('an unsupported version names api key, version and correlation id', () => {
    const r = decodeRequestHeader(hex('0012 0063 0000002a 0000'));
    expect(r).toMatchObject({ ok: false, reason: 'unsupported_version', apiKey: 18, apiVersion: 99, correlationId: 42 });
  });

  it('an unknown API key names api key and correlation id', () => {
    expect(decodeRequestHeader(hex('03e7 0000 00000005 0000'))).toMatchObject({ ok: false, reason: 'unknown_api', apiKey: 999, correlationId: 5 });
  });

  it('a header shorter than its fixed part, or a client id past the end, is malformed', () => {
    expect(decodeRequestHeader(hex('0012 0003 0000'))).toMatchObject({ ok: false, reason: 'malformed' });
    expect(decodeRequestHeader(hex('0012 0001 00000001 0010 6162'))).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('bytes after a body are ignored, as Apache Kafka ignores them', () => {
    const heartbeat = { ok: true, value: { groupId: 'g', generationId: 1, memberId: 'm' } };
    expect(decodeRequest(12, 0, hex('0001 67 00000001 0001 6d'))).toMatchObject(heartbeat);
    expect(decodeRequest(12, 0, hex('0001 67 00000001 0001 6d 00ff'))).toMatchObject(heartbeat);
  });
});

describe('forged lengths and counts allocate nothing', () => {
  it('an int32 array count larger than the bytes left is malformed', () => {
    // Refused at the count itself, before an array of 2^31-1 slots exists.
    expect(decodeRequest(3, 1, hex('7fffffff 0001 61'))).toMatchObject({ ok: false, reason: 'malformed', message: expect.stringMatching(/^array of 2147483647/) });
  });

  it('a compact array count of 2^32-2 is malformed', () => {
    // Metadata v9: topics compact array, count+1 = 0xffffffff as a 5-byte unsigned varint.
    expect(decodeRequest(3, 9, hex('ffffffff0f 00 00 00 00'))).toMatchObject({ ok: false, reason: 'malformed', message: expect.stringMatching(/^array of 4294967294/) });
  });

  it('a records length larger than the bytes left is malformed', () => {
    const ok = encodeRequest(0, 3, 1, null, { acks: 1, timeoutMs: 1, topicData: [{ name: 't', partitionData: [{ index: 0, records: Buffer.alloc(4) }] }] });
    const forged = Buffer.from(ok.subarray(4));
    forged.writeInt32BE(0x7ffffff0, forged.length - 8);
    expect(decodeRequestFrame(forged)).toMatchObject({ ok: false, reason: 'malformed', message: expect.stringMatching(/^bytes: needs 2147483632 bytes/) });
  });

  it('an unsigned varint longer than 5 bytes or above 32 bits is malformed', () => {
    expect(decodeRequest(18, 3, hex('8080808080 00 00 00'))).toMatchObject({ ok: false, reason: 'malformed' });
    expect(decodeRequest(18, 3, hex('ffffffff7f 00 00'))).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('any negative length is null where the version allows null, as Kafka reads it', () => {
    // Metadata v1 topics count -2; a header client id of length -2.
    expect(decodeRequest(3, 1, hex('fffffffe'))).toMatchObject({ ok: true, value: { topics: null } });
    expect(decodeRequestHeader(hex('0003 0001 00000001 fffe'))).toMatchObject({ ok: true, value: { clientId: null, headerBytes: 10 } });
  });

  it('a compact string longer than 32767 bytes is malformed, as in Kafka', () => {
    // ApiVersions v3: client software name of 32768 bytes (compact length 32769 = 81 80 02).
    const body = Buffer.concat([hex('818002'), Buffer.alloc(32768, 0x61), hex('01 00')]);
    expect(decodeRequest(18, 3, body)).toMatchObject({ ok: false, reason: 'malformed', message: expect.stringMatching(/above 32767/) });
    expect(() => encodeRequest(18, 3, 1, null, { clientSoftwareName: 'a'.repeat(32768) })).toThrow(RangeError);
  });

  it('null where the version does not allow it is malformed', () => {
    // SaslHandshake v0: mechanism is a non-nullable string.
    expect(decodeRequest(17, 0, hex('ffff'))).toMatchObject({ ok: false, reason: 'malformed' });
  });
});

describe('records given as chunks', () => {
  it('a fetch answer may pass stored batches as a list, written back to back', () => {
    const a = Buffer.from('0102', 'hex');
    const b = Buffer.from('030405', 'hex');
    const body = (records: Buffer | Buffer[]) => ({
      responses: [{ topic: 't', partitions: [{ partitionIndex: 0, highWatermark: 5n, records }] }],
    });
    const chunked = encodeResponse(1, 11, 3, body([a, b]));
    expect(chunked).toEqual(encodeResponse(1, 11, 3, body(Buffer.concat([a, b]))));
    const decoded = decodeResponse(1, 11, chunked.subarray(4));
    expect(decoded.ok && decoded.value.body.responses[0].partitions[0].records).toEqual(Buffer.concat([a, b]));
  });
});

describe('typed bodies', () => {
  it('decoded bodies and encoder inputs are typed from the schema table', () => {
    const frame = encodeRequest(ApiKey.Fetch, 11, 1, null, { topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset: 42n }] }] });
    const header = decodeRequestHeader(frame.subarray(4));
    if (!header.ok) throw new Error(header.message);
    const r = decodeRequest(ApiKey.Fetch, 11, frame.subarray(4 + header.value.headerBytes));
    if (!r.ok) throw new Error(r.message);
    expectTypeOf(r.value.topics[0].partitions[0].fetchOffset).toEqualTypeOf<bigint>();
    expectTypeOf(r.value.rackId).toEqualTypeOf<string>();
    expectTypeOf(r.value.clusterId).toEqualTypeOf<string | null>();
    expect(r.value.topics[0].partitions[0].fetchOffset).toBe(42n);
    // @ts-expect-error: a field name the table does not have is a type error
    encodeRequest(ApiKey.Fetch, 11, 1, null, { topicz: [] });
  });
});
