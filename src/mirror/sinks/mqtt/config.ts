// The keys of a mirror with `sink: mqtt`: the upstream URL, MQTT version, credentials, TLS files,
// remote topic template, QoS and keepalive. MQTT packet ids are 16-bit and the engine keeps its own
// window, so windowMax stays below 65535.

import { z } from 'zod';
import { duration, fields, filePath, nonEmptyString, section } from '../../../config/fields.ts';
import { engineShape, type IssueAt } from '../../mirror-config.ts';

export const mqttMirrorSchema = z.strictObject({
  ...engineShape({ windowMax: { max: 65534, default: 100 } }),
  sink: z.literal('mqtt'),
  // URL.canParse too: a port out of range (mqtt://host:99999) passes the pattern but not the URL parser.
  url: z
    .string({ error: 'an mqtt:// or mqtts:// URL' })
    .regex(/^mqtts?:\/\/[^/\s]+/, { error: 'an mqtt:// or mqtts:// URL' })
    .refine((url) => URL.canParse(url) && new URL(url).port !== '0', { error: 'an mqtt:// or mqtts:// URL with a host and a port from 1 to 65535' }),
  /** 5: the origin travels as a user property. 4 (MQTT 3.1.1): it must be in the remote topic. */
  protocolVersion: z.union([z.literal(5), z.literal(4)], { error: '5 (MQTT 5) or 4 (MQTT 3.1.1)' }).default(5),
  /** null: tributary-<edgeId>-<name>, filled in after parsing (edgeId is a sibling of mirrors). */
  clientId: nonEmptyString('a client id or null').nullable().default(null),
  username: nonEmptyString('a username or null').nullable().default(null),
  password: z.string({ error: 'a password or null' }).nullable().default(null),
  // For mqtts:// URLs: extra CA certificates to trust, and a client certificate and key (PEM).
  tls: section(
    z.strictObject({
      caFile: filePath(),
      certFile: filePath(),
      keyFile: filePath(),
      rejectUnauthorized: z.boolean({ error: 'true or false' }).default(true),
    }),
  ),
  remoteTopic: nonEmptyString('a topic template with {edgeId} {topic} {partition} {offset} {key}').default('edge/{edgeId}/{topic}'),
  qos: z.union([z.literal(0), z.literal(1)], { error: '0 or 1' }).default(1),
  keepaliveMs: duration({ min: 1000, max: 65_535_000 }).default(30_000),
});

export type MqttMirrorConfig = z.output<typeof mqttMirrorSchema>;

/** Cross-field checks of the MQTT keys. */
export function mqttMirrorProblems(m: Record<string, unknown>, issue: IssueAt): void {
  if (typeof m.remoteTopic === 'string' && (m.protocolVersion === 4 || m.protocolVersion === 5))
    for (const problem of remoteTopicProblems(m.remoteTopic, m.protocolVersion)) issue(['remoteTopic'], m.remoteTopic, problem);
  const tls = fields(m.tls);
  const tlsFile = (key: string) => (typeof tls[key] === 'string' ? 'set' : tls[key] === null ? 'unset' : 'unparsed');
  if (typeof m.url === 'string' && !m.url.startsWith('mqtts:') && ['caFile', 'certFile', 'keyFile'].some((key) => tlsFile(key) === 'set'))
    issue(['url'], m.url, 'an mqtts:// URL (tls files are set)');
  const cert = tlsFile('certFile');
  const key = tlsFile('keyFile');
  if (cert !== 'unparsed' && key !== 'unparsed' && cert !== key)
    issue(['tls', cert === 'unset' ? 'certFile' : 'keyFile'], null, 'a file path: a client certificate needs both certFile and keyFile');
}

const templateVariables = new Set(['edgeId', 'topic', 'partition', 'offset', 'key']);

/**
 * Problems of a remoteTopic template: unknown {variables}, MQTT wildcards, and under MQTT 3.1.1 (no
 * user properties) a missing {partition} or {offset}: the topic is then the only place for the origin.
 */
export function remoteTopicProblems(template: string, protocolVersion: 4 | 5 = 5): string[] {
  const problems: string[] = [];
  const names = [...template.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]!);
  for (const name of names)
    if (!templateVariables.has(name)) problems.push(`a topic template whose variables are {edgeId} {topic} {partition} {offset} {key}, not {${name}}`);
  if (/[#+]/.test(template)) problems.push('a topic template without the wildcards + and #');
  if (protocolVersion === 4 && !(names.includes('partition') && names.includes('offset')))
    problems.push('a topic template with {partition} and {offset} under protocolVersion 4 (MQTT 3.1.1 has no user properties, so the origin must be in the topic)');
  return problems;
}
