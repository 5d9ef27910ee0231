// A listener's TLS file (PEM), read at start: a missing or unreadable one fails the start with
// INVALID_CONFIG naming the config key, before the listener accepts anyone.

import fs from 'node:fs';
import { TributaryError } from '../errors.ts';

/** `section` is the config path of the tls block, e.g. listeners.mqtt.tls. */
export function readPem(file: string | null, section: string, key: string): Buffer {
  if (file === null) throw new TributaryError('INVALID_CONFIG', `${section}.${key} is required when TLS is enabled`);
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new TributaryError('INVALID_CONFIG', `${section}.${key}: cannot read ${file}: ${(err as Error).message}`, undefined, { cause: err });
  }
}
