/**
 * Several coordinators on one PostgreSQL database: two PgStore instances,
 * two pools, hammering the same job at once. What must hold is what one
 * SQLite process gets for free: no shard gets more copies than it wants, no
 * volunteer (wallet, address) two copies of one shard, no copy is counted,
 * returned or credited twice, and nothing is left behind by SKIP LOCKED.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Claimed, Store } from '../../../server/store/types.ts';
import { ALL_RULES, NO_RULES, NOW, bytes, claimReq, consensus, makeJob, makeProject, makeTrainJob, makeVolunteer, type Vol } from './contract.ts';
import { pgHarness, type StoreHarness } from './harness.ts';

describe('two coordinators on one PostgreSQL database', () => {
  let h: StoreHarness;
  let a: Store;
  let b: Store;
  const both = () => [a, b] as const;

  beforeEach(async () => {
    h = await pgHarness();
    [a, b] = await Promise.all([h.open(), h.open()]);
  });
  afterEach(async () => {
    await h?.dispose();
  });

  async function seed(o: Parameters<typeof makeJob>[1]) {
    const p = makeProject();
    await a.createProject(p);
    const { job, shards } = makeJob(p.id, o);
    await b.createJob(job, shards);
    return { job, shards };
  }

  /** Everything the database says about the job's shards and copies, for invariants. */
  async function snapshot(jobId: string) {
    const shards = await h.sql(`SELECT id, alive, issued, wanted, errors FROM shards WHERE job_id = '${jobId}'`);
    const copies = await h.sql(`SELECT id, shard_id, volunteer_id, wallet, address, state FROM copies WHERE job_id = '${jobId}'`);
    return { shards, copies };
  }

  function checkInvariants(s: Awaited<ReturnType<typeof snapshot>>) {
    for (const sh of s.shards) {
      const mine = s.copies.filter((c) => c.shard_id === sh.id);
      const alive = mine.filter((c) => c.state === 'assigned' || c.state === 'running' || c.state === 'returned');
      expect(Number(sh.issued), `issued of ${sh.id}`).toBe(mine.length);
      expect(Number(sh.alive), `alive of ${sh.id}`).toBe(alive.length);
      expect(alive.length).toBeLessThanOrEqual(Number(sh.wanted));
      const distinct = (k: string) => new Set(mine.map((c) => c[k]).filter((v) => v !== null)).size;
      expect(distinct('volunteer_id')).toBe(mine.length);
      expect(distinct('address')).toBe(mine.length);
      expect(distinct('wallet')).toBe(mine.filter((c) => c.wallet !== null).length);
    }
  }

  it('200 concurrent claims never exceed wanted nor give one volunteer, wallet or address two copies of a shard', async () => {
    const { job, shards } = await seed({ shards: 20, replicas: 2 });
    // 40 volunteers; pairs share a wallet, so the wallet rule has work to do.
    const vols: Vol[] = Array.from({ length: 40 }, (_, i) => makeVolunteer(i + 1, { wallet: i % 4 < 2 ? `0x${String(i >> 1).padStart(40, '0')}` : null }));
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => both()[i % 2]!.claimCopy(claimReq(vols[i % vols.length]!, { rules: ALL_RULES }))));
    const ms = performance.now() - t0;
    const granted = results.filter((r): r is Claimed => r !== null);
    expect(granted.length).toBeGreaterThan(0);
    expect(granted.length).toBeLessThanOrEqual(40);
    expect(new Set(granted.map((g) => g.copy.id)).size).toBe(granted.length);
    const perShard = new Map<string, Set<string>>();
    for (const g of granted) {
      const set = perShard.get(g.shard.id) ?? new Set();
      expect(set.has(g.copy.volunteerId)).toBe(false);
      set.add(g.copy.volunteerId);
      perShard.set(g.shard.id, set);
    }
    checkInvariants(await snapshot(job.id));

    // SKIP LOCKED may turn a claim away while another holds the shard; it must
    // never strand work: asking again, in turn, hands out every place.
    let more = 0;
    for (let round = 0; round < 5; round++) {
      for (const [i, v] of vols.entries()) if (await both()[i % 2]!.claimCopy(claimReq(v))) more++;
    }
    const s = await snapshot(job.id);
    checkInvariants(s);
    expect(granted.length + more).toBe(40);
    for (const sh of s.shards) expect(Number(sh.alive)).toBe(2);
    expect(shards).toHaveLength(20);
    console.log(`200 concurrent claims over two pools: ${granted.length} granted in ${ms.toFixed(0)} ms; ${more} more on the sequential drain`);
  });

  it('a few volunteers each racing themselves across coordinators never get two copies of a shard', async () => {
    // Six volunteers, 200 claims: each volunteer has several claims in flight
    // at once on both coordinators, the case the re-check under the lock is for.
    const { job } = await seed({ shards: 30, replicas: 3 });
    const vols = Array.from({ length: 6 }, (_, i) => makeVolunteer(i + 1));
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => both()[i % 2]!.claimCopy(claimReq(vols[i % 6]!))));
    expect(results.filter((r) => r !== null).length).toBeGreaterThan(0);
    checkInvariants(await snapshot(job.id));
    const dup = await h.sql(`SELECT shard_id, volunteer_id FROM copies GROUP BY shard_id, volunteer_id HAVING count(*) > 1`);
    expect(dup).toEqual([]);
  });

  it('200 claims on a single shard: exactly wanted copies, all distinct', async () => {
    const { job } = await seed({ shards: 1, replicas: 3 });
    const vols = Array.from({ length: 10 }, (_, i) => makeVolunteer(i + 1));
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => both()[i % 2]!.claimCopy(claimReq(vols[i % 10]!))));
    expect(results.filter((r) => r !== null).length).toBeLessThanOrEqual(3);
    checkInvariants(await snapshot(job.id));
  });

  it('the same result uploaded to both coordinators at once is accepted exactly once', async () => {
    await seed({ shards: 1, replicas: 2 });
    const c = (await a.claimCopy(claimReq(makeVolunteer(1))))!.copy;
    const writes = await Promise.all(Array.from({ length: 20 }, (_, i) => both()[i % 2]!.saveResult(c.id, c.volunteerId, bytes(i), 1, NOW + i, NO_RULES)));
    expect(writes.filter((w) => w === 'accepted')).toHaveLength(1);
    expect(writes.filter((w) => w === 'duplicate')).toHaveLength(19);
  });

  it('late results racing both reconcilers: every copy expires or returns once and the counters add up', async () => {
    const { job } = await seed({ shards: 10, replicas: 3, ackWithinMs: 1000 });
    const copies: Claimed['copy'][] = [];
    for (let i = 0; i < 30; i++) copies.push((await a.claimCopy(claimReq(makeVolunteer(i + 1))))!.copy);
    const late = copies.filter((_, i) => i % 3 === 0);
    const ops: Promise<unknown>[] = [];
    for (let i = 0; i < 6; i++) ops.push(both()[i % 2]!.expireCopies(NOW + 5000, NO_RULES));
    for (const c of late) ops.push(both()[copies.indexOf(c) % 2]!.saveResult(c.id, c.volunteerId, bytes(1), 1, NOW + 5000, NO_RULES));
    const out = await Promise.all(ops);
    const expired = (out.slice(0, 6) as Claimed['copy'][][]).flat();
    expect(new Set(expired.map((c) => c.id)).size).toBe(expired.length);
    const s = await snapshot(job.id);
    checkInvariants(s);
    const errors = s.shards.reduce((n, sh) => n + Number(sh.errors), 0);
    expect(errors).toBe(expired.length);
    expect(s.copies.filter((c) => c.state === 'returned')).toHaveLength(late.length);
    expect(s.copies.filter((c) => c.state === 'expired')).toHaveLength(30 - late.length);
  });

  it('both coordinators validating every shard at once credit each copy exactly once', async () => {
    const { job, shards } = await seed({ shards: 10, replicas: 2 });
    const byShard = new Map<string, Claimed['copy'][]>();
    for (let i = 0; i < 20; i++) {
      const c = (await b.claimCopy(claimReq(makeVolunteer(i + 1))))!.copy;
      await a.saveResult(c.id, c.volunteerId, bytes(7), 1, NOW, NO_RULES);
      byShard.set(c.shardId, [...(byShard.get(c.shardId) ?? []), c]);
    }
    await Promise.all(shards.flatMap((s) => Array.from({ length: 6 }, (_, i) => both()[i % 2]!.applyValidation(consensus(s, job, byShard.get(s.id)!, 1.5)))));
    const ledger = await h.sql(`SELECT copy_id FROM ledger WHERE job_id = '${job.id}'`);
    expect(ledger).toHaveLength(20);
    expect(new Set(ledger.map((r) => r.copy_id)).size).toBe(20);
    expect((await a.jobCounts(job.id)).credit).toBe(30);
    expect((await b.jobCounts(job.id)).shards.validated).toBe(10);
  });

  it('a job finishing while claims race: nothing is left in flight on it', async () => {
    const { job } = await seed({ shards: 30, replicas: 2 });
    const claims = Array.from({ length: 120 }, (_, i) => both()[i % 2]!.claimCopy(claimReq(makeVolunteer(i + 1))));
    const finish = new Promise((r) => setTimeout(r, 5)).then(() => b.finishJob(job.id, 'cancelled', { finishedAt: NOW, error: 'cancelled' }));
    const [, done] = await Promise.all([Promise.all(claims), finish]);
    expect(done).toBe(true);
    const inFlight = await h.sql(`SELECT id FROM copies WHERE job_id = '${job.id}' AND state IN ('assigned','running')`);
    expect(inFlight).toEqual([]);
    const open = await h.sql(`SELECT id FROM shards WHERE job_id = '${job.id}' AND state = 'open'`);
    expect(open).toEqual([]);
  });

  it('a volunteer racing both coordinators never holds more of a round than the cap', async () => {
    const p = makeProject();
    await a.createProject(p);
    const { job } = makeTrainJob(p.id, { shards: 40, shardsPerRound: 10, cap: 2, replicas: 2 });
    await a.createJob(job, makeTrainJob(p.id, { shards: 40, shardsPerRound: 10, cap: 2, replicas: 2 }).shards.map((s) => ({ ...s, jobId: job.id })));
    const vols = Array.from({ length: 4 }, (_, i) => makeVolunteer(i + 1));
    await Promise.all(Array.from({ length: 160 }, (_, i) => both()[i % 2]!.claimCopy(claimReq(vols[i % 4]!))));
    const held = await h.sql(`SELECT c.volunteer_id, s.idx / 10 AS round, count(*)::int AS n FROM copies c JOIN shards s ON s.id = c.shard_id
      WHERE c.job_id = '${job.id}' GROUP BY 1, 2`);
    expect(held.length).toBeGreaterThan(0);
    for (const r of held) expect(r.n, `volunteer ${r.volunteer_id} in round ${r.round}`).toBeLessThanOrEqual(2);
  });

  it('two coordinators closing the same training round: exactly one advances it', async () => {
    const { job, shards } = await seed({ shards: 4, replicas: 1 });
    for (let i = 0; i < 2; i++) await a.claimCopy(claimReq(makeVolunteer(i + 1)));
    const progress = { round: 1, totalRounds: 2, weightsHash: 'w', optimizerHash: 'o', optimizerStep: 1, roundStartedAt: NOW, history: [] };
    const next = (k: number) => makeJob(job.projectId, { shards: 8 }).shards.slice(4 + k * 2, 6 + k * 2).map((s) => ({ ...s, jobId: job.id }));
    const wins = await Promise.all(Array.from({ length: 8 }, (_, i) => both()[i % 2]!.advanceRound(job.id, 0, progress, next(i % 2))));
    expect(wins.filter(Boolean)).toHaveLength(1);
    const states = (await a.shardsOf(job.id)).map((s) => s.state);
    expect(states.filter((s) => s === 'open')).toHaveLength(2);
    expect(states.filter((s) => s === 'cancelled')).toHaveLength(shards.length);
    expect(await h.sql(`SELECT id FROM copies WHERE state IN ('assigned','running')`)).toEqual([]);
  });
});
