/**
 * SQLite keeps large results in files beside the database (one file write
 * instead of hundreds of WAL page writes on the event loop). What is checked
 * here is what the contract cannot see: where the bytes are, that files of
 * uploads never recorded are swept on the next start, and that a training
 * round's results are deleted from disk when the round is folded in.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TrainProgress } from '../../../server/core/jobs/types.ts';
import { RESULT_FILE_ABOVE_BYTES, SqliteStore } from '../../../server/store/sqlite/sqlite-store.ts';
import { claimReq, makeJob, makeProject, makeTrainJob, makeVolunteer, NO_RULES, NOW } from './contract.ts';

describe('SQLite store: large results as files', () => {
  let dir: string;
  let file: string;
  let store: SqliteStore;
  const files = () => readdirSync(join(dir, 'results'));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tabgrid-results-'));
    file = join(dir, 'tabgrid.sqlite');
    store = new SqliteStore(file);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function seed(o: { replicas?: number } = {}) {
    const p = makeProject();
    await store.createProject(p);
    const { job, shards } = makeJob(p.id, { replicas: o.replicas ?? 2 });
    await store.createJob(job, shards);
    return { job, shards };
  }

  it('a result above the threshold goes to a file named in its row; a small one stays in the database', async () => {
    await seed();
    const v1 = makeVolunteer(1);
    const v2 = makeVolunteer(2);
    const big = (await store.claimCopy(claimReq(v1)))!.copy;
    const small = (await store.claimCopy(claimReq(v2)))!.copy;
    expect(await store.saveResult(big.id, v1.id, new Uint8Array(RESULT_FILE_ABOVE_BYTES + 1).fill(9), 1, NOW, NO_RULES)).toBe('accepted');
    expect(await store.saveResult(small.id, v2.id, new Uint8Array(RESULT_FILE_ABOVE_BYTES).fill(8), 1, NOW, NO_RULES)).toBe('accepted');
    // A duplicate writes its own file and deletes it: the recorded one is untouched.
    expect(await store.saveResult(big.id, v1.id, new Uint8Array(RESULT_FILE_ABOVE_BYTES + 1), 1, NOW, NO_RULES)).toBe('duplicate');
    const db = new Database(file, { readonly: true });
    const rows = db.prepare('SELECT id, length(result) AS inline, result_file AS f FROM copies').all() as { id: string; inline: number | null; f: string | null }[];
    db.close();
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(big.id)).toMatchObject({ inline: null });
    expect(byId.get(big.id)!.f).toMatch(new RegExp(`^${big.id}\\.[0-9a-f]{12}$`));
    expect(byId.get(small.id)).toEqual({ id: small.id, inline: RESULT_FILE_ABOVE_BYTES, f: null });
    expect(files()).toEqual([byId.get(big.id)!.f]);
  });

  it('files no row names (an upload the coordinator died before recording) are swept at the next start', async () => {
    await seed();
    const v1 = makeVolunteer(1);
    const c = (await store.claimCopy(claimReq(v1)))!.copy;
    await store.saveResult(c.id, v1.id, new Uint8Array(RESULT_FILE_ABOVE_BYTES + 10).fill(1), 1, NOW, NO_RULES);
    const kept = files();
    writeFileSync(join(dir, 'results', 'orphan.0123456789ab'), 'x');
    await store.close();
    store = new SqliteStore(file);
    await new Promise((r) => setTimeout(r, 50));
    expect(files()).toEqual(kept);
  });

  it('folding a training round into the checkpoint deletes its result files', async () => {
    const p = makeProject();
    await store.createProject(p);
    const { job, shards } = makeTrainJob(p.id, { shards: 2, shardsPerRound: 2, cap: 0 });
    await store.createJob(job, shards);
    const v1 = makeVolunteer(1);
    const c = (await store.claimCopy(claimReq(v1)))!.copy;
    await store.saveResult(c.id, v1.id, new Uint8Array(RESULT_FILE_ABOVE_BYTES + 10).fill(1), 1, NOW, NO_RULES);
    const [name] = files();
    expect(existsSync(join(dir, 'results', name!))).toBe(true);
    const progress: TrainProgress = { ...job.progress!, round: 1 };
    expect(await store.advanceRound(job.id, 0, progress, [])).toBe(true);
    expect(files()).toEqual([]);
    expect((await (await store.shardResults(c.shardId))!.results([c.id])).size).toBe(0);
  });
});
