// The built broker out of file descriptors: its soft RLIMIT_NOFILE is lowered (prlimit, util-linux;
// .ci/run installs it) so that it has room for a few more descriptors, and more MQTT and edge clients
// connect than fit. Those past the limit are closed by Node (libuv accepts them on a spare
// descriptor and closes them at once); the broker must stay up, keep the clients it has, and take
// new ones once the extra connections are gone.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { freePort, mqttListenerEnv, startChildBroker, waitForPort } from '../helpers/child-broker.ts';
import { RawMqtt } from '../helpers/mqtt.ts';
import { RawPeer } from '../helpers/raw-edge.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';

const available = spawnSync('prlimit', ['--version']).error === undefined;

/** The soft limit that leaves the process exactly `room` free descriptor numbers (new ones take the lowest free). */
function limitLeaving(pid: number, room: number): number {
  const held = new Set(fs.readdirSync(`/proc/${pid}/fd`).map(Number));
  let free = 0;
  let fd = 0;
  for (; free < room; fd++) if (!held.has(fd)) free++;
  return fd;
}

/** Free descriptor numbers below `limit`. */
function freeBelow(pid: number, limit: number): number {
  const held = new Set(fs.readdirSync(`/proc/${pid}/fd`).map(Number));
  let free = 0;
  for (let fd = 0; fd < limit; fd++) if (!held.has(fd)) free++;
  return free;
}

/** Resolves once the broker has closed its ends of the extra connections: there is room under `limit` again. */
async function roomAgain(pid: number, limit: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (freeBelow(pid, limit) === 0) {
    if (Date.now() > deadline) throw new Error(`no descriptor freed under ${limit}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function setSoftNofile(pid: number, soft: number): void {
  const r = spawnSync('prlimit', [`--pid=${pid}`, `--nofile=${soft}:`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`prlimit failed: ${r.stderr}`);
}

/** A raw MQTT CONNECT; resolves with whether a CONNACK came back before the socket closed. */
async function tryConnect(port: number, clientId: string): Promise<{ peer: RawMqtt; acked: boolean }> {
  const peer = await RawMqtt.connect(port);
  peer.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0 });
  const acked = await peer.waitFor((p) => p.cmd === 'connack', 10_000).then(
    () => true,
    () => false,
  );
  return { peer, acked };
}

/** An edge HELLO; resolves with whether a WELCOME came back before the socket closed. */
async function tryHello(port: number): Promise<boolean> {
  const peer = await RawPeer.connect(port).catch(() => null);
  if (peer === null) return false;
  peer.send({ type: 'hello', version: 1, idempotent: false, keepaliveMs: 0, frameBytesMax: 0, clientId: 'fd', token: null });
  return peer.waitFor((f) => f.type === 'welcome', 10_000).then(
    () => true,
    () => false,
  );
}

describe.runIf(available || process.env.CI)('running out of file descriptors', () => {
  it('has prlimit installed (.ci/run installs util-linux)', () => {
    expect(available).toBe(true);
  });

  it('closes what does not fit, stays up, keeps its clients and takes new ones afterwards', async () => {
    const edgePort = await freePort();
    const mqttPort = await freePort();
    const broker = await startChildBroker(tempDir(), edgePort, {
      ...mqttListenerEnv(mqttPort),
    });
    await waitForPort(broker, mqttPort);
    const pid = broker.child.pid!;
    const early = await mqtt.connectAsync({ host: '127.0.0.1', port: mqttPort, clientId: 'early', reconnectPeriod: 0 });
    onCleanup(() => early.endAsync(true));

    const room = 4;
    const limit = limitLeaving(pid, room);
    setSoftNofile(pid, limit);
    const attempts = 24;
    const results = [];
    for (let i = 0; i < attempts; i++) results.push(await tryConnect(mqttPort, `extra-${i}`));
    const edgeWelcomed = [];
    for (let i = 0; i < 8; i++) edgeWelcomed.push(await tryHello(edgePort));
    const acked = results.filter((r) => r.acked).length;
    const welcomed = edgeWelcomed.filter(Boolean).length;
    // Some fit, the rest were closed: the broker did run out of descriptors.
    expect(acked).toBeGreaterThan(0);
    expect(acked + welcomed).toBeLessThanOrEqual(room);
    expect(welcomed).toBeLessThan(edgeWelcomed.length);
    expect(broker.child.exitCode).toBeNull();

    // The client from before still gets its acks.
    await early.publishAsync('fd/early', 'x', { qos: 1 });

    for (const r of results) r.peer.socket.destroy();
    await Promise.all(results.map((r) => r.peer.waitClosed()));
    await roomAgain(pid, limit);
    // Once the extra connections are gone, there is room again, still under the lowered limit.
    const late = await mqtt.connectAsync({ host: '127.0.0.1', port: mqttPort, clientId: 'late', reconnectPeriod: 0 });
    onCleanup(() => late.endAsync(true));
    await late.publishAsync('fd/late', 'y', { qos: 1 });
    expect(broker.child.exitCode).toBeNull();
  });
});
