// firmware-samples/esp-mqtt cannot be compiled here (no ESP-IDF), so this keeps it from drifting from
// the broker it is written for: its topic and client id formats, read out of main.c, rendered as the
// device does and run through the route matcher with the shipped configurations.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { Acl } from '../../src/auth/acl.ts';
import { loadConfig, parseConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { Router } from '../../src/listeners/mqtt/routes.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const mainC = fs.readFileSync(path.join(repoRoot, 'firmware-samples/esp-mqtt/main/main.c'), 'utf8');

/** The string literal of `#define NAME "..."` in main.c. */
function define(name: string): string {
  const m = new RegExp(`^#define ${name} "([^"\\\\]*)"$`, 'm').exec(mainC);
  if (m === null) throw new Error(`main.c has no #define ${name} "..."`);
  return m[1];
}

/** The size of `static char NAME[N];` in main.c. */
function bufferBytes(name: string): number {
  const m = new RegExp(`^static char ${name}\\[(\\d+)\\];$`, 'm').exec(mainC);
  if (m === null) throw new Error(`main.c has no static char ${name}[N]`);
  return Number(m[1]);
}

/** snprintf() for the conversions main.c uses: %02x of a byte and %s; any other one fails the test. */
function cFormat(format: string, args: (number | string)[]): string {
  let next = 0;
  const out = format.replace(/%(02x|s|.)/g, (_, conversion: string) => {
    const arg = args[next++];
    if (conversion === '02x' && typeof arg === 'number') return arg.toString(16).padStart(2, '0');
    if (conversion === 's' && typeof arg === 'string') return arg;
    throw new Error(`unexpected conversion %${conversion} in "${format}"`);
  });
  expect(next, `conversions in "${format}"`).toBe(args.length);
  return out;
}

function router(config: Config): Router {
  // As main.ts builds it.
  const { enabled, ...defaultRoute } = config.defaultRoute;
  return new Router(config.routes, enabled ? defaultRoute : null);
}

/** The `#`-commented route example above `routes:` in config/default.yaml, as config. */
function defaultYamlRouteExample(): Config {
  const lines = fs.readFileSync(path.join(repoRoot, 'config/default.yaml'), 'utf8').split('\n');
  const from = lines.findIndex((l) => /^# {3}- match: /.test(l));
  expect(from, 'config/default.yaml: the commented route example').toBeGreaterThanOrEqual(0);
  const block: string[] = [];
  for (const line of lines.slice(from)) {
    if (!line.startsWith('#')) break;
    block.push(line.replace(/^# ?/, ''));
  }
  return parseConfig(YAML.parse(`routes:\n${block.join('\n')}`), 'config/default.yaml (commented routes)');
}

const mac = [0x24, 0x0a, 0xc4, 0x12, 0x34, 0x56];
const deviceId = cFormat(define('DEVICE_ID_FMT'), mac);
const telemetry = cFormat(define('TOPIC_TELEMETRY_FMT'), [deviceId]);
const status = cFormat(define('TOPIC_STATUS_FMT'), [deviceId]);

describe('firmware-samples/esp-mqtt against the routes', () => {
  it('renders a client id every MQTT 3.1.1 broker takes and ACL patterns can substitute, in the buffers main.c gives them', () => {
    expect(deviceId).toBe('sensor-240ac4123456');
    expect(Buffer.byteLength(deviceId)).toBeLessThanOrEqual(23);
    expect(deviceId).not.toMatch(/[/+#]/);
    expect(Buffer.byteLength(deviceId)).toBeLessThan(bufferBytes('s_device_id'));
    expect(telemetry).toBe('sensors/sensor-240ac4123456/telemetry');
    expect(status).toBe('sensors/sensor-240ac4123456/status');
    expect(Buffer.byteLength(telemetry)).toBeLessThan(bufferBytes('s_topic_telemetry'));
    expect(Buffer.byteLength(status)).toBeLessThan(bufferBytes('s_topic_status'));
  });

  it('with config/default.yaml (no routes, the default route): both go to log topic "mqtt", keyed by the MQTT topic', () => {
    const routes = router(loadConfig({ file: path.join(repoRoot, 'config/default.yaml'), env: {} }));
    expect(routes.route(telemetry, deviceId)).toEqual({ topic: 'mqtt', key: telemetry, acks: 1, name: 'defaultRoute' });
    expect(routes.route(status, deviceId)).toEqual({ topic: 'mqtt', key: status, acks: 1, name: 'defaultRoute' });
  });

  it('with the route example of config/default.yaml: telemetry goes to "telemetry", keyed by the device id; status stays on the default route', () => {
    const routes = router(defaultYamlRouteExample());
    expect(routes.route(telemetry, deviceId)).toEqual({ topic: 'telemetry', key: deviceId, acks: 1, name: 'routes.0' });
    expect(routes.route(status, deviceId)).toEqual({ topic: 'mqtt', key: status, acks: 1, name: 'defaultRoute' });
  });

  it('with config/raspberry-pi.example.yaml: telemetry goes to "telemetry" keyed by the device id, and its ACL lets user "sensor" publish both topics under the client id only', () => {
    const config = loadConfig({ file: path.join(repoRoot, 'config/raspberry-pi.example.yaml'), env: {} });
    const routes = router(config);
    expect(routes.route(telemetry, deviceId)).toMatchObject({ topic: 'telemetry', key: deviceId });
    expect(routes.route(status, deviceId)).toMatchObject({ topic: 'mqtt', key: status });
    const acl = new Acl(config.auth.acls);
    expect(acl.canPublish({ clientId: deviceId, username: 'sensor' }, telemetry)).toBe(true);
    expect(acl.canPublish({ clientId: deviceId, username: 'sensor' }, status)).toBe(true);
    // The topic's device id must be the client id: another device's topic is refused.
    expect(acl.canPublish({ clientId: 'sensor-000000000000', username: 'sensor' }, telemetry)).toBe(false);
  });
});
