// Shared by the Kafka sink failure tests: a central Tributary with users, an edge mirroring to it,
// records produced at the edge, what arrived upstream, and a clock made of another mirror's retries.
import { makeScramCredential } from '../../../src/auth/scram-credential.ts';
import { hashPassword } from '../../../src/auth/password.ts';
import type { ConsumedRecord } from '../../../src/client/index.ts';
import type { MirrorStatus } from '../../../src/mirror/status.ts';
import { consumer, merge, startTestBroker, type TestBroker } from '../../helpers/broker.ts';
import { startKafkaBroker, type KafkaTestBroker } from '../../helpers/kafka.ts';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.ts';
import { freePort } from '../../helpers/child-broker.ts';
import { until } from '../../helpers/upstream.ts';

export interface CentralUser {
  username: string;
  password: string;
  /** Log topic names or patterns the user may write (and read); none: read only. */
  write?: string[];
}

/** auth.users entries (scrypt hash and SCRAM-SHA-256 credential) and their ACL rules. */
export async function usersAndAcls(users: CentralUser[]): Promise<{ users: unknown[]; acls: unknown[] }> {
  return {
    users: await Promise.all(
      users.map(async (u) => ({ username: u.username, passwordHash: await hashPassword(u.password, { N: 1024, r: 8, p: 1 }), scramSha256: await makeScramCredential(u.password) })),
    ),
    acls: users.map((u) => ({ user: u.username, read: ['*'], ...(u.write ? { write: u.write, admin: u.write } : {}) })),
  };
}

/** A central whose Kafka listener asks SASL of every client, on `port` (0: any) and `dataDir` (a new one when absent); `over` deep-merged last. */
export async function saslCentral(users: CentralUser[], opts: { port?: number; dataDir?: string; over?: Record<string, unknown> } = {}): Promise<KafkaTestBroker> {
  const base = { ...(opts.dataDir ? { dataDir: opts.dataDir } : {}), listeners: { kafka: { port: opts.port ?? 0, sasl: { enabled: true } } }, auth: await usersAndAcls(users) };
  return startKafkaBroker(merge(base, opts.over ?? {}));
}

export const SOURCE = 'telemetry';
export const REMOTE = `edge.gw-1.${SOURCE}`;
export const fastBackoff = { initialMs: 50, maxMs: 200 };

/** An edge (edgeId gw-1) with `telemetry` (2 partitions unless told) and the given mirrors. */
export async function edgeWith(mirrors: Record<string, unknown>[], over: Record<string, unknown> = {}, partitions = 2): Promise<TestBroker> {
  const edge = await startTestBroker({ edgeId: 'gw-1', mirrors, ...over });
  if (edge.running.broker.findTopic(SOURCE) === undefined) edge.running.broker.createTopic({ name: SOURCE, partitions });
  return edge;
}

/** `count` records numbered from `from`, key k<i>, value v<i>, alternating between the 2 partitions. */
export async function produce(edge: TestBroker, from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i++)
    await edge.running.broker.produce({ topic: SOURCE, partition: i % 2, records: [{ timestampMs: Date.now(), key: Buffer.from(`k${i}`), value: Buffer.from(`v${i}`), headers: [] }], acks: 1 });
}

export const status = (edge: TestBroker, name = 'central'): Promise<MirrorStatus> => edge.running.mirrors!.status(name);

/** Every record of a remote topic, read through the central's edge listener until `count` arrived (or 15 s). */
export async function arrived(central: TestBroker, topic: string, count: number): Promise<ConsumedRecord[]> {
  const t = central.running.broker.findTopic(topic);
  if (t === undefined) return [];
  const c = await consumer(central, { maxBytes: 4 * 1024 * 1024 });
  await c.assign(Array.from({ length: t.partitions }, (_, partition) => ({ topic, partition, offset: 'earliest' as const })));
  const out: ConsumedRecord[] = [];
  const deadline = Date.now() + 15_000;
  while (out.length < count && Date.now() < deadline) out.push(...(await c.poll()));
  await c.close();
  return out;
}

export const originOf = (r: ConsumedRecord): string => r.headers.find((h) => h.key === 'origin')!.value!.toString();

/** Values of the records, sorted by their number (v<i>). */
export const valuesOf = (records: ConsumedRecord[]): string[] =>
  records.map((r) => r.value!.toString()).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));

export const numbered = (from: number, count: number): string[] => Array.from({ length: count }, (_, i) => `v${from + i}`);

/**
 * A clock counted in reconnects instead of milliseconds: a TCP port that accepts and drops every
 * connection at once, for a second mirror with the same backoff to retry against. `after(n)` waits
 * until it has retried n more times, which takes at least as long as n backoff rounds.
 */
export async function retryClock(): Promise<{ proxy: TcpProxy; mirror: Record<string, unknown>; after(n: number): Promise<void> }> {
  const proxy = await startTcpProxy({ targetPort: 1, port: await freePort(), onAccept: (socket) => socket.destroy() });
  return {
    proxy,
    mirror: { name: 'clock', sink: 'kafka', brokers: [`127.0.0.1:${proxy.port}`], topics: ['clock'], connectTimeoutMs: 1000, backoff: fastBackoff },
    async after(n: number) {
      const target = proxy.accepted + n;
      await until(() => proxy.accepted >= target, `${n} more reconnects of the clock mirror`, 30_000);
    },
  };
}
