// Admin actions over HTTP from a client that is not on the broker's machine. The broker runs in a
// network namespace of its own (unshare -n) whose loopback device also holds 192.0.2.1 (TEST-NET-1,
// never routed), and the client runs in that namespace (nsenter) and connects to 192.0.2.1: the
// broker then sees a peer that is not loopback, as it would a client on the LAN, and no packet
// leaves the namespace. Needs root (CI runs as root).
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { bundlePath, cleanEnv, startedPorts, trackChild, type ChildBroker } from '../helpers/child-broker.ts';
import { runProcess } from '../helpers/cli.ts';
import { tempDir } from '../helpers/temp.ts';

const REMOTE_IP = '192.0.2.1';
// The namespace is the broker's own: fixed ports collide with nothing.
const HTTP_PORT = 8088;

const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['-n', 'ip', 'addr', 'add', `${REMOTE_IP}/32`, 'dev', 'lo']).status === 0;

async function startIsolatedBroker(env: Record<string, string>): Promise<ChildBroker> {
  const setup = `ip link set lo up && ip addr add ${REMOTE_IP}/32 dev lo && exec "$0" "$@"`;
  const child = spawn('unshare', ['-n', 'sh', '-c', setup, process.execPath, bundlePath, 'start'], {
    env: {
      ...cleanEnv(),
      TRIBUTARY_DATA_DIR: tempDir(),
      TRIBUTARY_LISTENERS__EDGE__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__MQTT__ENABLED: 'false',
      TRIBUTARY_LISTENERS__HTTP__HOST: '0.0.0.0',
      TRIBUTARY_LISTENERS__HTTP__PORT: String(HTTP_PORT),
      TRIBUTARY_LOG__PRETTY: 'false',
      // Its upstream is unreachable in the namespace: the mirror backs off, which is all this needs.
      TRIBUTARY_MIRRORS: JSON.stringify([{ name: 'cloud', sink: 'mqtt', url: 'mqtt://127.0.0.1:1', topics: ['telemetry'] }]),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const broker = trackChild(child, HTTP_PORT);
  expect((await startedPorts(broker)).httpPort).toBe(HTTP_PORT);
  return broker;
}

/** An HTTP request from inside the broker's namespace, to `host`. */
async function request(broker: ChildBroker, host: string, method: string, path: string, headers: Record<string, string> = {}) {
  const script = `fetch(${JSON.stringify(`http://${host}:${HTTP_PORT}${path}`)}, { method: ${JSON.stringify(method)}, headers: ${JSON.stringify(headers)} })
    .then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })))`;
  const r = await runProcess('nsenter', [`--net=/proc/${broker.child.pid}/ns/net`, process.execPath, '-e', script]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { status: number; body: string };
}

describe.runIf(canUnshare || process.env.CI)('HTTP admin actions from another machine', () => {
  it('without adminToken: refused with 403 from a non-loopback client, accepted from loopback; reads stay open', async () => {
    const broker = await startIsolatedBroker({});
    const remote = await request(broker, REMOTE_IP, 'POST', '/mirrors/cloud/pause');
    expect(remote.status).toBe(403);
    expect(JSON.parse(remote.body)).toEqual({
      error: 'NOT_AUTHORIZED',
      message: `admin actions are taken from this machine only (the client is ${REMOTE_IP}); set listeners.http.adminToken to allow them from elsewhere with that token`,
    });
    expect(JSON.parse((await request(broker, REMOTE_IP, 'GET', '/mirrors/cloud')).body)).not.toMatchObject({ state: 'paused' });
    // Every admin action is refused before its body is read.
    for (const action of ['resume', 'retry', 'reset']) expect((await request(broker, REMOTE_IP, 'POST', `/mirrors/cloud/${action}`)).status, action).toBe(403);
    const metrics = await request(broker, REMOTE_IP, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^tributary_records_in_total 0$/m);

    const local = await request(broker, '127.0.0.1', 'POST', '/mirrors/cloud/pause');
    expect(local.status).toBe(200);
    expect(JSON.parse(local.body)).toMatchObject({ name: 'cloud', state: 'paused' });
  });

  it('with adminToken: a non-loopback client with the token is accepted, without it refused with 401', async () => {
    const broker = await startIsolatedBroker({ TRIBUTARY_LISTENERS__HTTP__ADMIN_TOKEN: 's3cret' });
    expect((await request(broker, REMOTE_IP, 'POST', '/mirrors/cloud/pause')).status).toBe(401);
    expect((await request(broker, REMOTE_IP, 'POST', '/mirrors/cloud/pause', { authorization: 'Bearer wrong' })).status).toBe(401);
    for (const action of ['resume', 'retry', 'reset']) expect((await request(broker, REMOTE_IP, 'POST', `/mirrors/cloud/${action}`)).status, action).toBe(401);
    const paused = await request(broker, REMOTE_IP, 'POST', '/mirrors/cloud/pause', { authorization: 'Bearer s3cret' });
    expect(paused.status).toBe(200);
    expect(JSON.parse(paused.body)).toMatchObject({ state: 'paused' });
  });
});
