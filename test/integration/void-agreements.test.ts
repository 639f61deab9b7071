/**
 * Voiding (server/core/trust/review.ts agreementVoid, server/services/void-agreements.ts) against a real
 * coordinator (`tabgrid serve`, SQLite and PostgreSQL): two colluders, raw socket.io clients computing with the
 * real executor, earn trust beside an honest one, agree on a lie, and are both caught later. No operator host is
 * connected and the coordinator's own computation settles no review (`--own-reviews off`): before voiding, the
 * lie went under review and stayed there, wrong, for ever. Now the answer nobody uncaught vouches for is re-opened
 * and recomputed by an honest `tabgrid worker --node` beside the honest raw client.
 *
 * Orders are fixed by construction, never by timing: each raw client asks for one copy at a time, in turns; the
 * colluders are caught on the one shard whose answer the coordinator computed itself (every copy of it is judged
 * against that answer); the honest worker starts only once the lie was voided.
 */
import { describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import type { SpawnedCoordinator } from '../helpers/coordinator.ts';
import { startWorker } from '../helpers/worker-process.ts';
import { outputMatchesDirect as matchesDirect } from '../helpers/direct-run.ts';
import { scrape } from '../helpers/metrics.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { type PgSchema, freshPgSchema } from '../helpers/pg-schema.ts';
import { perTest } from '../helpers/per-test.ts';
import { RawVolunteer } from '../helpers/raw-volunteer.ts';
import { waitForJob } from '../helpers/wait.ts';

interface AccountView {
  balance: number; underReview?: number;
  changes: { kind: string; amount: number; reason: string; copyId: string | null }[];
}
const account = async (c: SpawnedCoordinator, a: string) => (await fetch(`${c.url}/api/v1/accounts/${encodeURIComponent(a)}`)).json() as Promise<AccountView>;

const VOIDED = 'agreement void: every host that agreed on this answer has since been caught; the shard is re-opened for others to recompute, every agreeing copy invalid, its credit reversed';
const OPENED = 'review opened: the caught host\'s results accepted on agreement wait for the root of trust (the coordinator\'s own computation, or an operator\'s host) to recompute them; their credit stays pending until then';
const COMPUTED = 'computed a known answer for spot checks (no shard of the job was validated yet)';

describe.each(['sqlite', 'postgres'] as const)('an answer no uncaught host vouches for is void (%s)', (storeKind) => {
  const t = perTest();
  /** The test's PostgreSQL schema: made by its first coordinator, kept across its restart, dropped after it. */
  let schema: PgSchema | null = null;

  async function coordinator(args: string[], dataDir?: string): Promise<SpawnedCoordinator> {
    if (storeKind === 'postgres') {
      if (!schema) {
        const s = schema = await freshPgSchema();
        t.defer(async () => { schema = null; await s.drop(); });
      }
      args = [...args, ...schema.serveArgs];
    }
    return t.coordinator({ args, ...(dataDir ? { dataDir } : {}) });
  }
  async function raw(url: string, as?: { volunteerId: string; secret: string }): Promise<RawVolunteer> {
    const v = await RawVolunteer.connect(url, as);
    t.defer(() => v.close());
    return v;
  }
  /** An honest volunteer: a real `tabgrid worker --node 1`, not the operator's. */
  function honestWorker(c: SpawnedCoordinator): void {
    const worker = startWorker(c.url);
    t.defer(() => worker.stop());
  }

  const model = mlpModel({ width: 8, layers: 2, seed: 11 });
  async function job(c: SpawnedCoordinator, o: { records: number; replicas: number; seed: number }) {
    const x = randomInput(o.records, 8, o.seed);
    const m = await c.api.uploadBlob(model);
    const blob = await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [o.records, 8], x) }]));
    const created = await c.api.createJob({ model: m, inputs: [{ blob, format: 'tensors' }], shardSize: 4, replicas: o.replicas });
    return { id: created.id, x };
  }

  it('two trusted colluders agreed on a lie and were both caught later: with no root of trust to settle reviews, the lie is re-opened, recomputed by honest volunteers (the output a direct run\'s), their credit for it reversed by new rows; what an honest host vouches for stays', async () => {
    // Trusted after two valid results, every copy replicated (no trusted host's copy stands alone: the colluders hold both of the lie's).
    const args = ['--trust-after', '2', '--min-replicate-probability', '1', '--credit-hold', '1h', '--own-reviews', 'off'];
    // No spot checks yet: nothing may catch a colluder before the step meant to.
    let c = await coordinator(['--spot-checks', '0', ...args]);
    const first = { a: await raw(c.url), b: await raw(c.url), h: await raw(c.url) };

    // They earn trust beside an honest host, in turns: each holds one copy of every shard (replicas 3).
    const warm = await job(c, { records: 8, replicas: 3, seed: 4 });
    for (let i = 0; i < 2; i++) for (const v of [first.a, first.b, first.h]) expect(await v.step()).not.toBeNull();
    expect((await waitForJob(c.api, warm.id, 60_000)).state).toBe('completed');
    // Then the two colluders, trusted now, hold both copies of a shard and agree on a lie: accepted, credited.
    const lie = await job(c, { records: 4, replicas: 2, seed: 1 });
    for (const v of [first.a, first.b]) {
      v.lying = true;
      expect(await v.step()).toMatchObject({ status: 'accepted' });
    }
    expect((await waitForJob(c.api, lie.id, 60_000)).state).toBe('completed');
    expect(await matchesDirect(model, c, lie.id, lie.x, 4)).toBe(false);
    const perShard = (await account(c, first.a.account)).balance / 3;
    expect(perShard).toBeGreaterThan(0);

    // Restarted with spot checks on; all three come back, the colluders still lying.
    const creds = (v: RawVolunteer) => ({ volunteerId: v.volunteerId, secret: v.secret });
    for (const v of Object.values(first)) await v.close();
    await c.stop();
    c = await coordinator(['--spot-checks', '0.5', ...args], c.dataDir);
    const [a, b, h] = [await raw(c.url, creds(first.a)), await raw(c.url, creds(first.b)), await raw(c.url, creds(first.h))];
    a.lying = true;
    b.lying = true;
    // One shard, whose answer the coordinator computes itself: every copy of it is judged against that answer.
    const checked = await job(c, { records: 4, replicas: 2, seed: 2 });
    expect(await h.stepUntil(c.waitForLog((l) => l.msg === COMPUTED, 120_000))).toMatchObject({ job: checked.id });
    // The first colluder is caught: what it agreed on goes under review (the other colluder, and the honest host, vouch for it still).
    const opened = await a.stepUntil(c.waitForLog((l) => l.msg === OPENED && l.volunteer === a.volunteerId, 120_000));
    expect([...(opened.jobs as string[])].sort()).toEqual([warm.id, lie.id].sort());
    expect(c.logs.filter((l) => l.msg === VOIDED)).toEqual([]);
    // The second is caught: nobody uncaught vouches for the lie any more. Void: re-opened without the root.
    const voided = await b.stepUntil(c.waitForLog((l) => l.msg === VOIDED, 120_000));
    expect(voided).toMatchObject({ job: lie.id, volunteer: b.volunteerId, jobReopened: true, reviewClosed: true, creditReversed: expect.closeTo(2 * perShard, 9) });
    expect([...(voided.hosts as string[])].sort()).toEqual([a.volunteerId, b.volunteerId].sort());
    expect(voided.reason).toMatch(new RegExp(`^void: every host that agreed on this answer has since been caught \\(the last, host ${b.volunteerId}, `));
    // The honest host still vouches for the warm job's answers: they are not void; their reviews wait for the root.
    expect(c.logs.filter((l) => l.msg === VOIDED)).toHaveLength(1);
    // Each is told: its copy of the lie is invalid, with the reason (pushed once it has waited; a bound on the wait only).
    const told = (v: RawVolunteer) => v.outcomes.some((o) => o.jobId === lie.id && o.outcome === 'invalid' && o.reason === voided.reason);
    for (const until = Date.now() + 30_000; !(told(a) && told(b)) && Date.now() < until;) await new Promise((r) => setTimeout(r, 100));
    for (const v of [a, b]) expect(v.outcomes).toContainEqual(expect.objectContaining({ jobId: lie.id, outcome: 'invalid', credit: 0, reason: voided.reason }));
    await a.close();
    await b.close();

    // Each colluder's credit for the lie taken back by one new row with the reason; what is under review stays theirs.
    for (const v of [a, b]) {
      const after = await account(c, v.account);
      expect(after.changes.filter((x) => x.kind === 'reversal')).toMatchObject([{ amount: expect.closeTo(-perShard, 12), reason: voided.reason }]);
      expect(after.balance).toBeCloseTo(2 * perShard, 9);
    }

    // Honest volunteers recompute it: a `tabgrid worker --node` and the honest raw client. A bound on the wait only.
    honestWorker(c);
    for (const until = Date.now() + 180_000; (await c.api.job(lie.id)).state !== 'completed' && Date.now() < until;) {
      if (!(await h.step())) await new Promise((r) => setTimeout(r, 100));
    }
    expect((await waitForJob(c.api, lie.id, 10_000)).state).toBe('completed');
    expect(await matchesDirect(model, c, lie.id, lie.x, 4)).toBe(true);
    expect(await matchesDirect(model, c, warm.id, warm.x, 8)).toBe(true);
    const m = await scrape(c.url);
    expect(m('tabgrid_shards_reopened_total', { reason: 'void' })).toBe(1);
    expect(m('tabgrid_reviews', { state: 'closed' })).toBe(1);
    expect(m('tabgrid_reviews', { state: 'open' })).toBe(2);
  }, 400_000);
});
