// API key secrets as every backend keeps them: only a SHA-256 of each secret is stored (the secrets are 256 random
// bits, so a slow password hash would add nothing but latency to every request), compared in constant time.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** last_used_at is written at most this often per key, so a busy key does not write on every request. */
const LAST_USED_RESOLUTION_MS = 60_000;

/** A new key's id, secret, the hash to store and the token (`rk_<id>_<secret>`, API_KEY_PATTERN) to hand out once. */
export function newApiKeySecret(): { id: string; hash: Buffer; token: string } {
  const id = Array.from(randomBytes(12), (byte) => ID_ALPHABET[byte % ID_ALPHABET.length]).join('');
  const secret = randomBytes(32).toString('base64url');
  return { id, hash: hashSecret(secret), token: `rk_${id}_${secret}` };
}

/** True when `secret` hashes to `storedHash`. */
export function secretMatches(storedHash: Uint8Array, secret: string): boolean {
  const stored = Buffer.from(storedHash);
  const given = hashSecret(secret);
  return stored.length === given.length && timingSafeEqual(stored, given);
}

/** True when a use at `now` is worth writing down. */
export function lastUseIsStale(lastUsedAt: number | null, now: number): boolean {
  return lastUsedAt === null || now - lastUsedAt > LAST_USED_RESOLUTION_MS;
}

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}
