/**
 * The weights each local-steps job's copies last trained from, kept in
 * IndexedDB (ShardExecutor's keeper): a reloaded tab, or another tab of the
 * same browser, holds the version the coordinator's next round has a delta
 * from, and fetches that delta instead of the full weights. Bounded: the
 * latest MAX_JOBS jobs, MAX_BYTES in all, none unused for MAX_AGE_MS; and a
 * job's weights go as soon as the coordinator says the job ended (`jobs:ended`,
 * or the reply to `jobs:held` after a hello: shared/volunteer/volunteer.ts).
 */
import type { HeldWeights } from '../../shared/training/weights-delta.ts';
import type { HeldWeightsKeeper } from '../../shared/worker-core/executor.ts';
import { openTabgridDB, type StoredWeights } from './db.ts';

/** As many jobs as the executor holds in memory. */
export const MAX_JOBS = 4;
/** Weights above this are not kept: a full fetch after a reload costs less than holding them. */
export const MAX_BYTES = 128 * 1024 * 1024;
/** A job unused this long has most likely ended: its weights go at the next write. */
export const MAX_AGE_MS = 24 * 3600_000;

/** Which kept weights go: too old, then the least recently stored beyond the count and byte bounds. */
export function weightsToDrop(kept: readonly Pick<StoredWeights, 'jobId' | 'bytes' | 'storedAt'>[], now: number): string[] {
  const drop: string[] = [];
  let bytes = 0;
  let jobs = 0;
  for (const w of [...kept].sort((a, b) => b.storedAt - a.storedAt)) {
    if (now - w.storedAt > MAX_AGE_MS || jobs + 1 > MAX_JOBS || bytes + w.bytes > MAX_BYTES) { drop.push(w.jobId); continue; }
    jobs++;
    bytes += w.bytes;
  }
  return drop;
}

export const idbHeldWeights: HeldWeightsKeeper = {
  async get(jobId) {
    const w = await (await openTabgridDB()).get('weights', jobId);
    return w ? { hash: w.hash, format: w.format, layout: w.layout, flat: w.flat } : null;
  },
  async put(jobId: string, w: HeldWeights) {
    if (w.flat.byteLength > MAX_BYTES) return;
    const db = await openTabgridDB();
    const tx = db.transaction('weights', 'readwrite');
    const row: StoredWeights = { jobId, hash: w.hash, format: w.format, layout: w.layout, flat: w.flat, bytes: w.flat.byteLength, storedAt: Date.now() };
    const others = (await tx.store.getAll()).filter((x) => x.jobId !== jobId).map(({ jobId: id, bytes, storedAt }) => ({ jobId: id, bytes, storedAt }));
    const drop = weightsToDrop([...others, row], row.storedAt);
    await Promise.all([...drop.map((id) => tx.store.delete(id)), ...(drop.includes(jobId) ? [] : [tx.store.put(row)]), tx.done]);
  },
};

/** The jobs whose weights this browser keeps. */
export async function keptWeightJobs(): Promise<string[]> {
  return (await (await openTabgridDB()).getAllKeys('weights')).map(String);
}

/** Drops the weights kept for these jobs (they ended); resolves once that is committed. */
export async function dropKeptWeights(jobIds: readonly string[]): Promise<void> {
  const tx = (await openTabgridDB()).transaction('weights', 'readwrite');
  await Promise.all([...jobIds.map((id) => tx.store.delete(id)), tx.done]);
}
