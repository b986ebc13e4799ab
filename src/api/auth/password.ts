// Password hashes: scrypt with its cost in the hash text, so that the cost can rise for new hashes
// without invalidating old ones. Verification compares in constant time.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { parsePasswordHash } from '../../config/kinds/platform.js';

/** The cost of new hashes: N = 2^15, r = 8, p = 1 (32 MiB and tens of ms per login); a hash carries its own cost, so raising this later keeps old hashes valid. */
export const DEFAULT_COST = { n: 2 ** 15, r: 8, p: 1 } as const;

function derive(password: string, salt: Buffer, keylen: number, cost: { n: number; r: number; p: number }): Promise<Buffer> {
  // scrypt needs 128 * N * r bytes; the default maxmem (32 MiB) would refuse N = 2^15 with r = 8 at the edge.
  const opts: ScryptOptions = { N: cost.n, r: cost.r, p: cost.p, maxmem: 256 * cost.n * cost.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** `scrypt$N$r$p$<salt b64>$<hash b64>` for a password. */
export async function hashPassword(password: string, cost: { n: number; r: number; p: number } = DEFAULT_COST): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, 32, cost);
  return `scrypt$${cost.n}$${cost.r}$${cost.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** True when `password` gives `hash`. A hash of the wrong shape never matches (the loader refuses those anyway). */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const parts = parsePasswordHash(hash);
  if (!parts) return false;
  const key = await derive(password, parts.salt, parts.hash.length, parts);
  return key.length === parts.hash.length && timingSafeEqual(key, parts.hash);
}

/** Constant-time equality of two secrets of any length (bearer tokens, CSRF tokens). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  // timingSafeEqual needs equal lengths: compare against a copy cut or padded to a's length, then the lengths.
  const padded = Buffer.alloc(x.length);
  y.copy(padded, 0, 0, Math.min(y.length, x.length));
  return timingSafeEqual(x, padded) && x.length === y.length;
}
