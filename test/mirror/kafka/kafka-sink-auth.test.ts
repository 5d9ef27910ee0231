// The Kafka sink against a central Tributary whose Kafka listener asks for SASL, TLS or ACLs: what
// ships, and what a refusal does to the mirror (failed with the reason and no retry loop, or backoff).
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { hashPassword } from '../../../src/auth/password.ts';
import { makeScramCredential } from '../../../src/auth/scram-credential.ts';
import { selfSigned } from '../../helpers/certs.ts';
import { freePort } from '../../helpers/child-broker.ts';
import { startKafkaBroker } from '../../helpers/kafka.ts';
import { startTcpProxy } from '../../helpers/tcp-proxy.ts';
import { onCleanup } from '../../helpers/temp.ts';
import { until } from '../../helpers/upstream.ts';
import { arrived, edgeWith, fastBackoff, numbered, originOf, produce, REMOTE, retryClock, saslCentral, SOURCE, status, valuesOf } from './helpers.ts';

const mirror = (port: number, over: Record<string, unknown> = {}) => ({ name: 'central', sink: 'kafka', brokers: [`127.0.0.1:${port}`], topics: [SOURCE], backoff: fastBackoff, ...over });
const sasl = (mechanism: string, username: string, password: string) => ({ sasl: { mechanism, username, password } });

describe('kafka sink: SASL, TLS and ACLs upstream', () => {
  it.each(['PLAIN', 'SCRAM-SHA-256'])('SASL %s: the mirror authenticates and ships every record', async (mechanism) => {
    const central = await saslCentral([{ username: 'edge', password: 'edge-pw', write: ['edge.*'] }]);
    central.running.broker.createTopic({ name: REMOTE, partitions: 2 });
    const edge = await edgeWith([mirror(central.kafkaPort, sasl(mechanism, 'edge', 'edge-pw'))]);
    await produce(edge, 0, 20);
    await until(async () => (await status(edge)).backlogRecords === 0, 'the backlog to drain');
    expect((await status(edge))).toMatchObject({ state: 'connected', shippedRecords: 20, lastError: null });
    expect(valuesOf(await arrived(central, REMOTE, 20))).toEqual(numbered(0, 20));
  });

  it('SASL SCRAM-SHA-512: the mirror authenticates and ships every record', async () => {
    const central = await startKafkaBroker({
      listeners: { kafka: { sasl: { enabled: true } } },
      auth: {
        users: [{ username: 'edge', passwordHash: await hashPassword('edge-pw', { N: 1024, r: 8, p: 1 }), scramSha512: await makeScramCredential('edge-pw', 'sha512') }],
        acls: [{ user: 'edge', read: ['*'], write: ['edge.*'] }],
      },
    });
    central.running.broker.createTopic({ name: REMOTE, partitions: 2 });
    const edge = await edgeWith([mirror(central.kafkaPort, sasl('SCRAM-SHA-512', 'edge', 'edge-pw'))]);
    await produce(edge, 0, 20);
    await until(async () => (await status(edge)).backlogRecords === 0, 'the backlog to drain');
    expect((await status(edge))).toMatchObject({ state: 'connected', shippedRecords: 20, lastError: null });
    expect(valuesOf(await arrived(central, REMOTE, 20))).toEqual(numbered(0, 20));
  });

  it('a password changed upstream: failed with SASL_AUTHENTICATION_FAILED, no reconnect loop; resume once it is back ships the rest, and an edge restarted with the new password ships too', async () => {
    const port = await freePort();
    let central = await saslCentral([{ username: 'edge', password: 'old-pw', write: ['edge.*'] }], { port });
    central.running.broker.createTopic({ name: REMOTE, partitions: 2 });
    const dataDir = central.dataDir;
    // Every connection the mirror opens passes the proxy: its count shows whether it retries.
    const proxy = await startTcpProxy({ targetPort: port, port: await freePort() });
    const clock = await retryClock();
    const edge = await edgeWith([mirror(proxy.port, sasl('SCRAM-SHA-256', 'edge', 'old-pw')), clock.mirror]);
    await produce(edge, 0, 10);
    await until(async () => (await status(edge)).backlogRecords === 0, 'the first records to ship');

    // The central restarts with a new password for the user.
    await central.stop();
    central = await saslCentral([{ username: 'edge', password: 'new-pw', write: ['edge.*'] }], { port, dataDir });
    await produce(edge, 10, 10);
    await until(async () => (await status(edge)).state === 'failed', 'the mirror to fail', 15_000);
    const failed = (await status(edge));
    expect(failed.lastError?.code).toBe('UPSTREAM_MISCONFIGURED');
    expect(failed.lastError?.message).toMatch(/SASL_AUTHENTICATION_FAILED/);
    expect(failed.lastError?.message).toMatch(/authentication/i);
    expect(failed.backlogRecords).toBe(10);

    // While another mirror with the same backoff reconnects 5 times, this one opens no connection.
    const connections = proxy.accepted;
    await clock.after(5);
    expect(proxy.accepted).toBe(connections);
    expect((await status(edge)).state).toBe('failed');

    // The password is changed back upstream; the operator resumes the mirror.
    await central.stop();
    central = await saslCentral([{ username: 'edge', password: 'old-pw', write: ['edge.*'] }], { port, dataDir });
    await edge.running.mirrors!.resume('central');
    await until(async () => (await status(edge)).backlogRecords === 0, 'the rest to ship after resume', 15_000);
    expect((await status(edge)).state).toBe('connected');
    expect(valuesOf(await arrived(central, REMOTE, 20))).toEqual(numbered(0, 20));

    // Changed again: this time the edge is restarted with the new password in its config.
    await central.stop();
    central = await saslCentral([{ username: 'edge', password: 'newer-pw', write: ['edge.*'] }], { port, dataDir });
    await produce(edge, 20, 10);
    await until(async () => (await status(edge)).state === 'failed', 'the mirror to fail again', 15_000);
    await edge.stop();
    const restarted = await edgeWith([mirror(proxy.port, sasl('SCRAM-SHA-256', 'edge', 'newer-pw'))], { dataDir: edge.dataDir });
    await until(async () => (await status(restarted)).backlogRecords === 0, 'the rest to ship after the edge restart', 15_000);
    const all = await arrived(central, REMOTE, 30);
    expect(valuesOf(all)).toEqual(numbered(0, 30));
    expect(new Set(all.map(originOf)).size).toBe(30);
  });

  it('TLS with a client certificate: a cluster that requires one lets in the mirror presenting it and refuses the one without', async () => {
    // Tributary's Kafka listener does not ask for client certificates: a TLS front that does (Node's
    // tls server, requestCert) stands before it, and the central advertises the front's port.
    const server = selfSigned();
    const client = selfSigned('gw-1');
    const frontPort = await freePort();
    const central = await startKafkaBroker({ listeners: { kafka: { advertisedPort: frontPort } } });
    central.running.broker.createTopic({ name: REMOTE, partitions: 2 });
    const refused: string[] = [];
    const front = tls.createServer(
      { cert: fs.readFileSync(server.certFile), key: fs.readFileSync(server.keyFile), ca: fs.readFileSync(client.certFile), requestCert: true, rejectUnauthorized: true },
      (socket) => {
        const upstream = net.connect(central.kafkaPort, '127.0.0.1');
        socket.pipe(upstream).pipe(socket);
        const end = () => (socket.destroy(), upstream.destroy());
        socket.on('error', end);
        upstream.on('error', end);
      },
    );
    front.on('tlsClientError', (err) => refused.push(err.message));
    await new Promise<void>((resolve) => front.listen(frontPort, '127.0.0.1', resolve));
    onCleanup(() => new Promise<void>((resolve) => front.close(() => resolve())));
    const edge = await edgeWith([
      mirror(frontPort, { tls: { enabled: true, caFile: server.certFile, certFile: client.certFile, keyFile: client.keyFile } }),
      { ...mirror(frontPort, { tls: { enabled: true, caFile: server.certFile } }), name: 'no-cert', remoteTopic: 'no-cert.{topic}' },
    ]);
    await produce(edge, 0, 20);
    await until(async () => (await status(edge)).backlogRecords === 0, 'the backlog to drain with a client certificate');
    expect((await status(edge))).toMatchObject({ state: 'connected', shippedRecords: 20, lastError: null });
    expect(valuesOf(await arrived(central, REMOTE, 20))).toEqual(numbered(0, 20));
    await until(async () => refused.length >= 2 && (await status(edge, 'no-cert')).lastError !== null, 'the mirror without a certificate to be refused, twice');
    expect((await status(edge, 'no-cert'))).toMatchObject({ shippedRecords: 0, lastError: { code: 'UPSTREAM_UNAVAILABLE' } });
    expect(refused[0]).toMatch(/certificate/i);
    expect(central.running.broker.findTopic('no-cert.telemetry')).toBeUndefined();
  });

  it('TLS: a mirror with the central CA ships; with a wrong CA it backs off with UPSTREAM_UNAVAILABLE naming the TLS failure, and retries', async () => {
    const cert = selfSigned();
    const central = await startKafkaBroker({ listeners: { kafka: { tls: { enabled: true, ...cert } } } });
    central.running.broker.createTopic({ name: REMOTE, partitions: 2 });
    const wrongCa = selfSigned();
    const proxy = await startTcpProxy({ targetPort: central.kafkaPort, port: await freePort() });
    const edge = await edgeWith([
      mirror(central.kafkaPort, { tls: { enabled: true, caFile: cert.certFile } }),
      { ...mirror(proxy.port, { tls: { enabled: true, caFile: wrongCa.certFile } }), name: 'wrong-ca', remoteTopic: 'wrong.{topic}' },
    ]);
    await produce(edge, 0, 20);
    await until(async () => (await status(edge)).backlogRecords === 0, 'the backlog to drain over TLS');
    expect((await status(edge))).toMatchObject({ state: 'connected', shippedRecords: 20, lastError: null });
    expect(valuesOf(await arrived(central, REMOTE, 20))).toEqual(numbered(0, 20));

    await until(async () => (await status(edge, 'wrong-ca')).lastError !== null && proxy.accepted >= 3, 'the wrong-CA mirror to retry');
    const wrong = (await status(edge, 'wrong-ca'));
    expect(['connecting', 'backing-off']).toContain(wrong.state);
    expect(wrong.lastError?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(wrong.lastError?.message).toMatch(/TLS handshake failed \(DEPTH_ZERO_SELF_SIGNED_CERT\): self-signed certificate/);
    expect(wrong.backlogRecords).toBe(20);
    expect(central.running.broker.findTopic('wrong.telemetry')).toBeUndefined();
  });

  it('a user without write on the remote topic: failed with UPSTREAM_MISCONFIGURED naming TOPIC_AUTHORIZATION_FAILED, nothing stored, no reconnect loop', async () => {
    const central = await saslCentral([{ username: 'reader', password: 'reader-pw' }]);
    central.running.broker.createTopic({ name: REMOTE, partitions: 2 });
    const proxy = await startTcpProxy({ targetPort: central.kafkaPort, port: await freePort() });
    const clock = await retryClock();
    const edge = await edgeWith([mirror(proxy.port, sasl('PLAIN', 'reader', 'reader-pw')), clock.mirror]);
    await produce(edge, 0, 10);
    await until(async () => (await status(edge)).state === 'failed', 'the mirror to fail', 15_000);
    const failed = (await status(edge));
    expect(failed.lastError?.code).toBe('UPSTREAM_MISCONFIGURED');
    expect(failed.lastError?.message).toMatch(/TOPIC_AUTHORIZATION_FAILED/);
    expect(failed.lastError?.message).toContain(REMOTE);
    expect(failed.backlogRecords).toBe(10);
    const connections = proxy.accepted;
    await clock.after(5);
    expect(proxy.accepted).toBe(connections);
    expect(central.running.broker.partitionStates(central.running.broker.requireTopic(REMOTE).id).map((p) => p.nextOffset)).toEqual([0, 0]);
  });

  it('createTopics true for a user who may write but not create topics: failed naming TOPIC_AUTHORIZATION_FAILED, nothing created', async () => {
    const central = await saslCentral([{ username: 'edge', password: 'edge-pw' }], {
      over: { auth: { acls: [{ user: 'edge', read: ['*'], write: ['edge.*'] }] } },
    });
    const edge = await edgeWith([mirror(central.kafkaPort, { ...sasl('PLAIN', 'edge', 'edge-pw'), createTopics: true })]);
    await produce(edge, 0, 4);
    await until(async () => (await status(edge)).state === 'failed', 'the mirror to fail', 15_000);
    expect((await status(edge)).lastError?.code).toBe('UPSTREAM_MISCONFIGURED');
    expect((await status(edge)).lastError?.message).toMatch(/TOPIC_AUTHORIZATION_FAILED/);
    expect((await status(edge)).lastError?.message).toContain(REMOTE);
    expect(central.running.broker.findTopic(REMOTE)).toBeUndefined();
  });

  it('a SASL mechanism the central does not offer: failed with UPSTREAM_MISCONFIGURED naming UNSUPPORTED_SASL_MECHANISM', async () => {
    const central = await saslCentral([{ username: 'edge', password: 'edge-pw', write: ['edge.*'] }], { over: { listeners: { kafka: { sasl: { mechanisms: ['PLAIN'] } } } } });
    central.running.broker.createTopic({ name: REMOTE, partitions: 2 });
    const edge = await edgeWith([mirror(central.kafkaPort, sasl('SCRAM-SHA-256', 'edge', 'edge-pw'))]);
    await produce(edge, 0, 4);
    await until(async () => (await status(edge)).state === 'failed', 'the mirror to fail', 15_000);
    expect((await status(edge)).lastError?.code).toBe('UPSTREAM_MISCONFIGURED');
    expect((await status(edge)).lastError?.message).toMatch(/UNSUPPORTED_SASL_MECHANISM/);
    expect((await status(edge)).backlogRecords).toBe(4);
  });
});
