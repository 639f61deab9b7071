import { randomBytes } from 'node:crypto';

/**
 * Random bytes drawn from the CSPRNG a few kilobytes at a time: ids are made
 * several thousand times a second, and one randomBytes call per id cost more
 * than the id. Every byte is still handed out once.
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let used = 0;

function random(n: number): Buffer {
  if (used + n > pool.length) {
    pool = randomBytes(POOL_BYTES);
    used = 0;
  }
  const out = pool.subarray(used, used + n);
  used += n;
  return out;
}

/** 16 random bytes, base64url: unguessable, so ids cannot be forged by enumeration. */
export function newId(): string {
  return random(16).toString('base64url');
}

export function newSecret(): string {
  return randomBytes(24).toString('base64url');
}
