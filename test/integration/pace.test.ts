/**
 * The pace rule (server/core/trust/pace.ts) against a real coordinator
 * (`tabgrid serve`, SQLite and PostgreSQL): an on-off attacker earns trust
 * computing honestly but slowly, then answers a copy at once with a lie.
 *
 * Orders are fixed by construction, never by timing: every job has one
 * shard at replicas 1; the attacker (a raw socket.io client computing with
 * the real executor) takes its copy first, and the operator's own host (a
 * raw client on the operator token, computing honestly) asks only after the
 * attacker's result is in. At replicas 1 a trusted host's copy of a fresh
 * shard always stands alone (replication.ts), so the lie is issued solo,
 * whatever the draw. The only time the test reads is the margin between the
 * attacker's checked copies (each held DELAY_MS before its result) and its
 * lie (sent as soon as the copy is given): with PACE_FACTOR 4 the lie is
 * doubted up to DELAY_MS / 4 = 2 s after its assignment, far beyond a round
 * trip on a loaded machine.
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
  async function oneShardJob(c: SpawnedCoordinator, seed: number) {
    const x = randomInput(RECORDS, WIDTH, seed);
    const blob = await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [RECORDS, WIDTH], x) }]));
    const created = await c.api.createJob({ model: await c.api.uploadBlob(model), inputs: [{ blob, format: 'tensors' }], shardSize: RECORDS, replicas: 1 });
    return { id: created.id, x };
  }

  /** The same wrong output for every record, sent without computing anything. */
  const lieFor = (a: Assignment) => a.outputs.map((name) => ({
    name, dtype: 'float32', dims: [RECORDS, WIDTH], data: new Uint8Array(new Float32Array(RECORDS * WIDTH).fill(0.25).buffer),
  }));

  it('a trusted host\'s instant lie, far faster than its checked pace, does not stand alone: the root computes the shard and the liar is caught', async () => {
    // The rule is the operator's choice (off by default: TrustPolicy.pace).
    const c = await coordinator(['--trust-after', '2', '--pace', 'on']);
    const token = readFileSync(join(c.dataDir, 'operator-token'), 'utf8').trim();
    // The root first: a trusted host can be had, so the attacker's untrusted copies each want a trusted one beside them.
    const root = await raw(c, { operatorToken: token });
    const liar = await raw(c);

    // It earns trust honestly, slowly: each copy is held DELAY_MS, then agrees with the root's copy of the shard.
    for (const seed of [1, 2]) {
      const j = await oneShardJob(c, seed);
      const a = await liar.take();
      expect(a.jobId).toBe(j.id);
      // Held past the ack window: acknowledged, so it is not taken back meanwhile.
      await liar.ack(a);
      const out = await liar.compute(a);
      await new Promise((r) => setTimeout(r, DELAY_MS));
      expect(await liar.submit(a, out)).toBe('accepted');
      expect(await root.step()).toMatchObject({ copy: { jobId: j.id }, status: 'accepted' });
      expect((await waitForJob(c.api, j.id, 60_000)).state).toBe('completed');
    }
    await c.waitForLog((l) => l.msg === 'host trusted: its streak of valid results reached trustAfter in this numeric class; its copies may now stand alone' && l.volunteer === liar.volunteerId);
    expect((await scrape(c.url))('tabgrid_copies_issued_total', { replication: 'solo' })).toBe(0);

    // Trusted now, it takes a fresh shard's only copy (replicas 1: it stands alone) and lies at once.
    const j = await oneShardJob(c, 3);
    const a = await liar.take();
    expect(a.jobId).toBe(j.id);
    expect((await scrape(c.url))('tabgrid_copies_issued_total', { replication: 'solo' })).toBe(1);
    await ok(call(liar.socket, 'work:result', { copyId: a.copyId, outputs: lieFor(a), computeMs: 1 }));
    // The reply comes once the result is judged: a lie standing alone on its host's trust would have completed the job.
    expect((await c.api.job(j.id)).state).toBe('running');

    // Judged as an untrusted host's result: the shard wants one more copy, and the root (trusted) may take it.
    const doubted = await c.waitForLog((l) => l.msg === TOO_FAST);
    expect(doubted).toMatchObject({ volunteer: liar.volunteerId, copy: a.copyId, factor: PACE_FACTOR });
    expect(doubted.seen as number * PACE_FACTOR).toBeLessThan(doubted.pace as number);
    expect((await scrape(c.url))('tabgrid_results_too_fast_total')).toBe(1);
    expect(await root.step()).toMatchObject({ copy: { jobId: j.id }, status: 'accepted' });
    expect((await waitForJob(c.api, j.id, 60_000)).state).toBe('completed');
    expect(await outputMatchesDirect(model, c, j.id, j.x, RECORDS)).toBe(true);
    // The lie was compared with the root's result and found out: the liar loses its trust.
    expect(await c.waitForLog((l) => l.msg === 'host lost trust: it returned an invalid result; its copies are replicated again and its solo results re-verified'))
      .toMatchObject({ volunteer: liar.volunteerId, reason: 'invalid' });
    await expect.poll(() => liar.outcomes.find((o) => o.copyId === a.copyId)?.outcome, { timeout: 30_000 }).toBe('invalid');
  }, 180_000);
});
