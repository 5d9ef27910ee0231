// Runs the built broker (dist/tributary.mjs) as a child process, for tests that kill it.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { onCleanup } from './temp.ts';

export const bundlePath = path.resolve('dist/tributary.mjs');

// Ports the kernel hands out by itself (listen on 0, a client's local end) come from this range.
const EPHEMERAL = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number) as [number, number];
const handedOut = new Set<number>();

/**
 * A port free now, for a server a test starts later (an upstream that is "down at start"). It is
 * picked at random below the ephemeral range: a port from listen(0) could be handed to another
 * test's listener or client socket before ours binds it, and CI saw exactly that (EADDRINUSE).
 */
export async function freePort(): Promise<number> {
  const low = 10_000;
  const high = Math.min(EPHEMERAL[0], 32_768) - 1;
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port found in ${low}-${high}`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export interface ChildBroker {
  child: ChildProcess;
  port: number;
  output: () => string;
  exited: Promise<number | null>;
}

/** The runner's own TRIBUTARY_* variables would leak into the processes under test. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TRIBUTARY_')));
}

/** Env turning on a child broker's MQTT listener (TCP only) on 127.0.0.1:`mqttPort`. */
export function mqttListenerEnv(mqttPort: number): Record<string, string> {
  return {
    TRIBUTARY_LISTENERS__MQTT__ENABLED: 'true',
    TRIBUTARY_LISTENERS__MQTT__HOST: '127.0.0.1',
    TRIBUTARY_LISTENERS__MQTT__PORT: String(mqttPort),
    TRIBUTARY_LISTENERS__MQTT__WS__ENABLED: 'false',
  };
}

/** Starts `tributary start` on dataDir with the edge listener on `port`; resolves once it listens. */
export async function startChildBroker(dataDir: string, port: number, env: Record<string, string> = {}): Promise<ChildBroker> {
  const child = spawn(process.execPath, [bundlePath, 'start'], {
    env: {
      ...cleanEnv(),
      TRIBUTARY_DATA_DIR: dataDir,
      TRIBUTARY_LISTENERS__EDGE__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__EDGE__PORT: String(port),
      TRIBUTARY_LISTENERS__HTTP__ENABLED: 'false',
      // Test files run in parallel: MQTT's and Kafka's fixed default ports would collide. Tests that use them set their ports.
      TRIBUTARY_LISTENERS__MQTT__ENABLED: 'false',
      TRIBUTARY_LISTENERS__KAFKA__ENABLED: 'false',
      TRIBUTARY_LOG__PRETTY: 'false',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const broker = trackChild(child, port);
  await waitForPort(broker, port);
  return broker;
}

/** A spawned broker (stdout and stderr piped) as a ChildBroker: its output kept, SIGKILLed at cleanup if still running. */
export function trackChild(child: ChildProcess, port: number): ChildBroker {
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, port, output: () => out, exited };
}

/**
 * Resolves once the child logged "tributary started" (every listener up) with `port` among its
 * listeners. A connect probe alone could reach another process that took the port first.
 */
export async function waitForPort(broker: ChildBroker, port: number): Promise<void> {
  const ports = await startedPorts(broker);
  if (!Object.values(ports).includes(port)) throw new Error(`broker started without a listener on ${port} (${JSON.stringify(ports)}): ${broker.output()}`);
}

/** The listener ports of the child's "tributary started" log line; throws if it exits first. An emulated (qemu) broker needs a longer `timeoutMs`. */
export async function startedPorts(broker: ChildBroker, timeoutMs = 15_000): Promise<{ edgePort?: number; kafkaPort?: number; mqttPort?: number; httpPort?: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = /^\{.*"msg":"tributary started".*\}$/m.exec(broker.output())?.[0];
    if (line !== undefined) {
      const { edgePort, kafkaPort, mqttPort, httpPort } = JSON.parse(line) as { edgePort?: number; kafkaPort?: number; mqttPort?: number; httpPort?: number };
      return { edgePort, kafkaPort, mqttPort, httpPort };
    }
    if (broker.child.exitCode !== null) throw new Error(`broker exited with ${broker.child.exitCode}: ${broker.output()}`);
    if (Date.now() > deadline) throw new Error(`broker did not start: ${broker.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
