// The HTTP listener's mirror admin actions (http.ts routes POST /mirrors/NAME/ACTION here once the
// caller passed the admin check): pause, resume, retry, and reset with a JSON body.

import type http from 'node:http';
import { TributaryError } from '../errors.ts';
import { DATE_TIME_EXPECTED, parseDateTime } from '../format/date-time.ts';
import type { ResetTarget } from '../groups/types.ts';
import { limits } from '../limits.ts';
import type { MirrorControl, MirrorResetRequest } from '../mirror/status.ts';

export const mirrorActionPath = /^\/mirrors\/([^/]+)\/(pause|resume|retry|reset)$/;

export type MirrorAction = 'pause' | 'resume' | 'retry' | 'reset';

/** The answer's body, and what the access log line says of it. */
export async function mirrorAction(mirrors: MirrorControl, name: string, action: MirrorAction, req: http.IncomingMessage): Promise<{ body: unknown; log: Record<string, unknown> }> {
  switch (action) {
    case 'pause':
    case 'resume': {
      const status = action === 'pause' ? await mirrors.pause(name) : await mirrors.resume(name);
      return { body: status, log: { state: status.state } };
    }
    case 'retry': {
      const r = await mirrors.retry(name);
      return { body: r, log: { retried: r.retried, state: r.mirror.state } };
    }
    case 'reset': {
      const request = resetRequest(await readJson(req));
      const r = await mirrors.reset(name, request);
      return { body: r, log: { target: request.target, dryRun: r.dryRun, partitions: r.partitions.length } };
    }
  }
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > limits.httpAdminBodyBytesMax) throw new TributaryError('INVALID_REQUEST', `the body is over ${limits.httpAdminBodyBytesMax} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new TributaryError('INVALID_REQUEST', `a JSON body is required, e.g. ${RESET_EXAMPLE}`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new TributaryError('INVALID_REQUEST', `the body is not JSON; expected e.g. ${RESET_EXAMPLE}`);
  }
}

const RESET_EXAMPLE = '{"to": "earliest"} or {"to": "datetime", "timestamp": "2026-12-01T08:00:00Z", "topic": "telemetry", "dryRun": true}';

/**
 * {"to": "earliest" | "latest"}, {"to": "offset", "offset": N}, {"to": "shift", "by": N},
 * {"to": "datetime", "timestamp": "2026-12-01T08:00:00Z"} or {"to": "datetime", "timestampMs": N};
 * optionally "topic", "partition" (with topic) and "dryRun".
 */
export function resetRequest(body: unknown): MirrorResetRequest {
  const bad = (message: string) => new TributaryError('INVALID_REQUEST', `${message}; expected e.g. ${RESET_EXAMPLE}`);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('the body is not a JSON object');
  const b = body as Record<string, unknown>;
  const known = new Set(['to', 'offset', 'by', 'timestamp', 'timestampMs', 'topic', 'partition', 'dryRun']);
  for (const key of Object.keys(b)) if (!known.has(key)) throw bad(`unknown field ${JSON.stringify(key)}`);
  const int = (key: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const v = b[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw bad(`${key}: expected an integer ${min}..${max}, got ${JSON.stringify(v)}`);
    return v;
  };
  let target: ResetTarget;
  switch (b.to) {
    case 'earliest':
    case 'latest':
      target = { to: b.to };
      break;
    case 'offset':
      target = { to: 'offset', offset: int('offset', 0) };
      break;
    case 'shift':
      target = { to: 'shift', by: int('by', -Number.MAX_SAFE_INTEGER) };
      break;
    case 'datetime': {
      if (b.timestampMs !== undefined) target = { to: 'datetime', timestampMs: int('timestampMs', 0, 8.64e15) };
      else {
        const ms = typeof b.timestamp === 'string' ? parseDateTime(b.timestamp) : null;
        if (ms === null) throw bad(`timestamp: expected ${DATE_TIME_EXPECTED}, got ${JSON.stringify(b.timestamp)}`);
        target = { to: 'datetime', timestampMs: ms };
      }
      break;
    }
    default:
      throw bad(`to: expected earliest, latest, offset, shift or datetime, got ${JSON.stringify(b.to)}`);
  }
  if (b.topic !== undefined && typeof b.topic !== 'string') throw bad(`topic: expected a topic name, got ${JSON.stringify(b.topic)}`);
  if (b.partition !== undefined && b.topic === undefined) throw bad('partition: only with topic');
  if (b.dryRun !== undefined && typeof b.dryRun !== 'boolean') throw bad(`dryRun: expected true or false, got ${JSON.stringify(b.dryRun)}`);
  return {
    target,
    ...(b.topic === undefined ? {} : { topic: b.topic }),
    ...(b.partition === undefined ? {} : { partition: int('partition', 0, limits.partitionsMax - 1) }),
    dryRun: b.dryRun === true,
  };
}
