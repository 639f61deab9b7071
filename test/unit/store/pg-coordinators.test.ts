/**
 * Two real `tabgrid serve --postgres` processes on one database and one
 * shared data directory (the blob directory must be shared), volunteers
 * connected to both: a job submitted to one completes with outputs equal to
 * a direct run, and every validated copy is credited once. End to end, so it
 * spawns processes like test/integration does; it lives here because it is
 * the PostgreSQL store's reason to exist.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infer } from '../../../cli/commands/infer.ts';
import { outputsDisagreement } from '../../../server/core/validation/compare.ts';
import { encodeNpy } from '../../../shared/tensor/npy.ts';
import { tensorFromTyped } from '../../../shared/tensor/tensor.ts';
import { decodeTensorProto } from '../../../shared/tensor/tensorproto.ts';
import { spawnCoordinator, type SpawnedCoordinator } from '../../helpers/coordinator.ts';
import { runDirect } from '../../helpers/direct-run.ts';
import { mlpModel, randomInput } from '../../helpers/onnx-builder.ts';
import { freshPgSchema, type PgSchema } from '../../helpers/pg-schema.ts';
import { startVolunteer, type TestVolunteer } from '../../helpers/volunteers.ts';

describe('two coordinators sharing PostgreSQL', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tabgrid-pg2-'));
  let db: PgSchema;
  let a: SpawnedCoordinator | undefined;
  let b: SpawnedCoordinator | undefined;
  const volunteers: TestVolunteer[] = [];

  beforeAll(async () => {
    db = await freshPgSchema();
    const args = db.serveArgs;
    // The first start creates the local project and its token file; the second finds both.
    a = await spawnCoordinator({ dataDir, args });
    b = await spawnCoordinator({ dataDir, args });
  });
  afterAll(async () => {
    await Promise.all(volunteers.map((v) => v.stop()));
    await Promise.all([a?.stop(), b?.stop()]);
    await db?.drop();
  });

  it('a job submitted to one is computed through both, equals a direct run, and credits each copy once', async () => {
    expect(a!.logs.find((l) => l.msg === 'coordinator listening')!.store).toBe('postgres');
    // One volunteer on the coordinator that gets the job, three on the other:
    // each shard wants two copies, so the other coordinator must dispatch from
    // the shared queue.
    volunteers.push(startVolunteer(a!.url), startVolunteer(b!.url), startVolunteer(b!.url), startVolunteer(b!.url));
    const { model, x, dir, code } = await submitMlp(a!, 96, 3);
    expect(code).toBe(0);
    const got = decodeTensorProto(new Uint8Array(readFileSync(join(dir, 'out', 'output_0.pb'))));
    const want = await runDirect(model, { x });
    expect(outputsDisagreement([got], [{ ...want[0]!, name: got.name }], { rtol: 0, atol: 0 })).toBeNull();

    // Both coordinators handed out work, and the ledger holds one row per valid copy.
    const assigned = (c: SpawnedCoordinator) => c.logs.filter((l) => l.msg === 'assigned copy').length;
    expect(assigned(a!)).toBeGreaterThan(0);
    expect(assigned(b!)).toBeGreaterThan(0);
    const { rows } = await db.query(`SELECT
        (SELECT count(*)::int FROM ${db.name}.copies WHERE outcome = 'valid') AS valid,
        (SELECT count(*)::int FROM ${db.name}.ledger) AS credited,
        (SELECT count(DISTINCT copy_id)::int FROM ${db.name}.ledger) AS distinct_copies,
        (SELECT count(*)::int FROM ${db.name}.shards WHERE state = 'validated') AS validated`);
    const r = rows[0] as { valid: number; credited: number; distinct_copies: number; validated: number };
    expect(r.validated).toBe(12);
    expect(r.valid).toBeGreaterThanOrEqual(24);
    expect(r.credited).toBe(r.valid);
    expect(r.distinct_copies).toBe(r.credited);
  });

  it('volunteers hear of work and outcomes from the other coordinator, and the swarm numbers add up (socket.io\'s PostgreSQL adapter)', async () => {
    // The volunteers of the first test stay connected: one on a, three on b.
    const onB = volunteers.slice(1);
    const nudgesOnB = { n: 0 };
    for (const v of onB) v.socket.on('work:nudge', () => { nudgesOnB.n++; });
    const heardBefore = volunteers.map((v) => v.outcomes.length);
    const validatedBefore = { a: validatedShards(a!).size, b: validatedShards(b!).size };

    const { code } = await submitMlp(a!, 128, 4);
    expect(code).toBe(0);

    // The job was created on a; b's volunteers were nudged through the adapter (b itself had no new work to announce).
    expect(nudgesOnB.n).toBeGreaterThan(0);

    // Some copies were handed out by one coordinator and judged by the other: their volunteers can
    // only hear the outcome if the judge told the coordinator they are connected to.
    const assignedBy = (c: SpawnedCoordinator) => new Map(c.logs.filter((l) => l.msg === 'assigned copy').map((l) => [l.copy as string, l.shard as string]));
    const newlyValidated = (c: SpawnedCoordinator, before: number) => new Set([...validatedShards(c)].slice(before));
    const judgedOnA = newlyValidated(a!, validatedBefore.a);
    const judgedOnB = newlyValidated(b!, validatedBefore.b);
    const crossed = [...assignedBy(b!)].filter(([, shard]) => judgedOnA.has(shard)).length
      + [...assignedBy(a!)].filter(([, shard]) => judgedOnB.has(shard)).length;
    expect(crossed).toBeGreaterThan(0);

    // Every volunteer hears an outcome for every copy it uploaded (news rides on replies or is pushed within ~1.5 s).
    const missing = () => volunteers.flatMap((v) => {
      const heard = new Set(v.outcomes.map((o) => o.copyId));
      return v.uploaded.filter((id) => !heard.has(id));
    });
    const deadline = Date.now() + 15_000;
    while (missing().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(missing()).toEqual([]);
    expect(volunteers.some((v, i) => v.outcomes.length > heardBefore[i]!)).toBe(true);

    // Each coordinator's swarm numbers are the sum of both: a has one volunteer of its own, b three.
    for (const c of [a!, b!]) {
      let total = 0;
      const until = Date.now() + 5_000;
      while (total !== volunteers.length && Date.now() < until) {
        total = ((await (await fetch(new URL('/api/v1/swarm', c.url))).json()) as { volunteers: { total: number } }).volunteers.total;
        if (total !== volunteers.length) await new Promise((r) => setTimeout(r, 200));
      }
      expect(total).toBe(volunteers.length);
    }
  });
});

/** An MLP job of `records` 16-wide records in shards of 8, submitted with `tabgrid infer` and waited for. */
async function submitMlp(c: SpawnedCoordinator, records: number, seed: number) {
  const model = mlpModel({ width: 16, layers: 2, seed });
  const x = tensorFromTyped('float32', [records, 16], randomInput(records, 16, seed));
  const dir = mkdtempSync(join(tmpdir(), 'tabgrid-pg2-job-'));
  writeFileSync(join(dir, 'm.onnx'), model);
  writeFileSync(join(dir, 'x.npy'), encodeNpy(x));
  const code = await infer({
    server: c.url, token: c.token, model: join(dir, 'm.onnx'), input: [`x=${join(dir, 'x.npy')}`],
    shardSize: 8, format: 'pb', out: join(dir, 'out'), quiet: true,
  });
  return { model, x, dir, code };
}

function validatedShards(c: SpawnedCoordinator): Set<string> {
  return new Set(c.logs.filter((l) => l.msg === 'shard validated').map((l) => l.shard as string));
}
