/**
 * The pace rule (server/core/trust/pace.ts) against a real coordinator
 * (`tabgrid serve`, SQLite and PostgreSQL, the rule on by default): an
 * on-off attacker earns trust computing honestly but slowly, then answers a
 * copy of the same job at once with a lie; or earns it in one job and lies
 * at once in the next, where it has no pace yet.
 *
 * Orders are fixed by construction, never by timing: jobs run at replicas 1;
 * the attacker (a raw socket.io client computing with the real executor)
 * takes each copy first, and the operator's own host (a raw client on the
 * operator token, computing honestly) asks only after the attacker's result
 * is in. At replicas 1 a trusted host's copy of a fresh shard always stands
 * alone (replication.ts), so the lie is issued solo, whatever the draw. The
 * only time a test reads is the margin between the attacker's checked
 * copies (each held DELAY_MS before its result) and its lie (sent as soon as
 * the copy is given): with PACE_FACTOR 4 the lie is doubted up to
 * DELAY_MS / 4 = 2 s after its assignment, far beyond a round trip on a
 * loaded machine.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Assignment } from '../../shared/protocol/events.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { PACE_FACTOR } from '../../server/core/trust/pace.ts';
import { spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { outputMatchesDirect } from '../helpers/direct-run.ts';
import { scrape } from '../helpers/metrics.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { freshPgSchema } from '../helpers/pg-schema.ts';
import { call, ok } from '../helpers/raw-client.ts';
import { RawVolunteer } from '../helpers/raw-volunteer.ts';
import { waitForJob } from '../helpers/wait.ts';

/** How long the attacker holds each copy it computes honestly before its result: its checked pace. */
const DELAY_MS = 8_000;
const WIDTH = 8;
const RECORDS = 4;

const TOO_FAST = 'result too fast for its host: judged as an untrusted host\'s';

describe.each(['sqlite', 'postgres'] as const)('the pace rule (%s)', (storeKind) => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
  });

  async function coordinator(args: string[]): Promise<SpawnedCoordinator> {
    if (storeKind === 'postgres') {
      const schema = await freshPgSchema();
      cleanup.push(() => schema.drop());
      args = [...args, ...schema.serveArgs];
    }
    const c = await spawnCoordinator({ args });
    cleanup.push(() => c.stop());
    return c;
  }
  async function raw(c: SpawnedCoordinator, extra: object = {}): Promise<RawVolunteer> {
    const v = await RawVolunteer.connect(c.url, undefined, extra);
    cleanup.push(() => v.close());
    return v;
  }

  const model = mlpModel({ width: WIDTH, layers: 2, seed: 17 });
  /** A job of `shards` shards of RECORDS records, at replicas 1. */
  async function jobOf(c: SpawnedCoordinator, seed: number, shards: number) {
    const x = randomInput(RECORDS * shards, WIDTH, seed);
    const blob = await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [RECORDS * shards, WIDTH], x) }]));
    const created = await c.api.createJob({ model: await c.api.uploadBlob(model), inputs: [{ blob, format: 'tensors' }], shardSize: RECORDS, replicas: 1 });
    return { id: created.id, x, records: RECORDS * shards };
  }

  /** Two copies of one shard: an assignment names no shard (opaque copies), but its records are the shard's. */
  const sameShard = (a: Assignment, b: Assignment) => Buffer.from(a.inputs[0]!.data).equals(Buffer.from(b.inputs[0]!.data));

  /** The same wrong output for every record, sent without computing anything. */
  const lieFor = (a: Assignment) => a.outputs.map((name) => ({
    name, dtype: 'float32', dims: [RECORDS, WIDTH], data: new Uint8Array(new Float32Array(RECORDS * WIDTH).fill(0.25).buffer),
  }));

  /**
   * The attacker earns trust honestly on two shards of the job, holding both copies at once (so the root, asking
   * after, can be given only those two), each kept `holdMs` before its result, then agreed with by the root's copy.
   */
  async function earnTrust(c: SpawnedCoordinator, root: RawVolunteer, liar: RawVolunteer, jobId: string, holdMs: number) {
    const held = [await liar.take(), await liar.take()];
    for (const a of held) {
      expect(a.jobId).toBe(jobId);
      // Held past the ack window: acknowledged, so it is not taken back meanwhile.
      await liar.ack(a);
    }
    const outs = await Promise.all(held.map((a) => liar.compute(a)));
    await new Promise((r) => setTimeout(r, holdMs));
    for (const [i, a] of held.entries()) expect(await liar.submit(a, outs[i]!)).toBe('accepted');
    for (let i = 0; i < 2; i++) {
      const checked = await root.step();
      expect(checked).toMatchObject({ copy: { jobId }, status: 'accepted' });
      expect(held.some((a) => sameShard(checked!.copy, a))).toBe(true);
    }
    await c.waitForLog((l) => l.msg === 'host trusted: its streak of valid results reached trustAfter in this numeric class; its copies may now stand alone' && l.volunteer === liar.volunteerId);
  }

  /** Trusted now, the attacker takes a fresh shard's only copy (replicas 1: it stands alone) and lies at once. */
  async function lieAlone(c: SpawnedCoordinator, liar: RawVolunteer, jobId: string): Promise<Assignment> {
    const solo = async () => (await scrape(c.url))('tabgrid_copies_issued_total', { replication: 'solo' }) ?? 0;
    const before = await solo();
    const a = await liar.take();
    expect(a.jobId).toBe(jobId);
    expect(await solo()).toBe(before + 1);
    await ok(call(liar.socket, 'work:result', { copyId: a.copyId, outputs: lieFor(a), computeMs: 1 }));
    // The reply comes once the result is judged: a lie standing alone on its host's trust would have completed the job.
    expect((await c.api.job(jobId)).state).toBe('running');
    return a;
  }

  /**
   * The root computes the lied-on shard (the only one wanting a copy); `rest` lets the job's other shards go and
   * the root computes them; the job completes right, and the liar is caught for its lie.
   */
  async function rootCatches(c: SpawnedCoordinator, root: RawVolunteer, liar: RawVolunteer, job: { id: string; x: Float32Array; records: number }, lie: Assignment,
    rest: () => Promise<number> = async () => 0) {
    const checked = await root.step();
    expect(checked).toMatchObject({ copy: { jobId: job.id }, status: 'accepted' });
    expect(sameShard(checked!.copy, lie)).toBe(true);
    for (let i = await rest(); i > 0; i--) expect(await root.step()).toMatchObject({ copy: { jobId: job.id }, status: 'accepted' });
    expect((await waitForJob(c.api, job.id, 60_000)).state).toBe('completed');
    expect(await outputMatchesDirect(model, c, job.id, job.x, job.records)).toBe(true);
    expect(await c.waitForLog((l) => l.msg === 'host lost trust: it returned an invalid result; its copies are replicated again and its solo results re-verified'))
      .toMatchObject({ volunteer: liar.volunteerId, reason: 'invalid' });
    await expect.poll(() => liar.outcomes.find((o) => o.copyId === lie.copyId)?.outcome, { timeout: 30_000 }).toBe('invalid');
  }

  it('a trusted host\'s instant lie, far faster than its checked pace in the job, does not stand alone: the root computes the shard and the liar is caught', async () => {
    // On by default (TrustPolicy.pace).
    const c = await coordinator(['--trust-after', '2']);
    const token = readFileSync(join(c.dataDir, 'operator-token'), 'utf8').trim();
    // Four shards: the attacker earns its trust on two; a third party holds the other two (copies in flight are
    // held back from everyone: one copy at a time), so the root can be given only the attacker's, then lets one
    // go. It takes them before any trusted host is connected: each shard wants one result (replicas 1), not a
    // trusted one beside it, and one let go may be the attacker's alone once it is trusted.
    const job = await jobOf(c, 1, 4);
    const holder = await raw(c);
    const hostages = [await holder.take(), await holder.take()];
    // Acknowledged, they are held for the lease; the holder lets each go with a failure report (reissued at once).
    for (const a of hostages) await holder.ack(a);
    // The root next: a trusted host can be had, so the attacker's untrusted copies each want a trusted one beside them.
    const root = await raw(c, { operatorToken: token });
    const liar = await raw(c);
    // It earns trust honestly, slowly: each copy is held DELAY_MS, its pace in this job.
    await earnTrust(c, root, liar, job.id, DELAY_MS);
    await holder.fail(hostages[0]!);
    const lie = await lieAlone(c, liar, job.id);
    expect(sameShard(lie, hostages[0]!)).toBe(true);

    // Judged as an untrusted host's result: the shard wants one more copy, and the root (trusted) may take it.
    const doubted = await c.waitForLog((l) => l.msg === TOO_FAST);
    expect(doubted).toMatchObject({ volunteer: liar.volunteerId, copy: lie.copyId, factor: PACE_FACTOR });
    expect(doubted.seen as number * PACE_FACTOR).toBeLessThan(doubted.pace as number);
    expect((await scrape(c.url))('tabgrid_results_too_fast_total')).toBe(1);
    await rootCatches(c, root, liar, job, lie, async () => {
      await holder.fail(hostages[1]!);
      return 1;
    });
  }, 180_000);

  it('a trusted host\'s first result in a job does not stand alone: a liar trusted in one job lying at once in the next is checked and caught', async () => {
    const c = await coordinator(['--trust-after', '2']);
    const token = readFileSync(join(c.dataDir, 'operator-token'), 'utf8').trim();
    const root = await raw(c, { operatorToken: token });
    const liar = await raw(c);
    // Trust earned in one job (at no particular speed: its pace there says nothing of another job's shards).
    const first = await jobOf(c, 1, 2);
    await earnTrust(c, root, liar, first.id, 0);
    expect((await waitForJob(c.api, first.id, 60_000)).state).toBe('completed');

    const next = await jobOf(c, 2, 1);
    const lie = await lieAlone(c, liar, next.id);
    // Not doubted as too fast (there is no pace to be too fast for), only not left alone.
    expect((await scrape(c.url))('tabgrid_results_too_fast_total')).toBe(0);
    await rootCatches(c, root, liar, next, lie);
  }, 180_000);
});
