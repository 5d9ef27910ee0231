// `tributary doctor`, the built CLI as a child process against real dirs, filesystems, ports and a
// real broker: each check names its numbers, WARN and FAIL where the machine would lose data or
// fail a start, exit 1 only on a FAIL.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Producer } from '../../src/client/index.ts';
import { bundlePath, freePort, startChildBroker } from '../helpers/child-broker.ts';
import { lines, run, runProcess, type Run } from '../helpers/cli.ts';
import { isTributaryError } from '../../src/errors.ts';
import { encodeRecordBatch } from '../../src/format/record-batch.ts';
import { LogStore } from '../../src/storage/log-store.ts';
import { onCleanup, rec, storeOptions, tempDir } from '../helpers/temp.ts';

/** Env for a doctor (and a start) with only the edge listener, on 127.0.0.1:`port`. */
function doctorEnv(dataDir: string, port: number): Record<string, string> {
  return {
    TRIBUTARY_DATA_DIR: dataDir,
    TRIBUTARY_LISTENERS__EDGE__HOST: '127.0.0.1',
    TRIBUTARY_LISTENERS__EDGE__PORT: String(port),
    TRIBUTARY_LISTENERS__HTTP__ENABLED: 'false',
    TRIBUTARY_LISTENERS__MQTT__ENABLED: 'false',
    TRIBUTARY_LISTENERS__KAFKA__ENABLED: 'false',
  };
}

/** A temp dir under `parent`, removed after the test. */
function dirIn(parent: string): string {
  const dir = fs.mkdtempSync(path.join(parent, 'tributary-doctor-'));
  onCleanup(async () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Line {
  status: string;
  check: string;
  message: string;
}

/** The printed checks by name; each line is "STATUS  check  message". */
function checks(r: Run): Map<string, Line> {
  const out = new Map<string, Line>();
  for (const line of lines(r.stdout)) {
    const m = /^(OK|WARN|FAIL) +(data dir|filesystem|disk|map size|lock|clock|ntp|port [a-z.]+) +(.+)$/.exec(line);
    if (m === null) throw new Error(`not a check line: ${line}`);
    out.set(m[2], { status: m[1], check: m[2], message: m[3] });
  }
  return out;
}

describe('tributary doctor', () => {
  it('a healthy data dir on a disk, config from --config: every check OK (ntp OK or, without systemd, WARN), exit 0', async () => {
    // /var/tmp: on a disk by the FHS (kept across reboots), where /tmp may be tmpfs (Debian 13).
    const dataDir = path.join(dirIn('/var/tmp'), 'data');
    const port = await freePort();
    const config = path.join(tempDir(), 'tributary.yaml');
    fs.writeFileSync(
      config,
      `dataDir: ${dataDir}\nlisteners:\n  edge: { host: 127.0.0.1, port: ${port} }\n  kafka: { enabled: false }\n  mqtt: { enabled: false }\n  http: { host: 127.0.0.1, port: 0 }\nstorage:\n  minFreeDiskBytes: 1MiB\n  mapSizeBytes: 64MiB\n`,
    );
    const r = await run(['doctor', '--config', config]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const c = checks(r);
    expect([...c.keys()]).toEqual(['data dir', 'filesystem', 'disk', 'map size', 'lock', 'clock', 'ntp', 'port edge', 'port http']);
    for (const line of c.values()) if (line.check !== 'ntp') expect(line.status, line.message).toBe('OK');
    expect(['OK', 'WARN']).toContain(c.get('ntp')!.status);
    expect(c.get('data dir')!.message).toMatch(new RegExp(`^${dataDir} does not exist yet; start creates it \\(${path.dirname(dataDir)} is writable by \\S+ \\(uid ${process.getuid!()}\\)\\)$`));
    expect(c.get('disk')!.message).toMatch(/^[\d.]+ [KMGT]iB free of [\d.]+ [KMGT]iB; storage\.minFreeDiskBytes 1\.0 MiB; room for storage\.mapSizeBytes 64 MiB$/);
    expect(c.get('map size')!.message).toBe('data file not created yet; storage.mapSizeBytes 64 MiB, maxMapSizeBytes unlimited (-1: grows while the disk allows)');
    expect(c.get('port edge')!.message).toBe(`127.0.0.1:${port} free (listeners.edge.port)`);
    expect(c.get('port http')!.message).toBe('listeners.http.port is 0: start picks a free port');
    // Nothing was created.
    expect(fs.existsSync(dataDir)).toBe(false);
  });

  it('a data dir on tmpfs (/dev/shm): filesystem WARN, records lost at reboot; exit 0', async () => {
    const dataDir = dirIn('/dev/shm');
    // A container's /dev/shm may hold 64 MiB in all: below the default minFreeDiskBytes, a disk FAIL.
    const r = await run(['doctor'], { env: { ...doctorEnv(dataDir, await freePort()), TRIBUTARY_STORAGE__MIN_FREE_DISK_BYTES: '0' } });
    expect(r.code).toBe(0);
    const fsCheck = checks(r).get('filesystem')!;
    expect(fsCheck.status).toBe('WARN');
    expect(fsCheck.message).toMatch(/^tmpfs \(\S+ on \/dev\/shm\): in memory, every record is lost at reboot; set dataDir to a disk$/);
  });

  it('a listener port in use: FAIL naming the address and the config key, exit 1; --json says the same', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise((resolve) => server.close(() => resolve())));
    const port = (server.address() as net.AddressInfo).port;
    const env = doctorEnv(dirIn('/var/tmp'), port);

    const r = await run(['doctor'], { env });
    expect(r.code).toBe(1);
    expect(checks(r).get('port edge')).toEqual({
      status: 'FAIL',
      check: 'port edge',
      message: `127.0.0.1:${port} in use by another process; start would fail (EADDRINUSE): stop it or change listeners.edge.port`,
    });

    const j = await run(['doctor', '--json'], { env });
    expect(j.code).toBe(1);
    const doc = JSON.parse(j.stdout) as { ok: boolean; checks: { check: string; status: string; details?: Record<string, unknown> }[] };
    expect(doc.ok).toBe(false);
    expect(doc.checks.find((c) => c.check === 'port edge')).toMatchObject({ status: 'FAIL', details: { key: 'listeners.edge.port', host: '127.0.0.1', port, code: 'EADDRINUSE' } });
  });

  it('two listeners configured on one port: FAIL on the second naming both keys, exit 1', async () => {
    const port = await freePort();
    const r = await run(['doctor'], { env: { ...doctorEnv(dirIn('/var/tmp'), port), TRIBUTARY_LISTENERS__HTTP__ENABLED: 'true', TRIBUTARY_LISTENERS__HTTP__HOST: '0.0.0.0', TRIBUTARY_LISTENERS__HTTP__PORT: String(port) } });
    expect(r.code).toBe(1);
    expect(checks(r).get('port edge')!.status).toBe('OK');
    expect(checks(r).get('port http')).toMatchObject({ status: 'FAIL', message: `listeners.http.port ${port} is also listeners.edge.port (127.0.0.1): start would fail (EADDRINUSE); give one of them another port` });
  });

  it('a data dir under a regular file: data dir FAIL (ENOTDIR), exit 1', async () => {
    const file = path.join(tempDir(), 'not-a-dir');
    fs.writeFileSync(file, 'x');
    const dataDir = path.join(file, 'data');
    const r = await run(['doctor'], { env: doctorEnv(dataDir, await freePort()) });
    expect(r.code).toBe(1);
    expect(checks(r).get('data dir')).toMatchObject({ status: 'FAIL', message: `${dataDir}: a part of the path is a file, not a directory (ENOTDIR)` });
  });

  // Root passes every permission check, so as root the doctor runs as `nobody` (as start does in
  // data-dir.test.ts): the kernel answers a real EACCES for a directory root owns with mode 0755.
  // Not root, the directory is made read-only for its owner.
  const asRoot = process.getuid?.() === 0;

  function unprivileged(dataDir: string, port: number): Promise<Run> {
    const env = { ...doctorEnv(dataDir, port), PATH: process.env.PATH ?? '/usr/bin:/bin' };
    if (!asRoot) return run(['doctor'], { env });
    return runProcess(process.execPath, [bundlePath, 'doctor'], { env, uid: 65534, gid: 65534 });
  }

  function readOnlyDir(): string {
    const dir = dirIn('/var/tmp');
    fs.chmodSync(dir, asRoot ? 0o755 : 0o555);
    onCleanup(async () => fs.chmodSync(dir, 0o755));
    return dir;
  }

  it('a data dir the user cannot write: data dir FAIL (EACCES) naming the user, exit 1', async () => {
    const dataDir = readOnlyDir();
    const r = await unprivileged(dataDir, await freePort());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(checks(r).get('data dir')!.status).toBe('FAIL');
    expect(checks(r).get('data dir')!.message).toMatch(new RegExp(`^${dataDir} is not writable by \\S+ \\(uid ${asRoot ? 65534 : process.getuid!()}\\) \\(EACCES\\); check its owner and mode`));
  });

  it('a data dir that cannot be created: data dir FAIL naming the parent, exit 1', async () => {
    const dataDir = path.join(readOnlyDir(), 'missing', 'data');
    const r = await unprivileged(dataDir, await freePort());
    expect(r.code).toBe(1);
    expect(checks(r).get('data dir')!.message).toMatch(new RegExp(`^${dataDir} does not exist and cannot be created by \\S+ \\(uid \\d+\\): ${path.dirname(path.dirname(dataDir))} is not writable \\(EACCES\\)$`));
  });

  it('a data dir a running broker holds: lock WARN with its pid, its port WARN as probably its own, exit 0; free again once it stopped', async () => {
    const dataDir = dirIn('/var/tmp');
    const port = await freePort();
    const broker = await startChildBroker(dataDir, port);
    const r = await run(['doctor'], { env: doctorEnv(dataDir, port) });
    expect(r.code).toBe(0);
    const c = checks(r);
    expect(c.get('lock')!.status).toBe('WARN');
    expect(c.get('lock')!.message).toMatch(new RegExp(`^${dataDir}/\\.lock held by tributary \\(pid ${broker.child.pid}, since [-0-9T:.]+Z\\): a broker runs on this data dir, a second start would exit 1 \\(EBUSY\\)$`));
    expect(c.get('port edge')).toMatchObject({ status: 'WARN', message: `127.0.0.1:${port} in use (listeners.edge.port), probably by the broker holding the data dir lock (pid ${broker.child.pid})` });

    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
    const after = checks(await run(['doctor'], { env: doctorEnv(dataDir, port) }));
    expect(after.get('lock')).toMatchObject({ status: 'OK', message: `${dataDir}/.lock free: no broker runs on this data dir` });
    expect(after.get('port edge')!.status).toBe('OK');
  });

  it('a stored record stamped after the clock: clock WARN with both times; the data file size is reported', async () => {
    const dataDir = dirIn('/var/tmp');
    const port = await freePort();
    const broker = await startChildBroker(dataDir, port);
    const futureMs = Date.now() + 3_600_000;
    const producer = await Producer.connect({ host: '127.0.0.1', port, acks: 1 });
    await producer.send({ topic: 'ahead', value: Buffer.from('x'), timestampMs: futureMs });
    await producer.close();
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);

    const r = await run(['doctor'], { env: doctorEnv(dataDir, port) });
    expect(r.code).toBe(0);
    const c = checks(r);
    expect(c.get('clock')!.status).toBe('WARN');
    expect(c.get('clock')!.message).toMatch(new RegExp(`^[-0-9T:.]+Z is \\d+ s before the newest stored record \\(${new Date(futureMs).toISOString()}\\): the clock went back, or a producer's clock is ahead$`));
    const fileBytes = fs.statSync(path.join(dataDir, 'tributary.lmdb')).size;
    expect(c.get('map size')!.message).toMatch(new RegExp(`^data file ${fileBytes < 1024 ? `${fileBytes} B` : '[\\d.]+ KiB'} \\([\\d.]+ KiB in use\\); storage\\.mapSizeBytes 1\\.0 GiB`));
  });

  it('a map with less than 1 MiB free below maxMapSizeBytes: map size FAIL; once retention freed pages: OK, though the file keeps its size', async () => {
    const dataDir = dirIn('/var/tmp');
    const mapEnv = { ...doctorEnv(dataDir, await freePort()), TRIBUTARY_STORAGE__MAP_SIZE_BYTES: '1MiB', TRIBUTARY_STORAGE__MAX_MAP_SIZE_BYTES: '3MiB', TRIBUTARY_STORAGE__MIN_FREE_DISK_BYTES: '0' };
    let store = new LogStore(storeOptions(dataDir, { mapSizeBytes: 1024 * 1024, maxMapSizeBytes: 3 * 1024 * 1024 }));
    const topic = store.createTopic({ name: 't', partitions: 1, retentionMs: -1, retentionBytes: -1 });
    const batch = encodeRecordBatch([rec('x'.repeat(20_000))]);
    for (;;) {
      const full = await store.append(topic, 0, batch, undefined, false).then(
        () => false,
        (e: unknown) => isTributaryError(e, 'STORAGE_FULL'),
      );
      if (full) break;
    }
    await store.close();
    const full = checks(await run(['doctor'], { env: mapEnv }));
    expect(full.get('map size')).toMatchObject({ status: 'FAIL' });
    expect(full.get('map size')!.message).toMatch(/^data file [\d.]+ MiB \([\d.]+ MiB in use\); storage\.mapSizeBytes 1\.0 MiB, maxMapSizeBytes 3\.0 MiB: less than 1\.0 MiB of the largest map is free, writes fail \(STORAGE_FULL\)/);

    store = new LogStore(storeOptions(dataDir, { mapSizeBytes: 1024 * 1024, maxMapSizeBytes: 3 * 1024 * 1024 }));
    store.alterTopic('t', { retentionBytes: 100_000 });
    while (store.maintenanceStep(Date.now(), 1000) > 0);
    await store.close();
    const freed = checks(await run(['doctor'], { env: mapEnv }));
    expect(freed.get('map size')).toMatchObject({ status: 'OK' });
    expect(freed.get('map size')!.message).toMatch(/^data file [\d.]+ MiB \([\d.]+ KiB in use\); /);
  });

  it('a clock before the build (the program file is newer than now): clock FAIL, exit 1', async () => {
    // A copy of the bundle beside it (so it finds node_modules) dated a day ahead, as a Pi that booted
    // without its RTC sees a bundle built before.
    const copy = path.join(path.dirname(bundlePath), `doctor-clock-${process.pid}.mjs`);
    fs.copyFileSync(bundlePath, copy);
    onCleanup(async () => fs.rmSync(copy, { force: true }));
    const aheadS = Date.now() / 1000 + 86_400;
    fs.utimesSync(copy, aheadS, aheadS);
    const r = await runProcess(process.execPath, [copy, 'doctor'], { env: { ...doctorEnv(dirIn('/var/tmp'), await freePort()), PATH: process.env.PATH ?? '' } });
    expect(r.code).toBe(1);
    expect(checks(r).get('clock')).toMatchObject({ status: 'FAIL' });
    expect(checks(r).get('clock')!.message).toMatch(/^[-0-9T:.]+Z is before this build \([-0-9T:.]+Z\): no RTC and no NTP sync yet\?/);
  });

  it('no flock or timedatectl on the PATH: lock FAIL (start needs flock), ntp WARN unknown, exit 1', async () => {
    const dataDir = dirIn('/var/tmp');
    const r = await runProcess(process.execPath, [bundlePath, 'doctor'], { env: { ...doctorEnv(dataDir, await freePort()), PATH: '/nonexistent' } });
    expect(r.code).toBe(1);
    expect(checks(r).get('lock')).toMatchObject({ status: 'FAIL', message: `${dataDir}/.lock free, but the flock command is missing (install util-linux, or BusyBox with flock); start needs it` });
    expect(checks(r).get('ntp')).toMatchObject({ status: 'WARN', message: 'unknown: no timedatectl on this machine' });
  });

  it('a bad config is a config error: exit 2, as for start', async () => {
    const r = await run(['doctor'], { env: { TRIBUTARY_STORAGE__MAP_SIZE_BYTES: 'lots' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^tributary: INVALID_CONFIG: env TRIBUTARY_STORAGE__MAP_SIZE_BYTES: got "lots"/);
  });
});
