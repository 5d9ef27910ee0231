// The patches Tributary carries on aedes 2.0.0-beta.1, applied to its sources as they are loaded:
// by esbuild when it bundles (build.mjs) and by vitest when tests import the listener in-process
// (vitest.config.ts). npm runs no install scripts here, so patching node_modules after install is
// not an option, and a source patch (unlike a monkey patch from outside) can fix code that aedes
// does not export. Why each exists: src/listeners/mqtt/AEDES2-EVALUATION.md and the listener README.
//
// Every edit must match its file exactly once: a different aedes fails the build and the tests
// (test/listeners/mqtt/aedes-patches.test.ts) instead of running half-patched. Plain JavaScript,
// because build.mjs runs before anything is compiled.

/** The aedes release these edits were written against; package.json pins it exactly. */
export const AEDES_VERSION = '2.0.0-beta.1';

/** @type {{ file: string, why: string, find: string, replace: string }[]} */
export const AEDES_PATCHES = [
  {
    file: 'aedes.js',
    why: 'GHSA-52qw-whmv-87c5 (fixed in 1.1.2, missing in 2.0.0-beta.1): a client id "constructor" ended the process',
    find: '    this.clients = {}\n    this.brokers = {}\n',
    replace: '    this.clients = Object.create(null)\n    this.brokers = Object.create(null)\n',
  },
  {
    file: 'aedes.js',
    why: 'the option of the QoS 2 bound below (1.2.0 maxInflightInbound, default 1000)',
    find: '    this.pendingSessionsLimit = opts.pendingSessionsLimit\n',
    replace: '    this.pendingSessionsLimit = opts.pendingSessionsLimit\n    this.maxInflightInbound = opts.maxInflightInbound ?? 1000\n',
  },
  {
    file: 'lib/client.js',
    why: 'GHSA-52qw-whmv-87c5: topic filters and message ids are keys of these maps too',
    find: '    this.subscriptions = {}\n    this.duplicates = {}\n',
    replace: '    this.subscriptions = Object.create(null)\n    this.duplicates = Object.create(null)\n    this._inboundInflight = new Set()\n',
  },
  {
    file: 'lib/handlers/pubrel.js',
    why: 'two PUBRELs for one id in one read: the second delete rejects, and .finally() let that rejection escape and end the process (fixed in 1.2.0)',
    find: '  persistence.incomingDelPacket(this.client, arg.packet).finally(() => done(null, arg))\n',
    replace: [
      '  const client = this.client',
      '  persistence.incomingDelPacket(client, arg.packet).then(() => {',
      '    client._inboundInflight.delete(arg.packet.messageId)',
      '    done(null, arg)',
      '  }, () => done(null, arg))',
      '',
    ].join('\n'),
  },
  {
    file: 'lib/handlers/connect.js',
    why: '[MQTT-3.1.2-6] a clean session starts without the QoS 2 ids a previous one left un-released; without it a new PUBLISH with such an id was acknowledged and dropped (fixed in 1.2.0)',
    find: '  registerClient,\n  doConnack,\n',
    replace: '  registerClient,\n  cleanIncoming,\n  doConnack,\n',
  },
  {
    file: 'lib/handlers/connect.js',
    why: 'the action the previous edit runs, after registerClient so a taken-over connection cannot store into the wiped state; feature-detected, as in 1.2.0, since aedes 2 bundles aedes-persistence 10.3.1, which predates cleanIncoming',
    find: 'function registerClient (arg, done) {\n',
    replace: [
      'function cleanIncoming (arg, done) {',
      '  if (!this.packet.clean) return done(null)',
      '  const client = this.client',
      '  Promise.resolve()',
      "    .then(() => typeof client.broker.persistence.cleanIncoming === 'function' && client.broker.persistence.cleanIncoming(client))",
      '    .then(() => done(null), done)',
      '}',
      '',
      'function registerClient (arg, done) {',
      '',
    ].join('\n'),
  },
  {
    file: 'lib/client.js',
    why: '[MQTT-3.1.2-6] a clean session ends with its connection: its stored QoS 2 ids go too, or cycling client ids grows the store without bound (fixed in 1.2.0)',
    find: '        that.broker.scheduleSessionExpiry(that)\n      }\n',
    replace: [
      '        that.broker.scheduleSessionExpiry(that)',
      '      }',
      "      if (that.clean && that.id !== null && typeof that.broker.persistence.cleanIncoming === 'function') {",
      '        that.broker.persistence.cleanIncoming(that).then(noop, noop)',
      '      }',
      '',
    ].join('\n'),
  },
  {
    file: 'lib/handlers/publish.js',
    why: 'a per-client bound on QoS 2 PUBLISHes stored awaiting PUBREL (1.2.0 maxInflightInbound): without it a client holds up to 65,535 per client id',
    find: [
      '        }, () => {',
      '          // New packet (not found in store): store first, then publish',
      '',
    ].join('\n'),
    replace: [
      '        }, () => {',
      '          const inflight = client._inboundInflight',
      '          const limit = client.broker.maxInflightInbound',
      '          if (limit > 0 && !inflight.has(packet.messageId) && inflight.size >= limit) {',
      '            return done(new Error(`more than ${limit} QoS 2 PUBLISHes awaiting PUBREL`))',
      '          }',
      '          inflight.add(packet.messageId)',
      '          // New packet (not found in store): store first, then publish',
      '',
    ].join('\n'),
  },
  {
    file: 'lib/handlers/publish.js',
    why: 'MQTT 5: the PUBACK/PUBREC of a refused PUBLISH carries the reason the hook gave (0x97 quota, 0x95 too large, 0x83 storage), not always 0x87',
    find: '      ack.reasonCode = ReasonCodes.NOT_AUTHORIZED\n',
    replace: '      ack.reasonCode = PUBLISH_FAILURE_CODES.has(err.reasonCode) ? err.reasonCode : ReasonCodes.NOT_AUTHORIZED\n',
  },
  {
    file: 'lib/handlers/publish.js',
    why: 'the reason codes MQTT 5 allows on a PUBACK or PUBREC that refuses a PUBLISH (§3.4.2.1)',
    find: 'const publishActions = [\n',
    replace: 'const PUBLISH_FAILURE_CODES = new Set([0x80, 0x83, 0x87, 0x90, 0x91, 0x93, 0x95, 0x97, 0x99])\n\nconst publishActions = [\n',
  },
  {
    file: 'lib/write.js',
    why: 'MQTT 5: a hook on every PUBLISH written to a client (option outboundPublish, outbound-flow.ts) to hold it for the client\'s Receive Maximum [MQTT-3.3.4-9] or drop it over its Maximum Packet Size [MQTT-3.1.2-25]; aedes reads both from the CONNECT and enforces neither (upstream should: its connect.js calls them advisory)',
    find: 'function write (client, packet, done, protocolVersion) {\n  let error = null\n',
    replace: [
      'function write (client, packet, done, protocolVersion) {',
      '  const outbound = client.broker.opts.outboundPublish',
      "  if (outbound !== undefined && packet.cmd === 'publish') {",
      '    outbound(client, packet, done, () => writePacket(client, packet, done, protocolVersion))',
      '    return',
      '  }',
      '  writePacket(client, packet, done, protocolVersion)',
      '}',
      '',
      'function writePacket (client, packet, done, protocolVersion) {',
      '  let error = null',
      '',
    ].join('\n'),
  },
  {
    file: 'lib/client.js',
    why: 'MQTT 5: a live retained message to a persistent session\'s Retain As Published subscription is in its stored queue like any live one; it was taken for a retained message sent on SUBSCRIBE (not stored), so its PUBACK never removed it and it came again at every reconnect (upstream: tell the two apart, as here by the brokerId sendRetained clears)',
    find: '          if (that.clean || packet.retain) {\n',
    replace: '          if (that.clean || (packet.retain && !toForward.brokerId)) {\n',
  },
  {
    file: 'lib/handlers/connect.js',
    why: 'MQTT 5 [MQTT-3.3.4-3]: a message from a persistent session\'s stored queue gets the Subscription Identifiers of the subscriptions it matches (option storedPublish, subscription-ids.ts); aedes adds them to live messages only, and stores messages without them (upstream: the same in emptyQueue)',
    find: '      const packet = new QoSPacket(data, client)\n',
    replace: [
      '      const packet = new QoSPacket(data, client)',
      '      const storedPublish = client.broker.opts.storedPublish',
      "      if (storedPublish !== undefined && packet.cmd === 'publish') storedPublish(client, packet)",
      '',
    ].join('\n'),
  },
  {
    file: 'lib/handlers/subscribe.js',
    why: 'shared subscriptions (shared-subscriptions.ts): aedes refuses $share/ for MQTT 5 with SUBACK 0x9E and takes it from MQTT 3.1.1 as a literal filter; now a well-formed one is subscribed as any (the listener delivers it), a malformed one [MQTT-4.8.2-1, MQTT-4.8.2-2] gets 0x8F (MQTT 5) or 0x80 (3.1.1), and No Local on one is a Protocol Error that closes the connection [MQTT-3.8.3-4]. Upstream: implement shared subscriptions',
    find: [
      '  if (this.client.version === 5 && sub.topic.startsWith(SHARE_PREFIX)) {',
      '    s.granted = ReasonCodes.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED',
      '    return done()',
      '  }',
      '',
    ].join('\n'),
    replace: [
      '  if (sub.topic.startsWith(SHARE_PREFIX)) {',
      '    if (!/^\\$share\\/[^/+#]+\\/./.test(sub.topic)) {',
      '      s.granted = this.client.version === 5 ? 0x8F : 128',
      '      return done()',
      '    }',
      '    if (this.client.version === 5 && sub.nl) {',
      "      return done(new Error('No Local on a shared subscription [MQTT-3.8.3-4]'))",
      '    }',
      '  }',
      '',
    ].join('\n'),
  },
  {
    file: 'lib/handlers/subscribe.js',
    why: 'shared subscriptions: the listener takes over delivery for a $share/ filter (its broker.subscribe) and must know whose delivery function it got and at which QoS. Upstream: pass the client to broker.subscribe',
    find: '  // [MQTT-4.7.2-1] block $SYS for wildcard subscriptions.\n',
    replace: '  func.client = client\n  func.qos = qos\n  // [MQTT-4.7.2-1] block $SYS for wildcard subscriptions.\n',
  },
  {
    file: 'lib/handlers/subscribe.js',
    why: 'MQTT 5 §3.3.1.3 sends retained messages when a new Non-shared Subscription is made: none for a $share/ filter (aedes would match the literal "$share/..." against retained topics)',
    find: '    if (sub.granted < REASON_CODE_ERROR_THRESHOLD && sub.rh !== 2',
    replace: '    if (sub.granted < REASON_CODE_ERROR_THRESHOLD && !subs[i].topic.startsWith(SHARE_PREFIX) && sub.rh !== 2',
  },
  {
    file: 'lib/handlers/subscribe.js',
    why: 'a persistent session stored every filter of a SUBSCRIBE once any one of them was granted, denied ones too: messages for a filter the ACL refused were then queued while the client was away and sent on its return. Only the granted subscription is stored. Upstream: the same one-line fix',
    find: '  client.broker.persistence.addSubscriptions(client, packet.subscriptions)\n',
    replace: '  client.broker.persistence.addSubscriptions(client, [sub])\n',
  },
  {
    file: 'lib/handlers/connect.js',
    why: 'shared subscriptions are available (shared-subscriptions.ts): CONNACK no longer says Shared Subscription Available = 0 (absent means available, MQTT 5 §3.2.2.3.13)',
    find: '  properties.sharedSubscriptionAvailable = false\n',
    replace: '',
  },
  {
    file: 'lib/handlers/connect.js',
    why: 'the Transform the pipelined stored-queue drain below needs (it has a flush; aedes\' through() does not)',
    find: "import { pipeline } from 'stream'\n",
    replace: "import { pipeline, Transform } from 'stream'\n",
  },
  {
    file: 'lib/handlers/connect.js',
    why: 'a returning persistent session\'s stored queue went out one packet per loop turn: the next was read only after the previous write\'s callback, a setImmediate (lib/write.js), so 50,000 queued messages cost 50,000 loop turns and writev calls (0.27× Mosquitto). Now up to storedDrainMessages / storedDrainBytes packets are between reading and their write callback (stored-drain window, listener README): their outgoingUpdate calls start together (one transaction for a QoS 2 batch) and they are written strictly in queue order, each after its own outgoingUpdate resolved; a full socket still holds each callback until drain, so the window is also the backpressure. Without the options the window is one packet: aedes\' own pace. Upstream: the same window in emptyQueue',
    find: [
      '  client.resume()',
      '',
      '  pipeline(',
      '    outgoing,',
      '    through(function clearQueue (data, enc, next) {',
      '',
    ].join('\n'),
    replace: [
      '  client.resume()',
      '',
      '  const drain = storedDrainWindow(client)',
      '  pipeline(',
      '    outgoing,',
      '    new Transform({ objectMode: true, flush: drain.flush, transform: function clearQueue (data, enc, next) {',
      '      if (drain.error !== null) return next(drain.error)',
      '',
    ].join('\n'),
  },
  {
    file: 'lib/handlers/connect.js',
    why: 'the window of the previous edit, per packet: counted in when read, out at its write callback; written in queue order once its outgoingUpdate resolved',
    find: [
      '      // Here we are deliberatly passing only the error',
      '      // This is because there is no destination stream so the "client"',
      '      // Object filled the buffer up to the highWaterMark preventing stored messages',
      '      // being sent',
      '      packet.writeCallback = (error, _client) => next(error)',
      '      const filter = (err) => emptyQueueFilter(err, client, packet)',
      '      persistence.outgoingUpdate(client, packet)',
      '        .then(() => filter(null, client, packet), err => filter(err, client, packet))',
      '    }),',
      '    done',
      '  )',
      '}',
      '',
    ].join('\n'),
    replace: [
      '      const size = drain.admit(packet)',
      '      packet.writeCallback = (error) => drain.finished(error, size)',
      '      const entry = drain.ordered(packet)',
      '      persistence.outgoingUpdate(client, packet)',
      '        .then(() => drain.settle(entry, null), err => drain.settle(entry, err))',
      '      drain.next(next)',
      '    } }),',
      '    done',
      '  )',
      '}',
      '',
      'function storedDrainWindow (client) {',
      '  const opts = client.broker.opts',
      '  const maxMessages = opts.storedDrainMessages ?? 1',
      '  const maxBytes = opts.storedDrainBytes ?? Infinity',
      '  const order = []',
      '  let messages = 0',
      '  let bytes = 0',
      '  let held = null',
      '  let flushed = null',
      '  const roomy = () => messages < maxMessages && bytes < maxBytes',
      '  const w = {',
      '    error: null,',
      '    admit (packet) {',
      '      const size = (packet.payload ? packet.payload.length : 0) + (packet.topic ? packet.topic.length : 0)',
      '      messages++',
      '      bytes += size',
      '      return size',
      '    },',
      '    ordered (packet) {',
      '      const entry = { packet, settled: false, err: null }',
      '      order.push(entry)',
      '      return entry',
      '    },',
      '    settle (entry, err) {',
      '      entry.settled = true',
      '      entry.err = err',
      '      while (order.length > 0 && order[0].settled) {',
      '        const e = order.shift()',
      '        emptyQueueFilter(e.err, client, e.packet)',
      '      }',
      '    },',
      '    next (next) {',
      '      if (w.error !== null || roomy()) next(w.error)',
      '      else held = next',
      '    },',
      '    finished (error, size) {',
      '      messages--',
      '      bytes -= size',
      '      if (error && w.error === null) w.error = error',
      '      if (held !== null && (w.error !== null || roomy())) {',
      '        const next = held',
      '        held = null',
      '        next(w.error)',
      '      }',
      '      if (flushed !== null && (w.error !== null || messages === 0)) {',
      '        const cb = flushed',
      '        flushed = null',
      '        cb(w.error)',
      '      }',
      '    },',
      '    flush (cb) {',
      '      if (w.error !== null || messages === 0) cb(w.error)',
      '      else flushed = cb',
      '    }',
      '  }',
      '  return w',
      '}',
      '',
    ].join('\n'),
  },
];

/**
 * `source` of the aedes file at `filePath` with its patches applied; other files come back as they
 * are. Throws when an edit does not match exactly once.
 */
export function patchAedesSource(filePath, source) {
  const normalized = filePath.replaceAll('\\', '/');
  const at = normalized.lastIndexOf('/node_modules/aedes/');
  if (at === -1) return source;
  const file = normalized.slice(at + '/node_modules/aedes/'.length);
  let out = source;
  for (const patch of AEDES_PATCHES) {
    if (patch.file !== file) continue;
    const first = out.indexOf(patch.find);
    if (first === -1 || out.indexOf(patch.find, first + 1) !== -1) {
      throw new Error(`aedes ${AEDES_VERSION} patch does not apply to ${file} (${patch.why}): is another aedes installed?`);
    }
    out = out.slice(0, first) + patch.replace + out.slice(first + patch.find.length);
  }
  return out;
}
