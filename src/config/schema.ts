// The configuration schema. Every key is optional in a file; parsing fills in the defaults, so the
// `Config` type is fully populated. config/default.yaml and src/config/README.md mirror this file
// and tests keep them in step.
//
// Adding a section: write `mySection: section(z.strictObject({ ... }))` below. Use `section()` for
// every nested object: it makes the object optional and tolerates an empty YAML section (null), and
// the loader relies on it (`sectionShape`) to derive env variable names and did-you-mean hints.
// Leaf schemas carry their own "expected ..." text where the zod default would be unclear.

import os from 'node:os';
import { z } from 'zod';
import { SCRAM, scramCredentialProblem, type ScramHash } from '../auth/scram-credential.ts';
import { passwordHashProblem } from '../auth/password.ts';
import { routeProblems } from '../listeners/mqtt/routes.ts';
import { limits } from '../limits.ts';
import { filterProblem } from '../protocol/mqtt/topic-filter.ts';
import { formatDuration, formatSize, parseDuration, parseSize } from './units.ts';

/**
 * A nested object of settings; `null` (a YAML key with everything below it commented out) means `{}`.
 * The object may rewrite its keys after validation (an old key name folded into the new one).
 */
function section<Schema extends StrictObject | z.ZodPipe<StrictObject, z.ZodTransform>>(object: Schema) {
  return z.preprocess((value) => value ?? {}, object);
}
type StrictObject = z.ZodObject<z.ZodRawShape, z.core.$strict>;

/** The keys of a schema made by `section()` (or the root object); undefined for leaves. */
export function sectionShape(schema: z.core.$ZodType): z.core.$ZodShape | undefined {
  if (schema instanceof z.ZodObject) return schema.shape;
  // A section's preprocess keeps the object in `out`; a section's own transform keeps it in `in`.
  if (schema instanceof z.ZodPipe) return sectionShape(schema.out) ?? sectionShape(schema.in);
  return undefined;
}

function intRange(min: number, max: number) {
  const expected = { error: `an integer ${min}..${max}` };
  return z.int(expected).min(min, expected).max(max, expected);
}

function nonEmptyString(what: string) {
  const expected = { error: what };
  return z.string(expected).min(1, expected);
}

interface QuantityRange {
  min: number;
  max?: number;
  /** Whether -1 ("unlimited") is accepted. */
  unlimited?: boolean;
}

function rangeText(min: number, max: number | undefined, format: (n: number) => string): string {
  if (max !== undefined) return ` from ${format(min)} to ${format(max)}`;
  if (min > 1) return ` of at least ${format(min)}`;
  return min === 1 ? ' above 0' : '';
}

/** A size or duration field: a number or a human string in, a plain number (bytes or ms) out. */
function quantity(
  kind: string,
  examples: string,
  parse: (value: number | string) => number | undefined,
  format: (n: number) => string,
  { min, max, unlimited = false }: QuantityRange,
) {
  const expected = `${unlimited ? '-1 (unlimited) or ' : ''}${kind}${rangeText(min, max, format)}, written like ${examples}`;
  return z.union([z.number(), z.string()], { error: expected }).transform((value, ctx) => {
    if (unlimited && value === -1) return -1;
    const parsed = parse(value);
    if (parsed === undefined || parsed < min || (max !== undefined && parsed > max)) {
      ctx.issues.push({ code: 'custom', message: expected, input: value });
      return z.NEVER;
    }
    return parsed;
  });
}

const size = (range: QuantityRange) => quantity('a size', '512KiB, 64MiB, 10MB or 4096', parseSize, formatSize, range);
const duration = (range: QuantityRange) =>
  quantity('a duration', '500ms, 30s, 5m, 3h, 7d or 1000', parseDuration, formatDuration, range);

// Intervals feed setTimeout, which fires at once for anything above 2^31-1 ms (~24.8 days); a day
// is already far longer than any sensible keepalive or retention check.
const timerMsMax = 86_400_000;

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const host = () => nonEmptyString('a host name or IP address');
const filePath = () => nonEmptyString('a file path or null').nullable().default(null);
const acks = () => z.union([z.literal(0), z.literal(1), z.literal('all')], { error: '0, 1 or all' }).default(1);

/**
 * zod skips an object's refinements once an issue inside it aborted parsing (a value of the wrong
 * type), so a file with a type error and a cross-field error reported one per run. With this, a
 * cross-field check runs whenever the object itself is one; each check then looks only at the values
 * that parsed (their type is checked again) and says nothing about the rest, already reported.
 */
const alongsideOtherIssues = { when: (payload: { value: unknown }) => isPlainObject(payload.value) };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The keys of a value that may not have parsed: its own when it is an object, else none. */
function fields(value: unknown): Record<string, unknown> {
  return isPlainObject(value) ? value : {};
}

/** Adds one issue per route problem, at the route's field, naming its match filter. */
function checkRoute(route: { match: string | null; topic: string; key: string | null }, ctx: z.core.$RefinementCtx) {
  const matchParsed = typeof route.match === 'string' || route.match === null;
  const topicParsed = typeof route.topic === 'string';
  // A key is checked against the wildcards of its match filter: without a parsed filter it is not checked.
  const key = matchParsed && typeof route.key === 'string' ? route.key : null;
  const problems = routeProblems({ match: matchParsed ? route.match : null, topic: topicParsed ? route.topic : 'unchecked', key });
  for (const p of problems) ctx.addIssue({ code: 'custom', path: [p.field], input: route[p.field], message: p.message });
}

const route = z
  .strictObject({
    match: z.string({ error: 'an MQTT topic filter' }),
    topic: z.string({ error: 'a log topic name' }),
    key: z.string({ error: 'a key template or null' }).nullable().default('{topic}'),
    acks: acks(),
  })
  .superRefine(checkRoute, alongsideOtherIssues);

const topicFilter = z.string({ error: 'an MQTT topic filter' }).superRefine((filter, ctx) => {
  const problem = filterProblem(filter);
  if (problem !== null) ctx.addIssue({ code: 'custom', input: filter, message: `an MQTT topic filter (${problem})` });
});

// A log topic name or * pattern in an ACL rule, where %c and %u stand for the client id and username.
const aclLogTopic = z
  .string({ error: 'a log topic name or a pattern with * (%c and %u allowed)' })
  .regex(/^(?:[a-zA-Z0-9._*-]|%[cu]){1,249}$/, { error: 'a log topic name or a pattern with * (%c and %u allowed)' });

const aclRule = z.strictObject({
  user: nonEmptyString('a username').optional(),
  clientId: nonEmptyString('a client id').optional(),
  publish: z.array(topicFilter).default([]),
  subscribe: z.array(topicFilter).default([]),
  // Log topic rights (the Kafka listener): Fetch/ListOffsets, Produce, CreateTopics/DeleteTopics/CreatePartitions.
  read: z.array(aclLogTopic).default([]),
  write: z.array(aclLogTopic).default([]),
  admin: z.array(aclLogTopic).default([]),
});

const user = z.strictObject({
  username: nonEmptyString('a username'),
  passwordHash: z.string({ error: 'a password hash' }).superRefine((hash, ctx) => {
    const problem = passwordHashProblem(hash);
    if (problem !== null) ctx.addIssue({ code: 'custom', input: '(hidden)', message: problem });
  }),
  // For SASL SCRAM-SHA-256 and SCRAM-SHA-512 on the Kafka listener: a scrypt hash cannot give SCRAM's keys.
  scramSha256: scramCredential('sha256'),
  scramSha512: scramCredential('sha512'),
});

function scramCredential(hash: ScramHash) {
  return z
    .string({ error: `a ${SCRAM[hash].mechanism} credential` })
    .superRefine((text, ctx) => {
      const problem = scramCredentialProblem(hash, text);
      if (problem !== null) ctx.addIssue({ code: 'custom', input: '(hidden)', message: problem });
    })
    .optional();
}


// A mirror ships log topics to an upstream broker (src/mirror/). MQTT packet ids are 16-bit and the
// engine keeps its own window, so windowMax stays below 65535.
const mirrorName = z
  .string({ error: 'a mirror name [a-zA-Z0-9._-]{1,64}' })
  .regex(/^[a-zA-Z0-9._-]{1,64}$/, { error: 'a mirror name [a-zA-Z0-9._-]{1,64}' });

// A log topic name, or a pattern where * stands for any run of name characters (names never hold *).
const topicSelector = z
  .string({ error: 'a log topic name or a pattern with * (e.g. sensors.*)' })
  .regex(/^[a-zA-Z0-9._*-]{1,249}$/, { error: 'a log topic name or a pattern with * (e.g. sensors.*)' });

const mirror = z.strictObject({
  name: mirrorName,
  sink: z.literal('mqtt', { error: 'mqtt (the only sink so far)' }),
  url: z.string({ error: 'an mqtt:// or mqtts:// URL' }).regex(/^mqtts?:\/\/[^/\s]+/, { error: 'an mqtt:// or mqtts:// URL' }),
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
  topics: z.array(topicSelector, { error: 'a list of log topic names or patterns' }).min(1, { error: 'at least one log topic name or pattern' }),
  /** Topic name or pattern → priority; higher drains first. Topics not listed have priority 0. */
  priorities: z.record(topicSelector, intRange(-1000, 1000), { error: 'a mapping of topic names or patterns to integers -1000..1000' }).default({}),
  remoteTopic: nonEmptyString('a topic template with {edgeId} {topic} {partition} {offset} {key}').default('edge/{edgeId}/{topic}'),
  qos: z.union([z.literal(0), z.literal(1)], { error: '0 or 1' }).default(1),
  windowMax: intRange(1, 65534).default(100),
  batch: section(
    z.strictObject({
      // Log bytes one partition reads and hands to the sink at a time (Kafka's batch.size).
      bytesMax: size({ min: 1024, max: 4 * 1024 * 1024 }).default(64 * 1024),
      // After a partial batch, wait this long for more records before publishing (Kafka's linger.ms).
      lingerMs: duration({ min: 0, max: 60_000 }).default(0),
    }),
  ),
  // PUBLISH packet bytes per second over all the mirror's partitions; -1: unlimited.
  rateLimitBytesPerSec: size({ min: 1, unlimited: true }).default(-1),
  /** What a record the upstream refuses for good (not authorized, too large) does to the mirror. */
  onRejected: z.enum(['skip', 'stop'], { error: 'skip (count it and go on) or stop (fail the mirror until resumed)' }).default('skip'),
  keepaliveMs: duration({ min: 1000, max: 65_535_000 }).default(30_000),
  connectTimeoutMs: duration({ min: 1, max: timerMsMax }).default(10_000),
  // Unacknowledged publishes with no PUBACK for this long mean a dead link: reconnect and resend.
  ackTimeoutMs: duration({ min: 10, max: timerMsMax }).default(30_000),
  backoff: section(
    z.strictObject({
      initialMs: duration({ min: 1, max: timerMsMax }).default(500),
      maxMs: duration({ min: 1, max: timerMsMax }).default(30_000),
    }),
  ),
});

export const configSchema = z.strictObject({
  dataDir: nonEmptyString('a directory path').default('./data'),

  // Names this gateway upstream (mirrors' origin property and remote topics); null: the hostname.
  // It becomes part of MQTT topic names and of the origin edgeId/topic/partition/offset, so no / + #
  // and no control characters.
  edgeId: z
    .string({ error: 'an edge id (1..128 characters, none of / + # or control characters)' })
    .regex(/^[^/+#\u0000-\u001f\u007f-\u009f]{1,128}$/, { error: 'an edge id (1..128 characters, none of / + # or control characters)' })
    .nullable()
    .default(null)
    .transform((id) => id ?? os.hostname()),

  log: section(
    z.strictObject({
      level: z.enum(logLevels).default('info'),
      pretty: z.union([z.literal('auto'), z.boolean()], { error: 'auto, true or false' }).default('auto'),
    }),
  ),

  listeners: section(
    z.strictObject({
      edge: section(
        z
          .strictObject({
            enabled: z.boolean().default(true),
            host: host().default('0.0.0.0'),
            port: intRange(0, 65535).default(7883),
            token: nonEmptyString('a non-empty string or null').nullable().default(null),
            // HELLO itself must fit in a frame, hence the lower bound.
            frameBytesMax: size({ min: limits.edgeHelloBytesMax, max: limits.edgeFrameBytesMax }).default(
              limits.edgeFrameBytesDefault,
            ),
            keepaliveMs: duration({ min: 1, max: timerMsMax }).default(60_000),
            connectionsMax: intRange(1, limits.edgeConnectionsMax).default(1000),
            // How long a peer that stopped reading or stalled inside a frame may hold its buffers (1.5 ×).
            keepaliveMsMax: duration({ min: limits.edgeKeepaliveMsMin, max: limits.edgeKeepaliveMsMax }).default(limits.edgeKeepaliveMsMaxDefault),
            writeQueueBytesMax: size({ min: limits.edgeWriteQueueBytesMin, max: limits.edgeBytesTotalMax }).default(limits.edgeWriteQueueBytesDefault),
            writeBytesTotalMax: size({ min: limits.edgeWriteQueueBytesMin, max: limits.edgeBytesTotalMax }).default(limits.edgeWriteBytesTotalDefault),
            // One largest frame must fit, or a client sending one could never be read.
            partialFrameBytesTotalMax: size({ min: limits.edgeFrameBytesMax, max: limits.edgeBytesTotalMax }).default(limits.edgePartialFrameBytesTotalDefault),
          })
          .superRefine((edge, ctx) => {
            if (typeof edge.keepaliveMs !== 'number' || typeof edge.keepaliveMsMax !== 'number') return;
            if (edge.keepaliveMs > edge.keepaliveMsMax)
              ctx.addIssue({ code: 'custom', path: ['keepaliveMs'], input: edge.keepaliveMs, message: `a duration not above listeners.edge.keepaliveMsMax (${formatDuration(edge.keepaliveMsMax)})` });
          }, alongsideOtherIssues),
      ),
      // The Kafka wire protocol (src/listeners/kafka). On by default like MQTT: without sasl any client that
      // reaches the port has what auth.acls gives anonymous clients (all, without rules).
      kafka: section(
        z.strictObject({
          enabled: z.boolean().default(true),
          host: host().default('0.0.0.0'),
          port: intRange(0, 65535).default(9092),
          // What Metadata and FindCoordinator tell clients to connect to; null: the address and port the client reached.
          advertisedHost: nonEmptyString('a host name or address, or null').nullable().default(null),
          advertisedPort: intRange(1, 65535).nullable().default(null),
          requestBytesMax: size({ min: limits.kafkaRequestBytesMin, max: limits.kafkaRequestBytesMax }).default(8 * 1024 * 1024),
          connectionsMax: intRange(1, limits.kafkaConnectionsMax).default(1000),
          inflightRequestsMax: intRange(1, limits.kafkaInflightRequestsMax).default(5),
          // Bytes of Fetch answers being read or written, all Kafka connections together; one fetch reserves up to 12 MiB.
          fetchBytesTotalMax: size({ min: limits.kafkaFetchReserveBytesMax, max: limits.kafkaFetchBytesTotalMax }).default(64 * 1024 * 1024),
          // A client whose answers the kernel takes nothing of this long stopped reading: it is closed.
          writeStallMs: duration({ min: 100, max: timerMsMax }).default(60_000),
          // On: every client authenticates against auth.users before any other request (SASL_PLAINTEXT, or SASL_SSL with tls).
          sasl: section(
            z.strictObject({
              enabled: z.boolean().default(false),
              mechanisms: z
                .array(z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'], { error: 'PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512' }))
                .min(1, { error: 'at least one mechanism' })
                .default(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']),
            }),
          ),
          // On: the listener's port speaks TLS only (SSL, or SASL_SSL with sasl), as a Kafka listener has one security protocol.
          tls: section(
            z.strictObject({
              enabled: z.boolean().default(false),
              certFile: filePath(),
              keyFile: filePath(),
              caFile: filePath(),
            }),
          ),
        }).superRefine((kafka, ctx) => {
          if (!isPlainObject(kafka.tls) || kafka.tls.enabled !== true) return;
          for (const key of ['certFile', 'keyFile'] as const)
            if (kafka.tls[key] === null) ctx.addIssue({ code: 'custom', path: ['tls', key], input: null, message: 'a file path (PEM) when tls.enabled is true' });
        }, alongsideOtherIssues),
      ),
      http: section(
        z.strictObject({
          enabled: z.boolean().default(true),
          host: host().default('0.0.0.0'),
          port: intRange(0, 65535).default(8088),
          // Admin actions (mirror pause/resume) need it as a Bearer token; null: only loopback clients may use them.
          adminToken: nonEmptyString('a non-empty string or null').nullable().default(null),
        }),
      ),
      mqtt: section(
        z
          .strictObject({
            enabled: z.boolean().default(true),
            host: host().default('0.0.0.0'),
            port: intRange(0, 65535).default(1883),
            ws: section(
              z.strictObject({
                enabled: z.boolean().default(true),
                port: intRange(0, 65535).default(8083),
              }),
            ),
            tls: section(
              z.strictObject({
                enabled: z.boolean().default(false),
                port: intRange(0, 65535).default(8883),
                certFile: filePath(),
                keyFile: filePath(),
                caFile: filePath(),
              }),
            ),
            messageBytesMax: size({ min: limits.mqttMessageBytesMin, max: limits.mqttMessageBytesMax }).default(256 * 1024),
            connectionsMax: intRange(1, limits.mqttConnectionsMax).default(1000),
            inflightMax: intRange(1, limits.mqttInflightMax).default(100),
            // aedes clamps its own limit to 100 levels (its topic matcher throws beyond).
            topicLevelsMax: intRange(1, 100).default(32),
            allowAnonymous: z.boolean().default(true),
            // A subscriber's queue (src/listeners/mqtt/subscriber-queue.ts): past it QoS 0 is dropped, QoS 1/2 closes the connection.
            subscriberQueueBytesMax: size({ min: 16 * 1024, max: limits.mqttSubscriberQueueBytesMax }).default(1024 * 1024),
            subscriberQueueBytesTotalMax: size({ min: 1024 * 1024, max: limits.mqttSubscriberQueueBytesMax }).default(64 * 1024 * 1024),
            subscriberStallMs: duration({ min: 100, max: timerMsMax }).default(60_000),
          })
          .superRefine((mqtt, ctx) => {
            if (!isPlainObject(mqtt.tls) || mqtt.tls.enabled !== true) return;
            for (const key of ['certFile', 'keyFile'] as const)
              if (mqtt.tls[key] === null) ctx.addIssue({ code: 'custom', path: ['tls', key], input: null, message: 'a file path (PEM) when tls.enabled is true' });
          }, alongsideOtherIssues),
      ),
    }),
  ),

  // MQTT PUBLISH → log topic, in order; the first match wins, then defaultRoute.
  routes: z.array(route, { error: 'a list of routes' }).default([]),

  defaultRoute: section(
    z
      .strictObject({
        enabled: z.boolean().default(true),
        topic: z.string({ error: 'a log topic name' }).default('mqtt'),
        key: z.string({ error: 'a key template or null' }).nullable().default('{topic}'),
        acks: acks(),
      })
      .superRefine((fallback, ctx) => checkRoute({ ...fallback, match: null }, ctx), alongsideOtherIssues),
  ),

  auth: section(
    z
      .strictObject({
        users: z.array(user, { error: 'a list of users' }).default([]),
        acls: z.array(aclRule, { error: 'a list of ACL rules' }).default([]),
      })
      .superRefine((auth, ctx) => {
        if (!Array.isArray(auth.users)) return;
        const seen = new Set<string>();
        // A user whose entry did not parse may still name itself: an ACL naming it is not reported too.
        let allParsed = true;
        auth.users.forEach((u, i) => {
          if (!isPlainObject(u) || typeof u.username !== 'string') return void (allParsed = false);
          if (seen.has(u.username)) ctx.addIssue({ code: 'custom', path: ['users', i, 'username'], input: u.username, message: 'a username not used by an earlier entry' });
          seen.add(u.username);
        });
        if (!allParsed || !Array.isArray(auth.acls)) return;
        auth.acls.forEach((rule, i) => {
          if (isPlainObject(rule) && typeof rule.user === 'string' && !seen.has(rule.user))
            ctx.addIssue({ code: 'custom', path: ['acls', i, 'user'], input: rule.user, message: 'the username of an entry in auth.users' });
        });
      }, alongsideOtherIssues),
  ),

  topics: section(
    z.strictObject({
      autoCreate: z.boolean().default(true),
      defaultPartitions: intRange(1, limits.partitionsMax).default(1),
      defaultRetentionMs: duration({ min: 1, unlimited: true }).default(7 * 86_400_000),
      defaultRetentionBytes: size({ min: 1, unlimited: true }).default(-1),
    }),
  ),

  storage: section(
    z
      .strictObject({
        diskBudgetBytes: size({ min: 1, unlimited: true }).default(-1),
        diskBudgetPolicy: z.enum(['reject-new', 'drop-oldest']).default('reject-new'),
        minFreeDiskBytes: size({ min: 0 }).default(64 * 2 ** 20),
        mapSizeBytes: size({ min: 2 ** 20 }).default(2 ** 30),
        maxMapSizeBytes: size({ min: 2 ** 20, unlimited: true }).default(-1),
        // Below one maximal append, a large batch could never be queued and would be THROTTLED forever.
        // No default here: the transform below fills it in after looking at the old name.
        txnQueueBytesMax: size({ min: limits.appendBytesMax }).optional(),
        // The name before offset commits arrived ("commit" alone now means an offset commit); kept so
        // existing files and env settings still load.
        commitQueueBytesMax: size({ min: limits.appendBytesMax }).optional(),
      })
      .superRefine((storage, ctx) => {
        if (storage.txnQueueBytesMax !== undefined && storage.commitQueueBytesMax !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['commitQueueBytesMax'],
            input: storage.commitQueueBytesMax,
            message: 'only one of storage.txnQueueBytesMax and its old name storage.commitQueueBytesMax',
          });
      }, alongsideOtherIssues)
      .superRefine((storage, ctx) => {
        if (typeof storage.maxMapSizeBytes !== 'number' || typeof storage.mapSizeBytes !== 'number') return;
        if (storage.maxMapSizeBytes !== -1 && storage.maxMapSizeBytes < storage.mapSizeBytes) {
          ctx.addIssue({
            code: 'custom',
            path: ['maxMapSizeBytes'],
            input: storage.maxMapSizeBytes,
            message: `-1 (unlimited) or a size not below storage.mapSizeBytes (${formatSize(storage.mapSizeBytes)})`,
          });
        }
      }, alongsideOtherIssues)
      .transform(({ commitQueueBytesMax, txnQueueBytesMax, ...storage }) => ({
        ...storage,
        txnQueueBytesMax: txnQueueBytesMax ?? commitQueueBytesMax ?? limits.txnQueueBytesMax,
      })),
  ),

  groups: section(
    z.strictObject({
      // Kafka's default is 45 s; a gateway's local consumers restart faster and a stuck partition costs more.
      sessionTimeoutMsDefault: duration({ min: limits.groupSessionTimeoutMsMin, max: limits.groupSessionTimeoutMsMax }).default(10_000),
      offsetsRetentionMs: duration({ min: 1, max: 10 * 365 * 86_400_000 }).default(7 * 86_400_000),
      expiryCheckIntervalMs: duration({ min: 1_000, max: timerMsMax }).default(600_000),
      // Kafka's group.initial.rebalance.delay.ms: Kafka clients starting together land in one generation.
      initialRebalanceDelayMs: duration({ min: 0, max: 60_000 }).default(300),
    }),
  ),

  retention: section(
    z.strictObject({
      checkIntervalMs: duration({ min: 1, max: timerMsMax }).default(30_000),
      // Each step runs in one write transaction; bigger steps stall producers for longer.
      batchesPerStep: intRange(1, 100_000).default(limits.retentionBatchesPerStep),
    }),
  ),

  mirrors: z.array(mirror, { error: 'a list of mirrors' }).default([]),
}).superRefine((config, ctx) => {
  const seenMirrors = new Set<string>();
  const at = (i: number, ...path: PropertyKey[]) => ['mirrors', i, ...path];
  const mirrors: unknown[] = Array.isArray(config.mirrors) ? config.mirrors : [];
  mirrors.forEach((mirror, i) => {
    const m = fields(mirror);
    if (typeof m.name === 'string') {
      if (seenMirrors.has(m.name)) ctx.addIssue({ code: 'custom', path: at(i, 'name'), input: m.name, message: 'a mirror name not used by an earlier mirror' });
      seenMirrors.add(m.name);
    }
    const backoff = fields(m.backoff);
    if (typeof backoff.maxMs === 'number' && typeof backoff.initialMs === 'number' && backoff.maxMs < backoff.initialMs)
      ctx.addIssue({ code: 'custom', path: at(i, 'backoff', 'maxMs'), input: backoff.maxMs, message: 'a duration not below backoff.initialMs' });
    if (typeof m.remoteTopic === 'string' && (m.protocolVersion === 4 || m.protocolVersion === 5))
      for (const problem of remoteTopicProblems(m.remoteTopic, m.protocolVersion))
        ctx.addIssue({ code: 'custom', path: at(i, 'remoteTopic'), input: m.remoteTopic, message: problem });
    if (isPlainObject(m.priorities) && Array.isArray(m.topics))
      for (const selector of Object.keys(m.priorities))
        if (!m.topics.includes(selector))
          ctx.addIssue({ code: 'custom', path: at(i, 'priorities', selector), input: selector, message: 'a name or pattern listed in topics' });
    const tls = fields(m.tls);
    const tlsFile = (key: string) => (typeof tls[key] === 'string' ? 'set' : tls[key] === null ? 'unset' : 'unparsed');
    if (typeof m.url === 'string' && !m.url.startsWith('mqtts:') && ['caFile', 'certFile', 'keyFile'].some((key) => tlsFile(key) === 'set'))
      ctx.addIssue({ code: 'custom', path: at(i, 'url'), input: m.url, message: 'an mqtts:// URL (tls files are set)' });
    const cert = tlsFile('certFile');
    const key = tlsFile('keyFile');
    if (cert !== 'unparsed' && key !== 'unparsed' && cert !== key)
      ctx.addIssue({ code: 'custom', path: at(i, 'tls', cert === 'unset' ? 'certFile' : 'keyFile'), input: null, message: 'a file path: a client certificate needs both certFile and keyFile' });
  });
  const mqtt = fields(fields(config.listeners).mqtt);
  const users = fields(config.auth).users;
  if (mqtt.enabled === true && mqtt.allowAnonymous === false && Array.isArray(users) && users.length === 0)
    ctx.addIssue({ code: 'custom', path: ['listeners', 'mqtt', 'allowAnonymous'], input: false, message: 'true, or at least one user in auth.users (else no client could connect)' });
  const kafka = fields(fields(config.listeners).kafka);
  if (kafka.enabled === true && fields(kafka.sasl).enabled === true && Array.isArray(users) && users.length === 0)
    ctx.addIssue({ code: 'custom', path: ['listeners', 'kafka', 'sasl', 'enabled'], input: true, message: 'false, or at least one user in auth.users (else no client could authenticate)' });
}, alongsideOtherIssues);

export type Config = z.output<typeof configSchema>;
export type MirrorConfig = Config['mirrors'][number];

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
