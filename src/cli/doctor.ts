// `tributary doctor`: whether this machine gives the broker what it needs, checked with the config
// `start` would load: the data dir (permissions, filesystem, free disk, map size, lock), the clock,
// and every listener's port. It only reads: nothing is created, a port is bound for an instant and
// closed, and the lock is probed with a shared flock released at once. One line per check, OK /
// WARN / FAIL with the numbers; exit 1 when any check FAILs (a start would fail or lose data).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { DataFileInfo, LockState } from '../broker/data-dir.ts';
import type { Config } from '../config/schema.ts';
import { EXIT_RUNTIME } from './errors.ts';
import { bytes, writeOut } from './output.ts';
import { brokerEnv, configuredListeners, type ConfiguredListener } from './start.ts';

type Status = 'OK' | 'WARN' | 'FAIL';

interface Check {
  check: string;
  status: Status;
  message: string;
  /** The numbers behind the message, for --json. */
  details?: Record<string, unknown>;
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check the data dir, disk, clock and ports with the config start would use (exit 1 on a FAIL)')
    .option('-c, --config <file>', 'config file, YAML or JSON (default: $TRIBUTARY_CONFIG, else built-in defaults)')
    .option('--json', 'print the checks as one JSON document')
    .addHelpText(
      'after',
      `
The config is loaded as by start: defaults, then the file, then TRIBUTARY_* variables. Run it as
the user the broker runs as: permissions are checked for the current user.

Checks: data dir (exists or can be created, writable), filesystem (tmpfs loses data at reboot; LMDB
needs a local filesystem, not NFS/SMB/FUSE), disk (free space against storage.minFreeDiskBytes and
the map size), map size (data file against storage.mapSizeBytes / maxMapSizeBytes), lock (a broker
running on the data dir, by pid), clock (before this build, or before the newest stored record),
ntp (timedatectl), and one port check per enabled listener.

Examples:
  $ tributary doctor
  $ tributary doctor --config /etc/tributary/config.yaml --json`,
    )
    .action(async (opts: { config?: string; json?: boolean }) => {
      await doctor(opts);
    });
}

async function doctor(opts: { config?: string; json?: boolean }): Promise<void> {
  const [{ loadConfig }, dataDirApi] = await Promise.all([import('../config/load.ts'), import('../broker/data-dir.ts')]);
  const config = loadConfig({ file: opts.config, env: brokerEnv() });
  const dir = path.resolve(config.dataDir);

  let lock: LockState | Error;
  try {
    lock = dataDirApi.probeDataDirLock(dir);
  } catch (err) {
    lock = err as Error;
  }
  let dataFile: DataFileInfo | Error;
  try {
    dataFile = dataDirApi.inspectDataFile(dir);
  } catch (err) {
    dataFile = err as Error;
  }
  const checks: Check[] = [
    checkDataDir(dir),
    checkFilesystem(dir),
    checkDisk(dir, config, dataFile),
    checkMapSize(config, dataFile),
    checkLock(dir, lock),
    checkClock(Date.now(), dataFile),
    checkNtp(),
  ];
  const listeners = configuredListeners(config);
  for (const [i, listener] of listeners.entries()) checks.push(sharedPort(listener, listeners.slice(0, i)) ?? (await checkPort(listener, lock)));

  if (opts.json) await writeOut(`${JSON.stringify({ ok: !checks.some((c) => c.status === 'FAIL'), dataDir: dir, checks }, null, 2)}\n`);
  else {
    const width = Math.max(...checks.map((c) => c.check.length));
    await writeOut(checks.map((c) => `${c.status.padEnd(4)}  ${c.check.padEnd(width)}  ${c.message}\n`).join(''));
  }
  if (checks.some((c) => c.status === 'FAIL')) process.exitCode = EXIT_RUNTIME;
}

// ---- the data dir ----

/** The dir itself when it exists, else its nearest existing ancestor: what holds it (or will). */
function existingAncestor(dir: string): string {
  let at = dir;
  while (!fs.existsSync(at) && path.dirname(at) !== at) at = path.dirname(at);
  return at;
}

function currentUser(): string {
  const uid = process.getuid?.() ?? -1;
  try {
    return `${os.userInfo().username} (uid ${uid})`;
  } catch {
    return `uid ${uid}`;
  }
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'UNKNOWN';
}

function checkDataDir(dir: string): Check {
  const user = currentUser();
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOTDIR') return { check: 'data dir', status: 'FAIL', message: `${dir}: a part of the path is a file, not a directory (ENOTDIR)`, details: { code } };
    if (code !== 'ENOENT') return { check: 'data dir', status: 'FAIL', message: `${dir}: ${(err as Error).message}`, details: { code } };
    const parent = existingAncestor(dir);
    try {
      fs.accessSync(parent, fs.constants.W_OK | fs.constants.X_OK);
    } catch (accessErr) {
      return { check: 'data dir', status: 'FAIL', message: `${dir} does not exist and cannot be created by ${user}: ${parent} is not writable (${errnoOf(accessErr)})`, details: { code: errnoOf(accessErr), createIn: parent } };
    }
    return { check: 'data dir', status: 'OK', message: `${dir} does not exist yet; start creates it (${parent} is writable by ${user})`, details: { exists: false, createIn: parent } };
  }
  if (!stat.isDirectory()) return { check: 'data dir', status: 'FAIL', message: `${dir} exists and is not a directory`, details: { code: 'ENOTDIR' } };
  // LMDB's files and the lock may belong to another user (a data dir first run as root).
  for (const target of [dir, ...['.lock', 'tributary.lmdb', 'tributary.lmdb-lock'].map((f) => path.join(dir, f))]) {
    try {
      fs.accessSync(target, target === dir ? fs.constants.W_OK | fs.constants.X_OK : fs.constants.R_OK | fs.constants.W_OK);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') continue;
      return { check: 'data dir', status: 'FAIL', message: `${target} is not writable by ${user} (${errnoOf(err)}); check its owner and mode, or run as the broker's user`, details: { code: errnoOf(err), path: target } };
    }
  }
  return { check: 'data dir', status: 'OK', message: `${dir} exists, writable by ${user}`, details: { exists: true } };
}

const networkFilesystems = new Set(['nfs', 'nfs4', 'cifs', 'smb3', 'smbfs', 'ncpfs', '9p', 'virtiofs', 'vboxsf', 'ceph', 'glusterfs', 'gfs2', 'ocfs2', 'afs', 'lustre', 'sshfs']);

interface Mount {
  device: string;
  mountPoint: string;
  type: string;
}

/** The mount holding `target` (already resolved): the longest mount point that prefixes it, the last one mounted on ties. */
function mountOf(target: string): Mount | null {
  // Fields escape space, tab, newline and backslash as octal (\040).
  const unescape = (field: string) => field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  let best: Mount | null = null;
  for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [device, mountPoint, type] = line.split(' ').map(unescape);
    if (type === undefined) continue;
    const inside = mountPoint === '/' || target === mountPoint || target.startsWith(`${mountPoint}/`);
    if (inside && (best === null || mountPoint.length >= best.mountPoint.length)) best = { device, mountPoint, type };
  }
  return best;
}

function checkFilesystem(dir: string): Check {
  let mount: Mount | null;
  try {
    mount = mountOf(fs.realpathSync(existingAncestor(dir)));
  } catch (err) {
    return { check: 'filesystem', status: 'WARN', message: `unknown: ${(err as Error).message}` };
  }
  if (mount === null) return { check: 'filesystem', status: 'WARN', message: `unknown: no mount in /proc/mounts holds ${dir}` };
  const where = `${mount.type} (${mount.device} on ${mount.mountPoint})`;
  const details = { type: mount.type, device: mount.device, mountPoint: mount.mountPoint };
  if (mount.type === 'tmpfs' || mount.type === 'ramfs')
    return { check: 'filesystem', status: 'WARN', message: `${where}: in memory, every record is lost at reboot; set dataDir to a disk`, details };
  if (networkFilesystems.has(mount.type) || mount.type.startsWith('fuse.') || mount.type === 'fuse')
    return { check: 'filesystem', status: 'WARN', message: `${where}: a network or FUSE filesystem; LMDB needs a local one (shared mmap, working locks, fsync); set dataDir to a local disk`, details };
  return { check: 'filesystem', status: 'OK', message: where, details };
}

function checkDisk(dir: string, config: Config, dataFile: DataFileInfo | Error): Check {
  const { minFreeDiskBytes, mapSizeBytes } = config.storage;
  let freeBytes: number;
  let totalBytes: number;
  try {
    const s = fs.statfsSync(existingAncestor(dir));
    freeBytes = s.bavail * s.bsize;
    totalBytes = s.blocks * s.bsize;
  } catch (err) {
    return { check: 'disk', status: 'FAIL', message: `cannot read the free space of ${dir}: ${(err as Error).message}` };
  }
  const fileBytes = dataFile instanceof Error ? 0 : (dataFile.fileBytes ?? 0);
  const details = { freeBytes, totalBytes, minFreeDiskBytes, mapSizeBytes, fileBytes };
  const numbers = `${bytes(freeBytes)} free of ${bytes(totalBytes)}; storage.minFreeDiskBytes ${bytes(minFreeDiskBytes)}`;
  if (freeBytes < minFreeDiskBytes) return { check: 'disk', status: 'FAIL', message: `${numbers}: below it every write is refused (STORAGE_FULL); free some space`, details };
  // The data file grows as it fills, up to the map (and beyond, while maxMapSizeBytes allows).
  const growth = Math.max(0, mapSizeBytes - fileBytes);
  if (freeBytes - minFreeDiskBytes < growth)
    return { check: 'disk', status: 'WARN', message: `${numbers}: the data file (${bytes(fileBytes)}) may grow to storage.mapSizeBytes ${bytes(mapSizeBytes)}, but only ${bytes(freeBytes - minFreeDiskBytes)} is usable; writes are refused (STORAGE_FULL) once it is spent`, details };
  return { check: 'disk', status: 'OK', message: `${numbers}; room for storage.mapSizeBytes ${bytes(mapSizeBytes)}`, details };
}

/** The broker wants twice a group's bytes free in the map: below this, all but the smallest writes fail. */
const MAP_ROOM_MIN = 1024 * 1024;

function checkMapSize(config: Config, dataFile: DataFileInfo | Error): Check {
  const { mapSizeBytes, maxMapSizeBytes } = config.storage;
  const max = maxMapSizeBytes === -1 ? 'unlimited (-1: grows while the disk allows)' : bytes(maxMapSizeBytes);
  if (dataFile instanceof Error) return { check: 'map size', status: 'WARN', message: `cannot read the data file: ${dataFile.message}`, details: { mapSizeBytes, maxMapSizeBytes } };
  const { fileBytes, usedBytes } = dataFile;
  const details = { mapSizeBytes, maxMapSizeBytes, fileBytes, usedBytes };
  const file = fileBytes === null ? 'not created yet' : `${bytes(fileBytes)} (${bytes(usedBytes ?? 0)} in use)`;
  const numbers = `data file ${file}; storage.mapSizeBytes ${bytes(mapSizeBytes)}, maxMapSizeBytes ${max}`;
  // What is in use, not the file's size: LMDB never shrinks the file, and writes reuse the pages retention freed.
  if (maxMapSizeBytes !== -1 && usedBytes !== null && maxMapSizeBytes - usedBytes < MAP_ROOM_MIN)
    return { check: 'map size', status: 'FAIL', message: `${numbers}: less than ${bytes(MAP_ROOM_MIN)} of the largest map is free, writes fail (STORAGE_FULL); raise maxMapSizeBytes or let retention free space`, details };
  // A 32-bit process has 2-3 GiB of address space for everything; the map must fit beside the heap.
  const wordBits = ['arm', 'ia32', 'mips', 'mipsel', 'ppc'].includes(process.arch) ? 32 : 64;
  if (wordBits === 32 && (maxMapSizeBytes === -1 || maxMapSizeBytes > 1024 ** 3))
    return { check: 'map size', status: 'WARN', message: `${numbers}: a 32-bit process (${process.arch}) cannot map more than about 1 GiB beside its heap; set storage.maxMapSizeBytes to 1GiB or less`, details };
  return { check: 'map size', status: 'OK', message: numbers, details };
}

function checkLock(dir: string, lock: LockState | Error): Check {
  const lockPath = path.join(dir, '.lock');
  if (lock instanceof Error) {
    const missing = errnoOf(lock) === 'ENOENT' ? ': the flock command is missing (install util-linux, or BusyBox with flock); start needs it too' : `: ${lock.message}`;
    return { check: 'lock', status: 'FAIL', message: `cannot probe ${lockPath}${missing}`, details: { code: errnoOf(lock) } };
  }
  if (!lock.held) {
    // Without a lock file the probe ran no flock; start needs the command all the same.
    if (spawnSync('flock', ['--version']).error !== undefined)
      return { check: 'lock', status: 'FAIL', message: `${lockPath} free, but the flock command is missing (install util-linux, or BusyBox with flock); start needs it`, details: { held: false, code: 'ENOENT' } };
    return { check: 'lock', status: 'OK', message: `${lockPath} free: no broker runs on this data dir`, details: { held: false } };
  }
  return { check: 'lock', status: 'WARN', message: `${lockPath} held by ${lock.holder.replace(/^another /, '')}: a broker runs on this data dir, a second start would exit 1 (EBUSY)`, details: { held: true, pid: lock.pid } };
}

// ---- the clock ----

/** When this program was built: its file's modification time (the bundle, kept by the release tarball). */
function buildMs(): number {
  return fs.statSync(fileURLToPath(import.meta.url)).mtimeMs;
}

function checkClock(nowMs: number, dataFile: DataFileInfo | Error): Check {
  const built = Math.floor(buildMs());
  const newest = dataFile instanceof Error ? null : dataFile.newestRecordMs;
  const iso = (ms: number) => new Date(ms).toISOString();
  const details = { nowMs, buildMs: built, newestRecordMs: newest };
  if (nowMs < built)
    return { check: 'clock', status: 'FAIL', message: `${iso(nowMs)} is before this build (${iso(built)}): no RTC and no NTP sync yet? New records would be stamped in the past and time retention misjudges ages; fix the clock before starting`, details };
  if (newest !== null && nowMs < newest)
    return { check: 'clock', status: 'WARN', message: `${iso(nowMs)} is ${Math.ceil((newest - nowMs) / 1000)} s before the newest stored record (${iso(newest)}): the clock went back, or a producer's clock is ahead`, details };
  const records = dataFile instanceof Error ? 'stored records not read' : newest === null ? 'no stored records' : `newest stored record ${iso(newest)}`;
  return { check: 'clock', status: 'OK', message: `${iso(nowMs)}: after this build (${iso(built)}); ${records}`, details };
}

function checkNtp(): Check {
  const r = spawnSync('timedatectl', ['show', '--property=NTPSynchronized', '--value'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error !== undefined)
    return { check: 'ntp', status: 'WARN', message: errnoOf(r.error) === 'ENOENT' ? 'unknown: no timedatectl on this machine' : `unknown: timedatectl: ${r.error.message}` };
  const answer = r.stdout.trim();
  if (r.status !== 0 || (answer !== 'yes' && answer !== 'no'))
    return { check: 'ntp', status: 'WARN', message: `unknown: timedatectl: ${r.stderr.trim().split('\n')[0] || answer || `exit ${r.status}`}` };
  if (answer === 'no') return { check: 'ntp', status: 'WARN', message: 'not synchronized (timedatectl NTPSynchronized=no): the clock may be off until it is', details: { synchronized: false } };
  return { check: 'ntp', status: 'OK', message: 'synchronized (timedatectl NTPSynchronized=yes)', details: { synchronized: true } };
}

// ---- the ports ----

const wildcardHosts = new Set(['0.0.0.0', '::', '']);

/** Two listeners of one config on one port: each binds alone, but the second bind of start fails. */
function sharedPort(listener: ConfiguredListener, before: ConfiguredListener[]): Check | null {
  const clash = before.find((b) => b.port === listener.port && listener.port !== 0 && (b.host === listener.host || wildcardHosts.has(b.host) || wildcardHosts.has(listener.host)));
  if (clash === undefined) return null;
  return {
    check: portCheckName(listener),
    status: 'FAIL',
    message: `${listener.key} ${listener.port} is also ${clash.key} (${clash.host}): start would fail (EADDRINUSE); give one of them another port`,
    details: { key: listener.key, host: listener.host, port: listener.port, code: 'EADDRINUSE', sharedWith: clash.key },
  };
}

function portCheckName(listener: ConfiguredListener): string {
  return `port ${listener.key.replace(/^listeners\./, '').replace(/\.port$/, '')}`;
}

function tryListen(host: string, port: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    server.listen({ host, port }, () => server.close(() => resolve(null)));
  });
}

async function checkPort(listener: ConfiguredListener, lock: LockState | Error): Promise<Check> {
  const name = portCheckName(listener);
  const address = `${listener.host.includes(':') ? `[${listener.host}]` : listener.host}:${listener.port}`;
  const details = { key: listener.key, host: listener.host, port: listener.port };
  if (listener.port === 0) return { check: name, status: 'OK', message: `${listener.key} is 0: start picks a free port`, details };
  const err = await tryListen(listener.host, listener.port);
  if (err === null) return { check: name, status: 'OK', message: `${address} free (${listener.key})`, details };
  const code = errnoOf(err);
  if (code === 'EADDRINUSE' && !(lock instanceof Error) && lock.held)
    return { check: name, status: 'WARN', message: `${address} in use (${listener.key}), probably by the broker holding the data dir lock (pid ${lock.pid ?? 'unknown'})`, details: { ...details, code } };
  const reasons: Record<string, string> = {
    EADDRINUSE: 'in use by another process; start would fail (EADDRINUSE): stop it or change',
    EACCES: 'permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE; change',
    EADDRNOTAVAIL: 'no interface of this machine has that address; change',
  };
  return { check: name, status: 'FAIL', message: `${address} ${reasons[code] ?? `cannot be bound (${err.message}); check`} ${listener.key}`, details: { ...details, code } };
}
