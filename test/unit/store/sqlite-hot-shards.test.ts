/**
 * The SQLite store answers the hot path from memory (hot-shards.ts): shards,
 * their copies, the queue of shards wanting copies, small results. Memory is
 * only allowed to be faster than the rows, never different: after a long
 * random run of everything that writes shards and copies, every shard and
 * copy held in memory must equal its row, and a claim the store refuses must
 * be one the rows refuse too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Copy } from '../../../server/core/jobs/types.ts';
import type { HotShards } from '../../../server/store/sqlite/hot-shards.ts';
import { SqliteStore } from '../../../server/store/sqlite/sqlite-store.ts';
import type { Claimed } from '../../../server/store/types.ts';
import { seeded } from '../../helpers/onnx-builder.ts';
import { bytes, claimReq, consensus, makeJob, makeProject, makeVolunteer, NO_RULES, NOW, type Vol } from './contract.ts';

type Row = Record<string, unknown>;

describe('SQLite store: what the hot path keeps in memory equals the rows', () => {
  let dir: string;
  let file: string;
  let store: SqliteStore;
  let raw: Database.Database;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tabgrid-hot-'));
    file = join(dir, 'tabgrid.sqlite');
    store = new SqliteStore(file);
    raw = new Database(file, { readonly: true });
  });
  afterEach(async () => {
    raw.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const hot = () => (store as unknown as { hot: HotShards }).hot;
  const entries = () => [...(hot() as unknown as { entries: Map<string, { row: Row; copies: Copy[] }> }).entries.values()];

  function checkMemoryAgainstRows(): number {
    let copies = 0;
    for (const e of entries()) {
      const r = raw.prepare('SELECT * FROM shards WHERE id = ?').get(e.row.id) as Row;
      expect({ ...e.row }, `shard ${e.row.id}`).toEqual({
        id: r.id, jobId: r.job_id, index: r.idx, start: r.rec_start, end: r.rec_end, state: r.state, wanted: r.wanted,
        canonicalCopyId: r.canonical_copy_id, errors: r.errors, issued: r.issued, alive: r.alive, maxTotal: r.max_total,
        homogeneous: r.homogeneous === 1, projectId: r.project_id, jobCreated: r.job_created,
      });
      const rows = raw.prepare('SELECT * FROM copies WHERE shard_id = ? ORDER BY rowid').all(e.row.id) as Row[];
      expect(e.copies.map((c) => c.id), `copies of ${e.row.id}`).toEqual(rows.map((c) => c.id));
      for (const [i, c] of e.copies.entries()) {
        const cr = rows[i]!;
        expect({ state: c.state, outcome: c.outcome, deadline: c.deadline, reason: c.reason, credit: c.credit, returnedAt: c.returnedAt, volunteerId: c.volunteerId })
          .toEqual({ state: cr.state, outcome: cr.outcome, deadline: cr.deadline, reason: cr.reason, credit: cr.credit, returnedAt: cr.returned_at, volunteerId: cr.volunteer_id });
        copies++;
      }
    }
    return copies;
  }

  it('after 1,500 random claims, acks, results, failures, hand-backs, expiries, validations and a cancelled job', async () => {
    // Deterministic: a failing run replays with the same seed.
    const next = seeded(20261126);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!;
    const p = makeProject();
    await store.createProject(p);
    const jobs = [makeJob(p.id, { shards: 40, replicas: 2, maxTotal: 6 }), makeJob(p.id, { shards: 25, replicas: 2, createdAt: NOW + 1 })];
    for (const j of jobs) await store.createJob(j.job, j.shards);
    const vols: Vol[] = Array.from({ length: 9 }, (_, i) => makeVolunteer(i + 1));
    const held: { v: Vol; c: Claimed }[] = [];
    let now = NOW;
    let refusedChecked = 0;

    for (let step = 0; step < 1500; step++) {
      const x = next();
      now += 10;
      if (x < 0.4 || held.length === 0) {
        const v = pick(vols);
        const c = await store.claimCopy(claimReq(v, { rules: NO_RULES, now }));
        if (c) held.push({ v, c });
        else {
          // Refused: the rows must agree that no open shard of a running job wants a copy this volunteer may take.
          const open = raw.prepare(`SELECT s.id FROM shards s JOIN jobs j ON j.id = s.job_id WHERE j.state = 'running' AND s.state = 'open'
            AND s.alive < s.wanted AND s.issued < s.max_total
            AND NOT EXISTS (SELECT 1 FROM copies c WHERE c.shard_id = s.id AND c.volunteer_id = ?)`).all(v.id);
          expect(open, 'a claim the store refused, the rows would allow').toEqual([]);
          refusedChecked++;
        }
        continue;
      }
      const i = Math.floor(next() * held.length);
      const { v, c } = held[i]!;
      if (x < 0.5) {
        await store.ackCopy(c.copy.id, v.id, now + 60_000);
      } else if (x < 0.8) {
        // Half of the results are the same bytes, so some shards validate and some do not agree.
        const w = await store.saveResult(c.copy.id, v.id, bytes(next() < 0.8 ? 1 : 2, 2, 3), 1, now, NO_RULES);
        held.splice(i, 1);
        if (w !== 'accepted') continue;
        const sr = (await store.shardResults(c.shard.id))!;
        const returned = sr.copies.filter((k) => k.state === 'returned' && k.outcome === 'pending');
        if (sr.shard.state === 'open' && returned.length >= sr.shard.wanted) {
          const res = await sr.results(returned.map((k) => k.id));
          const agree = returned.filter((k) => res.get(k.id)![0] === res.get(returned[0]!.id)![0]);
          if (agree.length === returned.length) await store.applyValidation(consensus(sr.shard, sr.job, returned));
          else {
            await store.applyValidation({
              shardId: sr.shard.id, shard: { state: 'open', wanted: sr.shard.wanted + 1, canonicalCopyId: null },
              judgements: returned.slice(1).filter((k) => !agree.includes(k)).map((k) => ({ copyId: k.id, outcome: 'invalid', reason: 'disagrees', credit: 0 })),
              credits: [],
            });
          }
        }
      } else if (x < 0.86) {
        await store.failCopy(c.copy.id, v.id, 'out of memory', now, NO_RULES);
        held.splice(i, 1);
      } else if (x < 0.9) {
        await store.releaseCopy(c.copy.id, v.id, NO_RULES);
        held.splice(i, 1);
      } else if (x < 0.97) {
        // Far enough ahead that unacknowledged copies expire.
        now += 16_000;
        await store.expireCopies(now, NO_RULES);
      } else if (x < 0.985) {
        await store.shortenLeases(v.id, now + 5);
      } else {
        await store.extendLeases(v.id, [c.copy.id], now);
      }
      if (step === 900) await store.finishJob(jobs[1]!.job.id, 'cancelled', { finishedAt: now });
      if (step % 100 === 0) checkMemoryAgainstRows();
    }
    const copies = checkMemoryAgainstRows();
    // The run must have exercised what it claims to: memory held real work, and refusals were checked.
    expect(hot().size).toBeGreaterThan(10);
    expect(copies).toBeGreaterThan(50);
    expect(refusedChecked).toBeGreaterThan(0);
    const states = raw.prepare('SELECT state, COUNT(*) AS n FROM copies GROUP BY state').all() as Row[];
    expect(states.map((r) => r.state).sort()).toEqual(expect.arrayContaining(['cancelled', 'error', 'expired', 'returned']));
  });

  it('a write that fails without a savepoint rolls back its whole group and forgets what memory held', async () => {
    const p = makeProject();
    await store.createProject(p);
    const { job, shards } = makeJob(p.id, { shards: 2 });
    await store.createJob(job, shards);
    const v1 = makeVolunteer(1);
    const v2 = makeVolunteer(2);
    const a = (await store.claimCopy(claimReq(v1)))!;
    const b = (await store.claimCopy(claimReq(v2)))!;
    expect(hot().size).toBeGreaterThan(0);
    // Both results and a broken ledger row (a negative credit) in one group commit.
    const w1 = store.saveResult(a.copy.id, v1.id, bytes(1), 1, NOW, NO_RULES);
    const w2 = store.saveResult(b.copy.id, v2.id, bytes(1), 1, NOW, NO_RULES);
    const bad = store.applyValidation({ ...consensus(a.shard, a.job, [a.copy], -1) });
    await expect(bad).rejects.toThrow(/CHECK constraint failed/);
    await expect(w1).rejects.toThrow();
    await expect(w2).rejects.toThrow();
    expect(hot().size).toBe(0);
    // Nothing of the group reached the rows, and the store goes on from the rows.
    expect((raw.prepare(`SELECT COUNT(*) AS n FROM copies WHERE state = 'returned'`).get() as Row).n).toBe(0);
    expect(await store.saveResult(a.copy.id, v1.id, bytes(1), 1, NOW, NO_RULES)).toBe('accepted');
    expect((await store.getCopy(a.copy.id))!.state).toBe('returned');
  });
});
