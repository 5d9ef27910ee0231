// What idle MQTT connections cost: the RSS of a fresh broker child process before and after
// opening 1,000 and then 10,000 connections from this process. Each is a plain socket that sends a
// minimal MQTT 3.1.1 CONNECT (clean session, keepalive 0: no PINGREQ ever needed) and waits for
// its CONNACK, then stays silent. Everything is bounded in time, and every socket closed at the end.

import fs from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { limits } from '../limits.ts';
import { BrokerProcess, memoryText, type ProcessMemory } from './broker-process.ts';
import { fmtInt, fmtMB, type BenchResult } from './results.ts';

export interface MqttIdleSettings {
  /** Connection counts to measure, ascending; each step opens only the connections it adds. */
  connections: readonly number[];
  /** Time the broker gets after the last CONNACK before its RSS is read. */
  settleMs: number;
  /** Bound on opening the connections of one step. */
  timeoutMs: number;
}

/** Connection attempts in flight at once: more would only overflow the listen backlog. */
const CONNECT_PARALLEL = 200;
/** File descriptors the broker needs beside its MQTT sockets (LMDB, listeners, stdio…). */
const FD_HEADROOM = 100;

export async function runMqttIdle(s: MqttIdleSettings): Promise<BenchResult[]> {
  const fdLimit = openFilesLimit();
  const wanted = s.connections.filter((n) => n <= limits.mqttConnectionsMax);
  const results: BenchResult[] = [];
  for (const n of s.connections.filter((n) => n > limits.mqttConnectionsMax)) {
    results.push(note(n, `not run: above Tributary's connectionsMax bound of ${fmtInt(limits.mqttConnectionsMax)}`));
  }
  const runnable = wanted.filter((n) => fdLimit === null || n + FD_HEADROOM <= fdLimit);
  for (const n of wanted.filter((n) => !runnable.includes(n))) {
    results.push(note(n, `not run: ulimit -n is ${fdLimit}, too low for ${fmtInt(n)} connections (raise it to ${fmtInt(n + FD_HEADROOM)} or more)`));
  }
  if (runnable.length === 0) return results;

  const broker = await BrokerProcess.start({ TRIBUTARY_LISTENERS__MQTT__CONNECTIONS_MAX: String(Math.max(...runnable)) });
  const sockets: net.Socket[] = [];
  try {
    if (broker.mqttPort === null) throw new Error('the broker child process did not report an MQTT port');
    await sleep(s.settleMs);
    const before = broker.memory();
    for (const n of runnable) {
      process.stderr.write(`  mqtt-idle: opening ${fmtInt(n - sockets.length)} connections (to ${fmtInt(n)})\n`);
      const startMs = performance.now();
      await openConnections(broker.mqttPort, sockets, n, startMs + s.timeoutMs);
      const openSeconds = (performance.now() - startMs) / 1000;
      await sleep(s.settleMs);
      results.push(stepResult(n, before, broker.memory(), openSeconds, fdLimit));
    }
    for (const socket of sockets) socket.destroy();
    await sleep(s.settleMs);
    const closed = broker.memory();
    if (closed !== null) {
      const last = results[results.length - 1];
      last.summary += `; all closed: ${memoryText(closed)}`;
      last.metrics.closedRssBytes = closed.rssBytes;
    }
    return results;
  } finally {
    for (const socket of sockets) socket.destroy();
    if (!(await broker.stop())) process.stderr.write('tributary: bench: mqtt-idle: broker did not shut down cleanly on SIGTERM\n');
  }
}

function stepResult(n: number, before: ProcessMemory | null, after: ProcessMemory | null, openSeconds: number, fdLimit: number | null): BenchResult {
  const grown = before === null || after === null ? null : after.rssBytes - before.rssBytes;
  const grownAnon = before === null || after === null ? null : after.anonBytes - before.anonBytes;
  return {
    bench: 'mqtt-idle',
    case: `tributary, ${fmtInt(n)} idle MQTT 3.1.1 connections (keepalive 0, clean session)`,
    metrics: {
      connections: n,
      rssBeforeBytes: before?.rssBytes ?? null,
      rssAfterBytes: after?.rssBytes ?? null,
      anonAfterBytes: after?.anonBytes ?? null,
      bytesPerConnection: grown === null ? null : grown / n,
      anonBytesPerConnection: grownAnon === null ? null : grownAnon / n,
      openSeconds,
      openFilesLimit: fdLimit,
    },
    summary:
      before === null || after === null || grown === null || grownAnon === null
        ? 'RSS unknown (no /proc)'
        : `RSS ${fmtMB(before.rssBytes)} → ${fmtMB(after.rssBytes)} (+${fmtMB(grown)}, ${(grown / n / 1024).toFixed(1)} KiB/conn; anon +${(grownAnon / n / 1024).toFixed(1)} KiB/conn), opened in ${openSeconds.toFixed(1)} s`,
  };
}

function note(n: number, text: string): BenchResult {
  return { bench: 'mqtt-idle', case: `tributary, ${fmtInt(n)} idle MQTT connections`, metrics: { connections: n }, summary: text };
}

/** Opens connections until `sockets` holds `target`, each past its CONNACK; throws at `deadlineMs`. */
async function openConnections(port: number, sockets: net.Socket[], target: number, deadlineMs: number): Promise<void> {
  let next = sockets.length;
  const worker = async () => {
    while (next < target) {
      const index = next++;
      const remainingMs = deadlineMs - performance.now();
      if (remainingMs <= 0) throw new Error(`could not open ${fmtInt(target)} MQTT connections in time (${fmtInt(sockets.length)} open)`);
      sockets.push(await connectIdle(port, `bench-idle-${process.pid}-${index}`, remainingMs));
    }
  };
  await Promise.all(Array.from({ length: CONNECT_PARALLEL }, worker));
}

function connectIdle(port: number, clientId: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    const fail = (why: string) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(`MQTT connection ${clientId}: ${why}`));
    };
    const timer = setTimeout(() => fail('no CONNACK in time'), timeoutMs);
    socket.on('error', (err) => fail(err.message));
    socket.once('close', () => fail('closed before CONNACK'));
    socket.once('connect', () => socket.write(connectPacket(clientId)));
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length < 4) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.removeAllListeners('close');
      socket.on('data', () => undefined);
      if (got[0] !== 0x20 || got[3] !== 0) return fail(`CONNACK return code ${got[3]} (packet ${got.subarray(0, 4).toString('hex')})`);
      resolve(socket);
    };
    socket.on('data', onData);
  });
}

/** MQTT 3.1.1 CONNECT: protocol "MQTT" level 4, clean session, keepalive 0, no will/user/password. */
function connectPacket(clientId: string): Buffer {
  const id = Buffer.from(clientId, 'utf8');
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x00]);
  const remaining = variable.length + 2 + id.length; // < 128: one length byte
  return Buffer.concat([Buffer.from([0x10, remaining]), variable, Buffer.from([id.length >> 8, id.length & 0xff]), id]);
}

/** The soft limit on open files of this process (the broker child inherits it), or null. */
function openFilesLimit(): number | null {
  try {
    const line = /^Max open files\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    return line === null || line[1] === 'unlimited' ? null : Number(line[1]);
  } catch {
    return null;
  }
}
