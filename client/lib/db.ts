/**
 * The contributor's IndexedDB database, opened the same way by the page and the
 * compute worker: cached blobs (models, weight sets), unacknowledged results,
 * small records (volunteer credentials, the local wallet), and the weights
 * local-steps jobs last trained from (held-weights.ts).
 */
import { type DBSchema, type IDBPDatabase, openDB } from 'idb';
import type { HeldWeights } from '../../shared/training/weights-delta.ts';
import type { PendingResult } from '../../shared/volunteer/pending.ts';

export interface BlobMeta {
  hash: string;
  bytes: number;
  storedAt: number;
  /** Bumped on every use; eviction removes the least recently used first. */
  usedAt: number;
}

export interface StoredPending extends PendingResult {
  /** `<coordinator>|<copyId>`: results belong to the coordinator that assigned them. */
  key: string;
  coordinator: string;
}

/** A local-steps job's weights a tab last trained from (held-weights.ts). */
export interface StoredWeights extends HeldWeights {
  jobId: string;
  bytes: number;
  storedAt: number;
}

export interface TabgridDB extends DBSchema {
  /** Blob bytes, keyed by SHA-256 hex; kept apart from the metadata so eviction never reads megabytes. */
  blobs: { key: string; value: ArrayBuffer };
  blobMeta: { key: string; value: BlobMeta; indexes: { usedAt: number } };
  pending: { key: string; value: StoredPending; indexes: { coordinator: string } };
  kv: { key: string; value: unknown };
  weights: { key: string; value: StoredWeights };
}

export const DB_NAME = 'tabgrid';
const DB_VERSION = 2;

let opening: Promise<IDBPDatabase<TabgridDB>> | null = null;

export function openTabgridDB(): Promise<IDBPDatabase<TabgridDB>> {
  opening ??= openDB<TabgridDB>(DB_NAME, DB_VERSION, {
    upgrade(db, oldVersion) {
      if (oldVersion < 1) {
        db.createObjectStore('blobs');
        db.createObjectStore('blobMeta', { keyPath: 'hash' }).createIndex('usedAt', 'usedAt');
        db.createObjectStore('pending', { keyPath: 'key' }).createIndex('coordinator', 'coordinator');
        db.createObjectStore('kv');
      }
      if (oldVersion < 2) db.createObjectStore('weights', { keyPath: 'jobId' });
    },
    // Another tab upgrading later must not be blocked by this one.
    blocking() { void opening?.then((db) => db.close()); opening = null; },
  });
  opening.catch(() => { opening = null; });
  return opening;
}

export async function kvGet<T>(key: string): Promise<T | undefined> {
  return (await (await openTabgridDB()).get('kv', key)) as T | undefined;
}

/** Resolves once the write is committed, not merely queued: a page that goes away after that still has it. */
export async function kvSet(key: string, value: unknown): Promise<void> {
  const tx = (await openTabgridDB()).transaction('kv', 'readwrite');
  await Promise.all([tx.store.put(value, key), tx.done]);
}

export async function kvDelete(key: string): Promise<void> {
  await (await openTabgridDB()).delete('kv', key);
}
