import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig, loadConfig, parseConfig } from '../../src/config/load.ts';
import { TributaryError } from '../../src/errors.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MiB = 2 ** 20;
const GiB = 2 ** 30;

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-config-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeFile(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** The INVALID_CONFIG error thrown by `fn`, failing the test if anything else happens. */
function configError(fn: () => unknown): TributaryError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TributaryError);
    expect((err as TributaryError).codeName).toBe('INVALID_CONFIG');
    return err as TributaryError;
  }
  throw new Error('expected INVALID_CONFIG, but the config was accepted');
}

/** Every leaf key path of a plain object, e.g. "listeners.edge.port". */
function leafPaths(value: unknown, prefix = ''): string[] {
  if (typeof value !== 'object' || value === null) return [prefix];
  return Object.entries(value).flatMap(([key, child]) => leafPaths(child, prefix ? `${prefix}.${key}` : key));
}

describe('defaults', () => {
  it('applies every default when there is no file and no env', () => {
    expect(loadConfig({ env: {} })).toEqual({
      dataDir: './data',
      edgeId: os.hostname(),
      mirrors: [],
      log: { level: 'info', pretty: 'auto' },
      listeners: {
        edge: {
          enabled: true,
          host: '0.0.0.0',
          port: 7883,
          token: null,
          frameBytesMax: MiB,
          keepaliveMs: 60_000,
          connectionsMax: 1000,
          keepaliveMsMax: 300_000,
          writeQueueBytesMax: 8 * MiB,
          writeBytesTotalMax: 64 * MiB,
          partialFrameBytesTotalMax: 64 * MiB,
        },
        kafka: {
          enabled: true,
          host: '0.0.0.0',
          port: 9092,
          advertisedHost: null,
          advertisedPort: null,
          requestBytesMax: 8 * MiB,
          connectionsMax: 1000,
          inflightRequestsMax: 5,
          fetchBytesTotalMax: 64 * MiB,
          writeStallMs: 60_000,
          sasl: { enabled: false, mechanisms: ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] },
          tls: { enabled: false, certFile: null, keyFile: null, caFile: null },
        },
        http: { enabled: true, host: '0.0.0.0', port: 8088, adminToken: null },
        mqtt: {
          enabled: true,
          host: '0.0.0.0',
          port: 1883,
          ws: { enabled: true, port: 8083 },
          tls: { enabled: false, port: 8883, certFile: null, keyFile: null, caFile: null },
          messageBytesMax: 256 * 1024,
          connectionsMax: 1000,
          inflightMax: 100,
          topicLevelsMax: 32,
          allowAnonymous: true,
          subscriberQueueBytesMax: 1024 * 1024,
          subscriberQueueBytesTotalMax: 64 * 1024 * 1024,
          subscriberStallMs: 60_000,
          sysIntervalS: 10,
          sessionExpiryMaxS: 604_800,
        },
      },
      routes: [],
      defaultRoute: { enabled: true, topic: 'mqtt', key: '{topic}', acks: 1 },
      auth: { users: [], acls: [] },
      topics: { autoCreate: true, defaultPartitions: 1, defaultRetentionMs: 7 * 86_400_000, defaultRetentionBytes: -1 },
      storage: {
        diskBudgetBytes: -1,
        diskBudgetPolicy: 'reject-new',
        minFreeDiskBytes: 64 * MiB,
        mapSizeBytes: GiB,
        maxMapSizeBytes: -1,
        txnQueueBytesMax: 64 * MiB,
      },
      groups: { sessionTimeoutMsDefault: 10_000, offsetsRetentionMs: 7 * 86_400_000, expiryCheckIntervalMs: 600_000, initialRebalanceDelayMs: 300 },
      retention: { checkIntervalMs: 30_000, batchesPerStep: 2000 },
    });
  });

  it('returns a fresh object each time', () => {
    const a = defaultConfig();
    a.listeners.edge.port = 1;
    expect(defaultConfig().listeners.edge.port).toBe(7883);
  });

  it('config/default.yaml equals defaultConfig() and lists every key', () => {
    const file = path.join(repoRoot, 'config/default.yaml');
    const raw = YAML.parse(fs.readFileSync(file, 'utf8'));
    expect(parseConfig(raw, `config file ${file}`)).toEqual(defaultConfig());
    expect(leafPaths(raw).sort()).toEqual(leafPaths(defaultConfig()).sort());
  });

  it('the commented mirror examples in config/*.yaml are valid config and name every mirror key', () => {
    /** The `#`-commented YAML from the line matching `start` to the next line that is not a comment. */
    const commented = (file: string, start: RegExp) => {
      const lines = fs.readFileSync(path.join(repoRoot, 'config', file), 'utf8').split('\n');
      const from = lines.findIndex((l) => start.test(l));
      expect(from, `${file}: ${start}`).toBeGreaterThanOrEqual(0);
      const block: string[] = [];
      for (const line of lines.slice(from)) {
        if (!line.startsWith('#')) break;
        block.push(line.replace(/^# ?/, ''));
      }
      return block.join('\n');
    };
    const defaults = YAML.parse(`mirrors:\n${commented('default.yaml', /^# {3}- name: cloud/)}`);
    const parsed = parseConfig(defaults, 'config/default.yaml').mirrors;
    expect(parsed.map((m) => m.sink)).toEqual(['mqtt', 'kafka']);
    parsed.forEach((mirror, i) => expect(leafPaths(defaults.mirrors[i]).sort()).toEqual(leafPaths(mirror).sort()));
    const pi = parseConfig(YAML.parse(commented('raspberry-pi.example.yaml', /^# mirrors:/)), 'config/raspberry-pi.example.yaml');
    expect(pi.mirrors[0]).toMatchObject({ name: 'cloud', rateLimitBytesPerSec: 16 * 1024, priorities: { alarms: 10 } });
    // It ships what the example's routes write, nothing less.
    const routed = loadConfig({ file: path.join(repoRoot, 'config/raspberry-pi.example.yaml'), env: {} }).routes.map((r) => r.topic);
    expect([...pi.mirrors[0]!.topics].sort()).toEqual([...new Set(routed)].sort());
  });

  it('config/raspberry-pi.example.yaml validates', () => {
    const config = loadConfig({ file: path.join(repoRoot, 'config/raspberry-pi.example.yaml'), env: {} });
    expect(config.storage.diskBudgetPolicy).toBe('drop-oldest');
    expect(config.storage.diskBudgetBytes).toBeGreaterThan(0);
    expect(config.topics.defaultRetentionMs).toBe(3 * 86_400_000);
    expect(config.topics.defaultPartitions).toBeGreaterThanOrEqual(1);
    expect(config.topics.defaultPartitions).toBeLessThanOrEqual(2);
    expect(config.listeners.edge.token).toEqual(expect.any(String));
    expect(config.log.level).toBe('info');
  });
});

describe('files', () => {
  it('reads YAML with human sizes and durations, keeping defaults for absent keys', () => {
    const file = writeFile(
      'x.yaml',
      `dataDir: /var/lib/tributary
listeners:
  edge:
    port: 0
    token: s3cret
    frameBytesMax: 512KiB
    keepaliveMs: 90s
storage:
  diskBudgetBytes: 10MB
  diskBudgetPolicy: drop-oldest
`,
    );
    const config = loadConfig({ file, env: {} });
    expect(config.dataDir).toBe('/var/lib/tributary');
    expect(config.listeners.edge).toMatchObject({ port: 0, token: 's3cret', frameBytesMax: 512 * 1024, keepaliveMs: 90_000 });
    expect(config.listeners.edge.host).toBe('0.0.0.0');
    expect(config.listeners.http).toEqual(defaultConfig().listeners.http);
    expect(config.storage).toMatchObject({ diskBudgetBytes: 10_000_000, diskBudgetPolicy: 'drop-oldest' });
  });

  it('reads .yml and JSON', () => {
    const yml = writeFile('x.yml', 'topics:\n  defaultPartitions: 4\n');
    expect(loadConfig({ file: yml, env: {} }).topics.defaultPartitions).toBe(4);
    const json = writeFile('x.json', JSON.stringify({ topics: { defaultRetentionMs: '3d', autoCreate: false } }));
    expect(loadConfig({ file: json, env: {} }).topics).toMatchObject({ defaultRetentionMs: 3 * 86_400_000, autoCreate: false });
  });

  it('parses unknown extensions as YAML', () => {
    const file = writeFile('tributary.conf', 'log:\n  level: debug\n');
    expect(loadConfig({ file, env: {} }).log.level).toBe('debug');
  });

  it('treats an empty file and empty sections as defaults', () => {
    expect(loadConfig({ file: writeFile('empty.yaml', '# nothing yet\n'), env: {} })).toEqual(defaultConfig());
    const file = writeFile('sections.yaml', 'listeners:\n  edge:\n  # port: 1\nstorage:\n');
    expect(loadConfig({ file, env: {} })).toEqual(defaultConfig());
  });

  it('takes the file from TRIBUTARY_CONFIG when opts.file is absent', () => {
    const file = writeFile('x.yaml', 'dataDir: /from-env-file\n');
    expect(loadConfig({ env: { TRIBUTARY_CONFIG: file } }).dataDir).toBe('/from-env-file');
  });

  it('prefers opts.file over TRIBUTARY_CONFIG', () => {
    const file = writeFile('x.yaml', 'dataDir: /from-opts\n');
    expect(loadConfig({ file, env: { TRIBUTARY_CONFIG: path.join(dir, 'absent.yaml') } }).dataDir).toBe('/from-opts');
  });
});

describe('env overrides', () => {
  it('maps nested keys, sizes, durations, booleans and null', () => {
    const file = writeFile('x.yaml', 'listeners:\n  edge:\n    port: 1000\n    token: from-file\n');
    const config = loadConfig({
      file,
      env: {
        TRIBUTARY_DATA_DIR: '/data',
        TRIBUTARY_LISTENERS__EDGE__PORT: '7000',
        TRIBUTARY_LISTENERS__EDGE__TOKEN: 'null',
        TRIBUTARY_LISTENERS__HTTP__ENABLED: 'false',
        TRIBUTARY_STORAGE__DISK_BUDGET_BYTES: '512MiB',
        TRIBUTARY_STORAGE__DISK_BUDGET_POLICY: 'drop-oldest',
        TRIBUTARY_TOPICS__DEFAULT_RETENTION_MS: '3d',
        TRIBUTARY_TOPICS__DEFAULT_RETENTION_BYTES: '-1',
        TRIBUTARY_RETENTION__CHECK_INTERVAL_MS: '1500',
        TRIBUTARY_LOG__LEVEL: 'debug',
        TRIBUTARY_LOG__PRETTY: 'true',
        PATH: '/usr/bin',
        TRIBUTARYISH: 'ignored',
      },
    });
    expect(config.dataDir).toBe('/data');
    expect(config.listeners.edge.port).toBe(7000);
    expect(config.listeners.edge.token).toBeNull();
    expect(config.listeners.http.enabled).toBe(false);
    expect(config.storage.diskBudgetBytes).toBe(512 * MiB);
    expect(config.storage.diskBudgetPolicy).toBe('drop-oldest');
    expect(config.topics.defaultRetentionMs).toBe(3 * 86_400_000);
    expect(config.topics.defaultRetentionBytes).toBe(-1);
    expect(config.retention.checkIntervalMs).toBe(1500);
    expect(config.log).toEqual({ level: 'debug', pretty: true });
  });

  it('keeps digit-only values a string where the key wants one', () => {
    const config = loadConfig({ env: { TRIBUTARY_LISTENERS__EDGE__TOKEN: '12345', TRIBUTARY_LOG__PRETTY: 'auto' } });
    expect(config.listeners.edge.token).toBe('12345');
    expect(config.log.pretty).toBe('auto');
  });

  it('wins over the file, which wins over the defaults', () => {
    const file = writeFile('x.yaml', 'listeners:\n  edge:\n    port: 1000\n    host: 127.0.0.1\n');
    const config = loadConfig({ file, env: { TRIBUTARY_LISTENERS__EDGE__PORT: '2000' } });
    expect(config.listeners.edge).toMatchObject({ port: 2000, host: '127.0.0.1', connectionsMax: 1000 });
  });

  it('reaches into sections the file leaves empty', () => {
    const file = writeFile('x.yaml', 'storage:\n');
    expect(loadConfig({ file, env: { TRIBUTARY_STORAGE__MIN_FREE_DISK_BYTES: '0' } }).storage.minFreeDiskBytes).toBe(0);
  });
});

describe('old key names', () => {
  // "commit" alone now means an offset commit; the transaction queue's old name still loads.
  it('storage.commitQueueBytesMax in a file has the effect storage.txnQueueBytesMax has', () => {
    const old = loadConfig({ file: writeFile('old.yaml', 'storage:\n  commitQueueBytesMax: 16MiB\n'), env: {} });
    const renamed = loadConfig({ file: writeFile('new.yaml', 'storage:\n  txnQueueBytesMax: 16MiB\n'), env: {} });
    expect(old.storage.txnQueueBytesMax).toBe(16 * MiB);
    expect(old).toEqual(renamed);
    expect(old.storage).not.toHaveProperty('commitQueueBytesMax');
  });

  it('TRIBUTARY_STORAGE__COMMIT_QUEUE_BYTES_MAX sets it too, and the file\'s value loses to it', () => {
    const file = writeFile('old.yaml', 'storage:\n  commitQueueBytesMax: 16MiB\n');
    expect(loadConfig({ file, env: { TRIBUTARY_STORAGE__COMMIT_QUEUE_BYTES_MAX: '32MiB' } }).storage.txnQueueBytesMax).toBe(32 * MiB);
    expect(loadConfig({ env: { TRIBUTARY_STORAGE__TXN_QUEUE_BYTES_MAX: '32MiB' } }).storage.txnQueueBytesMax).toBe(32 * MiB);
  });

  it('both names at once is an error naming both', () => {
    const file = writeFile('both.yaml', 'storage:\n  commitQueueBytesMax: 16MiB\n  txnQueueBytesMax: 32MiB\n');
    expect(configError(() => loadConfig({ file, env: {} })).message).toBe(
      `config file ${file}: storage.commitQueueBytesMax: got ${16 * MiB}, expected only one of storage.txnQueueBytesMax and its old name storage.commitQueueBytesMax, in the file and the environment (TRIBUTARY_STORAGE__TXN_QUEUE_BYTES_MAX, TRIBUTARY_STORAGE__COMMIT_QUEUE_BYTES_MAX) together`,
    );
    expect(configError(() => loadConfig({ file: writeFile('new.yaml', 'storage:\n  txnQueueBytesMax: 32MiB\n'), env: { TRIBUTARY_STORAGE__COMMIT_QUEUE_BYTES_MAX: '16MiB' } })).message).toBe(
      `env TRIBUTARY_STORAGE__COMMIT_QUEUE_BYTES_MAX: got ${16 * MiB}, expected only one of storage.txnQueueBytesMax and its old name storage.commitQueueBytesMax, in the file and the environment (TRIBUTARY_STORAGE__TXN_QUEUE_BYTES_MAX, TRIBUTARY_STORAGE__COMMIT_QUEUE_BYTES_MAX) together`,
    );
  });
});

describe('error messages', () => {
  const x = (text: string) => writeFile('x.yaml', text);

  it('bad type names key, value and expectation', () => {
    const file = x('listeners:\n  edge:\n    port: seven\n');
    expect(configError(() => loadConfig({ file, env: {} })).message).toBe(
      `config file ${file}: listeners.edge.port: got "seven", expected an integer 0..65535`,
    );
  });

  it('out of range', () => {
    const file = x('listeners:\n  edge:\n    port: 70000\n');
    expect(configError(() => loadConfig({ file, env: {} })).message).toBe(
      `config file ${file}: listeners.edge.port: got 70000, expected an integer 0..65535`,
    );
  });

  it('sizes and durations out of range or malformed', () => {
    const file = x('listeners:\n  edge:\n    frameBytesMax: 8MiB\n    keepaliveMs: 2w\n');
    const { message } = configError(() => loadConfig({ file, env: {} }));
    expect(message).toContain(`config file ${file}: listeners.edge.frameBytesMax: got "8MiB", expected a size from 4KiB to 4MiB`);
    expect(message).toContain(`config file ${file}: listeners.edge.keepaliveMs: got "2w", expected a duration from 1ms to 1d`);
  });

  it('an edge keepalive above keepaliveMsMax, and a write queue below one largest frame', () => {
    const file = x('listeners:\n  edge:\n    keepaliveMs: 10m\n    keepaliveMsMax: 5m\n');
    expect(configError(() => loadConfig({ file, env: {} })).message).toContain(
      `config file ${file}: listeners.edge.keepaliveMs: got 600000, expected a duration not above listeners.edge.keepaliveMsMax (5m)`,
    );
    const { message } = configError(() => parseConfig({ listeners: { edge: { writeQueueBytesMax: '4MiB' } } }, 'test'));
    expect(message).toMatch(/^test: listeners\.edge\.writeQueueBytesMax: got "4MiB", expected a size from /);
  });

  it('-1 only where unlimited is allowed', () => {
    const { message } = configError(() => parseConfig({ storage: { minFreeDiskBytes: -1 } }, 'test'));
    expect(message).toMatch(/^test: storage\.minFreeDiskBytes: got -1, expected a size,/);
    expect(parseConfig({ storage: { diskBudgetBytes: -1 } }, 'test').storage.diskBudgetBytes).toBe(-1);
  });

  it('bad enum lists the choices', () => {
    const file = x('storage:\n  diskBudgetPolicy: drop\n');
    expect(configError(() => loadConfig({ file, env: {} })).message).toBe(
      `config file ${file}: storage.diskBudgetPolicy: got "drop", expected one of reject-new, drop-oldest`,
    );
  });

  it('a value where a section belongs', () => {
    expect(configError(() => parseConfig({ topics: 5 }, 'test')).message).toBe(
      'test: topics: got 5, expected a mapping of keys',
    );
    expect(configError(() => parseConfig(['dataDir'], 'test')).message).toBe(
      'test: got ["dataDir"], expected a mapping of keys',
    );
  });

  it('unknown keys, with a suggestion when one is close', () => {
    const file = x('dataDr: ./d\nlisteners:\n  edge:\n    prot: 1\n    flux: 2\n');
    const lines = configError(() => loadConfig({ file, env: {} })).message.split('\n');
    expect(lines).toContain(`config file ${file}: unknown key "dataDr" (did you mean "dataDir"?)`);
    expect(lines).toContain(`config file ${file}: unknown key "listeners.edge.prot" (did you mean "listeners.edge.port"?)`);
    expect(lines).toContain(`config file ${file}: unknown key "listeners.edge.flux"`);
  });

  it('suggests camelCase for snake_case keys', () => {
    expect(configError(() => parseConfig({ data_dir: 'x' }, 'test')).message).toBe(
      'test: unknown key "data_dir" (did you mean "dataDir"?)',
    );
  });

  it('lists every problem, one per line', () => {
    const file = x('dataDr: x\nlisteners:\n  edge:\n    port: -5\ntopics:\n  defaultPartitions: 0\n');
    const lines = configError(() => loadConfig({ file, env: { TRIBUTARY_LOG__LEVEL: 'loud' } })).message.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines).toEqual(
      expect.arrayContaining([
        `env TRIBUTARY_LOG__LEVEL: got "loud", expected one of fatal, error, warn, info, debug, trace, silent`,
        `config file ${file}: listeners.edge.port: got -5, expected an integer 0..65535`,
        `config file ${file}: topics.defaultPartitions: got 0, expected an integer 1..1024`,
        `config file ${file}: unknown key "dataDr" (did you mean "dataDir"?)`,
      ]),
    );
  });

  it('bad env value names the variable', () => {
    expect(configError(() => loadConfig({ env: { TRIBUTARY_TOPICS__DEFAULT_PARTITIONS: 'abc' } })).message).toBe(
      'env TRIBUTARY_TOPICS__DEFAULT_PARTITIONS: got "abc", expected an integer 1..1024',
    );
    expect(configError(() => loadConfig({ env: { TRIBUTARY_LISTENERS__EDGE__PORT: '70000' } })).message).toBe(
      'env TRIBUTARY_LISTENERS__EDGE__PORT: got 70000, expected an integer 0..65535',
    );
    expect(configError(() => loadConfig({ env: { TRIBUTARY_TOPICS__AUTO_CREATE: 'yes' } })).message).toBe(
      'env TRIBUTARY_TOPICS__AUTO_CREATE: got "yes", expected true or false',
    );
  });

  it('unknown env variable', () => {
    expect(configError(() => loadConfig({ env: { TRIBUTARY_LISTENERS__EDGE__PROT: '1' } })).message).toBe(
      'env TRIBUTARY_LISTENERS__EDGE__PROT: not a config key (did you mean TRIBUTARY_LISTENERS__EDGE__PORT?)',
    );
    expect(configError(() => loadConfig({ env: { TRIBUTARY_LISTENERS__EDGE: '1' } })).message).toMatch(
      /^env TRIBUTARY_LISTENERS__EDGE: not a config key/,
    );
    expect(configError(() => loadConfig({ env: { TRIBUTARY_WHATEVER: '1' } })).message).toBe(
      'env TRIBUTARY_WHATEVER: not a config key',
    );
  });

  it('cross-key check names the env variable that caused it', () => {
    const file = x('storage:\n  mapSizeBytes: 2GiB\n');
    expect(configError(() => loadConfig({ file, env: { TRIBUTARY_STORAGE__MAX_MAP_SIZE_BYTES: '1GiB' } })).message).toBe(
      'env TRIBUTARY_STORAGE__MAX_MAP_SIZE_BYTES: got 1073741824, expected -1 (unlimited) or a size not below storage.mapSizeBytes (2GiB)',
    );
  });

  it('YAML syntax error names file, line and column', () => {
    const file = x('listeners:\n  edge:\n    port: [7883\n  http:\n');
    const { message } = configError(() => loadConfig({ file, env: {} }));
    expect(message).toMatch(new RegExp(`^config file ${file}: YAML syntax error at line \\d+, column \\d+: \\S`));
    const dup = x('dataDir: a\ndataDir: b\n');
    expect(configError(() => loadConfig({ file: dup, env: {} })).message).toBe(
      `config file ${dup}: YAML syntax error at line 2, column 1: Map keys must be unique`,
    );
  });

  it('JSON syntax error names the file and, where known, the line', () => {
    const file = writeFile('x.json', '{\n  "dataDir": "x",\n}\n');
    expect(configError(() => loadConfig({ file, env: {} })).message).toMatch(
      new RegExp(`^config file ${file}: JSON syntax error at line 3, column 1: `),
    );
  });

  it('missing file', () => {
    const file = path.join(dir, 'absent.yaml');
    expect(configError(() => loadConfig({ file, env: {} })).message).toBe(`config file ${file}: not found`);
    expect(configError(() => loadConfig({ env: { TRIBUTARY_CONFIG: file } })).message).toBe(`config file ${file}: not found`);
  });

  // A wrong type anywhere used to stop zod before every cross-field check above it: the file below
  // reported four problems, and the other two (backoff, allowAnonymous) only once those were fixed.
  it('a file with six errors (wrong types, an unknown key, cross-field checks) reports all six, and the bad env variable with them', () => {
    const file = x(
      [
        'dataDr: /var/lib/tributary',
        'listeners:',
        '  edge:',
        '    port: seven',
        '  mqtt:',
        '    allowAnonymous: false',
        'storage:',
        '  mapSizeBytes: 2GiB',
        '  maxMapSizeBytes: 1GiB',
        'mirrors:',
        '  - { name: cloud, sink: mqtt, url: "mqtt://h", topics: [t], qos: 2, backoff: { initialMs: 5s, maxMs: 1s } }',
        '',
      ].join('\n'),
    );
    expect(configError(() => loadConfig({ file, env: {} })).message.split('\n')).toEqual([
      `config file ${file}: listeners.edge.port: got "seven", expected an integer 0..65535`,
      `config file ${file}: storage.maxMapSizeBytes: got 1073741824, expected -1 (unlimited) or a size not below storage.mapSizeBytes (2GiB)`,
      `config file ${file}: mirrors.0.qos (mirror cloud): got 2, expected 0 or 1`,
      `config file ${file}: unknown key "dataDr" (did you mean "dataDir"?)`,
      `config file ${file}: mirrors.0.backoff.maxMs (mirror cloud): got 1000, expected a duration not below backoff.initialMs`,
      `config file ${file}: listeners.mqtt.allowAnonymous: got false, expected true, or at least one user in auth.users (else no client could connect)`,
    ]);
    const lines = configError(() => loadConfig({ file, env: { TRIBUTARY_LOG__LEVEL: 'loud' } })).message.split('\n');
    expect(lines).toHaveLength(7);
    expect(lines[0]).toBe('env TRIBUTARY_LOG__LEVEL: got "loud", expected one of fatal, error, warn, info, debug, trace, silent');
  });

  it('a cross-field check says nothing about a value that did not parse', () => {
    const file = x('storage:\n  mapSizeBytes: lots\n  maxMapSizeBytes: 1MiB\nauth:\n  users:\n    - { username: 5, passwordHash: x }\n  acls:\n    - { user: a }\n');
    const lines = configError(() => loadConfig({ file, env: {} })).message.split('\n');
    expect(lines.filter((l) => l.includes('maxMapSizeBytes') || l.includes('acls'))).toEqual([]);
    expect(lines.some((l) => l.includes('storage.mapSizeBytes: got "lots"'))).toBe(true);
  });

  it('the edge keepalive check runs beside a wrong type elsewhere in listeners.edge', () => {
    const file = x('listeners:\n  edge:\n    port: seven\n    keepaliveMs: 10m\n');
    expect(configError(() => loadConfig({ file, env: {} })).message.split('\n')).toEqual([
      `config file ${file}: listeners.edge.port: got "seven", expected an integer 0..65535`,
      `config file ${file}: listeners.edge.keepaliveMs: got 600000, expected a duration not above listeners.edge.keepaliveMsMax (5m)`,
    ]);
  });

  it('every YAML syntax error of the file, and the bad env variables with them', () => {
    const file = x('dataDir: a\ndataDir: b\nlog: {level: info\n');
    const lines = configError(() => loadConfig({ file, env: { TRIBUTARY_DATA_DIRR: 'x' } })).message.split('\n');
    expect(lines).toEqual([
      `config file ${file}: YAML syntax error at line 2, column 1: Map keys must be unique`,
      `config file ${file}: YAML syntax error at line 4, column 1: Flow map in block collection must be sufficiently indented and end with a }`,
      'env TRIBUTARY_DATA_DIRR: not a config key (did you mean TRIBUTARY_DATA_DIR?)',
    ]);
  });

  it('unreadable file', () => {
    expect(configError(() => loadConfig({ file: dir, env: {} })).message).toMatch(new RegExp(`^config file ${dir}: cannot read: `));
  });
});

describe('MQTT routes and auth', () => {
  const x = (text: string) => writeFile('x.yaml', text);
  const hash = 'scrypt$1024$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

  it('reads routes with their defaults (key = the MQTT topic, acks 1)', () => {
    const file = x('routes:\n  - match: sensors/+/telemetry\n    topic: telemetry\n    key: "{1}"\n    acks: all\n  - match: "#"\n    topic: everything\n');
    expect(loadConfig({ file, env: {} }).routes).toEqual([
      { match: 'sensors/+/telemetry', topic: 'telemetry', key: '{1}', acks: 'all' },
      { match: '#', topic: 'everything', key: '{topic}', acks: 1 },
    ]);
  });

  it('names the route and the field of every bad route', () => {
    const file = x('routes:\n  - match: a/+\n    topic: t\n  - match: a/#/b\n    topic: bad topic\n    key: "{2}"\n    acks: 2\n');
    expect(configError(() => loadConfig({ file, env: {} })).message.split('\n')).toEqual([
      `config file ${file}: routes.1.acks: got 2, expected 0, 1 or all`,
      `config file ${file}: routes.1.match: got "a/#/b", expected an MQTT topic filter ("#" may only be the last level)`,
      `config file ${file}: routes.1.topic: got "bad topic", expected a log topic name: 1-249 characters of [a-zA-Z0-9._-], not "." or ".."`,
    ]);
    const file2 = x('routes:\n  - match: a/+\n    topic: t\n  - match: a/#/b\n    topic: bad topic\n  - match: s/+\n    topic: s\n    key: "{2}"\n');
    expect(configError(() => loadConfig({ file: file2, env: {} })).message.split('\n')).toEqual([
      `config file ${file2}: routes.1.match: got "a/#/b", expected an MQTT topic filter ("#" may only be the last level)`,
      `config file ${file2}: routes.1.topic: got "bad topic", expected a log topic name: 1-249 characters of [a-zA-Z0-9._-], not "." or ".."`,
      `config file ${file2}: routes.2.key: got "{2}", expected null or a key template of text, {clientId}, {topic} and captures (match "s/+" has 1 wildcard: {1}); found unknown placeholder {2}`,
    ]);
  });

  it('takes a list from the environment as JSON, naming the variable in errors', () => {
    const env = { TRIBUTARY_ROUTES: '[{"match":"a/#","topic":"a","key":null}]' };
    expect(loadConfig({ env }).routes).toEqual([{ match: 'a/#', topic: 'a', key: null, acks: 1 }]);
    expect(configError(() => loadConfig({ env: { TRIBUTARY_ROUTES: '[{"match":"a/#","topic":"a","key":"{2}"}]' } })).message).toMatch(
      /^env TRIBUTARY_ROUTES: routes\.0\.key: got "\{2\}", expected /,
    );
    expect(configError(() => loadConfig({ env: { TRIBUTARY_ROUTES: 'a/#' } })).message).toBe('env TRIBUTARY_ROUTES: got "a/#", expected a list of routes');
    expect(loadConfig({ env: { TRIBUTARY_DEFAULT_ROUTE__ENABLED: 'false', TRIBUTARY_DEFAULT_ROUTE__ACKS: 'all' } }).defaultRoute).toMatchObject({ enabled: false, acks: 'all' });
  });

  it('checks users, ACLs, TLS files and anonymous access, without echoing password hashes', () => {
    const file = x(
      [
        'listeners:',
        '  mqtt:',
        '    tls:',
        '      enabled: true',
        '      certFile: /etc/cert.pem',
        'auth:',
        '  users:',
        '    - username: a',
        `      passwordHash: ${hash}`,
        '    - username: a',
        '      passwordHash: hunter2',
        '  acls:',
        '    - user: b',
        '      publish: ["x/#/y"]',
      ].join('\n'),
    );
    expect(configError(() => loadConfig({ file, env: {} })).message.split('\n')).toEqual([
      `config file ${file}: listeners.mqtt.tls.keyFile: got null, expected a file path (PEM) when tls.enabled is true`,
      `config file ${file}: auth.users.1.passwordHash: got "(hidden)", expected a password hash made by \`tributary passwd\` (problem: not of the form scrypt$N$r$p$salt$hash)`,
      `config file ${file}: auth.acls.0.publish.0: got "x/#/y", expected an MQTT topic filter ("#" may only be the last level)`,
      `config file ${file}: auth.users.1.username: got "a", expected a username not used by an earlier entry`,
      `config file ${file}: auth.acls.0.user: got "b", expected the username of an entry in auth.users`,
    ]);
    expect(configError(() => loadConfig({ env: { TRIBUTARY_LISTENERS__MQTT__ALLOW_ANONYMOUS: 'false' } })).message).toBe(
      'env TRIBUTARY_LISTENERS__MQTT__ALLOW_ANONYMOUS: got false, expected true, or at least one user in auth.users (else no client could connect)',
    );
    const unknownUser = x(`auth:\n  users:\n    - username: a\n      passwordHash: ${hash}\n  acls:\n    - user: b\n      subscribe: ["#"]\n`);
    expect(configError(() => loadConfig({ file: unknownUser, env: {} })).message).toBe(
      `config file ${unknownUser}: auth.acls.0.user: got "b", expected the username of an entry in auth.users`,
    );
  });
});
