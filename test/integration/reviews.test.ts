/**
 * Backtracking that follows agreement, settled by the root of trust
 * (server/core/trust/review.ts), against a real coordinator (`tabgrid
 * serve`, SQLite and PostgreSQL): careful colluders are raw socket.io
 * clients computing with the real executor; the root of trust is a real
 * `tabgrid worker --node 1 --operator-token T` process.
 *
 * Orders are fixed by construction, never by timing: each raw client asks
 * for one copy at a time, in turns, so three colluders hold every copy of
 * each shard (10 shards x 3 replicas, 10 copies each, at most one copy of a
 * shard each); the operator's host starts only once the colluders' lie was
 * accepted and one of them was caught; the caught liar asks on as fast as it
 * can while the root works, and review copies go to the root only.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { decodeNpy } from '../../shared/tensor/npy.ts';
import { tensorFromTyped, typedView } from '../../shared/tensor/tensor.ts';
import { spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { startWorker } from '../helpers/worker-process.ts';
import { outputMatchesDirect as matchesDirect, runDirect } from '../helpers/direct-run.ts';
import { scrape } from '../helpers/metrics.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { RawVolunteer } from '../helpers/raw-volunteer.ts';
import { waitForJob } from '../helpers/wait.ts';
import { pgUrl, testSchemaName } from '../unit/store/harness.ts';

interface AccountView {
  balance: number; pending: number; payable: number; underReview?: number;
  changes: { kind: string; amount: number; reason: string; copyId: string | null }[];
}
const account = async (c: SpawnedCoordinator, a: string) => (await fetch(`${c.url}/api/v1/accounts/${encodeURIComponent(a)}`)).json() as Promise<AccountView>;

const OPENED = 'review opened: the caught host\'s results accepted on agreement wait for the root of trust (the coordinator\'s own computation, or an operator\'s host) to recompute them; their credit stays pending until then';
const CONFIRMED = 'review confirmed: the operator\'s own host agrees with the accepted answer; its credit is payable once its hold has passed';
const OVERTURNED = 'review overturned: the operator\'s own host computed another answer; it is the output now, and every host that agreed on the old one is caught';
const ISSUED = 'review copy issued to the operator\'s own host';
const SETTLED_OWN = 'review settled by the coordinator\'s own computation';

describe.each(['sqlite', 'postgres'] as const)('reviews settled by the root of trust (%s)', (storeKind) => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
  });

  async function coordinator(args: string[], dataDir?: string, pgArgs?: string[]): Promise<SpawnedCoordinator> {
    if (pgArgs) args = [...args, ...pgArgs];
    else if (storeKind === 'postgres') {
      const url = await pgUrl();
      const schema = testSchemaName();
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      cleanup.push(async () => {
        await admin.query(`DROP SCHEMA ${schema} CASCADE`);
        await admin.end();
      });
      args = [...args, '--postgres', `${url}?options=${encodeURIComponent(`-c search_path=${schema}`)}`];
    }
    const c = await spawnCoordinator({ args, ...(dataDir ? { dataDir } : {}) });
    cleanup.push(() => c.stop());
    return c;
  }
  async function raw(url: string, as?: { volunteerId: string; secret: string }): Promise<RawVolunteer> {
    const v = await RawVolunteer.connect(url, as);
    cleanup.push(() => v.close());
    return v;
  }
  /** The operator's own host: a real `tabgrid worker --node 1` on the operator token. */
  function rootWorker(c: SpawnedCoordinator): void {
    const worker = startWorker(c.url, { operatorToken: readFileSync(join(c.dataDir, 'operator-token'), 'utf8').trim() });
    cleanup.push(() => worker.stop());
  }

  const model = mlpModel({ width: 8, layers: 2, seed: 11 });
  async function job(c: SpawnedCoordinator, o: { records: number; replicas: number; seed: number }) {
    const x = randomInput(o.records, 8, o.seed);
    const m = await c.api.uploadBlob(model);
    const blob = await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [o.records, 8], x) }]));
    const created = await c.api.createJob({ model: m, inputs: [{ blob, format: 'tensors' }], shardSize: 4, replicas: o.replicas });
    return { id: created.id, x };
  }
  const outputMatchesDirect = (c: SpawnedCoordinator, id: string, x: Float32Array, records: number) => matchesDirect(model, c, id, x, records);

  /**
   * Three careful colluders earn trust honestly (`warmShards` shards at replicas 4 beside an honest host, in turns, so
   * each holds one copy of every shard), then hold every copy of a shard and agree on a lie: accepted and credited. The coordinator restarts
   * with spot checks on (and `restartArgs`); only the liar comes back, still lying, and fails a check against the
   * coordinator's own answer: what the group agreed on goes under review, with no operator host connected.
   */
  async function colludersCaught(o: { warmShards: number; args: string[]; restartArgs: string[] }) {
    // No spot checks yet: nothing may catch a colluder before the step meant to.
    let c = await coordinator(['--spot-checks', '0', '--credit-hold', '1h', ...o.args]);
    const pgArgs = storeKind === 'postgres' ? c.proc.spawnargs.slice(c.proc.spawnargs.indexOf('--postgres'), c.proc.spawnargs.indexOf('--postgres') + 2) : undefined;
    const group = [await raw(c.url), await raw(c.url), await raw(c.url)];
    const [liar, friend1, friend2] = group as [RawVolunteer, RawVolunteer, RawVolunteer];

    // They earn trust honestly, in turns, beside an honest host, so each holds one copy of every shard. The honest host
    // still vouches for those answers once all three colluders are caught: they are reviewed, not void (void-agreements.ts).
    const honest = await raw(c.url);
    const warm = await job(c, { records: 4 * o.warmShards, replicas: 4, seed: 4 });
    for (let i = 0; i < o.warmShards; i++) for (const v of [...group, honest]) expect(await v.step()).not.toBeNull();
    expect((await waitForJob(c.api, warm.id, 60_000)).state).toBe('completed');
    // Then they hold every copy of a shard and agree on a lie: accepted (three trusted results agree), credited.
    const lie = await job(c, { records: 4, replicas: 3, seed: 1 });
    for (const v of group) {
      v.lying = true;
      expect(await v.step()).toMatchObject({ status: 'accepted' });
    }
    expect((await waitForJob(c.api, lie.id, 60_000)).state).toBe('completed');
    expect(await outputMatchesDirect(c, lie.id, lie.x, 4)).toBe(false);
    const credited = await account(c, friend1.account);
    expect(credited.balance).toBeGreaterThan(0);
    const perShard = credited.balance / (o.warmShards + 1);

    // Restarted with spot checks on; only the liar comes back, still lying, and fails a check against the coordinator's own answer.
    const creds = { volunteerId: liar.volunteerId, secret: liar.secret };
    for (const v of [...group, honest]) await v.close();
    await c.stop();
    c = await coordinator(['--spot-checks', '0.5', '--credit-hold', '1h', ...o.args, ...o.restartArgs], c.dataDir, pgArgs);
    const fast = await raw(c.url, creds);
    fast.lying = true;
    const checked = await job(c, { records: 4, replicas: 2, seed: 2 });
    const h = await raw(c.url);
    const computed = c.waitForLog((l) => l.msg === 'computed a known answer for spot checks (no shard of the job was validated yet)', 120_000);
    expect(await h.stepUntil(computed)).toMatchObject({ job: checked.id });
    await h.close();
    const opened = await fast.stepUntil(c.waitForLog((l) => l.msg === OPENED, 120_000));
    // What it agreed on goes under review: the honest shards and the lie, none settled by volunteers' agreement.
    expect(opened).toMatchObject({ volunteer: liar.volunteerId, spot: true, jobs: expect.arrayContaining([warm.id, lie.id]) });
    expect(opened.shards).toHaveLength(o.warmShards + 1);
    return { c, liar, friend1, friend2, fast, warm, lie, credited, perShard };
  }

  it("careful colluders agreed on a lie: once one is caught, the root overturns it (output corrected, their credit reversed by new rows, every one of them caught), and fast liars asking all along (the caught one, and a fresh one) get no review copy, cannot overturn the right answers and are caught", async () => {
    // The coordinator's own computation is off: only the operator's host settles reviews, and it settles all eleven.
    const { c, liar, friend1, friend2, fast, warm, lie, credited, perShard } = await colludersCaught({ warmShards: 10, args: [], restartArgs: ['--own-reviews', 'off'] });
    // No root connected: the reviews wait, and the friends' credit for those shards stays pending, past any hold.
    const held = await account(c, friend1.account);
    expect(held.underReview).toBeCloseTo(credited.balance, 9);
    expect(held.payable).toBe(0);

    // The root of trust joins. The caught liar asks on, lying, as fast as it can, and so does a fresh liar that holds
    // no copy of any shard under review (the caught one held them all): under a recomputation majority it would take
    // the review copies and overturn right answers.
    const stranger = await raw(c.url);
    stranger.lying = true;
    rootWorker(c);
    const settled = () => c.logs.filter((l) => l.msg === CONFIRMED || l.msg === OVERTURNED).length;
    // A bound on the wait only (the root's start and 11 small shards), never a figure the test checks.
    for (const until = Date.now() + 240_000; settled() < 11 && Date.now() < until;) {
      const got = [await fast.step(), await stranger.step()];
      if (!got.some(Boolean)) await new Promise((r) => setTimeout(r, 50));
    }
    expect(settled()).toBe(11);
    // The stranger is caught too: its lies on spot checks (half its requests) are invalid.
    for (let i = 0; i < 400 && !stranger.outcomes.some((o) => o.outcome === 'invalid'); i++) {
      if (!(await stranger.step())) await new Promise((r) => setTimeout(r, 50));
    }
    expect(stranger.outcomes.some((o) => o.outcome === 'invalid')).toBe(true);
    expect(stranger.outcomes.filter((o) => o.outcome === 'valid')).toEqual([]);

    // Review copies went to the root only: none to either liar, whatever they asked.
    const issued = c.logs.filter((l) => l.msg === ISSUED);
    expect(issued.length).toBeGreaterThanOrEqual(11);
    expect(new Set(issued.map((l) => l.volunteer)).size).toBe(1);
    expect(issued.map((l) => l.volunteer)).not.toContain(liar.volunteerId);
    expect(issued.map((l) => l.volunteer)).not.toContain(stranger.volunteerId);
    const given = new Set([...fast.given, ...stranger.given].map((a) => a.copyId));
    expect(issued.filter((l) => given.has(l.copy as string))).toEqual([]);
    // The ten right answers stand; the lie is overturned and every colluder that agreed on it caught.
    expect(c.logs.filter((l) => l.msg === CONFIRMED).map((l) => l.job)).toEqual(Array(10).fill(warm.id));
    const over = c.logs.find((l) => l.msg === OVERTURNED)!;
    expect(over).toMatchObject({ job: lie.id, reason: expect.stringMatching(/^overturned: the operator's own host/) });
    expect([...(over.hosts as string[])].sort()).toEqual([liar.volunteerId, friend1.volunteerId, friend2.volunteerId].sort());
    for (const v of [friend1, friend2]) {
      expect(await c.waitForLog((l) => l.msg === 'host lost trust: it returned an invalid result; its copies are replicated again and its solo results re-verified' && l.volunteer === v.volunteerId))
        .toMatchObject({ reason: 'invalid' });
      // Their credit for the lie taken back by a new row with the reason; what they earned honestly stays, payable again.
      const after = await account(c, v.account);
      expect(after.changes.filter((x) => x.kind === 'reversal')).toMatchObject([{ amount: expect.closeTo(-perShard, 12), reason: over.reason }]);
      expect(after.balance).toBeCloseTo(10 * perShard, 9);
      expect(after.underReview).toBe(0);
    }
    // The output is corrected: the job completes again with the root's result; the honest job's output is untouched.
    expect((await waitForJob(c.api, lie.id, 120_000)).state).toBe('completed');
    expect(await outputMatchesDirect(c, lie.id, lie.x, 4)).toBe(true);
    expect(await outputMatchesDirect(c, warm.id, warm.x, 40)).toBe(true);
    const m = await scrape(c.url);
    expect(m('tabgrid_reviews_total', { event: 'opened' })).toBe(11);
    expect(m('tabgrid_reviews_total', { event: 'confirmed' })).toBe(10);
    expect(m('tabgrid_reviews_total', { event: 'overturned' })).toBe(1);
    expect(m('tabgrid_reviews', { state: 'open' })).toBe(0);
    expect(m('tabgrid_reviews_settled_total', { by: 'root', outcome: 'confirmed' })).toBe(10);
    expect(m('tabgrid_reviews_settled_total', { by: 'coordinator', outcome: 'confirmed' })).toBe(0);
    expect(c.logs.filter((l) => l.msg === SETTLED_OWN)).toEqual([]);
  }, 300_000);

  it("with no operator host connected, the coordinator's own computation settles the reviews: the lie overturned (its output a direct run's, the colluders' credit reversed by new rows, all caught), the honest answers confirmed with nothing reversed; its own copy earns nobody credit", async () => {
    const { c, liar, friend1, friend2, warm, lie, perShard } = await colludersCaught({ warmShards: 2, args: ['--trust-after', '2'], restartArgs: [] });
    // Nobody asks for work from here on: the coordinator settles the three reviews by itself. A bound on the wait only.
    for (const until = Date.now() + 180_000; c.logs.filter((l) => l.msg === SETTLED_OWN).length < 3 && Date.now() < until;) await new Promise((r) => setTimeout(r, 100));
    const settled = c.logs.filter((l) => l.msg === SETTLED_OWN);
    expect(settled.map((l) => [l.job, l.outcome]).sort()).toEqual([[lie.id, 'overturned'], [warm.id, 'confirmed'], [warm.id, 'confirmed']].sort());
    for (const l of settled) expect(l).toMatchObject({ shard: expect.any(String), computeMs: expect.any(Number), copy: expect.any(String) });
    const over = settled.find((l) => l.outcome === 'overturned')!;
    expect(over.reason).toMatch(/^overturned: the coordinator's own computation/);
    expect([...(over.hosts as string[])].sort()).toEqual([liar.volunteerId, friend1.volunteerId, friend2.volunteerId].sort());
    for (const v of [friend1, friend2]) {
      expect(await c.waitForLog((l) => l.msg === 'host lost trust: it returned an invalid result; its copies are replicated again and its solo results re-verified' && l.volunteer === v.volunteerId))
        .toMatchObject({ reason: 'invalid' });
    }
    for (const v of [liar, friend1, friend2]) {
      // The lie's credit taken back by one new row with the reason; the two confirmed answers' credit stands, no longer under review.
      const after = await account(c, v.account);
      expect(after.changes.filter((x) => x.kind === 'reversal')).toMatchObject([{ amount: expect.closeTo(-perShard, 12), reason: over.reason }]);
      expect(after.balance).toBeCloseTo(2 * perShard, 9);
      expect(after.underReview).toBe(0);
    }
    // The output is corrected with the coordinator's result; the honest job's output is untouched.
    expect((await waitForJob(c.api, lie.id, 120_000)).state).toBe('completed');
    expect(await outputMatchesDirect(c, lie.id, lie.x, 4)).toBe(true);
    expect(await outputMatchesDirect(c, warm.id, warm.x, 8)).toBe(true);
    // The coordinator's copies are the operator's: no credit, no place on the ledger's board; no root copy was issued.
    const board = await (await fetch(`${c.url}/api/v1/ledger`)).json() as { accounts: { account: string }[] };
    expect(board.accounts.map((a) => a.account)).not.toContain('coordinator');
    expect(c.logs.filter((l) => l.msg === ISSUED)).toEqual([]);
    const m = await scrape(c.url);
    expect(m('tabgrid_reviews_settled_total', { by: 'coordinator', outcome: 'overturned' })).toBe(1);
    expect(m('tabgrid_reviews_settled_total', { by: 'coordinator', outcome: 'confirmed' })).toBe(2);
    expect(m('tabgrid_reviews_settled_total', { by: 'root', outcome: 'overturned' })).toBe(0);
    expect(m('tabgrid_reviews_total', { event: 'overturned' })).toBe(1);
    expect(m('tabgrid_reviews', { state: 'open' })).toBe(0);
  }, 300_000);
});
