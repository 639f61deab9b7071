/**
 * One copy at a time (`tabgrid serve --copies`), against a real coordinator on
 * both stores with raw socket.io volunteers that compute with the real
 * executor. A careful colluding group lies only when it holds every copy of a
 * shard (friends compare input bytes); while a replicated inference shard's
 * copy is out, nobody, trusted or not, gets another copy of that shard, so
 * whoever holds the first must answer before anyone holds the second.
 *
 * Ordered by construction: a raw volunteer asks for one copy when the test
 * says, and acknowledges it so it is held for the job's lease, not its ack
 * window; no step waits on a timing the machine could miss (the wait reason
 * is polled, and nothing moves meanwhile). The first asker is untrusted, so
 * its copy never stands alone: the shard wants a second copy.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Assignment, WorkReply } from '../../shared/protocol/events.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { outputMatchesDirect } from '../helpers/direct-run.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { freshPgSchema } from '../helpers/pg-schema.ts';
import { call, ok } from '../helpers/raw-client.ts';
import { RawVolunteer } from '../helpers/raw-volunteer.ts';
import { waitForJob } from '../helpers/wait.ts';

/** Whether two copies are of one shard, as friends comparing notes can tell: the same job and the same input bytes. */
function sameShard(a: Assignment, b: Assignment): boolean {
  const key = (x: Assignment) => JSON.stringify([x.jobId, x.inputs.map((t) => [t.name, t.dims, Buffer.from(t.data as Uint8Array).toString('base64')])]);
  return key(a) === key(b);
}

/** One work request: the copy it got, or null. */
async function ask(v: RawVolunteer): Promise<Assignment | null> {
  return (await ok(call<WorkReply>(v.socket, 'work:request', {}))).assignment;
}

const WAITS = 'the shard that wants a copy waits for its copy in flight to come back';
const model = mlpModel({ width: 8, layers: 2, seed: 31 });

describe.each(['sqlite', 'postgres'] as const)('one copy at a time (%s)', (storeKind) => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
  });

  async function coordinator(args: string[] = []): Promise<SpawnedCoordinator> {
    if (storeKind === 'postgres') {
      const db = await freshPgSchema();
      cleanup.push(() => db.drop());
      args = [...args, ...db.serveArgs];
    }
    const c = await spawnCoordinator({ args });
    cleanup.push(() => c.stop());
    return c;
  }
  async function raw(c: SpawnedCoordinator, extra?: object): Promise<RawVolunteer> {
    const v = await RawVolunteer.connect(c.url, undefined, extra);
    cleanup.push(() => v.close());
    return v;
  }
  async function job(c: SpawnedCoordinator, records: number, seed: number) {
    const x = randomInput(records, 8, seed);
    const created = await c.api.createJob({
      model: await c.api.uploadBlob(model), shardSize: 4, replicas: 2,
      inputs: [{ blob: await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [records, 8], x) }])), format: 'tensors' }],
    });
    return { id: created.id, x, records };
  }
  /** Both compute whatever they are given until the job is done; its outputs are the direct run's. */
  async function finish(c: SpawnedCoordinator, j: Awaited<ReturnType<typeof job>>, vs: RawVolunteer[]): Promise<void> {
    for (let i = 0; i < 200 && (await c.api.job(j.id)).state === 'running'; i++) {
      let any = false;
      for (const v of vs) any = (await v.step()) !== null || any;
      if (!any) await new Promise((r) => setTimeout(r, 100));
    }
    expect((await waitForJob(c.api, j.id, 60_000)).state).toBe('completed');
    expect(await outputMatchesDirect(model, c, j.id, j.x, j.records)).toBe(true);
  }
  const waiting = async (c: SpawnedCoordinator, id: string) => (await c.api.job(id).catch(() => null))?.waiting ?? null;

  it('an untrusted volunteer gets no copy of a shard whose copy is out, and the job says why; once it returns, it gets it', async () => {
    // The default: one copy at a time.
    const c = await coordinator();
    expect((await c.waitForLog((l) => l.msg === 'coordinator listening')).trust).toMatchObject({ oneCopyAtATime: true });
    const a = await raw(c);
    const b = await raw(c);
    const j = await job(c, 4, 1);
    const first = (await ask(a))!;
    expect(first).not.toBeNull();
    await a.ack(first);

    expect(await ask(b)).toBeNull();
    await expect.poll(() => waiting(c, j.id), { timeout: 30_000 }).toEqual({
      code: 'copy_in_flight', message: expect.stringContaining(WAITS),
    });
    // Still held: nothing has returned.
    expect(await ask(b)).toBeNull();

    // Its return frees the shard's next copy: idle volunteers are nudged to ask now, not at their next retry (5 s later).
    const nudged = new Promise<void>((resolve) => b.socket.once('work:nudge', () => resolve()));
    expect(await a.submit(first, await a.compute(first))).toBe('accepted');
    await nudged;
    const second = (await ask(b))!;
    expect(second).not.toBeNull();
    expect(sameShard(first, second)).toBe(true);
    expect(await b.submit(second, await b.compute(second))).toBe('accepted');
    expect((await waitForJob(c.api, j.id, 60_000)).state).toBe('completed');
    expect(await outputMatchesDirect(model, c, j.id, j.x, 4)).toBe(true);
  }, 120_000);

  it('a trusted volunteer (the operator\'s host) gets another shard, then none, until the copy out returns', async () => {
    const c = await coordinator();
    const operatorToken = readFileSync(join(c.dataDir, 'operator-token'), 'utf8').trim();
    const t = await raw(c, { operatorToken });
    const a = await raw(c);
    // Two shards, X and Y: the untrusted volunteer asks first, so its copy (of X) is replicated.
    const j = await job(c, 8, 2);
    const x1 = (await ask(a))!;
    expect(x1).not.toBeNull();
    await a.ack(x1);

    // The trusted host is not given X's second copy while X's first is out: it gets Y.
    const y = (await ask(t))!;
    expect(y).not.toBeNull();
    expect(sameShard(x1, y)).toBe(false);
    await t.ack(y);
    // Now it holds Y and X is held back: nothing for it.
    expect(await ask(t)).toBeNull();
    await expect.poll(() => waiting(c, j.id), { timeout: 30_000 }).toMatchObject({ code: 'copy_in_flight' });
    expect(await ask(t)).toBeNull();

    expect(await a.submit(x1, await a.compute(x1))).toBe('accepted');
    const x2 = (await ask(t))!;
    expect(x2).not.toBeNull();
    expect(sameShard(x1, x2)).toBe(true);
    expect(await t.submit(x2, await t.compute(x2))).toBe('accepted');
    expect(await t.submit(y, await t.compute(y))).toBe('accepted');
    await finish(c, j, [a, t]);
  }, 120_000);

  it('--copies together: the second copy goes out while the first is still out (before one copy at a time)', async () => {
    const c = await coordinator(['--copies', 'together']);
    expect((await c.waitForLog((l) => l.msg === 'coordinator listening')).trust).toMatchObject({ oneCopyAtATime: false });
    const a = await raw(c);
    const b = await raw(c);
    const j = await job(c, 4, 3);
    const first = (await ask(a))!;
    await a.ack(first);
    const second = (await ask(b))!;
    expect(second).not.toBeNull();
    expect(sameShard(first, second)).toBe(true);
    expect(await a.submit(first, await a.compute(first))).toBe('accepted');
    expect(await b.submit(second, await b.compute(second))).toBe('accepted');
    expect((await waitForJob(c.api, j.id, 60_000)).state).toBe('completed');
    expect(await outputMatchesDirect(model, c, j.id, j.x, 4)).toBe(true);
  }, 120_000);
});
