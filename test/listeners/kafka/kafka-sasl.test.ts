// SASL on the Kafka listener over raw sockets: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 against auth.users, the v0
// bare-token flow, and what an unauthenticated or wrongly authenticated client gets: Kafka's error
// codes and a closed connection, never data. Then auth.acls' log topic rights per API.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makeScramCredential, parseScramCredential, type ScramHash } from '../../../src/auth/scram-credential.ts';
import { encodeRecordBatch } from '../../../src/format/record-batch.ts';
import { SaslAuthority } from '../../../src/listeners/kafka/sasl/sasl-authority.ts';
import { Acl } from '../../../src/auth/acl.ts';
import { hashPassword } from '../../../src/auth/password.ts';
import { ApiKey, KafkaError } from '../../../src/protocol/kafka/index.ts';
import { parseConfig } from '../../../src/config/load.ts';
import { RawKafka, startKafkaBrokerWithLogs } from '../../helpers/kafka.ts';
import { tempDir } from '../../helpers/temp.ts';

const fast = { N: 1024, r: 8, p: 1 };

async function user(username: string, password: string) {
  return { username, passwordHash: await hashPassword(password, fast), scramSha256: await makeScramCredential(password), scramSha512: await makeScramCredential(password, 'sha512') };
}

async function saslBroker(acls: unknown[] = [], mechanisms?: string[]) {
  const users = [
    await user('alice', 'alice-pw'),
    await user('bob', 'bob-pw'),
    { username: 'plain-only', passwordHash: await hashPassword('po', fast) },
    // Made before SCRAM-SHA-512 was offered: SCRAM-SHA-256 only.
    { username: 'sha256-only', passwordHash: await hashPassword('so', fast), scramSha256: await makeScramCredential('so') },
  ];
  return startKafkaBrokerWithLogs({ sasl: { enabled: true, ...(mechanisms ? { mechanisms } : {}) } }, { auth: { users, acls } });
}

const plainToken = (u: string, p: string) => Buffer.from(`\0${u}\0${p}`);

async function authenticatePlain(raw: RawKafka, u: string, p: string) {
  const hs = await raw.request(ApiKey.SaslHandshake, 1, { mechanism: 'PLAIN' });
  expect(hs.errorCode).toBe(0);
  return raw.request(ApiKey.SaslAuthenticate, 2, { authBytes: plainToken(u, p) });
}

const MECHANISM = { sha256: 'SCRAM-SHA-256', sha512: 'SCRAM-SHA-512' } as const;

/** The client side of SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802), written here from the RFC to check the server. */
async function authenticateScram(raw: RawKafka, u: string, p: string, version = 1, echo = (combined: string, _cnonce: string) => combined, hash: ScramHash = 'sha256') {
  const hs = await raw.request(ApiKey.SaslHandshake, 1, { mechanism: MECHANISM[hash] });
  expect(hs.errorCode).toBe(0);
  const cnonce = randomBytes(18).toString('base64');
  const first = await raw.request(ApiKey.SaslAuthenticate, version, { authBytes: Buffer.from(`n,,n=${u},r=${cnonce}`) });
  if (first.errorCode !== 0) return { first, final: null, serverSignatureOk: false };
  const serverFirst = Buffer.from(first.authBytes).toString();
  const attrs = Object.fromEntries(serverFirst.split(',').map((a) => [a[0], a.slice(2)]));
  expect(attrs.r.startsWith(cnonce)).toBe(true);
  const salted = pbkdf2Sync(p, Buffer.from(attrs.s, 'base64'), Number(attrs.i), hash === 'sha256' ? 32 : 64, hash);
  const hmac = (k: Buffer, t: string) => createHmac(hash, k).update(t).digest();
  const clientKey = hmac(salted, 'Client Key');
  const storedKey = createHash(hash).update(clientKey).digest();
  const withoutProof = `c=biws,r=${echo(attrs.r, cnonce)}`;
  const authMessage = `n=${u},r=${cnonce},${serverFirst},${withoutProof}`;
  const signature = hmac(storedKey, authMessage);
  const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]));
  const final = await raw.request(ApiKey.SaslAuthenticate, version, { authBytes: Buffer.from(`${withoutProof},p=${proof.toString('base64')}`) });
  const expected = `v=${hmac(hmac(salted, 'Server Key'), authMessage).toString('base64')}`;
  return { first, final, serverSignatureOk: Buffer.from(final.authBytes).toString() === expected, salt: attrs.s };
}

const metadataAll = { topics: null, allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false };

function batch(value: string): Buffer {
  return encodeRecordBatch([{ timestampMs: 1_700_000_000_000, key: null, value: Buffer.from(value), headers: [] }]);
}

describe('Kafka SASL', () => {
  it('PLAIN with the right password authenticates, then requests are served; ApiVersions is served before', async () => {
    const b = await saslBroker();
    const raw = await RawKafka.connect(b.kafkaPort);
    expect((await raw.request(ApiKey.ApiVersions, 3, { clientSoftwareName: 't', clientSoftwareVersion: '1' })).apiKeys).toContainEqual({ apiKey: ApiKey.SaslAuthenticate, minVersion: 0, maxVersion: 2 });
    const hs = await raw.request(ApiKey.SaslHandshake, 1, { mechanism: 'PLAIN' });
    expect(hs).toEqual({ errorCode: 0, mechanisms: ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] });
    const auth = await raw.request(ApiKey.SaslAuthenticate, 2, { authBytes: plainToken('alice', 'alice-pw') });
    expect(auth).toMatchObject({ errorCode: 0, errorMessage: null, sessionLifetimeMs: 0n });
    expect((await raw.request(ApiKey.Metadata, 12, metadataAll)).brokers).toHaveLength(1);
    expect(b.logs.some((l) => l.msg === 'kafka client authenticated' && l.username === 'alice' && l.mechanism === 'PLAIN')).toBe(true);
  });

  it.each([
    ['a wrong password', 'alice', 'nope'],
    ['an unknown user', 'mallory', 'alice-pw'],
  ])('PLAIN with %s gets SASL_AUTHENTICATION_FAILED (58), then the connection closes with a log line', async (_what, u, p) => {
    const b = await saslBroker();
    const raw = await RawKafka.connect(b.kafkaPort);
    const auth = await authenticatePlain(raw, u, p);
    expect(auth.errorCode).toBe(KafkaError.SASL_AUTHENTICATION_FAILED);
    expect(auth.errorMessage).toBe('Authentication failed: invalid username or password');
    await raw.closed;
    expect(b.logs.find((l) => l.msg === 'kafka SASL authentication refused: connection closed')).toMatchObject({ level: 40, clientId: 'raw-test', reason: 'sasl_authentication_failed', username: u });
  });

  it.each([
    ['Metadata', ApiKey.Metadata, 12, metadataAll],
    ['Produce', ApiKey.Produce, 9, { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [{ name: 't', partitionData: [{ index: 0, records: batch('x') }] }] }],
    ['Fetch', ApiKey.Fetch, 12, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1000, topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1000 }] }] }],
  ] as const)('%s before authenticating closes the connection unanswered (never data), with a log line', async (_name, apiKey, version, body) => {
    const b = await saslBroker();
    await b.running.broker.createTopic({ name: 't', partitions: 1 });
    await b.running.broker.produce({ topic: 't', partition: 0, records: [{ timestampMs: Date.now(), key: null, value: Buffer.from('secret'), headers: [] }], acks: 1 });
    const raw = await RawKafka.connect(b.kafkaPort);
    raw.send(apiKey as never, version, body as never);
    expect(await raw.nextFrame()).toBeNull();
    expect(b.logs.find((l) => l.msg === 'kafka request before SASL authentication: connection closed')).toMatchObject({ apiKey, reason: 'not_authenticated' });
    // The same after a failed handshake attempt: the connection is gone either way.
    const again = await RawKafka.connect(b.kafkaPort);
    expect((await again.request(ApiKey.SaslHandshake, 1, { mechanism: 'GSSAPI' })).errorCode).toBe(KafkaError.UNSUPPORTED_SASL_MECHANISM);
    await again.closed;
  });

  it('before authenticating, a request above 512 KiB (Kafka sasl.server.max.receive.size) closes the connection as soon as its size is read; after, requestBytesMax applies', async () => {
    const b = await saslBroker();
    const raw = await RawKafka.connect(b.kafkaPort);
    raw.socket.write(Buffer.from([0, 0x08, 0, 1]));
    expect(await raw.nextFrame()).toBeNull();
    expect(b.logs.find((l) => String(l.msg).startsWith('kafka request before SASL authentication larger'))).toMatchObject({ size: 512 * 1024 + 1, saslReceiveBytesMax: 512 * 1024 });
    const authed = await RawKafka.connect(b.kafkaPort);
    expect((await authenticatePlain(authed, 'alice', 'alice-pw')).errorCode).toBe(0);
    const big = encodeRecordBatch([{ timestampMs: 1_700_000_000_000, key: null, value: Buffer.alloc(600 * 1024, 7), headers: [] }]);
    const r = await authed.request(ApiKey.Produce, 9, { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [{ name: 'big', partitionData: [{ index: 0, records: big }] }] });
    expect(r.responses[0].partitionResponses[0].errorCode).toBe(KafkaError.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('a request pipelined behind a SaslAuthenticate that fails is never served', async () => {
    const b = await saslBroker();
    const raw = await RawKafka.connect(b.kafkaPort);
    expect((await raw.request(ApiKey.SaslHandshake, 1, { mechanism: 'PLAIN' })).errorCode).toBe(0);
    raw.send(ApiKey.SaslAuthenticate, 2, { authBytes: plainToken('alice', 'wrong') });
    raw.send(ApiKey.Metadata, 12, metadataAll);
    expect((await raw.response(ApiKey.SaslAuthenticate, 2)).body.errorCode).toBe(KafkaError.SASL_AUTHENTICATION_FAILED);
    expect(await raw.nextFrame()).toBeNull();
  });

  it('an unknown mechanism gets UNSUPPORTED_SASL_MECHANISM (33) with the enabled list; only enabled mechanisms are offered', async () => {
    const b = await saslBroker([], ['SCRAM-SHA-256']);
    const raw = await RawKafka.connect(b.kafkaPort);
    expect(await raw.request(ApiKey.SaslHandshake, 1, { mechanism: 'PLAIN' })).toEqual({ errorCode: KafkaError.UNSUPPORTED_SASL_MECHANISM, mechanisms: ['SCRAM-SHA-256'] });
    await raw.closed;
  });

  it.each(['sha256', 'sha512'] as const)('SCRAM with %s authenticates with the credential passwd made, and the server proves it knows it too', async (hash) => {
    const b = await saslBroker();
    for (const version of [0, 1, 2]) {
      const raw = await RawKafka.connect(b.kafkaPort);
      const r = await authenticateScram(raw, 'bob', 'bob-pw', version, undefined, hash);
      expect(r.final?.errorCode).toBe(0);
      expect(r.serverSignatureOk).toBe(true);
      expect((await raw.request(ApiKey.Metadata, 12, metadataAll)).brokers).toHaveLength(1);
    }
    expect(b.logs.some((l) => l.msg === 'kafka client authenticated' && l.username === 'bob' && l.mechanism === MECHANISM[hash])).toBe(true);
  });

  it("accepts librdkafka 2.0.2's final nonce (its client nonce, then the combined one); refuses one without the server's nonce at its end", async () => {
    const b = await saslBroker();
    const doubled = await authenticateScram(await RawKafka.connect(b.kafkaPort), 'bob', 'bob-pw', 1, (combined, cnonce) => cnonce + combined);
    expect(doubled.final?.errorCode).toBe(0);
    expect(doubled.serverSignatureOk).toBe(true);
    const raw = await RawKafka.connect(b.kafkaPort);
    const cut = await authenticateScram(raw, 'bob', 'bob-pw', 1, (combined) => combined.slice(0, -1));
    expect(cut.final?.errorCode).toBe(KafkaError.SASL_AUTHENTICATION_FAILED);
    await raw.closed;
    expect(b.logs.some((l) => l.detail === 'the nonce does not end with the server nonce')).toBe(true);
  });

  it.each([
    ['sha256', 'a wrong password', 'bob', 'nope', 'wrong password'],
    ['sha256', 'an unknown user', 'mallory', 'bob-pw', 'unknown username or no SCRAM-SHA-256 credential (auth.users[].scramSha256)'],
    ['sha256', 'a user with no scramSha256 credential', 'plain-only', 'po', 'unknown username or no SCRAM-SHA-256 credential (auth.users[].scramSha256)'],
    ['sha512', 'a wrong password', 'bob', 'nope', 'wrong password'],
    ['sha512', 'an unknown user', 'mallory', 'bob-pw', 'unknown username or no SCRAM-SHA-512 credential (auth.users[].scramSha512)'],
    ['sha512', 'a user with a scramSha256 credential only', 'sha256-only', 'so', 'unknown username or no SCRAM-SHA-512 credential (auth.users[].scramSha512)'],
  ] as const)('SCRAM with %s and %s gets SASL_AUTHENTICATION_FAILED (58) at the proof, then the connection closes; the log says why', async (hash, _what, u, p, detail) => {
    const b = await saslBroker();
    const raw = await RawKafka.connect(b.kafkaPort);
    const r = await authenticateScram(raw, u, p, 1, undefined, hash);
    expect(r.first.errorCode).toBe(0);
    expect(r.final).toMatchObject({ errorCode: KafkaError.SASL_AUTHENTICATION_FAILED, errorMessage: 'Authentication failed: invalid username or password' });
    await raw.closed;
    expect(b.logs.find((l) => l.msg === 'kafka SASL authentication refused: connection closed')).toMatchObject({ mechanism: MECHANISM[hash], username: u, detail });
  });

  it('the user with a scramSha256 credential only still logs in with SCRAM-SHA-256; the start names the users each SCRAM mechanism refuses', async () => {
    const b = await saslBroker();
    const r = await authenticateScram(await RawKafka.connect(b.kafkaPort), 'sha256-only', 'so');
    expect(r.final?.errorCode).toBe(0);
    const warned = b.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('credential in auth.users and cannot use SASL'));
    expect(warned.map((l) => [l.mechanism, l.users, l.msg])).toEqual([
      ['SCRAM-SHA-256', ['plain-only'], 'kafka: these users have no scramSha256 credential in auth.users and cannot use SASL SCRAM-SHA-256'],
      ['SCRAM-SHA-512', ['plain-only', 'sha256-only'], 'kafka: these users have no scramSha512 credential in auth.users and cannot use SASL SCRAM-SHA-512'],
    ]);
  });

  it("an unknown user's made-up salt is the same each time but differs per mechanism, as a real user's two credentials' salts do", async () => {
    const b = await saslBroker();
    const salt = async (u: string, hash: ScramHash) => (await authenticateScram(await RawKafka.connect(b.kafkaPort), u, 'x', 1, undefined, hash)).salt;
    expect(await salt('mallory', 'sha512')).toBe(await salt('mallory', 'sha512'));
    expect(await salt('mallory', 'sha512')).not.toBe(await salt('mallory', 'sha256'));
    expect(await salt('sha256-only', 'sha512')).not.toBe(await salt('sha256-only', 'sha256'));
  });

  it('SaslHandshake v0 then a bare PLAIN token (kafka-python, old clients): an empty bare answer, then served; a wrong one closes unanswered', async () => {
    const b = await saslBroker();
    const raw = await RawKafka.connect(b.kafkaPort);
    expect((await raw.request(ApiKey.SaslHandshake, 0, { mechanism: 'PLAIN' })).errorCode).toBe(0);
    const token = plainToken('alice', 'alice-pw');
    raw.socket.write(Buffer.concat([Buffer.from([0, 0, 0, token.length]), token]));
    expect(await raw.nextFrame()).toEqual(Buffer.alloc(0));
    expect((await raw.request(ApiKey.Metadata, 1, metadataAll)).brokers).toHaveLength(1);

    const bad = await RawKafka.connect(b.kafkaPort);
    expect((await bad.request(ApiKey.SaslHandshake, 0, { mechanism: 'PLAIN' })).errorCode).toBe(0);
    const wrong = plainToken('alice', 'wrong');
    bad.socket.write(Buffer.concat([Buffer.from([0, 0, 0, wrong.length]), wrong]));
    expect(await bad.nextFrame()).toBeNull();
  });

  it('a second handshake after authenticating gets ILLEGAL_SASL_STATE (34) and closes', async () => {
    const b = await saslBroker();
    const raw = await RawKafka.connect(b.kafkaPort);
    expect((await authenticatePlain(raw, 'alice', 'alice-pw')).errorCode).toBe(0);
    expect((await raw.request(ApiKey.SaslHandshake, 1, { mechanism: 'PLAIN' })).errorCode).toBe(KafkaError.ILLEGAL_SASL_STATE);
    await raw.closed;
  });

  it('with SASL off, SaslHandshake gets ILLEGAL_SASL_STATE and the connection stays (a PLAINTEXT listener)', async () => {
    const b = await startKafkaBrokerWithLogs();
    const raw = await RawKafka.connect(b.kafkaPort);
    expect(await raw.request(ApiKey.SaslHandshake, 1, { mechanism: 'PLAIN' })).toEqual({ errorCode: KafkaError.ILLEGAL_SASL_STATE, mechanisms: [] });
    expect((await raw.request(ApiKey.Metadata, 12, metadataAll)).brokers).toHaveLength(1);
  });

  it('a credential is parsed for its own hash only: another prefix, a key of the other length or too few iterations is refused', async () => {
    const sha256 = await makeScramCredential('pw');
    const sha512 = await makeScramCredential('pw', 'sha512');
    expect(parseScramCredential('sha512', sha512)).toMatchObject({ iterations: 4096, storedKey: expect.any(Buffer) });
    expect((parseScramCredential('sha512', sha512) as { storedKey: Buffer }).storedKey).toHaveLength(64);
    expect(parseScramCredential('sha512', sha256)).toBe('not of the form scram-sha-512$iterations$salt$storedKey$serverKey');
    expect(parseScramCredential('sha256', sha512)).toBe('not of the form scram-sha-256$iterations$salt$storedKey$serverKey');
    // 32-byte SHA-256 keys under the SHA-512 prefix, and the reverse.
    expect(parseScramCredential('sha512', sha256.replace('scram-sha-256', 'scram-sha-512'))).toBe('a key is not 64 bytes (base64)');
    expect(parseScramCredential('sha256', sha512.replace('scram-sha-512', 'scram-sha-256'))).toBe('a key is not 32 bytes (base64)');
    expect(parseScramCredential('sha512', sha512.replace('$4096$', '$4095$'))).toBe('iterations is not 4096..16384');
    const config = (scramSha512: string) => ({ dataDir: tempDir(), auth: { users: [{ username: 'u', passwordHash: 'scrypt$1024$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==', scramSha512 }] } });
    expect(() => parseConfig(config(sha256), 'test')).toThrow(
      /auth\.users\.0\.scramSha512: got "\(hidden\)", expected a SCRAM-SHA-512 credential made by `tributary passwd` \(problem: not of the form scram-sha-512\$iterations\$salt\$storedKey\$serverKey\)/,
    );
    expect(() => parseConfig(config(sha256.replace('scram-sha-256', 'scram-sha-512')), 'test')).toThrow(/auth\.users\.0\.scramSha512: .*\(problem: a key is not 64 bytes \(base64\)\)/);
    expect(parseConfig(config(sha512), 'test').auth.users[0].scramSha512).toBe(sha512);
  });

  it('config: a scramSha256 not made by passwd and an ACL log topic that is no name or pattern are refused', () => {
    const bad = { dataDir: tempDir(), auth: { users: [{ username: 'u', passwordHash: 'scrypt$1024$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==', scramSha256: 'scram-sha-256$100$c2FsdA==$x$y' }], acls: [{ user: 'u', read: ['a/b'] }] } };
    expect(() => parseConfig(bad, 'test')).toThrow(/auth\.users\.0\.scramSha256: got "\(hidden\)", expected a SCRAM-SHA-256 credential made by `tributary passwd` \(problem: iterations is not 4096\.\.16384\)/);
    expect(() => parseConfig(bad, 'test')).toThrow(/auth\.acls\.0\.read\.0: got "a\/b", expected a log topic name or a pattern with \*/);
  });

  it('PLAIN with no users at all refuses every name (MQTT takes a name as given then; SASL must not)', async () => {
    const step = await new SaslAuthority([], ['PLAIN']).start('PLAIN')!.step(plainToken('anyone', 'x'));
    expect(step).toEqual({ kind: 'fail', reason: 'unknown username', username: 'anyone' });
  });

  it('config: SASL on needs at least one user in auth.users', () => {
    expect(() => parseConfig({ dataDir: tempDir(), listeners: { kafka: { enabled: true, sasl: { enabled: true } } } }, 'test')).toThrow(/listeners\.kafka\.sasl\.enabled.*at least one user in auth\.users/s);
  });
});

describe('Kafka ACLs (auth.acls read/write/admin per log topic pattern)', () => {
  const acls = [
    { user: 'alice', write: ['in.*'], read: ['out.*', 'in.*'] },
    { user: 'bob', read: ['out.*'], admin: ['out.*'] },
  ];

  async function setup() {
    const b = await saslBroker(acls);
    for (const name of ['in.a', 'out.a', 'other']) await b.running.broker.createTopic({ name, partitions: 1 });
    await b.running.broker.produce({ topic: 'in.a', partition: 0, records: [{ timestampMs: Date.now(), key: null, value: Buffer.from('in'), headers: [] }], acks: 1 });
    await b.running.broker.produce({ topic: 'other', partition: 0, records: [{ timestampMs: Date.now(), key: null, value: Buffer.from('secret'), headers: [] }], acks: 1 });
    return b;
  }

  async function as(b: { kafkaPort: number }, u: string) {
    const raw = await RawKafka.connect(b.kafkaPort);
    expect((await authenticatePlain(raw, u, `${u}-pw`)).errorCode).toBe(0);
    return raw;
  }

  it('Produce without write is TOPIC_AUTHORIZATION_FAILED (29) per partition and stores nothing; with write it is stored', async () => {
    const b = await setup();
    const alice = await as(b, 'alice');
    const r = await alice.request(ApiKey.Produce, 9, { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [
      { name: 'out.a', partitionData: [{ index: 0, records: batch('no') }] },
      { name: 'in.a', partitionData: [{ index: 0, records: batch('yes') }] },
    ] });
    expect(r.responses.map((t) => [t.name, t.partitionResponses[0].errorCode, t.partitionResponses[0].logStartOffset])).toEqual([['out.a', 29, -1n], ['in.a', 0, 0n]]);
    expect(b.running.broker.partitionState(b.running.broker.requireTopic('out.a').id, 0)!.nextOffset).toBe(0);
  });

  it('Fetch and ListOffsets without read are 29 with no records or offsets', async () => {
    const b = await setup();
    const bob = await as(b, 'bob');
    const f = await bob.request(ApiKey.Fetch, 12, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 100_000, topics: [
      { topic: 'other', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 100_000 }] },
      { topic: 'in.a', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 100_000 }] },
    ] });
    for (const t of f.responses) {
      expect(t.partitions[0]).toMatchObject({ errorCode: 29, highWatermark: -1n });
      expect(t.partitions[0].records ?? Buffer.alloc(0)).toHaveLength(0);
    }
    const lo = await bob.request(ApiKey.ListOffsets, 6, { replicaId: -1, isolationLevel: 0, topics: [{ name: 'in.a', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] }] });
    expect(lo.topics[0].partitions[0]).toMatchObject({ errorCode: 29, offset: -1n });
    const alice = await as(b, 'alice');
    const ok = await alice.request(ApiKey.Fetch, 12, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 100_000, topics: [{ topic: 'in.a', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 100_000 }] }] });
    expect(ok.responses[0].partitions[0].errorCode).toBe(0);
    expect(ok.responses[0].partitions[0].records!.length).toBeGreaterThan(0);
  });

  it('OffsetCommit and OffsetFetch without read on the topic are 29: nothing committed, no offset shown', async () => {
    const b = await setup();
    const alice = await as(b, 'alice');
    const commit = await alice.request(ApiKey.OffsetCommit, 8, { groupId: 'g', generationIdOrMemberEpoch: -1, memberId: '', groupInstanceId: null, retentionTimeMs: -1n, topics: [
      { name: 'other', partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, commitTimestamp: -1n, committedMetadata: '' }] },
      { name: 'in.a', partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, commitTimestamp: -1n, committedMetadata: '' }] },
    ] });
    expect(commit.topics.map((t) => [t.name, t.partitions[0].errorCode])).toEqual([['other', 29], ['in.a', 0]]);
    expect(b.running.broker.groups.fetchOffsets('g').map((o) => [o.topic, o.offset])).toEqual([['in.a', 1]]);
    await b.running.broker.groups.commit({ group: 'g', memberId: '', generation: -1, offsets: [{ topic: 'other', partition: 0, offset: 1, metadata: '' }] });
    const fetched = await alice.request(ApiKey.OffsetFetch, 7, { groupId: 'g', topics: [{ name: 'other', partitionIndexes: [0] }, { name: 'in.a', partitionIndexes: [0] }], requireStable: false });
    expect(fetched.topics.map((t) => [t.name, t.partitions[0].errorCode, t.partitions[0].committedOffset]).sort()).toEqual([['in.a', 0, 1n], ['other', 29, -1n]]);
    const all = await alice.request(ApiKey.OffsetFetch, 7, { groupId: 'g', topics: null, requireStable: false });
    expect(all.topics.map((t) => t.name)).toEqual(['in.a']);
  });

  it('Metadata lists only the topics the user may read, write or administer; a requested other one is 29 and not auto-created', async () => {
    const b = await setup();
    const alice = await as(b, 'alice');
    expect((await alice.request(ApiKey.Metadata, 12, metadataAll)).topics.map((t) => t.name).sort()).toEqual(['in.a', 'out.a']);
    const bob = await as(b, 'bob');
    expect((await bob.request(ApiKey.Metadata, 12, metadataAll)).topics.map((t) => t.name)).toEqual(['out.a']);
    const asked = await bob.request(ApiKey.Metadata, 12, { ...metadataAll, topics: [{ topicId: '00000000-0000-0000-0000-000000000000', name: 'other' }, { topicId: '00000000-0000-0000-0000-000000000000', name: 'in.new' }], allowAutoTopicCreation: true });
    expect(asked.topics.map((t) => [t.name, t.errorCode])).toEqual([['other', 29], ['in.new', 29]]);
    expect(b.running.broker.findTopic('in.new')).toBeUndefined();
    // Alice may write in.*: Metadata auto-creates for her, as Kafka does for a producer with CREATE.
    const created = await alice.request(ApiKey.Metadata, 12, { ...metadataAll, topics: [{ topicId: '00000000-0000-0000-0000-000000000000', name: 'in.new' }], allowAutoTopicCreation: true });
    expect(created.topics[0].errorCode).toBe(0);
  });

  it('CreateTopics, DeleteTopics and CreatePartitions need admin on the topic: 29 without it', async () => {
    const b = await setup();
    const alice = await as(b, 'alice');
    const create = (name: string) => ({ topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
    expect((await alice.request(ApiKey.CreateTopics, 7, create('in.b'))).topics[0].errorCode).toBe(29);
    expect((await alice.request(ApiKey.DeleteTopics, 5, { topicNames: ['in.a'], timeoutMs: 5000 })).responses[0].errorCode).toBe(29);
    expect((await alice.request(ApiKey.CreatePartitions, 3, { topics: [{ name: 'in.a', count: 2, assignments: null }], timeoutMs: 5000, validateOnly: false })).results[0].errorCode).toBe(29);
    expect(b.running.broker.findTopic('in.a')).toBeDefined();
    const bob = await as(b, 'bob');
    expect((await bob.request(ApiKey.CreateTopics, 7, create('out.b'))).topics[0].errorCode).toBe(0);
    expect((await bob.request(ApiKey.CreatePartitions, 3, { topics: [{ name: 'out.b', count: 2, assignments: null }], timeoutMs: 5000, validateOnly: false })).results[0].errorCode).toBe(0);
    expect((await bob.request(ApiKey.DeleteTopics, 5, { topicNames: ['out.b'], timeoutMs: 5000 })).responses[0].errorCode).toBe(0);
    expect((await bob.request(ApiKey.DeleteTopics, 5, { topicNames: ['in.a'], timeoutMs: 5000 })).responses[0].errorCode).toBe(29);
  });
});

describe('Acl log topic rights', () => {
  const acl = new Acl([
    { publish: [], subscribe: [], read: ['user.%u.*'], write: ['dev-%c'] },
    { user: 'ops', publish: [], subscribe: [], admin: ['*'] },
  ]);
  const who = (username: string | null, clientId = 'c1') => ({ username, clientId });

  it('matches names and * patterns per right; %u and %c substitute only topic name characters, so a name "*" widens nothing', () => {
    expect(acl.canLogTopic(who('ann'), 'read', 'user.ann.x')).toBe(true);
    expect(acl.canLogTopic(who('ann'), 'read', 'user.bob.x')).toBe(false);
    expect(acl.canLogTopic(who('ann'), 'write', 'user.ann.x')).toBe(false);
    expect(acl.canLogTopic(who(null, 'c1'), 'write', 'dev-c1')).toBe(true);
    expect(acl.canLogTopic(who(null), 'read', 'user..x')).toBe(false);
    expect(acl.canLogTopic(who('*'), 'read', 'user.bob.x')).toBe(false);
    expect(acl.canLogTopic(who(null, '*'), 'write', 'dev-anything')).toBe(false);
    expect(acl.canLogTopic(who('ops'), 'admin', 'anything')).toBe(true);
    expect(acl.canLogTopic(who('ann'), 'admin', 'anything')).toBe(false);
    expect(new Acl([]).canLogTopic(who(null), 'admin', 'x')).toBe(true);
  });
});
