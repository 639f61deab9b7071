/**
 * Links to the blobs volunteers fetch (models, training weight sets):
 * `/blobs/<sha256>?until=<ms>&sig=<hmac>`. A hash alone opens nothing: hashes
 * travel in every assignment and are easy to learn, and a project's model is
 * its own. Only a volunteer given an assignment holds a working link, and only
 * until it expires. The signature is an HMAC-SHA256 over the hash and the
 * expiry, keyed by a random key kept beside the blobs (`<blobs>/.link-key`,
 * 0600), so coordinators that share the blob directory (see README, PostgreSQL)
 * verify each other's links. Expiry is rounded up to the hour, so one blob's
 * link stays the same for an hour and browsers' HTTP caches keep working.
 *
 * A private project's blobs (issue 15) never open with that link: they open
 * only with a capability issued with one assignment,
 * `/blobs/<sha256>?copy=<copy id>&until=<ms>&sig=<hmac>`, whose signature
 * binds the hash to the copy, and which the blob route honours only while
 * that copy is in flight within its lease and the copy's project holds the
 * blob (server/http/api.ts). Another copy, another blob, or the same copy
 * once expired, returned or failed: nothing opens.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** How long a link works: longer than any lease, so a volunteer never holds a copy whose model it cannot fetch. */
export const LINK_TTL_MS = 12 * 3_600_000;
const HOUR_MS = 3_600_000;

export function linkExpiry(now: number): number {
  return Math.ceil((now + LINK_TTL_MS) / HOUR_MS) * HOUR_MS;
}

export function signLink(key: Uint8Array, hash: string, until: number): string {
  return createHmac('sha256', key).update(`${hash}.${until}`).digest('base64url');
}

/** Another message than a hash link's (`cap.` and the copy), so neither signature stands for the other. */
export function signCapability(key: Uint8Array, hash: string, copyId: string, until: number): string {
  return createHmac('sha256', key).update(`cap.${hash}.${copyId}.${until}`).digest('base64url');
}

/** A link holds when its signature is the key's over this hash and expiry, and it has not expired. */
export function linkHolds(key: Uint8Array, hash: string, until: unknown, sig: unknown, now: number): boolean {
  if (typeof until !== 'string' || !/^\d{1,16}$/.test(until) || typeof sig !== 'string' || sig.length > 64) return false;
  const t = Number(until);
  // Never beyond what this coordinator would sign now (plus an hour for clocks of coordinators that share the key).
  if (t <= now || t > linkExpiry(now) + HOUR_MS) return false;
  const want = Buffer.from(signLink(key, hash, t));
  const got = Buffer.from(sig);
  return got.length === want.length && timingSafeEqual(got, want);
}

export class BlobLinks {
  private key: Uint8Array | null = null;

  constructor(private readonly dir: string) {}

  /** The path (with query) a volunteer fetches this blob from. */
  url(hash: string, now = Date.now()): string {
    const until = linkExpiry(now);
    return `/blobs/${hash}?until=${until}&sig=${signLink(this.secret(), hash, until)}`;
  }

  holds(hash: string, query: { until?: unknown; sig?: unknown }, now = Date.now()): boolean {
    return linkHolds(this.secret(), hash, query.until, query.sig, now);
  }

  /** The path a volunteer fetches a private project's blob from, for one copy (see above). */
  capabilityUrl(hash: string, copyId: string, now = Date.now()): string {
    const until = linkExpiry(now);
    return `/blobs/${hash}?copy=${copyId}&until=${until}&sig=${signCapability(this.secret(), hash, copyId, until)}`;
  }

  /**
   * The copy a capability was issued to, when its signature is this key's over the hash, the copy and the expiry
   * and it has not expired; null otherwise. Whether that copy may still fetch the blob is the caller's to check.
   */
  capabilityCopy(hash: string, query: { copy?: unknown; until?: unknown; sig?: unknown }, now = Date.now()): string | null {
    const { copy, until, sig } = query;
    if (typeof copy !== 'string' || !/^[A-Za-z0-9_-]{6,64}$/.test(copy)) return null;
    if (typeof until !== 'string' || !/^\d{1,16}$/.test(until) || typeof sig !== 'string' || sig.length > 64) return null;
    const t = Number(until);
    if (t <= now || t > linkExpiry(now) + HOUR_MS) return null;
    const want = Buffer.from(signCapability(this.secret(), hash, copy, t));
    const got = Buffer.from(sig);
    return got.length === want.length && timingSafeEqual(got, want) ? copy : null;
  }

  /** Read once, made once: the first coordinator to need it writes it (O_EXCL), the others read that one. */
  private secret(): Uint8Array {
    if (this.key) return this.key;
    const file = join(this.dir, '.link-key');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, randomBytes(32).toString('hex'), { flag: 'wx', mode: 0o600 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const hex = readFileSync(file, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${file} is not a blob link key (64 hex digits); delete it to make a new one`);
    this.key = Buffer.from(hex, 'hex');
    return this.key;
  }
}
