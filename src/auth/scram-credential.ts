// SCRAM-SHA-256 and SCRAM-SHA-512 credentials (RFC 5802, RFC 7677) of an auth.users entry. A
// scrypt hash cannot give the keys a SCRAM exchange needs, so `tributary passwd` stores them beside
// it, one credential per hash: the salt, the PBKDF2 iteration count, StoredKey = H(ClientKey) and
// ServerKey, as a string `scram-sha-256$<iterations>$<salt, base64>$<StoredKey, base64>$<ServerKey, base64>`
// (`scram-sha-512$…` for SHA-512). The keys are as long as the hash's output: 32 bytes for SHA-256,
// 64 for SHA-512. Neither key gives the password or lets a reader of the config log in (it would
// need ClientKey).

import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';

/** The hash a SCRAM mechanism is built on, as node:crypto names it. */
export type ScramHash = 'sha256' | 'sha512';

export interface ScramCredential {
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** Per hash: the SASL mechanism name, the credential's prefix, the auth.users key holding it, the key length (the digest's). */
export const SCRAM = {
  sha256: { mechanism: 'SCRAM-SHA-256', prefix: 'scram-sha-256', userKey: 'scramSha256', keyBytes: 32 },
  sha512: { mechanism: 'SCRAM-SHA-512', prefix: 'scram-sha-512', userKey: 'scramSha512', keyBytes: 64 },
} as const;

export const SCRAM_HASHES = Object.keys(SCRAM) as ScramHash[];

/** Kafka's default and its minimum (RFC 7677 asks for at least 4096). */
export const SCRAM_ITERATIONS_DEFAULT = 4096;
const ITERATIONS_MIN = 4096;
/** Kafka's maximum: a credential from config must not make one login cost seconds of CPU. */
const ITERATIONS_MAX = 16384;
const SALT_BYTES = 16;

export function hmac(hash: ScramHash, key: Buffer, text: string | Buffer): Buffer {
  return createHmac(hash, key).update(text).digest();
}

export function digest(hash: ScramHash, data: Buffer): Buffer {
  return createHash(hash).update(data).digest();
}

/** SaltedPassword = Hi(password, salt, i), RFC 5802 §3: PBKDF2 with HMAC-H, as long as H's output. */
function saltedPassword(hash: ScramHash, password: Uint8Array, salt: Buffer, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) => pbkdf2(password, salt, iterations, SCRAM[hash].keyBytes, hash, (err, key) => (err ? reject(err) : resolve(key))));
}

/** The `hash` credential of `password` with a new random salt. */
export async function makeScramCredential(password: string | Uint8Array, hash: ScramHash = 'sha256', iterations = SCRAM_ITERATIONS_DEFAULT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const salted = await saltedPassword(hash, typeof password === 'string' ? Buffer.from(password) : password, salt, iterations);
  const storedKey = digest(hash, hmac(hash, salted, 'Client Key'));
  const serverKey = hmac(hash, salted, 'Server Key');
  return [SCRAM[hash].prefix, iterations, salt.toString('base64'), storedKey.toString('base64'), serverKey.toString('base64')].join('$');
}

export function parseScramCredential(hash: ScramHash, text: string): ScramCredential | string {
  const { prefix, keyBytes } = SCRAM[hash];
  const fields = text.split('$');
  if (fields.length !== 5 || fields[0] !== prefix) return `not of the form ${prefix}$iterations$salt$storedKey$serverKey`;
  const iterations = /^\d+$/.test(fields[1]) ? Number(fields[1]) : NaN;
  if (!(iterations >= ITERATIONS_MIN && iterations <= ITERATIONS_MAX)) return `iterations is not ${ITERATIONS_MIN}..${ITERATIONS_MAX}`;
  const [salt, storedKey, serverKey] = fields.slice(2).map((f) => Buffer.from(f, 'base64'));
  if (salt.length < 8) return 'the salt is under 8 bytes (base64)';
  if (storedKey.length !== keyBytes || serverKey.length !== keyBytes) return `a key is not ${keyBytes} bytes (base64)`;
  return { salt, iterations, storedKey, serverKey };
}

/** Why `text` is not a usable `hash` credential, or null; for config validation. */
export function scramCredentialProblem(hash: ScramHash, text: string): string | null {
  const parsed = parseScramCredential(hash, text);
  return typeof parsed === 'string' ? `a ${SCRAM[hash].mechanism} credential made by \`tributary passwd\` (problem: ${parsed})` : null;
}
