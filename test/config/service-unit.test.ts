// config/tributary.service: systemd's own parser accepts every line (systemd-analyze verify, which
// runs without systemd as PID 1, as in a CI container), and the keys the README promises hold the
// values the code needs: the data dir in StateDirectory, a stop timeout above the shutdown's linger,
// descriptors for the default connection limits, no retry of a config error.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT_USAGE } from '../../src/cli/errors.ts';
import { defaultConfig } from '../../src/config/load.ts';
import { LINGER_MS } from '../../src/listeners/listen.ts';
import { tempDir } from '../helpers/temp.ts';

const unitPath = path.resolve('config/tributary.service');
const unitText = fs.readFileSync(unitPath, 'utf8');

/** section → key → values (a key may repeat, as Environment= does). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header !== null) {
      current = new Map();
      sections.set(header[1], current);
      continue;
    }
    const eq = line.indexOf('=');
    if (current === undefined || eq < 1) throw new Error(`not a unit line: ${line}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

const unit = parseUnit(unitText);
const service = unit.get('Service')!;
const one = (key: string) => {
  const values = service.get(key);
  expect(values, key).toHaveLength(1);
  return values![0];
};

/** "60s", "1min 30s", "90" (seconds) → ms, as systemd reads a time span. */
function timeSpanMs(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, sec: 1000, min: 60_000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of text.matchAll(/(\d+)\s*([a-z]*)/g)) total += Number(m[1]) * units[m[2] === '' ? 's' : m[2]];
  return total;
}

const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe.runIf(hasAnalyze || process.env.CI)('systemd-analyze verify', () => {
  // verify refuses an ExecStart= whose binary it cannot find; `tributary` is on no PATH here, so the
  // copy runs the clone's launcher instead. Every other line is the shipped one.
  function verify(text: string) {
    const file = path.join(tempDir(), 'tributary.service');
    fs.writeFileSync(file, text.replace(/^ExecStart=tributary /m, `ExecStart=${path.resolve('src/cli/launcher.mjs')} `));
    return spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8' });
  }

  it('accepts the unit without a warning', () => {
    expect(unitText).toMatch(/^ExecStart=tributary start$/m);
    const r = verify(unitText);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('warns about a misspelt key or a bad value (the check reads the file)', () => {
    const r = verify(unitText.replace('ProtectHome=yes', 'ProtectHomes=yes').replace('LimitNOFILE=8192', 'LimitNOFILE=lots'));
    expect(r.stderr).toContain("Unknown key 'ProtectHomes' in section [Service]");
    expect(r.stderr).toContain('Failed to parse resource value, ignoring: lots');
  });
});

describe('the unit', () => {
  it('runs `tributary start` as the tributary user on /var/lib/tributary (StateDirectory)', () => {
    expect(one('ExecStart')).toBe('tributary start');
    expect(one('User')).toBe('tributary');
    expect(service.has('DynamicUser')).toBe(false);
    expect(one('StateDirectory')).toBe('tributary');
    expect(service.get('Environment')).toEqual(['TRIBUTARY_CONFIG=/etc/tributary/config.yaml', 'TRIBUTARY_DATA_DIR=%S/tributary']);
  });

  it('restarts after a failure but not after a config error (exit 2)', () => {
    expect(one('Restart')).toBe('on-failure');
    expect(one('RestartPreventExitStatus')).toBe(String(EXIT_USAGE));
    expect(unit.get('Unit')!.get('StartLimitIntervalSec')).toEqual(['0']);
  });

  it('stops with SIGTERM and waits longer than the shutdown lingers on edge and Kafka peers', () => {
    expect(one('KillSignal')).toBe('SIGTERM');
    expect(service.has('KillMode')).toBe(false);
    expect(timeSpanMs(one('TimeoutStopSec'))).toBeGreaterThan(2 * LINGER_MS);
  });

  it('allows descriptors for every default connection limit, plus 1024', () => {
    const { edge, kafka, mqtt } = defaultConfig().listeners;
    expect(Number(one('LimitNOFILE'))).toBeGreaterThanOrEqual(edge.connectionsMax + kafka.connectionsMax + mqtt.connectionsMax + 1024);
  });

  it('is hardened without MemoryDenyWriteExecute (V8 writes the code it compiles)', () => {
    expect(service.has('MemoryDenyWriteExecute')).toBe(false);
    for (const [key, value] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['PrivateTmp', 'yes']]) expect(one(key), key).toBe(value);
  });
});
