// What `tributary start` loads at idle (README "Memory"): code and data that a default gateway does
// not use stay out of its memory. The broker runs from source here, where the module loader can be
// watched (test/fixtures/startup-record); the bundle keeps the same lazy imports, since esbuild turns
// each import() into an init call made on first use.
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { describe, expect, it } from 'vitest';
import { LogStore } from '../../src/storage/log-store.ts';
import { cleanEnv, freePort } from '../helpers/child-broker.ts';
import { connectMqtt } from '../helpers/mqtt.ts';
import { onCleanup, storeOptions, tempDir } from '../helpers/temp.ts';

const recorder = path.resolve('test/fixtures/startup-record/register.mjs');

interface StartupRecord {
  /** URLs of the modules loaded through the ESM loader. */
  modules: string[];
  /** ICU entry points used: Intl formatters and collators, localeCompare, toLocaleString. */
  icu: string[];
  /** Entries in mqtt-packet's table of one Buffer per 16-bit number. */
  mqttPacketNumberBuffers: number;
}

/** Every listener on, on port 0 of 127.0.0.1: the default config's set. */
const listenersOn = {
  TRIBUTARY_LISTENERS__EDGE__HOST: '127.0.0.1',
  TRIBUTARY_LISTENERS__EDGE__PORT: '0',
  TRIBUTARY_LISTENERS__MQTT__HOST: '127.0.0.1',
  TRIBUTARY_LISTENERS__MQTT__PORT: '0',
  TRIBUTARY_LISTENERS__MQTT__WS__PORT: '0',
  TRIBUTARY_LISTENERS__KAFKA__HOST: '127.0.0.1',
  TRIBUTARY_LISTENERS__KAFKA__PORT: '0',
  TRIBUTARY_LISTENERS__HTTP__HOST: '127.0.0.1',
  TRIBUTARY_LISTENERS__HTTP__PORT: '0',
};

/** A data dir holding two topics, so that starting lists (and sorts) them. */
async function dataDirWithTopics(): Promise<string> {
  const dataDir = tempDir();
  const store = new LogStore(storeOptions(dataDir));
  for (const name of ['beta', 'Alpha']) store.createTopic({ name, partitions: 1, retentionMs: -1, retentionBytes: -1 });
  await store.close();
  return dataDir;
}

/**
 * Starts the broker from source and reads what it loaded once it has logged "tributary started"
 * (and, with `mqttClient`, once an MQTT client got its CONNACK).
 */
async function recordStartup(dataDir: string, env: Record<string, string>, opts: { mqttClient?: boolean } = {}): Promise<StartupRecord> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', recorder, 'src/cli/main.ts', 'start'], {
    env: { ...cleanEnv(), ...listenersOn, TRIBUTARY_DATA_DIR: dataDir, TRIBUTARY_LOG__PRETTY: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  onCleanup(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  const stderr: string[] = [];
  const record = new Promise<StartupRecord>((resolve, reject) => {
    readline.createInterface({ input: child.stderr! }).on('line', (line) => {
      if (line.startsWith('startup-record ')) resolve(JSON.parse(line.slice('startup-record '.length)) as StartupRecord);
      else stderr.push(line);
    });
    void exited.then(() => reject(new Error(`broker exited before it reported: ${stderr.join('\n')}`)));
  });
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.includes('tributary started')) return;
    if (!opts.mqttClient) child.kill('SIGUSR2');
    else
      void connectMqtt((JSON.parse(line) as { mqttPort: number }).mqttPort).then(() => child.kill('SIGUSR2'));
  });
  return record;
}

const fromPackage = (record: StartupRecord, name: string) => record.modules.some((url) => url.includes(`/node_modules/${name}/`));

describe('tributary start, idle', () => {
  it('loads no mirror client, no log prettifier and no ICU data with the default listeners and no mirror', async () => {
    const record = await recordStartup(await dataDirWithTopics(), {});
    expect(record.modules.some((url) => url.endsWith('/src/listeners/mqtt/mqtt-listener.ts'))).toBe(true);
    expect({
      kafkaClient: fromPackage(record, '@platformatic/kafka'),
      mqttClient: fromPackage(record, 'mqtt'),
      pinoPretty: fromPackage(record, 'pino-pretty'),
    }).toEqual({ kafkaClient: false, mqttClient: false, pinoPretty: false });
    expect(record.icu).toEqual([]);
  });

  it('builds no table of 65,536 packet-id Buffers in mqtt-packet once an MQTT client is connected', async () => {
    const record = await recordStartup(tempDir(), {}, { mqttClient: true });
    expect(record.mqttPacketNumberBuffers).toBe(0);
  });

  // The mirror clients then load on the mirror thread (src/mirror/thread), never on the main thread
  // that serves the listeners.
  it('loads the prettifier once pretty logs are configured, and the mirror clients on the main thread not even with mirrors', async () => {
    const [kafkaPort, mqttPort] = [await freePort(), await freePort()];
    const record = await recordStartup(await dataDirWithTopics(), {
      TRIBUTARY_LOG__PRETTY: 'true',
      TRIBUTARY_EDGE_ID: 'gw-1',
      TRIBUTARY_MIRRORS: JSON.stringify([
        { name: 'central', sink: 'kafka', brokers: [`127.0.0.1:${kafkaPort}`], topics: ['beta'] },
        { name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${mqttPort}`, topics: ['beta'] },
      ]),
    });
    expect({
      kafkaClient: fromPackage(record, '@platformatic/kafka'),
      mqttClient: fromPackage(record, 'mqtt'),
      pinoPretty: fromPackage(record, 'pino-pretty'),
    }).toEqual({ kafkaClient: false, mqttClient: false, pinoPretty: true });
  });
});
