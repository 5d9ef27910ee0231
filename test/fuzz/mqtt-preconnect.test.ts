// Fuzzes what MQTT clients send before (and right after) their CONNACK, against the built broker in a
// child process: CONNECT + PUBLISH of 60-140 KB in one write, wrapped topic lengths, packets over
// messageBytesMax, pipelined packets, bad credentials, and random mutations of all of them, split at
// random points. Throughout, a well-behaved QoS 1 client keeps publishing; the broker must stay up,
// keep acknowledging it, and keep its RSS bounded. Deterministic (fixed seed), bounded in cases and time.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import mqtt from 'mqtt';
import mqttPacket, { type IConnectPacket } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password.ts';
import { type ChildBroker, freePort, mqttListenerEnv, startChildBroker, waitForPort } from '../helpers/child-broker.ts';
import { remainingLength } from '../helpers/mqtt-raw.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

const SEED = 0x5eed_0003;
const CASES = 400;
/** New cases stop after this; the run then finishes the ones open. */
const FUZZ_MS = 60_000;
const CONCURRENCY = 16;
/** How long one fuzz connection may stay open before the fuzzer drops it itself. */
const CONNECTION_MS = 2_000;
const MESSAGE_BYTES_MAX = 256 * 1024;
/**
 * The broker runs with V8's old space capped at 48 MiB, a Pi-sized heap: V8 otherwise grows its heap
 * lazily far past what is live, which says nothing about a leak. Under the cap a leak ends the
 * process (out of memory), which the run sees, and anonymous RSS must grow less than this.
 */
const HEAP_MIB = 48;
const RSS_ANON_GROWTH_BYTES_MAX = 64 * 1024 * 1024;

/** mulberry32: small, fast, and the same sequence on every machine for a seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (rand: Rand, lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
const pick = <T>(rand: Rand, items: readonly T[]): T => items[Math.floor(rand() * items.length)];

function connect(rand: Rand, i: number): Buffer {
  const packet: IConnectPacket = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `fuzz-${i}`, keepalive: 0 };
  const credentials = int(rand, 0, 3);
  if (credentials === 1) Object.assign(packet, { username: 'fuzz', password: Buffer.from('right') });
  if (credentials === 2) Object.assign(packet, { username: 'fuzz', password: Buffer.from('wrong') });
  if (rand() < 0.2) packet.will = { topic: `fuzz/will/${i}`, payload: Buffer.from('gone'), qos: pick(rand, [0, 1, 2] as const), retain: false };
  return mqttPacket.generate(packet);
}

function publish(rand: Rand, payloadBytes: number, messageId: number): Buffer {
  const qos = pick(rand, [0, 1, 2] as const);
  return mqttPacket.generate({ cmd: 'publish', topic: `fuzz/${messageId}`, payload: Buffer.alloc(payloadBytes, messageId), qos, messageId, dup: false, retain: false });
}

/** A PUBLISH whose topic is longer than 65,535 bytes, its length field written modulo 2^16. */
function wrappedTopicPublish(rand: Rand): Buffer {
  const topic = Buffer.alloc(int(rand, 65_536, 68_000), 0x61);
  const qos = int(rand, 0, 1);
  const body = Buffer.concat([Buffer.from([(topic.length >> 8) & 0xff, topic.length & 0xff]), topic, qos > 0 ? Buffer.from([0x00, 0x01]) : Buffer.alloc(0), Buffer.from('payload')]);
  return Buffer.concat([Buffer.from([0x30 | (qos << 1)]), remainingLength(body.length), body]);
}

function mutate(rand: Rand, bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  const edits = int(rand, 1, 8);
  for (let e = 0; e < edits; e++) {
    // Mostly near the start, where the headers and lengths are.
    const at = Math.min(out.length - 1, Math.floor(rand() ** 3 * out.length));
    const how = int(rand, 0, 3);
    if (how === 0) out[at] ^= 1 << int(rand, 0, 7);
    else if (how === 1) out[at] = int(rand, 0, 255);
    else if (how === 2) out[at] = pick(rand, [0x00, 0x7f, 0x80, 0xff, 0xc0]);
    else return Buffer.concat([out.subarray(0, at), out.subarray(at + int(rand, 1, 16))]);
  }
  return out;
}

/** The bytes of one fuzz connection. */
function fuzzCase(rand: Rand, i: number): Buffer {
  const kind = int(rand, 0, 5);
  const head = connect(rand, i);
  let bytes: Buffer;
  if (kind === 0) bytes = Buffer.concat([head, publish(rand, int(rand, 60_000, 140_000), 1)]);
  else if (kind === 1) bytes = Buffer.concat([head, wrappedTopicPublish(rand)]);
  else if (kind === 2) bytes = Buffer.concat([head, publish(rand, int(rand, MESSAGE_BYTES_MAX, MESSAGE_BYTES_MAX + 100_000), 1)]);
  else if (kind === 3) bytes = Buffer.concat([head, ...Array.from({ length: int(rand, 10, 300) }, (_, k) => publish(rand, int(rand, 0, 200), k + 1))]);
  else bytes = Buffer.concat([head, publish(rand, int(rand, 0, 140_000), 1), publish(rand, int(rand, 0, 1000), 2)]);
  return kind >= 4 || rand() < 0.3 ? mutate(rand, bytes) : bytes;
}

/** Writes `bytes` in random pieces on a new connection; resolves when the broker closes it, or after CONNECTION_MS. */
function runCase(rand: Rand, port: number, bytes: Buffer): Promise<void> {
  const cuts = Array.from({ length: int(rand, 0, 3) }, () => int(rand, 1, bytes.length - 1)).sort((a, b) => a - b);
  const pieces = [0, ...cuts, bytes.length].slice(1).map((end, k, ends) => bytes.subarray(k === 0 ? 0 : ends[k - 1], end));
  const halfClose = rand() < 0.5;
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => socket.destroy(), CONNECTION_MS);
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect', () => {
      for (const piece of pieces) socket.write(piece);
      if (halfClose) socket.end();
    });
  });
}

/**
 * The broker's resident memory: `anon` is its heap and buffers, what a leak grows; `file` is mostly
 * LMDB pages of the log it mapped, which grows with what it stored and the kernel can take back.
 */
function rss(broker: ChildBroker): { anon: number; file: number } {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${broker.child.pid}/status`, 'utf8');
  } catch {
    throw new Error(`the broker is gone: ${broker.output().slice(-2000)}`);
  }
  const kib = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { anon: kib('RssAnon'), file: kib('RssFile') };
}

describe('MQTT pre-CONNACK fuzz', () => {
  it(`survives ${CASES} mutated pre-CONNACK streams (seed ${SEED.toString(16)}) and keeps acknowledging a well-behaved client`, { timeout: 180_000 }, async () => {
    const dir = tempDir();
    const config = path.join(dir, 'fuzz.json');
    fs.writeFileSync(config, JSON.stringify({ auth: { users: [{ username: 'fuzz', passwordHash: await hashPassword('right', { N: 1024, r: 8, p: 1 }) }] } }));
    const mqttPort = await freePort();
    const broker = await startChildBroker(path.join(dir, 'data'), await freePort(), {
      TRIBUTARY_CONFIG: config,
      NODE_OPTIONS: `--max-old-space-size=${HEAP_MIB}`,
      ...mqttListenerEnv(mqttPort),
      TRIBUTARY_LISTENERS__MQTT__MESSAGE_BYTES_MAX: String(MESSAGE_BYTES_MAX),
    });
    await waitForPort(broker, mqttPort);

    // The well-behaved client: a QoS 1 PUBLISH per finished fuzz case, and every 50 cases one it waits for.
    const good = await mqtt.connectAsync({ host: '127.0.0.1', port: mqttPort, clientId: 'well-behaved', reconnectPeriod: 0 });
    onCleanup(() => good.endAsync(true));
    let sent = 0;
    let acked = 0;
    const publishGood = (): Promise<void> =>
      new Promise((resolve, reject) =>
        good.publish('good/t', String(++sent), { qos: 1 }, (err) => {
          if (err) return reject(err);
          acked++;
          resolve();
        }),
      );
    await publishGood();
    const rssStart = rss(broker);
    let anonPeak = rssStart.anon;
    let filePeak = rssStart.file;

    const deadline = Date.now() + FUZZ_MS;
    let next = 0;
    let done = 0;
    const worker = async (): Promise<void> => {
      while (next < CASES && Date.now() < deadline) {
        const i = next++;
        // A generator per case: case i is the same bytes whatever order the workers take them in.
        const rand = prng(SEED + i);
        await runCase(rand, mqttPort, fuzzCase(rand, i));
        done++;
        const now = rss(broker);
        anonPeak = Math.max(anonPeak, now.anon);
        filePeak = Math.max(filePeak, now.file);
        // The broker still acknowledges the well-behaved client while it is being fuzzed.
        if (done % 50 === 0) await publishGood();
        else publishGood().catch(() => undefined);
        expect(broker.child.exitCode, broker.output().slice(-2000)).toBeNull();
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    await publishGood();
    expect(broker.child.exitCode, broker.output().slice(-2000)).toBeNull();
    expect(good.connected).toBe(true);
    await expect.poll(() => acked).toBe(sent);
    expect(done).toBeGreaterThanOrEqual(Math.min(CASES, 100));
    expect(anonPeak - rssStart.anon).toBeLessThan(RSS_ANON_GROWTH_BYTES_MAX);
    expect(broker.output()).not.toMatch(/"level":(50|60)|TypeError|Unhandled/);
    const mib = (n: number): string => (n / 2 ** 20).toFixed(1);
    console.log(`fuzz: ${done} cases, ${acked} PUBACKs to the well-behaved client, broker RSS anon ${mib(rssStart.anon)} → peak ${mib(anonPeak)} MiB, file ${mib(rssStart.file)} → peak ${mib(filePeak)} MiB`);
  });
});
