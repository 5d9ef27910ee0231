// Users and their passwords (auth.users), shared by every listener that logs users in: salted scrypt
// hashes (node:crypto) as strings `scrypt$N$r$p$<salt, base64>$<hash, base64>`, made by
// `tributary passwd`, and the check of a username and password against them.

import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  r: number;
  p: number;
}

/** 16 MiB and about 50 ms per check on a desktop core, a few hundred on a Pi: paid once per CONNECT. */
export const SCRYPT_DEFAULTS: ScryptParams = { N: 16384, r: 8, p: 1 };
const SALT_BYTES = 16;
const HASH_BYTES = 32;
/** scrypt needs about 128·N·r bytes; above this a hash from config could exhaust a small gateway. */
const SCRYPT_MEMORY_BYTES_MAX = 64 * 1024 * 1024;

// Unknown users are checked against this hash too, so a refusal takes as long whether or not the
// username exists.
const DUMMY_HASH = 'scrypt$16384$8$1$omHunCSZ8Twr1aUbrJ8brA==$rBiinViB8Y48QKSHUFYgkClFZ8MzRJgfQvuUugJjAuo=';

interface ParsedHash extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

function scryptAsync(password: Uint8Array, salt: Buffer, params: ScryptParams, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, bytes, { ...params, maxmem: 2 * 128 * params.N * params.r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

function parseHash(text: string): ParsedHash | string {
  const fields = text.split('$');
  if (fields.length !== 6 || fields[0] !== 'scrypt') return 'not of the form scrypt$N$r$p$salt$hash';
  const [N, r, p] = fields.slice(1, 4).map((f) => (/^\d+$/.test(f) ? Number(f) : NaN));
  if (!(N >= 2 && N <= 2 ** 24 && (N & (N - 1)) === 0)) return 'N is not a power of two';
  if (!(r >= 1 && r <= 32 && p >= 1 && p <= 16)) return 'r is not 1..32 or p not 1..16';
  if (128 * N * r > SCRYPT_MEMORY_BYTES_MAX) return `128·N·r is above ${SCRYPT_MEMORY_BYTES_MAX} bytes`;
  const salt = Buffer.from(fields[4], 'base64');
  const hash = Buffer.from(fields[5], 'base64');
  if (salt.length < 8 || hash.length < 16) return 'the salt is under 8 bytes or the hash under 16 (base64)';
  return { N, r, p, salt, hash };
}

/** Why `text` is not a usable password hash, or null; for config validation. */
export function passwordHashProblem(text: string): string | null {
  const parsed = parseHash(text);
  return typeof parsed === 'string' ? `a password hash made by \`tributary passwd\` (problem: ${parsed})` : null;
}

export async function hashPassword(password: string | Uint8Array, params: ScryptParams = SCRYPT_DEFAULTS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await scryptAsync(typeof password === 'string' ? Buffer.from(password) : password, salt, params, HASH_BYTES);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: Uint8Array, hashText: string): Promise<boolean> {
  const parsed = parseHash(hashText);
  if (typeof parsed === 'string') return false;
  const derived = await scryptAsync(password, parsed.salt, parsed, parsed.hash.length);
  return timingSafeEqual(derived, parsed.hash);
}

export interface UserSpec {
  username: string;
  passwordHash: string;
}

export type PasswordCheck = 'ok' | 'unknown username' | 'wrong password';

/** auth.users' passwords. An unknown user is checked against a dummy hash: a refusal takes as long either way. */
export class UserPasswords {
  private readonly hashes: Map<string, string>;

  constructor(users: readonly UserSpec[]) {
    this.hashes = new Map(users.map((u) => [u.username, u.passwordHash]));
  }

  get size(): number {
    return this.hashes.size;
  }

  async check(username: string, password: Uint8Array | undefined): Promise<PasswordCheck> {
    const stored = this.hashes.get(username);
    const matches = await verifyPassword(password ?? Buffer.alloc(0), stored ?? DUMMY_HASH);
    if (stored === undefined) return 'unknown username';
    return password !== undefined && matches ? 'ok' : 'wrong password';
  }
}

/** Who a connected client is, for ACLs. */
export interface Identity {
  clientId: string;
  /** null for an anonymous client. */
  username: string | null;
}

