/**
 * Spot checks with known answers, and backtracking, against a real
 * coordinator (`tabgrid serve`) with real volunteers: raw socket.io clients
 * that compute with the real executor (the one `tabgrid worker --node`
 * runs) and lie when told to, beside honest in-process volunteers.
 *
 * Orders are fixed by construction, never by timing: a raw client asks for
 * one copy at a time, and where a draw decides (is this request a spot
 * check?) the client asks again until it has what the step needs: at
 * `--spot-checks 0.5`, 200 requests without one have probability 2^-200.
 */
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { Assignment } from '../../shared/protocol/events.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { decodeNpy } from '../../shared/tensor/npy.ts';
import { tensorFromTyped, typedView } from '../../shared/tensor/tensor.ts';
import { POOL_TTL_MS } from '../../server/services/spot-checks.ts';
import { spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { outputMatchesDirect as matchesDirect, runDirect } from '../helpers/direct-run.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { freshPgSchema } from '../helpers/pg-schema.ts';
import { lie, RawVolunteer } from '../helpers/raw-volunteer.ts';
import { startVolunteer, type TestVolunteer } from '../helpers/volunteers.ts';
import { scrape } from '../helpers/metrics.ts';
import { waitForJob } from '../helpers/wait.ts';

/** Whether two copies are of one shard, as friends comparing notes can tell: the same job and the same input bytes. */
function sameShard(a: Assignment, b: Assignment): boolean {
  const key = (x: Assignment) => JSON.stringify([x.jobId, x.inputs.map((t) => [t.name, t.dims, Buffer.from(t.data as Uint8Array).toString('base64')])]);
  return key(a) === key(b);
}

interface AccountView { balance: number; pending: number; changes: { kind: string; amount: number; reason: string; copyId: string | null }[] }
const account = async (c: SpawnedCoordinator, a: string) => (await fetch(`${c.url}/api/v1/accounts/${encodeURIComponent(a)}`)).json() as Promise<AccountView>;

/** Rows of a query on the coordinator's own database (its SQLite file, or its PostgreSQL schema), read beside it. */
async function storeRows(c: SpawnedCoordinator, sql: string): Promise<Record<string, unknown>[]> {
  const at = c.proc.spawnargs.indexOf('--postgres');
  if (at < 0) {
    const db = new Database(join(c.dataDir, 'tabgrid.sqlite'), { readonly: true });
    try {
      return db.prepare(sql).all() as Record<string, unknown>[];
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: c.proc.spawnargs[at + 1] });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

type SpotCounts = { issued: number; passed: number; failed: number };

/**
 * The spot-check counters on /metrics, and the same counted in the store: the copies issued as spot checks
 * (since `since`: the counters start at zero with each coordinator process), and how they were judged. Read once
 * no returned spot-check copy awaits its judgement (a counter moves just after its judgement is written).
 */
async function spotCounts(c: SpawnedCoordinator, since = 0): Promise<{ counters: SpotCounts; store: SpotCounts }> {
  const unjudged = `SELECT COUNT(*) AS n FROM copies WHERE spot = 1 AND state = 'returned' AND outcome = 'pending' AND assigned_at >= ${since}`;
  while (Number((await storeRows(c, unjudged))[0]!.n) > 0) await new Promise((r) => setTimeout(r, 100));
  const [r] = await storeRows(c, `SELECT COUNT(*) AS issued, COUNT(CASE WHEN outcome = 'valid' THEN 1 END) AS passed,
    COUNT(CASE WHEN outcome = 'invalid' THEN 1 END) AS failed FROM copies WHERE spot = 1 AND assigned_at >= ${since}`);
  const m = await scrape(c.url);
  return {
    counters: { issued: m('tabgrid_spot_checks_total', { event: 'issued' })!, passed: m('tabgrid_spot_checks_total', { event: 'passed' })!, failed: m('tabgrid_spot_checks_total', { event: 'failed' })! },
    store: { issued: Number(r!.issued), passed: Number(r!.passed), failed: Number(r!.failed) },
  };
}

describe.each(['sqlite', 'postgres'] as const)('spot checks and backtracking (%s)', (storeKind) => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
  });

  async function coordinator(args: string[], dataDir?: string, pgArgs?: string[]): Promise<SpawnedCoordinator> {
    if (pgArgs) args = [...args, ...pgArgs];
    else if (storeKind === 'postgres') {
      const db = await freshPgSchema();
      cleanup.push(() => db.drop());
      args = [...args, ...db.serveArgs];
    }
    const c = await spawnCoordinator({ args, ...(dataDir ? { dataDir } : {}) });
    cleanup.push(() => c.stop());
    return c;
  }
  async function raw(url: string, as?: { volunteerId: string; secret: string }, extra?: object): Promise<RawVolunteer> {
    const v = await RawVolunteer.connect(url, as, extra);
    cleanup.push(() => v.close());
    return v;
  }
  function honest(url: string): TestVolunteer {
    const v = startVolunteer(url);
    cleanup.push(() => v.stop());
    return v;
  }

  const model = mlpModel({ width: 8, layers: 2, seed: 11 });
  async function job(c: SpawnedCoordinator, o: { records: number; replicas: number; seed: number; shardSize?: number; leaseSeconds?: number }) {
    const x = randomInput(o.records, 8, o.seed);
    const m = await c.api.uploadBlob(model);
    const blob = await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [o.records, 8], x) }]));
    const created = await c.api.createJob({
      model: m, inputs: [{ blob, format: 'tensors' }], shardSize: o.shardSize ?? 4, replicas: o.replicas, ...(o.leaseSeconds ? { leaseSeconds: o.leaseSeconds } : {}),
    });
    return { id: created.id, x };
  }

  /**
   * Known answers, by construction: the operator's own host (trusted from its first result) computes `n` shards of
   * a job of one record a shard that wants one result per shard, each accepted on its word, and holds the job's
   * last shard (acknowledged, for the job's hour-long lease), so the job runs on and nothing is left to claim:
   * every copy anyone else is given from then on is a known-answer copy of one of those `n` shards.
   */
  async function operatorPool(c: SpawnedCoordinator, n: number): Promise<RawVolunteer> {
    const o = await raw(c.url, undefined, { operatorToken: readFileSync(join(c.dataDir, 'operator-token'), 'utf8').trim() });
    await job(c, { records: n + 1, replicas: 1, seed: 7, shardSize: 1, leaseSeconds: 3600 });
    // Its own requests drawn as spot checks find only shards it computed: it gets ordinary copies.
    for (let i = 0; i < n; i++) expect((await o.step())?.status).toBe('accepted');
    await o.ack(await o.take());
    return o;
  }
  const outputMatchesDirect = (c: SpawnedCoordinator, id: string, x: Float32Array, records: number) => matchesDirect(model, c, id, x, records);

  it('a trusted host turns liar: its unreplicated results are recomputed by others, the outputs corrected, its credit reversed by new ledger rows', async () => {
    // First without spot checks, so nothing can catch the liar before the step that is meant to. The pace rule
    // off: its first result in a new job would not stand alone (pace.ts); this is about catching a liar whose
    // results did (an on-off attacker as patient as its checked pace).
    let c = await coordinator(['--spot-checks', '0', '--credit-hold', '1h', '--pace', 'off']);
    const pgArgs = storeKind === 'postgres' ? c.proc.spawnargs.slice(c.proc.spawnargs.indexOf('--postgres'), c.proc.spawnargs.indexOf('--postgres') + 2) : undefined;
    let turncoat = await raw(c.url);
    const h1 = await raw(c.url);

    // It earns trust honestly: ten shards that it and another volunteer computed alike (trust comes after 10).
    const warmUp = await job(c, { records: 40, replicas: 2, seed: 4 });
    for (let i = 0; i < 10; i++) {
      expect(await turncoat.step()).not.toBeNull();
      expect(await h1.step()).not.toBeNull();
    }
    expect((await waitForJob(c.api, warmUp.id, 60_000)).state).toBe('completed');

    const honestCredit = (await account(c, turncoat.account)).balance;
    expect(honestCredit).toBeGreaterThan(0);
    // Then it lies on a job that wants one result per shard: accepted on its word alone, credited (pending).
    const solo = await job(c, { records: 16, replicas: 1, seed: 1 });
    turncoat.lying = true;
    while ((await c.api.job(solo.id)).state === 'running') expect(await turncoat.step()).not.toBeNull();
    expect(await outputMatchesDirect(c, solo.id, solo.x, 16)).toBe(false);
    const earned = await account(c, turncoat.account);
    expect(earned.pending).toBeGreaterThan(honestCredit);
    expect(earned.changes).toEqual([]);
    // What the operator saw: both hosts earned trust on the tenth shard (and the log says which, at what streak);
    // the warm-up's copies were replicated, the lie's four stood alone.
    const before = await scrape(c.url);
    expect(before('tabgrid_hosts_trusted_total')).toBe(2);
    expect(c.logs.filter((l) => l.msg === 'host trusted: its streak of valid results reached trustAfter in this numeric class; its copies may now stand alone')
      .map((l) => [l.volunteer, l.streak]).sort()).toEqual([[turncoat.volunteerId, 10], [h1.volunteerId, 10]].sort());
    expect(before('tabgrid_copies_issued_total', { replication: 'replicated' })).toBe(20);
    expect(before('tabgrid_copies_issued_total', { replication: 'solo' })).toBe(4);

    // The coordinator restarts with spot checks on (its own answers included); the turncoat comes back as itself.
    const creds = { volunteerId: turncoat.volunteerId, secret: turncoat.secret };
    await turncoat.close();
    await h1.close();
    await c.stop();
    c = await coordinator(['--spot-checks', '0.5', '--credit-hold', '1h', '--pace', 'off'], c.dataDir, pgArgs);
    turncoat = await raw(c.url, creds);
    turncoat.lying = true;

    // A one-shard job: an honest volunteer takes a copy and asks on until the coordinator has computed the shard itself.
    const checked = await job(c, { records: 4, replicas: 2, seed: 2 });
    const h2 = await raw(c.url);
    const computed = c.waitForLog((l) => l.msg === 'computed a known answer for spot checks (no shard of the job was validated yet)', 120_000);
    expect(await h2.stepUntil(computed)).toMatchObject({ job: checked.id });

    // The turncoat's copy of that shard (however it was issued) is checked against the coordinator's answer and fails.
    const caught = c.waitForLog((l) => l.msg === 'backtracking: the host\'s results accepted on its word alone are re-opened for others to recompute, their credit reversed', 120_000);
    const log = await turncoat.stepUntil(caught);
    expect(log).toMatchObject({ volunteer: turncoat.volunteerId, spot: true, reopened: 4, jobsRerun: [solo.id] });
    expect(String(log.reason)).toMatch(/^reversed: this host failed a spot check \(copy .+\), so the results it had accepted without a second opinion since it joined are recomputed by others$/);

    // Its credit for them is taken back by new rows, each with the reason; nothing was updated in place.
    const after = await account(c, turncoat.account);
    const reversals = after.changes.filter((x) => x.kind === 'reversal');
    expect(reversals).toHaveLength(4);
    for (const r of reversals) expect(r.reason).toBe(log.reason);
    // What it earned honestly stays; what it lied for is gone.
    expect(after.balance).toBeCloseTo(honestCredit, 9);
    expect(reversals.reduce((sum, r) => sum + r.amount, 0)).toBeCloseTo(honestCredit - earned.balance, 9);

    // The log says which host lost its trust, in which class, and why; /metrics counts it all.
    expect(await c.waitForLog((l) => l.msg === 'host lost trust: it failed a spot check; its copies are replicated again and its solo results re-verified'))
      .toMatchObject({ volunteer: turncoat.volunteerId, class: expect.stringMatching(/^wasm\//), reason: 'spot_check_failed', streakWas: expect.any(Number) });
    const m = await scrape(c.url);
    // The counters count the copies issued as spot checks, exactly (the turncoat's copy of the shard may have been one, or not).
    const counts = await spotCounts(c);
    expect(counts.counters).toEqual(counts.store);
    expect(m('tabgrid_hosts_lost_trust_total', { reason: 'spot_check_failed' })).toBe(1);
    expect(m('tabgrid_hosts_lost_trust_total', { reason: 'invalid' })).toBe(0);
    expect(m('tabgrid_shards_reopened_total', { reason: 'backtracking' })).toBe(4);
    // A reversal row carries the credit taken back as a negative amount; the counter adds what was taken back.
    expect(m('tabgrid_credit_reversed_total')).toBeCloseTo(-reversals.reduce((sum, r) => sum + r.amount, 0), 6);

    // Honest volunteers recompute the re-opened shards: the job completes again, with the right outputs.
    await turncoat.close();
    await h2.close();
    honest(c.url);
    honest(c.url);
    expect((await waitForJob(c.api, solo.id, 120_000)).state).toBe('completed');
    expect(await outputMatchesDirect(c, solo.id, solo.x, 16)).toBe(true);
    expect((await waitForJob(c.api, checked.id, 120_000)).state).toBe('completed');
    expect(await outputMatchesDirect(c, checked.id, checked.x, 4)).toBe(true);
  }, 300_000);

  it("keeps the coordinator's own known answers across a restart: a liar's copy after it is checked against the answer computed before", async () => {
    let c = await coordinator(['--spot-checks', '0.5']);
    const pgArgs = storeKind === 'postgres' ? c.proc.spawnargs.slice(c.proc.spawnargs.indexOf('--postgres'), c.proc.spawnargs.indexOf('--postgres') + 2) : undefined;
    const j = await job(c, { records: 4, replicas: 2, seed: 5 });
    // An honest volunteer takes a copy of the one shard and asks on until the coordinator has computed the shard itself.
    const h = await raw(c.url);
    const computed = c.waitForLog((l) => l.msg === 'computed a known answer for spot checks (no shard of the job was validated yet)', 120_000);
    let done = false;
    void computed.then(() => { done = true; });
    for (let i = 0; i < 200 && !done; i++) {
      if (!(await h.step())) await new Promise((r) => setTimeout(r, 100));
    }
    const answer = await computed;
    expect(answer).toMatchObject({ job: j.id });
    await h.close();
    await c.stop();

    // Restarted unable to compute any answer of its own (--known-answer-seconds 0): what it checks against is from before.
    const restartedAt = Date.now();
    c = await coordinator(['--spot-checks', '0.5', '--known-answer-seconds', '0'], c.dataDir, pgArgs);
    expect(await c.waitForLog((l) => l.msg === 'known answers kept from before the restart: spot checks use them')).toMatchObject({ answers: 1, jobs: 1 });
    const liar = await raw(c.url);
    liar.lying = true;
    // Its copy of the shard (a known-answer copy or the shard's second copy) is judged against the answer computed before.
    const failed = c.waitForLog((l) => l.msg === 'spot check failed: the copy disagrees with the coordinator\'s own result; invalid, no credit, the host loses its trust', 120_000);
    let failedYet = false;
    void failed.then(() => { failedYet = true; });
    for (let i = 0; i < 200 && !failedYet; i++) {
      if (!(await liar.step())) await new Promise((r) => setTimeout(r, 100));
    }
    expect(await failed).toMatchObject({ volunteer: liar.volunteerId, shard: answer.shard, job: j.id });
    // Every known-answer copy issued since the restart was of the shard answered before it; nothing was computed anew.
    for (const l of c.logs.filter((x) => x.msg === 'issued a known-answer copy (spot check)')) expect(l).toMatchObject({ shard: answer.shard, answer: 'coordinator' });
    expect(c.logs.some((l) => l.msg === 'computed a known answer for spot checks (no shard of the job was validated yet)')).toBe(false);
    // Counted as a failed spot check only if it was issued as one.
    const liarSpot = c.logs.some((l) => l.msg === 'issued a known-answer copy (spot check)' && l.volunteer === liar.volunteerId);
    const counts = await spotCounts(c, restartedAt);
    expect(counts.counters).toEqual(counts.store);
    expect(counts.counters.failed).toBe(liarSpot ? 1 : 0);
  }, 300_000);

  it("catches an untrusted liar with the coordinator's own answer before any shard is validated; the job completes right", async () => {
    const c = await coordinator(['--spot-checks', '0.5']);
    const j = await job(c, { records: 32, replicas: 2, seed: 3 });
    const liar = await raw(c.url);
    liar.lying = true;
    // A spot draw finds no known answer: the coordinator computes one shard itself.
    const computed = c.waitForLog((l) => l.msg === 'computed a known answer for spot checks (no shard of the job was validated yet)', 120_000);
    const answer = await liar.stepUntil(computed);
    expect(answer).toMatchObject({ job: j.id });
    // The liar goes on asking (a copy of that shard is a check), honest volunteers join: the liar's copy of
    // that shard, whenever it took it, fails against the coordinator's answer.
    honest(c.url);
    honest(c.url);
    const failed = c.waitForLog((l) => l.msg === 'spot check failed: the copy disagrees with the coordinator\'s own result; invalid, no credit, the host loses its trust', 120_000);
    const f = await liar.stepUntil(failed);
    expect(f).toMatchObject({ volunteer: liar.volunteerId, shard: answer.shard, job: j.id });
    expect(String(f.reason)).toMatch(/^spot check failed: disagrees with the coordinator's own result: /);
    // An untrusted liar had no trust to lose: no host lost trust.
    const m = await scrape(c.url);
    expect(m('tabgrid_hosts_lost_trust_total', { reason: 'spot_check_failed' })).toBe(0);
    liar.socket.close();
    expect((await waitForJob(c.api, j.id, 120_000)).state).toBe('completed');
    expect(await outputMatchesDirect(c, j.id, j.x, 32)).toBe(true);
    expect((await account(c, liar.account)).balance).toBe(0);
    // The counters count the copies issued as spot checks, exactly: the liar's failing copy is one only if it was issued as one.
    const counts = await spotCounts(c);
    expect(counts.counters).toEqual(counts.store);
  }, 300_000);

  it('counts exactly the copies issued as spot checks: a late copy that agrees with its validated shard is none', async () => {
    const c = await coordinator(['--spot-checks', '0.5', '--known-answer-seconds', '0']);
    // No answer is known yet (none validated beside an operator host's result, none computed): every copy is an ordinary one.
    const late = await job(c, { records: 4, replicas: 2, seed: 6 });
    const x = await raw(c.url);
    const y = await raw(c.url);
    const z = await raw(c.url);
    const lost = await x.take();
    await x.fail(lost);
    expect((await y.step())?.status).toBe('accepted');
    expect((await z.step())?.status).toBe('accepted');
    expect((await waitForJob(c.api, late.id, 60_000)).state).toBe('completed');
    // The first volunteer's result comes after all: late, judged against the validated result, and agreeing. No spot check.
    expect(await x.submit(lost, await x.compute(lost))).toBe('accepted');
    expect(await storeRows(c, `SELECT outcome, reason, spot FROM copies WHERE id = '${lost.copyId}'`))
      .toEqual([{ outcome: 'valid', reason: 'late, agrees with the canonical result', spot: 0 }]);

    // Then two known-answer copies: an honest volunteer's passes, a liar's fails.
    await operatorPool(c, 2);
    const honestOne = await raw(c.url);
    const liar = await raw(c.url);
    const h = await honestOne.take();
    expect(await honestOne.submit(h, await honestOne.compute(h))).toBe('accepted');
    const l = await liar.take();
    expect(await liar.submit(l, lie(await liar.compute(l)))).toBe('accepted');
    const counts = await spotCounts(c);
    expect(counts.store).toEqual({ issued: 2, passed: 1, failed: 1 });
    expect(counts.counters).toEqual(counts.store);
  }, 300_000);

  it('careful colluders lie only where the two of them hold every copy of a shard: on a known answer issued to both, both fail, lose their trust and get no credit; what only the two of them vouched for is void', async () => {
    // A known answer's first copy waits an hour here for its second host, so no stall of a loaded machine splits a pair.
    // With --spot-pair-seconds 0 (known answers go out singly) the colluders' two copies are of one shard once in 16: this test fails.
    const c = await coordinator(['--spot-checks', '0.5', '--known-answer-seconds', '0', '--trust-after', '3', '--min-replicate-probability', '1', '--spot-pair-seconds', '3600']);
    const a = await raw(c.url);
    const b = await raw(c.url);
    // They earn trust honestly, together: three shards both computed alike (trust comes after 3 here; no copy stands alone).
    const warmUp = await job(c, { records: 12, replicas: 2, seed: 8 });
    for (let i = 0; i < 3; i++) {
      expect((await a.step())?.status).toBe('accepted');
      expect((await b.step())?.status).toBe('accepted');
    }
    expect((await waitForJob(c.api, warmUp.id, 60_000)).state).toBe('completed');
    expect((await scrape(c.url))('tabgrid_hosts_trusted_total')).toBe(2);
    const earned = [(await account(c, a.account)).balance, (await account(c, b.account)).balance];
    expect(earned.every((x) => x > 0)).toBe(true);

    // Sixteen known answers, and nothing else to claim. The coordinator reads its pool of known answers again once it
    // is POOL_TTL_MS old: past that, all sixteen are in it.
    await operatorPool(c, 16);
    await new Promise((r) => setTimeout(r, POOL_TTL_MS + 500));
    // Their plan: each takes a copy; when the two are of one shard they hold every copy of it, and both upload the same
    // wrong output (what they would do with a real shard); otherwise both compute honestly, as trusted hosts must.
    const ca = await a.take();
    const cb = await b.take();
    const [outA, outB] = [await a.compute(ca), await b.compute(cb)];
    const together = sameShard(ca, cb);
    expect(await a.submit(ca, together ? lie(outA) : outA)).toBe('accepted');
    expect(await b.submit(cb, together ? lie(outB) : outB)).toBe('accepted');

    // The shard they held together was a trap: both copies failed their checks, and both hosts lost their trust.
    expect(await storeRows(c, `SELECT outcome, spot FROM copies WHERE id IN ('${ca.copyId}', '${cb.copyId}')`))
      .toEqual([{ outcome: 'invalid', spot: 1 }, { outcome: 'invalid', spot: 1 }]);
    for (const v of [a, b]) {
      expect(await c.waitForLog((x) => x.msg === 'host lost trust: it failed a spot check; its copies are replicated again and its solo results re-verified' && x.volunteer === v.volunteerId))
        .toMatchObject({ reason: 'spot_check_failed', streakWas: 3 });
    }
    expect((await scrape(c.url))('tabgrid_hosts_lost_trust_total', { reason: 'spot_check_failed' })).toBe(2);
    const counts = await spotCounts(c);
    expect(counts.store).toEqual({ issued: 2, passed: 0, failed: 2 });
    expect(counts.counters).toEqual(counts.store);
    // No credit for it. And what they computed together while earning their trust, only the two of them vouched for:
    // both caught since, it is void (void-agreements.ts), re-opened for others, its credit reversed by new rows too.
    const voided = () => c.logs.filter((l) => l.msg === 'agreement void: every host that agreed on this answer has since been caught; the shard is re-opened for others to recompute, every agreeing copy invalid, its credit reversed');
    for (const until = Date.now() + 60_000; voided().length < 3 && Date.now() < until;) await new Promise((r) => setTimeout(r, 100));
    expect(voided().map((l) => l.job)).toEqual([warmUp.id, warmUp.id, warmUp.id]);
    for (const v of [a, b]) expect((await account(c, v.account)).balance).toBeCloseTo(0, 12);
    expect((await account(c, a.account)).changes.filter((x) => x.kind === 'reversal').map((x) => x.amount).reduce((n, x) => n - x, 0)).toBeCloseTo(earned[0]!, 12);
    expect((await scrape(c.url))('tabgrid_shards_reopened_total', { reason: 'void' })).toBe(3);
  }, 300_000);
});
