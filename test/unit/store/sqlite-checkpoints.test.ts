/**
 * The SQLite store never checkpoints inside a COMMIT on the event loop: a
 * worker thread does it on its own connection. What is checked: committed
 * pages do reach the database file without any checkpoint from the store's
 * connection, the WAL does not grow without bound under steady writes, and
 * close() stops the thread so the process can exit.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHECKPOINT_EVERY_MS } from '../../../server/store/sqlite/checkpointer.ts';
import { SqliteStore } from '../../../server/store/sqlite/sqlite-store.ts';
import { claimReq, makeJob, makeProject, makeVolunteer, NO_RULES, NOW } from './contract.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('SQLite store: checkpoints off the event loop', () => {
  let dir: string;
  let file: string;
  let store: SqliteStore;
  const size = (f: string) => { try { return statSync(f).size; } catch { return 0; } };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tabgrid-ckpt-'));
    file = join(dir, 'tabgrid.sqlite');
    store = new SqliteStore(file);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("turns SQLite's automatic checkpoint off on the store's connection", () => {
    // A per-connection setting, so it is read on the store's own connection.
    expect((store as unknown as { db: Database.Database }).db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
  });

  it('moves committed pages into the database file from the worker thread, and the WAL stays bounded', async () => {
    const p = makeProject();
    await store.createProject(p);
    const { job, shards } = makeJob(p.id, { replicas: 2, shards: 400 });
    await store.createJob(job, shards);
    const before = size(file);
    // ~6 MB of results, in many commits, as a busy coordinator writes them.
    for (let i = 0; i < 400; i++) {
      const v = makeVolunteer(i + 10);
      const c = (await store.claimCopy(claimReq(v)))!.copy;
      expect(await store.saveResult(c.id, v.id, new Uint8Array(16 * 1024).fill(i % 251), 1, NOW, NO_RULES)).toBe('accepted');
    }
    await sleep(CHECKPOINT_EVERY_MS * 3);
    expect(size(file) - before).toBeGreaterThan(6_000_000);
    // After a complete checkpoint, SQLite rewinds the WAL at the next write instead of appending to it.
    const walAfterFirst = size(`${file}-wal`);
    for (let i = 0; i < 200; i++) await store.createProject(makeProject(NOW, `proj-extra-${i}`));
    await sleep(CHECKPOINT_EVERY_MS * 3);
    expect(size(`${file}-wal`)).toBeLessThanOrEqual(walAfterFirst);
  });
});
