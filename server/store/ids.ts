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

/** base64url's 64 characters in ASCII order: text ids then sort as their bytes do. */
const SORTABLE = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const TOP_BIT = 2 ** 47;
const toSortable = new Map([...BASE64URL].map((c, i) => [c, SORTABLE[i]!]));

/**
 * 22 URL-safe characters: the time in milliseconds (47 bits), then 80 random
 * bits, so ids cannot be forged by enumeration. Time first, in an alphabet
 * that sorts like the bytes, because every id is a key in a B-tree (SQLite
 * and PostgreSQL alike): new keys land beside the last ones instead of on a
 * random page, which halved the pages each commit wrote in a replay of the
 * coordinator's writes (and the COMMIT time with them).
 */
export function newId(now = Date.now()): string {
  const b = Buffer.allocUnsafe(16);
  // The top bit set keeps the order and makes the first character 'V' (until the year 2109), never '-':
  // an id is a command-line argument too (`tabgrid status JOB`).
  b.writeUIntBE(now + TOP_BIT, 0, 6);
  random(10).copy(b, 6);
  let out = '';
  for (const c of b.toString('base64url')) out += toSortable.get(c)!;
  return out;
}

export function newSecret(): string {
  return randomBytes(24).toString('base64url');
}
