/**
 * A volunteer that loses its copy of a shard without a result (handed back,
 * or never acknowledged and expired) may take the shard again: with exactly
 * as many volunteers as the job's replicas, barring it for good would leave
 * the shard waiting forever (the reverse-proxy test's stall on a loaded CI
 * machine). One whose copy errored stays barred, and the job's wait
 * diagnosis says why. Ordered by construction: the losing volunteer's first
 * assignment never reaches its loop, whichever of the two asks first.
 */
import { describe, expect, it } from 'vitest';
import type { Reply } from '../../shared/protocol/events.ts';
import type { VolunteerSocket } from '../../shared/volunteer/volunteer.ts';
import type { SpawnedCoordinator } from '../helpers/coordinator.ts';
import { submitMlpJob } from '../e2e/jobs.ts';
import { perTest } from '../helpers/per-test.ts';
import { startVolunteer, type TestVolunteer } from '../helpers/volunteers.ts';
import { waitForJob } from '../helpers/wait.ts';

type Cb = (err: Error | null, r: Reply<Record<string, unknown>>) => void;
type Emitter = { emit: (e: string, p: unknown, cb: Cb) => void };
/** What becomes of the copy the volunteer's loop never sees. */
type Loss = 'handed back' | 'never acknowledged' | 'errored';

describe('a volunteer that lost its copy of a shard', () => {
  const spawned = perTest();

  /**
   * A volunteer whose first assignment is kept from its loop (which hears "no work, ask again soon"):
   * the copy is handed back, left to expire unacknowledged, or reported failed on the wire.
   */
  function losingFirstCopy(c: SpawnedCoordinator, loss: Loss): { v: TestVolunteer; lost: Promise<string> } {
    let lose!: (copyId: string) => void;
    const lost = new Promise<string>((r) => { lose = r; });
    let done = false;
    const wrapSocket = (s: VolunteerSocket): VolunteerSocket => new Proxy(s, {
      get(target, key) {
        if (key !== 'timeout') {
          const v = Reflect.get(target, key) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        }
        return (ms: number) => ({
          emit(event: string, payload: unknown, cb: Cb) {
            const emitter = target.timeout(ms) as unknown as Emitter;
            if (event !== 'work:request' || done) return emitter.emit(event, payload, cb);
            emitter.emit(event, payload, (err, r) => {
              const a = !err && r.ok ? (r as { assignment?: { copyId: string } | null }).assignment : null;
              if (!a) return cb(err, r);
              done = true;
              const nothing = () => cb(null, { ...r, assignment: null, retryInMs: 200 } as Reply<Record<string, unknown>>);
              if (loss === 'never acknowledged') { nothing(); lose(a.copyId); return; }
              const [e, p] = loss === 'handed back' ? ['work:release', { copyId: a.copyId }] : ['work:fail', { copyId: a.copyId, error: 'out of memory' }];
              (target.timeout(ms) as unknown as Emitter).emit(e, p, (err2, r2) => {
                if (err2 || !r2.ok) throw new Error(`${e} refused: ${err2?.message ?? JSON.stringify(r2)}`);
                nothing();
                lose(a.copyId);
              });
            });
          },
        });
      },
    });
    const v = startVolunteer(c.url, { wrapSocket });
    spawned.defer(() => v.stop());
    return { v, lost };
  }

  /** One shard, two copies wanted, two volunteers: the one that loses its copy and a partner. */
  async function twoVolunteersOneShard(loss: Loss) {
    const c = await spawned.coordinator([]);
    const job = await submitMlpJob(c.api, { records: 4, shardSize: 4, width: 8, layers: 1, seed: 3, replicas: 2 });
    const loser = losingFirstCopy(c, loss);
    const partner = startVolunteer(c.url);
    spawned.defer(() => partner.stop());
    const lostCopy = await loser.lost;
    return { c, job, loser: loser.v, partner, lostCopy };
  }

  it.each(['handed back', 'never acknowledged'] as const)('takes the shard again once its copy was %s, and the job completes', async (loss) => {
    const { c, job, loser, partner, lostCopy } = await twoVolunteersOneShard(loss);
    // The copy never acknowledged expires after the job's ackWithinMs (15 s) and is reissued to its own volunteer.
    const done = await waitForJob(c.api, job.id, 90_000);
    expect(done.state).toBe('completed');
    expect(partner.uploaded).toHaveLength(1);
    expect(loser.uploaded).toHaveLength(1);
    expect(loser.uploaded[0]).not.toBe(lostCopy);
    if (loss === 'never acknowledged') expect(done.copies).toMatchObject({ expired: 1 });
  }, 120_000);

  it('stays barred from a shard its copy errored on, and the job says it waits for that reason', async () => {
    const { c, job, partner } = await twoVolunteersOneShard('errored');
    await expect.poll(() => partner.uploaded.length, { timeout: 30_000 }).toBe(1);
    await expect.poll(async () => (await c.api.job(job.id)).waiting?.message, { timeout: 30_000, interval: 500 })
      .toMatch(/^2 volunteers connected, but none may take a copy: 1 has failed on every shard that wants a copy \(a volunteer whose copy of a shard errored is not given that shard again; .*\); 1 already holds or held a copy/);
    expect((await c.api.job(job.id)).state).toBe('running');
  }, 120_000);
});
