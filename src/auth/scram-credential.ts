// SCRAM-SHA-256 credentials (RFC 5802, RFC 7677) of an auth.users entry. A scrypt hash cannot give
// the keys a SCRAM exchange needs, so `tributary passwd` stores them beside it: the salt, the PBKDF2
// iteration count, StoredKey = SHA-256(ClientKey) and ServerKey, as a string
// `scram-sha-256$<iterations>$<salt, base64>$<StoredKey, base64>$<ServerKey, base64>`. Neither key
// gives the password or lets a reader of the config log in (it would need ClientKey).

import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';

export interface ScramCredential {
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** Kafka's default and its minimum (RFC 7677 asks for at least 4096). */
export const SCRAM_ITERATIONS_DEFAULT = 4096;
const ITERATIONS_MIN = 4096;
/** Kafka's maximum: a credential from config must not make one login cost seconds of CPU. */
const ITERATIONS_MAX = 16384;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
const PREFIX = 'scram-sha-256';

export function hmac(key: Buffer, text: string | Buffer): Buffer {
  return createHmac('sha256', key).update(text).digest();
}

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/** SaltedPassword = Hi(password, salt, i), RFC 5802 §3: PBKDF2 with HMAC-SHA-256. */
function saltedPassword(password: Uint8Array, salt: Buffer, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) => pbkdf2(password, salt, iterations, KEY_BYTES, 'sha256', (err, key) => (err ? reject(err) : resolve(key))));
}

/** The credential of `password` with a new random salt. */
export async function makeScramCredential(password: string | Uint8Array, iterations = SCRAM_ITERATIONS_DEFAULT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const salted = await saltedPassword(typeof password === 'string' ? Buffer.from(password) : password, salt, iterations);
  const storedKey = sha256(hmac(salted, 'Client Key'));
  const serverKey = hmac(salted, 'Server Key');
  return [PREFIX, iterations, salt.toString('base64'), storedKey.toString('base64'), serverKey.toString('base64')].join('$');
}

export function parseScramCredential(text: string): ScramCredential | string {
  const fields = text.split('$');
  if (fields.length !== 5 || fields[0] !== PREFIX) return `not of the form ${PREFIX}$iterations$salt$storedKey$serverKey`;
  const iterations = /^\d+$/.test(fields[1]) ? Number(fields[1]) : NaN;
  if (!(iterations >= ITERATIONS_MIN && iterations <= ITERATIONS_MAX)) return `iterations is not ${ITERATIONS_MIN}..${ITERATIONS_MAX}`;
  const [salt, storedKey, serverKey] = fields.slice(2).map((f) => Buffer.from(f, 'base64'));
  if (salt.length < 8) return 'the salt is under 8 bytes (base64)';
  if (storedKey.length !== KEY_BYTES || serverKey.length !== KEY_BYTES) return `a key is not ${KEY_BYTES} bytes (base64)`;
  return { salt, iterations, storedKey, serverKey };
}

/** Why `text` is not a usable SCRAM credential, or null; for config validation. */
export function scramCredentialProblem(text: string): string | null {
  const parsed = parseScramCredential(text);
  return typeof parsed === 'string' ? `a SCRAM-SHA-256 credential made by \`tributary passwd\` (problem: ${parsed})` : null;
}
