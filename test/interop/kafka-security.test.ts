// Kafka security with independent clients: SASL PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (kcat and
// confluent-kafka on librdkafka 2.0.2, kafka-python 2.0.2, kafkajs 2.2.4, @platformatic/kafka
// 1.35.0), TLS (SSL and SASL_SSL with kcat and confluent-kafka), a wrong password and an ACL refusal
// as each client reports them.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Consumer as PlatformaticConsumer, MessagesStreamModes, Producer as PlatformaticProducer } from '@platformatic/kafka';
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { makeScramCredential } from '../../src/auth/scram-credential.ts';
import { hashPassword } from '../../src/auth/password.ts';
import { selfSigned } from '../helpers/certs.ts';
import { runProcess } from '../helpers/cli.ts';
import { startKafkaBroker, type KafkaTestBroker } from '../helpers/kafka.ts';
import { onCleanup } from '../helpers/temp.ts';

const PYTHON = '/usr/bin/python3';
const PY_CLIENT = path.resolve('test/interop/kafka/py-client.py');
const hasKcat = spawnSync('kcat', ['-V']).error === undefined;
const hasPython = spawnSync(PYTHON, ['-c', 'import confluent_kafka, kafka']).status === 0;

async function securedBroker(opts: { sasl?: boolean; tls?: { certFile: string; keyFile: string } } = {}): Promise<KafkaTestBroker> {
  const user = async (username: string, password: string) => ({
    username,
    passwordHash: await hashPassword(password, { N: 1024, r: 8, p: 1 }),
    scramSha256: await makeScramCredential(password),
    scramSha512: await makeScramCredential(password, 'sha512'),
  });
  // An entry made before SCRAM-SHA-512 was offered: no scramSha512.
  const legacy = { username: 'legacy', passwordHash: await hashPassword('legacy-pw', { N: 1024, r: 8, p: 1 }), scramSha256: await makeScramCredential('legacy-pw') };
  const users = [await user('app', 'app-pw'), await user('reader', 'reader-pw'), legacy];
  const acls = [
    { user: 'app', read: ['*'], write: ['*'], admin: ['*'] },
    { user: 'reader', read: ['*'] },
    { user: 'legacy', read: ['*'], write: ['*'] },
  ];
  const kafka = { sasl: { enabled: opts.sasl ?? true }, ...(opts.tls ? { tls: { enabled: true, ...opts.tls } } : {}) };
  // Without SASL every client is anonymous: rules naming users would refuse it everything.
  return startKafkaBroker({ listeners: { kafka }, auth: { users, acls: opts.sasl === false ? [] : acls } });
}

const bootstrap = (b: KafkaTestBroker) => `127.0.0.1:${b.kafkaPort}`;

function saslConfig(mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512', user: string, password: string, protocol = 'SASL_PLAINTEXT'): Record<string, string> {
  return { 'security.protocol': protocol, 'sasl.mechanisms': mechanism, 'sasl.username': user, 'sasl.password': password };
}

const asArgs = (config: Record<string, string>) => Object.entries(config).flatMap(([k, v]) => ['-X', `${k}=${v}`]);

async function kcat(b: KafkaTestBroker, config: Record<string, string>, args: string[], input?: string) {
  return runProcess('kcat', ['-b', bootstrap(b), ...asArgs(config), ...args], { timeoutMs: 30_000, input });
}

async function kcatOk(b: KafkaTestBroker, config: Record<string, string>, args: string[], input?: string): Promise<string> {
  const r = await kcat(b, config, args, input);
  if (r.code !== 0) throw new Error(`kcat ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function py(lib: 'confluent' | 'kafka-python', op: 'produce' | 'consume' | 'first-error', args: Record<string, unknown>) {
  return runProcess(PYTHON, [PY_CLIENT, lib, op, JSON.stringify(args)], { timeoutMs: 60_000 });
}

const rec = (key: string, value: string) => ({ key: Buffer.from(key).toString('base64'), value: Buffer.from(value).toString('base64'), headers: [] });

/** An error and everything it wraps (@platformatic/kafka nests the broker's answer in causes and lists). */
function causes(err: unknown): Record<string, unknown>[] {
  if (typeof err !== 'object' || err === null) return [];
  const e = err as { cause?: unknown; errors?: unknown[] };
  return [err as Record<string, unknown>, ...causes(e.cause), ...(Array.isArray(e.errors) ? e.errors.flatMap(causes) : [])];
}

function kafkajs(b: KafkaTestBroker, sasl: SASLOptions): Kafka {
  return new Kafka({ clientId: 'interop-kafkajs', brokers: [bootstrap(b)], logLevel: logLevel.NOTHING, retry: { retries: 0 }, sasl });
}

describe.runIf((hasKcat && hasPython) || process.env.CI)('Kafka clients with SASL, TLS and ACLs', () => {
  it.each(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const)('kcat SASL_PLAINTEXT %s: -P then -C, -L lists the topics', async (mechanism) => {
    const b = await securedBroker();
    const cfg = saslConfig(mechanism, 'app', 'app-pw');
    await kcatOk(b, cfg, ['-P', '-t', 'secured', '-K', '\t'], 'k1\tv1\nk2\tv2\n');
    expect(await kcatOk(b, cfg, ['-C', '-t', 'secured', '-e', '-f', '%o %k=%s\n'])).toBe('0 k1=v1\n1 k2=v2\n');
    expect(await kcatOk(b, cfg, ['-L'])).toContain('topic "secured" with 1 partitions:');
  });

  it.each(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const)('kcat with a wrong %s password fails with an authentication error and gets no data', async (mechanism) => {
    const b = await securedBroker();
    b.running.broker.createTopic({ name: 'secret', partitions: 1 });
    await b.running.broker.produce({ topic: 'secret', partition: 0, records: [{ timestampMs: Date.now(), key: null, value: Buffer.from('hidden'), headers: [] }], acks: 1 });
    const r = await kcat(b, saslConfig(mechanism, 'app', 'wrong'), ['-C', '-t', 'secret', '-e', '-m', '5']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Authentication failed/i);
    expect(r.stdout).not.toContain('hidden');
  });

  it('kcat SCRAM-SHA-512 as a user with a scramSha256 credential only fails with an authentication error; SCRAM-SHA-256 logs the same user in', async () => {
    const b = await securedBroker();
    b.running.broker.createTopic({ name: 'legacy', partitions: 1 });
    const r = await kcat(b, saslConfig('SCRAM-SHA-512', 'legacy', 'legacy-pw'), ['-C', '-t', 'legacy', '-e']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/SASL authentication error: Authentication failed/);
    await kcatOk(b, saslConfig('SCRAM-SHA-256', 'legacy', 'legacy-pw'), ['-P', '-t', 'legacy', '-p', '0'], 'old\n');
    expect(b.running.broker.partitionState(b.running.broker.requireTopic('legacy').id, 0)!.nextOffset).toBe(1);
  });

  it('kcat without SASL against a SASL listener gets nothing (the connection is closed before any data)', async () => {
    const b = await securedBroker();
    b.running.broker.createTopic({ name: 'secret', partitions: 1 });
    const r = await kcat(b, { 'socket.timeout.ms': '3000', 'metadata.request.timeout.ms': '3000' }, ['-L', '-m', '3']);
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain('secret');
  });

  it('an ACL refusal: kcat -P as a user with read only gets "Topic authorization failed" and nothing is stored', async () => {
    const b = await securedBroker();
    b.running.broker.createTopic({ name: 'ro', partitions: 1 });
    const r = await kcat(b, saslConfig('SCRAM-SHA-256', 'reader', 'reader-pw'), ['-P', '-t', 'ro', '-p', '0'], 'nope\n');
    expect(r.stderr).toMatch(/Topic authorization failed/i);
    expect(b.running.broker.partitionState(b.running.broker.requireTopic('ro').id, 0)!.nextOffset).toBe(0);
  });

  it('confluent-kafka: produce with SCRAM-SHA-256, consume with PLAIN; kafka-python: PLAIN both ways and SCRAM-SHA-256 (SaslHandshake v0, bare tokens)', async () => {
    const b = await securedBroker();
    b.running.broker.createTopic({ name: 'py', partitions: 1 });
    const produced = await py('confluent', 'produce', { bootstrap: bootstrap(b), topic: 'py', partition: 0, records: [rec('a', 'one')], config: saslConfig('SCRAM-SHA-256', 'app', 'app-pw') });
    expect(produced.code, produced.stderr).toBe(0);
    const consumed = await py('confluent', 'consume', { bootstrap: bootstrap(b), topic: 'py', partition: 0, offset: 0, count: 1, config: saslConfig('PLAIN', 'reader', 'reader-pw') });
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(JSON.parse(consumed.stdout).records[0].value).toBe(Buffer.from('one').toString('base64'));
    const kp = { security_protocol: 'SASL_PLAINTEXT', sasl_mechanism: 'PLAIN', sasl_plain_username: 'app', sasl_plain_password: 'app-pw' };
    const kpProduced = await py('kafka-python', 'produce', { bootstrap: bootstrap(b), topic: 'py', partition: 0, records: [rec('b', 'two')], config: kp });
    expect(kpProduced.code, kpProduced.stderr).toBe(0);
    const kpConsumed = await py('kafka-python', 'consume', { bootstrap: bootstrap(b), topic: 'py', partition: 0, offset: 0, count: 2, config: kp });
    expect(kpConsumed.code, kpConsumed.stderr).toBe(0);
    expect(JSON.parse(kpConsumed.stdout).records.map((r: { value: string }) => Buffer.from(r.value, 'base64').toString())).toEqual(['one', 'two']);
    const kpScram = { ...kp, sasl_mechanism: 'SCRAM-SHA-256', sasl_plain_username: 'reader', sasl_plain_password: 'reader-pw' };
    const kpScramConsumed = await py('kafka-python', 'consume', { bootstrap: bootstrap(b), topic: 'py', partition: 0, offset: 1, count: 1, config: kpScram });
    expect(kpScramConsumed.code, kpScramConsumed.stderr).toBe(0);
  });

  it('confluent-kafka SCRAM-SHA-512: produce, then consume it back; a wrong password is refused with the server\'s "Authentication failed"', async () => {
    const b = await securedBroker();
    b.running.broker.createTopic({ name: 'py512', partitions: 1 });
    const config = saslConfig('SCRAM-SHA-512', 'app', 'app-pw');
    const produced = await py('confluent', 'produce', { bootstrap: bootstrap(b), topic: 'py512', partition: 0, records: [rec('a', 'over sha-512')], config });
    expect(produced.code, produced.stderr).toBe(0);
    const consumed = await py('confluent', 'consume', { bootstrap: bootstrap(b), topic: 'py512', partition: 0, offset: 0, count: 1, config });
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(JSON.parse(consumed.stdout).records[0].value).toBe(Buffer.from('over sha-512').toString('base64'));
    // librdkafka reports a refused login as its own _AUTHENTICATION, carrying the server's message.
    const refused = await py('confluent', 'first-error', { bootstrap: bootstrap(b), config: saslConfig('SCRAM-SHA-512', 'app', 'wrong') });
    expect(refused.code, refused.stderr).toBe(0);
    expect(JSON.parse(refused.stdout)).toMatchObject({ name: '_AUTHENTICATION', message: expect.stringContaining('SASL authentication error: Authentication failed: invalid username or password') });
  });

  it('@platformatic/kafka SCRAM-SHA-512: producer then consumer; a wrong password, and a user with a scramSha256 credential only, get SASL_AUTHENTICATION_FAILED (58)', async () => {
    const b = await securedBroker();
    b.running.broker.createTopic({ name: 'plt512', partitions: 1 });
    const sasl = (username: string, password: string) => ({ mechanism: 'SCRAM-SHA-512' as const, username, password });
    const producer = new PlatformaticProducer({ clientId: 'sec-platformatic', bootstrapBrokers: [bootstrap(b)], acks: -1, sasl: sasl('app', 'app-pw') });
    onCleanup(() => producer.close());
    const sent = await producer.send({ messages: [{ topic: 'plt512', partition: 0, key: Buffer.from('k'), value: Buffer.from('over sha-512') }] });
    expect(sent.offsets?.map((o) => Number(o.offset))).toEqual([0]);
    const consumer = new PlatformaticConsumer({ clientId: 'sec-platformatic-c', groupId: 'sec-platformatic', bootstrapBrokers: [bootstrap(b)], maxWaitTime: 200, sasl: sasl('reader', 'reader-pw') });
    onCleanup(() => new Promise<void>((resolve) => consumer.close(true, () => resolve())));
    const stream = await consumer.consume({ topics: ['plt512'], mode: MessagesStreamModes.EARLIEST, autocommit: false });
    const first = await new Promise<{ key?: Buffer; value?: Buffer }>((resolve) => stream.once('data', resolve));
    await stream.close();
    expect([first.key?.toString(), first.value?.toString()]).toEqual(['k', 'over sha-512']);
    for (const [username, password] of [['app', 'wrong'], ['legacy', 'legacy-pw']]) {
      const bad = new PlatformaticProducer({ clientId: 'sec-platformatic-bad', bootstrapBrokers: [bootstrap(b)], retries: 0, sasl: sasl(username, password) });
      onCleanup(() => bad.close());
      const err = await bad.send({ messages: [{ topic: 'plt512', partition: 0, value: Buffer.from('refused') }] }).then(() => null, (e: unknown) => e);
      expect(causes(err), username).toContainEqual(expect.objectContaining({ apiId: 'SASL_AUTHENTICATION_FAILED', apiCode: 58 }));
    }
    expect(b.running.broker.partitionState(b.running.broker.requireTopic('plt512').id, 0)!.nextOffset).toBe(1);
  });

  it.each([
    ['plain', { mechanism: 'plain', username: 'app', password: 'app-pw' }],
    ['scram-sha-256', { mechanism: 'scram-sha-256', username: 'app', password: 'app-pw' }],
    ['scram-sha-512', { mechanism: 'scram-sha-512', username: 'app', password: 'app-pw' }],
  ] as const)('kafkajs sasl %s: producer and admin work; a wrong password is refused', async (_name, sasl) => {
    const b = await securedBroker();
    const kafka = kafkajs(b, sasl);
    const admin = kafka.admin();
    await admin.connect();
    onCleanup(() => admin.disconnect());
    await admin.createTopics({ topics: [{ topic: 'js', numPartitions: 1 }] });
    const producer = kafka.producer();
    await producer.connect();
    onCleanup(() => producer.disconnect());
    await producer.send({ topic: 'js', acks: -1, messages: [{ key: 'k', value: 'v' }] });
    expect(await admin.fetchTopicOffsets('js')).toEqual([{ partition: 0, offset: '1', high: '1', low: '0' }]);
    // A fresh options object: kafkajs keeps its authenticator (holding the password) on the one it
    // was given as sasl.authenticationProvider, so a copy of a used one would log in as before.
    const bad = kafkajs(b, { mechanism: sasl.mechanism, username: 'app', password: 'wrong' } as SASLOptions).producer();
    await expect(bad.connect()).rejects.toThrow(/SASL .*authentication failed/i);
  });

  it('TLS: kcat over SSL and SASL_SSL (SCRAM-SHA-256), confluent-kafka over SSL, the server certificate verified against its CA', async () => {
    const cert = selfSigned();
    const tlsOnly = await securedBroker({ sasl: false, tls: cert });
    const ssl = { 'security.protocol': 'SSL', 'ssl.ca.location': cert.certFile };
    await kcatOk(tlsOnly, ssl, ['-P', '-t', 'tls', '-K', '\t'], 'k\tover tls\n');
    expect(await kcatOk(tlsOnly, ssl, ['-C', '-t', 'tls', '-e', '-f', '%k=%s\n'])).toBe('k=over tls\n');
    const consumed = await py('confluent', 'consume', { bootstrap: bootstrap(tlsOnly), topic: 'tls', partition: 0, offset: 0, count: 1, config: ssl });
    expect(consumed.code, consumed.stderr).toBe(0);
    // A plaintext client on the TLS port gets nothing.
    const plaintext = await kcat(tlsOnly, { 'socket.timeout.ms': '3000', 'metadata.request.timeout.ms': '3000' }, ['-L', '-m', '3']);
    expect(plaintext.code).not.toBe(0);

    const both = await securedBroker({ tls: cert });
    const saslSsl = { ...saslConfig('SCRAM-SHA-256', 'app', 'app-pw', 'SASL_SSL'), 'ssl.ca.location': cert.certFile };
    await kcatOk(both, saslSsl, ['-P', '-t', 'tls', '-K', '\t'], 'k\tsasl over tls\n');
    expect(await kcatOk(both, saslSsl, ['-C', '-t', 'tls', '-e', '-f', '%k=%s\n'])).toBe('k=sasl over tls\n');
  });
});
