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
import { mirrorProblems, mirrorSchema } from '../mirror/sinks/configs.ts';
import { filterProblem } from '../protocol/mqtt/topic-filter.ts';
import { acks, alongsideOtherIssues, duration, fields, filePath, host, intRange, isPlainObject, nonEmptyString, section, size, timerMsMax } from './fields.ts';
import { formatDuration, formatSize } from './units.ts';

export { sectionShape } from './fields.ts';

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

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
            // $SYS/broker/... every this many seconds (src/listeners/mqtt/sys-topics.ts); 0: none.
            sysIntervalS: intRange(0, limits.mqttSysIntervalSMax).default(10),
            // Longest MQTT 5 Session Expiry Interval granted (src/listeners/mqtt/session-expiry.ts): 7 days.
            sessionExpiryMaxS: intRange(1, limits.mqttSessionExpiryMaxS).default(604_800),
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
            message: 'only one of storage.txnQueueBytesMax and its old name storage.commitQueueBytesMax, in the file and the environment (TRIBUTARY_STORAGE__TXN_QUEUE_BYTES_MAX, TRIBUTARY_STORAGE__COMMIT_QUEUE_BYTES_MAX) together',
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

  // Store-and-forward to upstream brokers (src/mirror/); each sink's keys are in src/mirror/sinks/*/config.ts.
  mirrors: z.array(mirrorSchema, { error: 'a list of mirrors' }).default([]),
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
    mirrorProblems(mirror, (path, input, message) => ctx.addIssue({ code: 'custom', path: at(i, ...path), input, message }));
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
export type { MirrorConfig } from '../mirror/sinks/configs.ts';
