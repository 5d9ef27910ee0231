// A failing fsync must refuse the ack and stop writes (fail-stop), never report success. The broker
// runs as a child process with an LD_PRELOAD shim that makes fsync/fdatasync fail on demand.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.ts';
import { freePort, mqttListenerEnv, startChildBroker, waitForPort } from '../helpers/child-broker.ts';
import { RawMqtt } from '../helpers/mqtt.ts';
import { produceFrame, RawPeer } from '../helpers/raw-edge.ts';
import { tempDir } from '../helpers/temp.ts';
import { startUpstream, until } from '../helpers/upstream.ts';

const produce = (seq: number, value: string) => produceFrame(seq, [value], { acks: 'all' });

/** A child broker (edge and HTTP on, plus `env`) whose fsyncs fail with EIO while `trigger` exists. */
async function startWithFailingFsync(env: Record<string, string> = {}) {
  const dir = tempDir();
  const shim = path.join(dir, 'fail-fsync.so');
  execFileSync('gcc', ['-shared', '-fPIC', '-o', shim, path.resolve('test/crash/fail-fsync.c'), '-ldl']);
  const trigger = path.join(dir, 'fail-now');
  const [port, httpPort] = [await freePort(), await freePort()];
  const broker = await startChildBroker(path.join(dir, 'data'), port, {
    LD_PRELOAD: shim,
    FAIL_FSYNC_TRIGGER: trigger,
    TRIBUTARY_LISTENERS__HTTP__ENABLED: 'true',
    TRIBUTARY_LISTENERS__HTTP__HOST: '127.0.0.1',
    TRIBUTARY_LISTENERS__HTTP__PORT: String(httpPort),
    ...env,
  });
  return { broker, port, httpPort, trigger };
}

describe('fsync failure', () => {
  it('refuses the ack with STORAGE_FAILED, stops writes, and fails /healthz', async () => {
    const { broker, port, httpPort, trigger } = await startWithFailingFsync();
    const peer = await RawPeer.hello(port);
    peer.send({ type: 'register', corr: 1, alias: 1, topic: 'disk', create: true });
    await peer.waitFor((f) => f.type === 'registered');
    peer.send(produce(1, 'before'));
    await peer.waitFor((f) => f.type === 'ack');

    fs.writeFileSync(trigger, '');
    peer.send(produce(2, 'during'));
    expect(await peer.waitFor((f) => f.type === 'error' && f.ref === 2)).toMatchObject({ refKind: 'produce', code: ErrorCode.STORAGE_FAILED });
    fs.rmSync(trigger);
    peer.send(produce(3, 'after'));
    expect(await peer.waitFor((f) => f.type === 'error' && f.ref === 3)).toMatchObject({ code: ErrorCode.STORAGE_FAILED });
    expect(peer.frames.filter((f) => f.type === 'ack')).toHaveLength(1);

    const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'failed', error: 'STORAGE_FAILED' });
    expect(broker.output()).toMatch(/storage is now read-only/);
  });

  it('fails /healthz and the log when an MQTT session write is the one whose fsync fails', async () => {
    const mqttPort = await freePort();
    const { broker, port, httpPort, trigger } = await startWithFailingFsync({
      ...mqttListenerEnv(mqttPort),
    });
    await waitForPort(broker, mqttPort);
    expect((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status).toBe(200);

    fs.writeFileSync(trigger, '');
    // A persistent session's SUBSCRIBE is stored before the SUBACK: only the MQTT persistence writes.
    const peer = await RawMqtt.session(mqttPort, 'dashboard', false);
    peer.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'alerts/#', qos: 1 }] });
    await peer.waitClosed();
    fs.rmSync(trigger);

    const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'failed', error: 'STORAGE_FAILED' });
    const edge = await RawPeer.hello(port);
    edge.send({ type: 'register', corr: 1, alias: 1, topic: 'disk', create: true });
    expect(await edge.waitFor((f) => f.type === 'error' && f.ref === 1)).toMatchObject({ code: ErrorCode.STORAGE_FAILED });
    expect(broker.output()).toMatch(/storage is now read-only/);
  });

  it('after a fail-stop of the log, the mirror thread ships nothing more, not even what was committed before', async () => {
    const upPort = await freePort();
    const { broker, port, httpPort, trigger } = await startWithFailingFsync({
      TRIBUTARY_MIRRORS: JSON.stringify([{ name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${upPort}`, topics: ['disk'], backoff: { initialMs: 50, maxMs: 200 } }]),
    });
    const peer = await RawPeer.hello(port);
    peer.send({ type: 'register', corr: 1, alias: 1, topic: 'disk', create: true });
    await peer.waitFor((f) => f.type === 'registered');
    // Committed while the upstream is down: the backlog.
    peer.send(produceFrame(1, ['b0', 'b1', 'b2'], { acks: 1 }));
    await peer.waitFor((f) => f.type === 'ack');
    fs.writeFileSync(trigger, '');
    peer.send(produce(2, 'during'));
    expect(await peer.waitFor((f) => f.type === 'error' && f.ref === 2)).toMatchObject({ code: ErrorCode.STORAGE_FAILED });
    fs.rmSync(trigger);
    expect((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status).toBe(503);

    const up = await startUpstream({ port: upPort });
    await until(() => /this partition ships no more until a restart/.test(broker.output()), 'the mirror to stop shipping', 15_000);
    expect(up.received).toEqual([]);
    expect(((await (await fetch(`http://127.0.0.1:${httpPort}/mirrors/cloud`)).json()) as { backlogRecords: number }).backlogRecords).toBe(3);
  });

  it('fails /healthz and the log when a write of the mirror thread (a pause) is the one whose fsync fails', async () => {
    const up = await startUpstream();
    const { broker, port, httpPort, trigger } = await startWithFailingFsync({
      TRIBUTARY_MIRRORS: JSON.stringify([{ name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${up.port}`, topics: ['disk'], backoff: { initialMs: 50, maxMs: 200 } }]),
    });
    const peer = await RawPeer.hello(port);
    peer.send({ type: 'register', corr: 1, alias: 1, topic: 'disk', create: true });
    await peer.waitFor((f) => f.type === 'registered');
    peer.send(produce(1, 'before'));
    await peer.waitFor((f) => f.type === 'ack');
    await until(() => up.received.length === 1, 'the record upstream');

    fs.writeFileSync(trigger, '');
    // The pause is committed by the mirror thread, in its own transaction on the shared environment.
    const pause = await fetch(`http://127.0.0.1:${httpPort}/mirrors/cloud/pause`, { method: 'POST' });
    expect(pause.status).toBe(503);
    expect(await pause.json()).toMatchObject({ error: 'STORAGE_FAILED' });
    fs.rmSync(trigger);

    const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'failed', error: 'STORAGE_FAILED' });
    peer.send(produce(2, 'after'));
    expect(await peer.waitFor((f) => f.type === 'error' && f.ref === 2)).toMatchObject({ code: ErrorCode.STORAGE_FAILED });
    expect(broker.output()).toMatch(/mirror cursor transaction failed \(mirror thread\); storage is now read-only/);
    expect(up.received).toHaveLength(1);
  });
});
