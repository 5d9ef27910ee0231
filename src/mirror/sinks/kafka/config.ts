// The keys of a mirror with `sink: kafka`: bootstrap brokers, TLS, SASL, the remote topic template,
// topic creation, compression and the upstream's batch size limit. The producer is always idempotent
// with acks=all, so these are not settings.

import { z } from 'zod';
import { fields, filePath, nonEmptyString, section, size } from '../../../config/fields.ts';
import { engineShape, type IssueAt } from '../../mirror-config.ts';

export const kafkaCompressions = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
export const kafkaSaslMechanisms = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;

/** Kafka's broker default message.max.bytes: the largest record batch a topic takes unless set otherwise. */
export const KAFKA_MESSAGE_MAX_BYTES_DEFAULT = 1_048_588;

const portInRange = (port: string) => Number(port) >= 1 && Number(port) <= 65535;

const brokerAddress = z
  .string({ error: 'a broker address host:port' })
  .regex(/^(?:[^\s:/[\]]+|\[[0-9a-fA-F:.]+\]):\d{1,5}$/, { error: 'a broker address host:port (an IPv6 address in brackets)' })
  .refine((address) => portInRange(address.slice(address.lastIndexOf(':') + 1)), { error: 'a broker address host:port with a port from 1 to 65535' });

export const kafkaMirrorSchema = z.strictObject({
  ...engineShape({ windowMax: { max: 100_000, default: 10_000 } }),
  sink: z.literal('kafka'),
  /** Bootstrap brokers; the client learns the rest of the cluster from Metadata. */
  brokers: z.array(brokerAddress, { error: 'a list of broker addresses host:port' }).min(1, { error: 'at least one broker address host:port' }),
  /** null: tributary-<edgeId>-<name>. */
  clientId: nonEmptyString('a client id or null').nullable().default(null),
  tls: section(
    z.strictObject({
      enabled: z.boolean({ error: 'true or false' }).default(false),
      caFile: filePath(),
      certFile: filePath(),
      keyFile: filePath(),
      rejectUnauthorized: z.boolean({ error: 'true or false' }).default(true),
    }),
  ),
  sasl: z
    .strictObject({
      mechanism: z.enum(kafkaSaslMechanisms, { error: 'PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512' }),
      username: nonEmptyString('a username'),
      password: z.string({ error: 'a password' }),
    })
    .nullable()
    .default(null),
  remoteTopic: nonEmptyString('a Kafka topic template with {edgeId} {topic}').default('edge.{edgeId}.{topic}'),
  /** Create a missing remote topic (as many partitions as the log topic, the cluster's replication factor). */
  createTopics: z.boolean({ error: 'true or false' }).default(false),
  compression: z.enum(kafkaCompressions, { error: 'none, gzip, snappy, lz4 or zstd' }).default('none'),
  /** The upstream topic's max.message.bytes: record batches are packed below it, a bigger record is refused unsent. */
  maxMessageBytes: size({ min: 1024, max: 64 * 1024 * 1024 }).default(KAFKA_MESSAGE_MAX_BYTES_DEFAULT),
});

export type KafkaMirrorConfig = z.output<typeof kafkaMirrorSchema>;

const templateVariables = new Set(['edgeId', 'topic']);

/** Cross-field checks of the Kafka keys. */
export function kafkaMirrorProblems(m: Record<string, unknown>, issue: IssueAt): void {
  if (typeof m.remoteTopic === 'string') for (const problem of kafkaRemoteTopicProblems(m.remoteTopic)) issue(['remoteTopic'], m.remoteTopic, problem);
  const tls = fields(m.tls);
  const tlsFile = (key: string) => (typeof tls[key] === 'string' ? 'set' : tls[key] === null ? 'unset' : 'unparsed');
  if (tls.enabled === false && ['caFile', 'certFile', 'keyFile'].some((key) => tlsFile(key) === 'set')) issue(['tls', 'enabled'], false, 'true (tls files are set)');
  const cert = tlsFile('certFile');
  const key = tlsFile('keyFile');
  if (cert !== 'unparsed' && key !== 'unparsed' && cert !== key)
    issue(['tls', cert === 'unset' ? 'certFile' : 'keyFile'], null, 'a file path: a client certificate needs both certFile and keyFile');
}

/** A Kafka topic name holds [a-zA-Z0-9._-] only; log topic names already do, so the literals must. */
export function kafkaRemoteTopicProblems(template: string): string[] {
  const problems: string[] = [];
  for (const [, name] of template.matchAll(/\{([^}]*)\}/g))
    if (!templateVariables.has(name!)) problems.push(`a Kafka topic template whose variables are {edgeId} {topic}, not {${name}}`);
  const literal = template.replace(/\{(edgeId|topic)\}/g, '');
  if (!/^[a-zA-Z0-9._-]*$/.test(literal)) problems.push('a Kafka topic template whose text outside {edgeId} {topic} is [a-zA-Z0-9._-] (Kafka topic names hold nothing else)');
  return problems;
}
