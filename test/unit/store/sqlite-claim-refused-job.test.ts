/**
 * A host that a whole job refuses (its numeric class, on a homogeneous job:
 * core/scheduler/claim.ts jobRefusal) asks again every few seconds. The SQLite
 * store decides that refusal once per job: past its queue page it does not
 * read the refused job's shards and their copies into memory only to refuse
 * each, and it still finds a later job's shard the host may take.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_TRUST } from '../../../server/core/trust/policy.ts';
import type { HotShards } from '../../../server/store/sqlite/hot-shards.ts';
import { SqliteStore } from '../../../server/store/sqlite/sqlite-store.ts';
import type { ClaimRequest } from '../../../server/store/types.ts';
import { claimReq, makeJob, makeProject, makeVolunteer, NOW, type Vol } from './contract.ts';

const WASM = 'wasm/ort-1.30.0';
const FORGED = 'webgpu/forged/x/ort-1.30.0';
/** More than the store's queue page holds, so a refused host's claim goes on to read further pages. */
const SHARDS = 3000;

describe('SQLite store: a host refused by a whole job', () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tabgrid-refused-'));
    store = new SqliteStore(join(dir, 'tabgrid.sqlite'));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Shards of the job the store holds in memory (hot-shards.ts). */
  const held = (jobId: string) => {
    const hot = (store as unknown as { hot: HotShards }).hot as unknown as { entries: Map<string, { row: { jobId: string } }> };
    return [...hot.entries.values()].filter((e) => e.row.jobId === jobId).length;
  };
  // The class census: WASM announced by three address groups, the forged class by one (not honoured).
  const claim = (v: Vol): ClaimRequest => ({
    ...claimReq(v), draw: () => 0.5,
    trust: { policy: DEFAULT_TRUST, asker: null, trustedClasses: [WASM], census: new Map([[WASM, 3], [FORGED, 1]]), draw: 0.5 },
  });

  it('gets a later job\'s shard past the queue page without reading the refused job\'s shards; refused by every job, nothing', async () => {
    const p = makeProject();
    await store.createProject(p);
    const a = makeJob(p.id, { shards: SHARDS, homogeneous: true });
    await store.createJob(a.job, a.shards);
    const b = makeJob(p.id, { shards: 1, createdAt: NOW + 1 });
    await store.createJob(b.job, b.shards);
    const forger = makeVolunteer(1, { cls: FORGED });

    const got = await store.claimCopy(claim(forger));
    expect(got?.shard.id).toBe(b.shards[0]!.id);
    // Only the queue page of the refused job is in memory, not every shard of it the claim went past.
    expect(held(a.job.id)).toBeGreaterThan(0);
    expect(held(a.job.id)).toBeLessThan(SHARDS);

    // The forger holds the later job's only shard: every job refuses it now.
    expect(await store.claimCopy(claim(forger))).toBeNull();
    expect(held(a.job.id)).toBeLessThan(SHARDS);
    // A host of the honoured class still takes the refused job's shards.
    expect((await store.claimCopy(claim(makeVolunteer(2, { cls: WASM }))))?.job.id).toBe(a.job.id);
  });
});
