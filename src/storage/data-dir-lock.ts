// The exclusive lock on a data dir: one broker per data dir, like Kafka's `.lock`. LMDB lets several
// processes open one environment by design, and two brokers on one log would hand out the same
// offsets; so `tributary start` takes this lock before it opens LMDB and keeps it until LMDB is closed.
// This module also turns "the data dir cannot be created or written" into one message that names
// the path, the reason and what to change. It never opens LMDB itself.
//
// Why flock(2), taken through the flock(1) command on a descriptor this process keeps open:
// - the kernel releases it when the process dies, also by kill -9 or a power cut, so a crashed
//   broker never blocks the next start and nothing has to judge whether a lock is stale;
// - it works across PID namespaces (two containers on one volume): a pid file with a liveness check
//   (process.kill(pid, 0)) cannot see a process of another container and sees pid 1 everywhere, and
//   mkdir-with-mtime locks (proper-lockfile) only expire after a stale period;
// - Node has no flock in core and native addons need a compiler on the gateway. A flock(2) lock
//   belongs to the open file description, not to the process that called flock(2): the short-lived
//   flock(1) child locks the descriptor it inherited from us and exits, and the lock stays ours until
//   our descriptor closes. flock(1) is in util-linux (Debian, Raspberry Pi OS) and BusyBox (Alpine).
// The file also holds the holder's pid and host name, read only to name the holder in the message.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const LOCK_FILE = '.lock';

/** A data dir problem for the operator; `code` is the errno name (EBUSY: locked by another broker). */
export class DataDirError extends Error {
  override readonly name = 'DataDirError';
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export interface DataDirLock {
  /** Releases the lock; call after LMDB is closed. */
  release(): void;
}

/** Creates the data dir if needed, checks it is writable and locks it; throws DataDirError. */
export function lockDataDir(dataDir: string): DataDirLock {
  const dir = path.resolve(dataDir);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw unusable(dir, err);
  }
  const lockPath = path.join(dir, LOCK_FILE);
  let fd: number;
  try {
    fd = fs.openSync(lockPath, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  } catch (err) {
    throw unusable(dir, err);
  }
  try {
    flockExclusive(fd, dir, lockPath);
    // LMDB's own files may belong to another user (a data dir first run as root): say so here, by
    // path, instead of LMDB's "Permission denied: Attempting to setup locks".
    for (const name of ['tributary.lmdb', 'tributary.lmdb-lock']) checkWritable(dir, path.join(dir, name));
    fs.ftruncateSync(fd);
    fs.writeSync(fd, `${JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() })}\n`, 0);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      // Closing our descriptor is what releases the lock; the emptied file names no stale holder.
      try {
        fs.ftruncateSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}

/** flock -x -n on `fd`, run in a child that inherits it as its descriptor 3. */
function flockExclusive(fd: number, dir: string, lockPath: string): void {
  const result = spawnSync('flock', ['-x', '-n', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
  if (result.status === 0) return;
  if (result.error !== undefined) {
    const code = (result.error as NodeJS.ErrnoException).code ?? 'UNKNOWN';
    const missing = code === 'ENOENT' ? ': the flock command is missing (install util-linux, or BusyBox with flock)' : `: ${result.error.message}`;
    throw new DataDirError(code, `cannot lock data dir ${dir}${missing}`, { cause: result.error });
  }
  if (result.status === 1) throw new DataDirError('EBUSY', `data dir ${dir} is in use by ${describeHolder(lockPath)}; stop that broker first, or set dataDir to another directory (lock file ${lockPath})`);
  const stderr = result.stderr.toString().trim();
  throw new DataDirError('UNKNOWN', `cannot lock data dir ${dir}: flock exited with ${result.status ?? result.signal}${stderr === '' ? '' : `: ${stderr}`}`);
}

export type LockState = { held: false } | { held: true; pid: number | null; holder: string };

/**
 * Whether a broker holds the data dir's lock, without creating anything: a shared flock probe on
 * the lock file, released at once. It can make a `start` racing with it exit EBUSY, so only
 * `tributary doctor` asks.
 */
export function probeDataDirLock(dataDir: string): LockState {
  const lockPath = path.join(path.resolve(dataDir), LOCK_FILE);
  let fd: number;
  try {
    fd = fs.openSync(lockPath, fs.constants.O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return { held: false };
    throw err;
  }
  try {
    const result = spawnSync('flock', ['-s', '-n', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    if (result.error !== undefined) throw result.error;
    if (result.status === 0) return { held: false };
    if (result.status !== 1) throw new Error(`flock exited with ${result.status ?? result.signal}: ${result.stderr.toString().trim()}`);
  } finally {
    fs.closeSync(fd);
  }
  return { held: true, pid: holderPid(lockPath), holder: describeHolder(lockPath) };
}

function holderPid(lockPath: string): number | null {
  try {
    const { pid } = JSON.parse(fs.readFileSync(lockPath, 'utf8')) as { pid?: unknown };
    return typeof pid === 'number' ? pid : null;
  } catch {
    return null;
  }
}

/** "another tributary (pid 1234 on host gw-1, since …)" from the holder's lock file. */
function describeHolder(lockPath: string): string {
  let holder: { pid?: unknown; host?: unknown; since?: unknown } = {};
  try {
    holder = JSON.parse(fs.readFileSync(lockPath, 'utf8')) as typeof holder;
  } catch {
    // The holder has locked but not yet written its pid, or the file is not ours: say what is known.
  }
  if (typeof holder.pid !== 'number') return 'another process (pid not recorded yet)';
  const host = typeof holder.host === 'string' && holder.host !== os.hostname() ? ` on host ${holder.host}` : '';
  const since = typeof holder.since === 'string' ? `, since ${holder.since}` : '';
  return `another tributary (pid ${holder.pid}${host}${since})`;
}

function checkWritable(dir: string, file: string): void {
  try {
    fs.accessSync(file, fs.constants.R_OK | fs.constants.W_OK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw unusable(dir, err);
  }
}

const reasons: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a part of the path is a file, not a directory',
  ENOENT: 'a part of the path does not exist and cannot be created there',
  ENOSPC: 'no space left on the device',
  EEXIST: 'it exists and is not a directory',
  EISDIR: 'the lock file is a directory',
};

const hints: Record<string, string> = {
  EACCES: 'check the owner and mode of the directory (and of its files), or set dataDir to a directory this user can write',
  EPERM: 'check the owner and mode of the directory (and of its files), or set dataDir to a directory this user can write',
  EROFS: 'set dataDir to a directory on a writable file system',
  ENOSPC: 'free some space, or set dataDir to another file system',
};

/** A system error on the way to a usable data dir, as a message naming the path, the reason and a fix. */
function unusable(dir: string, err: unknown): DataDirError {
  const e = err as NodeJS.ErrnoException;
  const code = typeof e.code === 'string' ? e.code : 'UNKNOWN';
  const where = e.path !== undefined && path.resolve(e.path) !== dir ? ` (at ${e.path})` : '';
  const reason = reasons[code] ?? e.message;
  const hint = hints[code] ?? 'set dataDir to a directory this user can create and write';
  return new DataDirError(code, `cannot use data dir ${dir}${where}: ${reason} (${code}); ${hint}`, { cause: err });
}
