// The machine a run measured, printed above the figures: they mean little without it.

import fs from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  node: string;
  platform: string;
  memoryBytes: number;
  /** The 1-minute load average at the start: other work on a shared machine skews every figure. */
  loadAverage1m: number;
  tmpDir: string;
  /** Filesystem of the temp data dirs; tmpfs makes acks=all flushes nearly free. */
  tmpFilesystem: string | null;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${process.platform} ${process.arch} ${os.release()}`,
    memoryBytes: os.totalmem(),
    loadAverage1m: os.loadavg()[0],
    tmpDir: os.tmpdir(),
    tmpFilesystem: filesystemOf(os.tmpdir()),
  };
}

export function formatMachine(m: MachineInfo): string {
  return [
    `machine: ${m.cpus} × ${m.cpuModel}, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB RAM, ${m.platform}`,
    `node ${m.node}; load average ${m.loadAverage1m.toFixed(2)}; data dirs in ${m.tmpDir} (${m.tmpFilesystem ?? 'unknown filesystem'})`,
  ].join('\n');
}

/** The type of the longest mount point containing `dir`, from /proc/mounts (Linux only). */
function filesystemOf(dir: string): string | null {
  let mounts: string;
  try {
    mounts = fs.readFileSync('/proc/mounts', 'utf8');
  } catch {
    return null;
  }
  const real = fs.realpathSync(dir);
  let best: { point: string; type: string } | null = null;
  for (const line of mounts.split('\n')) {
    const [, point, type] = line.split(' ');
    if (point === undefined || type === undefined) continue;
    const inside = real === point || real.startsWith(point.endsWith('/') ? point : `${point}/`);
    if (inside && (best === null || point.length > best.point.length)) best = { point, type };
  }
  return best?.type ?? null;
}
