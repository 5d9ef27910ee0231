// The `Upstream` of test/helpers/upstream.ts, backed by a real Eclipse Mosquitto 2.0 child process, so
// mirror scenario tests can run unchanged against a full MQTT 5 broker:
//
//   edge mirror ──► tcp proxy (up.port) ──► mosquitto ◄── MQTT.js v5 subscriber on '#' ──► up.received
//
// - `port` is the proxy's port. stop() closes the proxy listener and destroys every proxied connection
//   (the uplink dies mid-stream, mosquitto keeps running); start() listens again on the same port.
// - `connects` counts TCP connections the proxy accepted (startUpstream() counts MQTT CONNECTs; the
//   mirror opens one TCP connection per CONNECT, so the two agree for it).
// - `received` is filled by a subscriber connected straight to mosquitto (not through the proxy), in
//   arrival order. Mosquitto keeps per-publisher order towards one QoS 1 subscriber on one connection
//   (it only retries on reconnect, which the subscriber never does), so per-partition order survives.
//   `qos` is the QoS as delivered to the subscriber: min(published QoS, 1). QoS 0 and 1 publishes
//   arrive with their own QoS; a QoS 2 publish would show up as 1.
// - `maxInflight` stays 0: nothing in the broker exposes the publisher's unacked window. Tests that
//   assert it (or need receiveMaximum / ackDelayMs / maximumPacketSize / tls) must use startUpstream().
// - Mosquitto runs without ACLs and accepts every publish: tests of refused publishes (TestUpstream's
//   rejected / rejectPayloads) must use startUpstream().
// - `holdAcks` (as TestUpstream's) is done in the proxy: while true, PUBACK packets on their way from
//   mosquitto to the edge are held back (every other packet, CONNACK and PINGRESP included, passes);
//   set false, they are sent in order. Mosquitto itself has received and forwarded those publishes, so they are in `received`,
//   as with startUpstream(). Held PUBACKs die with their connection (stop(), or the edge hanging up).
//
// Differences from startUpstream() worth knowing:
// - Delivery to `received` is asynchronous to the edge's PUBACK: mosquitto acks the publisher before
//   (or while) it forwards to the subscriber. Wait with until() on `received`, never assert on it
//   right after the edge reports something acked, and expect it may still grow briefly after stop().
// - A PUBLISH that reached mosquitto but whose PUBACK died in the proxy is resent by the edge and
//   forwarded again: a duplicate in `received`, as with startUpstream().
// - With `max_inflight_messages 0` mosquitto sends no Receive Maximum in CONNACK (the default of 20
//   would be advertised and would cap the mirror's window); the client then assumes 65535. It does
//   advertise Topic Alias Maximum 10.
// - `max_queued_messages 0` (and the default max_queued_bytes 0) means no per-client queue limit, so
//   a large backlog (100k records) is never silently dropped for a subscriber that falls behind,
//   QoS 0 included; mosquitto would only log "Outgoing messages are being dropped for client".
// - Mosquitto also accepts MQTT 3.1.1 (startUpstream() refuses it): a mirror on protocolVersion 4
//   sends no user properties, so `userProperties` is {} and `origin` is { '', '', -1, -1 }.
// - `#` does not match `$SYS/...`, so mosquitto's own status topics never show up in `received`.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import mqtt, { type MqttClient } from 'mqtt';
import { freePort } from './child-broker.ts';
import { startTcpProxy } from './tcp-proxy.ts';
import { onCleanup, tempDir } from './temp.ts';
import type { Upstream, UpstreamPublish } from './upstream.ts';

export interface MosquittoUpstreamOptions {
  /** The proxy's port (what the edge connects to); a free one when absent. */
  port?: number;
}

export interface MosquittoUpstream extends Upstream {
  /** Mosquitto's own listener, bypassing the proxy. */
  readonly mosquittoPort: number;
  /** The last 64 KiB of mosquitto's log (stderr). */
  log(): string;
  /**
   * While true, PUBACKs from mosquitto to the edge are held in the proxy (a link that hangs without a
   * TCP error); false sends them. Other packets (CONNACK, PINGRESP) pass.
   */
  holdAcks: boolean;
  /** Set when the recording subscriber lost its connection: `received` is incomplete from then on. */
  readonly subscriberError: Error | null;
}

/** Mosquitto binary: PATH first, then the Debian location. */
export function mosquittoBinary(): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin']) {
    if (!dir) continue;
    const candidate = path.join(dir, 'mosquitto');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

const LOG_MAX = 64 * 1024;
const START_TIMEOUT_MS = 10_000;

interface MosquittoProcess {
  child: ChildProcess;
  port: number;
  log: () => string;
}

/** Spawns mosquitto on a free 127.0.0.1 port; killed (SIGKILL, by this child's PID) after the test. */
async function spawnMosquitto(): Promise<MosquittoProcess> {
  const bin = mosquittoBinary();
  if (bin === null) throw new Error('mosquitto not found on PATH nor in /usr/sbin');
  let lastError: Error | undefined;
  // freePort() closes its probe before mosquitto binds: another process may grab the port in between.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const conf = path.join(tempDir('tributary-mosquitto-'), 'mosquitto.conf');
    fs.writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        // 0 = no limit, and no Receive Maximum in CONNACK (20 otherwise).
        'max_inflight_messages 0',
        // 0 = no per-client queue limit: a 100k-record backlog is not dropped for a slow subscriber.
        'max_queued_messages 0',
        'max_queued_bytes 0',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'log_type notice',
        'log_type information',
        '',
      ].join('\n'),
    );
    const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      log += d;
      if (log.length > LOG_MAX) log = log.slice(-LOG_MAX);
    });
    // 'exit' may never come when the spawn itself failed; 'error' is emitted then.
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', (err) => {
        lastError = err;
        resolve();
      });
    });
    // Should the test process die without running cleanups, do not leave the broker behind.
    const onExit = () => child.kill('SIGKILL');
    process.once('exit', onExit);
    onCleanup(async () => {
      process.off('exit', onExit);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    const proc = { child, port, log: () => log };
    if (await waitListening(proc)) return proc;
    lastError = new Error(`mosquitto did not start on ${port}: ${lastError?.message ?? ''}\n${log}`);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    // Only a lost port race is worth another attempt.
    if (!/address already in use/i.test(log)) break;
  }
  throw lastError ?? new Error('mosquitto did not start');
}

/** True once mosquitto logged that it is running; false when it exited or timed out. */
async function waitListening(proc: MosquittoProcess): Promise<boolean> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (proc.child.pid === undefined || proc.child.exitCode !== null || proc.child.signalCode !== null) return false;
    if (/mosquitto version \S+ running/.test(proc.log())) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** The recording subscriber: connected straight to mosquitto and subscribed to '#' (QoS 1) on return. */
async function subscribe(port: number, received: UpstreamPublish[], onLost: (err: Error) => void): Promise<MqttClient> {
  const client = await mqtt.connectAsync({
    host: '127.0.0.1',
    port,
    protocolVersion: 5,
    clientId: `tributary-test-upstream-${process.pid}-${port}`,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    properties: { receiveMaximum: 65535 },
  });
  let ending = false;
  onCleanup(async () => {
    ending = true;
    await client.endAsync(true);
  });
  let lastError: Error | undefined;
  client.on('error', (err) => (lastError = err));
  client.on('close', () => {
    if (!ending) onLost(new Error(`the upstream's recording subscriber lost its connection: ${lastError?.message ?? 'closed'}`));
  });
  client.on('message', (topic, payload, packet) => {
    const userProperties = (packet.properties?.userProperties ?? {}) as Record<string, string | string[]>;
    const [edgeId = '', originTopic = '', partition = '-1', offset = '-1'] = String(userProperties.origin ?? '').split('/');
    received.push({
      topic,
      payload: Buffer.from(payload).toString('utf8'),
      qos: packet.qos,
      userProperties,
      properties: (packet.properties ?? {}) as Record<string, unknown>,
      origin: { edgeId, topic: originTopic, partition: Number(partition), offset: Number(offset) },
    });
  });
  const granted = await client.subscribeAsync('#', { qos: 1 });
  if (granted.length !== 1 || granted[0]!.qos !== 1) throw new Error(`mosquitto refused the '#' subscription: ${JSON.stringify(granted)}`);
  return client;
}

/** The length of the MQTT packet at the start of `buf` (fixed header included), or -1 while incomplete. */
function packetLength(buf: Buffer): number {
  let remaining = 0;
  for (let i = 1; i <= 4; i++) {
    if (i >= buf.length) return -1;
    const byte = buf[i]!;
    remaining += (byte & 0x7f) * 128 ** (i - 1);
    if ((byte & 0x80) === 0) return buf.length >= 1 + i + remaining ? 1 + i + remaining : -1;
  }
  throw new Error('malformed MQTT remaining length from mosquitto');
}

const PUBACK = 4;

/** Splits the server→client byte stream into MQTT packets and holds PUBACKs back while `holding()`. */
class AckHold extends Transform {
  private rest: Buffer = Buffer.alloc(0);
  private readonly held: Buffer[] = [];

  constructor(private readonly holding: () => boolean) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const buf = this.rest.length > 0 ? Buffer.concat([this.rest, chunk]) : chunk;
    let pos = 0;
    let passFrom = 0;
    try {
      for (let len = packetLength(buf); len >= 0; len = packetLength(buf.subarray(pos))) {
        // Packets behind a held PUBACK may pass it: MQTT puts no order between a PUBACK and
        // CONNACK/PINGRESP, and PUBACKs among themselves stay in order.
        if (buf[pos]! >> 4 === PUBACK && (this.held.length > 0 || this.holding())) {
          if (pos > passFrom) this.push(buf.subarray(passFrom, pos));
          this.held.push(Buffer.from(buf.subarray(pos, pos + len)));
          passFrom = pos + len;
        }
        pos += len;
      }
    } catch (err) {
      done(err as Error);
      return;
    }
    if (pos > passFrom) this.push(buf.subarray(passFrom, pos));
    this.rest = Buffer.from(buf.subarray(pos));
    done();
  }

  /** Sends what was held, in order. */
  release(): void {
    if (this.held.length > 0 && !this.destroyed) this.push(Buffer.concat(this.held.splice(0)));
  }
}

/**
 * Starts mosquitto, its recording subscriber, then the proxy in front of it — in that order, so
 * nothing the edge publishes can reach mosquitto before the subscriber is there to record it.
 * Everything is torn down after the test.
 */
export async function startMosquittoUpstream(opts: MosquittoUpstreamOptions = {}): Promise<MosquittoUpstream> {
  const mosq = await spawnMosquitto();
  const received: UpstreamPublish[] = [];
  let subscriberError: Error | null = null;
  await subscribe(mosq.port, received, (err) => {
    subscriberError = err;
    process.stderr.write(`${err.message}\n`);
  });
  let holdAcks = false;
  const holds = new Set<AckHold>();
  const proxy = await startTcpProxy({
    targetPort: mosq.port,
    port: opts.port ?? 0,
    onAccept: () => up.connects++,
    downstream: () => {
      const hold = new AckHold(() => holdAcks);
      holds.add(hold);
      hold.once('close', () => holds.delete(hold));
      return hold;
    },
  });
  const up: MosquittoUpstream = {
    port: proxy.port,
    received,
    connects: 0,
    maxInflight: 0,
    get holdAcks() {
      return holdAcks;
    },
    set holdAcks(hold: boolean) {
      holdAcks = hold;
      if (!hold) for (const h of holds) h.release();
    },
    mosquittoPort: mosq.port,
    log: mosq.log,
    get subscriberError() {
      return subscriberError;
    },
    async stop() {
      await proxy.stop();
    },
    async start() {
      await proxy.start();
      up.port = proxy.port;
    },
  };
  return up;
}
