/**
 * Content-addressed cache of models and weight sets in IndexedDB. Entries are
 * keyed by SHA-256 and re-verified before every use (a corrupted or tampered
 * entry is dropped and fetched again), the total size is bounded with
 * least-recently-used eviction, and a full disk (QuotaExceededError) evicts
 * instead of failing: the worst case is computing without caching.
 */
import type { BlobRef } from '../../shared/protocol/events.ts';
import { type BlobMeta, openTabgridDB } from './db.ts';
import { sha256Hex } from './sha256.ts';

export interface BlobCacheStats {
  hits: number;
  misses: number;
  evictions: number;
  bytes: number;
  entries: number;
}

export interface BlobCacheOptions {
  /** Base URL blob refs are relative to (the coordinator). */
  baseUrl: string;
  /** Upper bound in bytes; by default a share of the origin's quota, at most 2 GiB. */
  maxBytes?: number;
  fetch?: typeof fetch;
}

const DEFAULT_MAX = 2 * 1024 ** 3;

export class BlobCache {
  readonly stats: BlobCacheStats = { hits: 0, misses: 0, evictions: 0, bytes: 0, entries: 0 };
  private maxBytes: Promise<number>;
  private inflight = new Map<string, Promise<Uint8Array>>();

  constructor(private readonly o: BlobCacheOptions) {
    this.maxBytes = o.maxBytes ? Promise.resolve(o.maxBytes) : defaultBudget();
  }

  /** The blob's verified bytes, from the cache when it holds a good copy, else from the coordinator. */
  get(ref: BlobRef): Promise<Uint8Array> {
    let p = this.inflight.get(ref.hash);
    if (!p) {
      p = this.load(ref).finally(() => this.inflight.delete(ref.hash));
      this.inflight.set(ref.hash, p);
    }
    return p;
  }

  async refreshStats(): Promise<BlobCacheStats> {
    const metas = await (await openTabgridDB()).getAll('blobMeta');
    this.stats.entries = metas.length;
    this.stats.bytes = metas.reduce((s, m) => s + m.bytes, 0);
    return { ...this.stats };
  }

  private async load(ref: BlobRef): Promise<Uint8Array> {
    const hash = ref.hash.toLowerCase();
    const cached = await this.read(hash).catch(() => null);
    if (cached) {
      this.stats.hits++;
      return cached;
    }
    this.stats.misses++;
    const bytes = await this.download(ref, hash);
    await this.store(hash, bytes).catch((e) => console.warn('tabgrid: not caching blob', hash, e));
    return bytes;
  }

  private async read(hash: string): Promise<Uint8Array | null> {
    const db = await openTabgridDB();
    const buf = await db.get('blobs', hash);
    if (!buf) return null;
    const bytes = new Uint8Array(buf);
    if ((await sha256Hex(bytes)) !== hash) {
      await this.remove(hash);
      return null;
    }
    const meta = await db.get('blobMeta', hash);
    await db.put('blobMeta', { hash, bytes: bytes.byteLength, storedAt: meta?.storedAt ?? Date.now(), usedAt: Date.now() });
    return bytes;
  }

  private async download(ref: BlobRef, hash: string): Promise<Uint8Array> {
    const url = new URL(ref.url, this.o.baseUrl).href;
    const res = await (this.o.fetch ?? fetch)(url);
    if (!res.ok) throw new Error(`fetching ${ref.url} failed: HTTP ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const got = await sha256Hex(bytes);
    if (got !== hash) throw new Error(`blob ${ref.url} does not match its hash (got ${got.slice(0, 12)}…)`);
    return bytes;
  }

  private async store(hash: string, bytes: Uint8Array): Promise<void> {
    const max = await this.maxBytes;
    if (bytes.byteLength > max) return;
    await this.evictUntil(max - bytes.byteLength);
    // Copy: IndexedDB must not keep a view's whole underlying buffer, and the caller keeps `bytes`.
    const buf = bytes.slice().buffer;
    for (;;) {
      try {
        await this.put(hash, buf);
        return;
      } catch (e) {
        if (!isQuotaError(e)) throw e;
        // The browser's quota is tighter than our budget: free the oldest entry and retry.
        if (!(await this.evictOldest())) throw e;
      }
    }
  }

  private async put(hash: string, buf: ArrayBuffer): Promise<void> {
    const db = await openTabgridDB();
    const tx = db.transaction(['blobs', 'blobMeta'], 'readwrite');
    const now = Date.now();
    const meta: BlobMeta = { hash, bytes: buf.byteLength, storedAt: now, usedAt: now };
    try {
      await Promise.all([tx.objectStore('blobs').put(buf, hash), tx.objectStore('blobMeta').put(meta), tx.done]);
    } catch (e) {
      // A full disk aborts the transaction at commit: its error says why, the request's only says "aborted".
      throw tx.error ?? e;
    }
  }

  private async evictUntil(limit: number): Promise<void> {
    const db = await openTabgridDB();
    const metas = await db.getAllFromIndex('blobMeta', 'usedAt');
    let total = metas.reduce((s, m) => s + m.bytes, 0);
    for (const m of metas) {
      if (total <= limit) break;
      await this.remove(m.hash);
      total -= m.bytes;
      this.stats.evictions++;
    }
  }

  private async evictOldest(): Promise<boolean> {
    const db = await openTabgridDB();
    const oldest = await db.getFromIndex('blobMeta', 'usedAt', IDBKeyRange.lowerBound(0));
    if (!oldest) return false;
    await this.remove(oldest.hash);
    this.stats.evictions++;
    return true;
  }

  private async remove(hash: string): Promise<void> {
    const db = await openTabgridDB();
    const tx = db.transaction(['blobs', 'blobMeta'], 'readwrite');
    await Promise.all([tx.objectStore('blobs').delete(hash), tx.objectStore('blobMeta').delete(hash), tx.done]);
  }
}

export function isQuotaError(e: unknown): boolean {
  const name = (e as { name?: string } | null)?.name;
  return name === 'QuotaExceededError' || (e as { inner?: { name?: string } })?.inner?.name === 'QuotaExceededError';
}

/** Half of what the browser grants this origin, capped, so the cache never crowds out pending results. */
async function defaultBudget(): Promise<number> {
  try {
    const est = await navigator.storage?.estimate?.();
    if (est?.quota) return Math.min(DEFAULT_MAX, Math.floor(est.quota / 2));
  } catch { /* estimate unavailable: use the cap */ }
  return DEFAULT_MAX;
}
