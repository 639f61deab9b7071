/**
 * A contributor tab (real Chromium) reloaded while it holds two copies, the
 * one computing and the next one fetched ahead (short shards are pipelined,
 * volunteer.ts), loses neither: the page writes down the ids of the copies it
 * holds, its first hello after the reload offers them back, and the
 * coordinator keeps them for it (sending again the assignment the reload
 * lost). Before, the copy fetched ahead was forgotten by the page and waited
 * out the disconnect grace, then expired and was reissued. Ordered by
 * construction: the page's clock stands still from the warm-up until it holds
 * both copies, so every shard it times took no time and the next copy is
 * always fetched ahead, however slow the machine (the decision the Volunteer
 * makes from the last shard's wall time, PIPELINE_BELOW_MS, is the product's
 * own and stays as it is); and the first copy's model download is held until
 * the page has reloaded, so the reload lands while both copies are in the
 * page's hands.
 */
import { describe, expect, it, onTestFailed } from 'vitest';
import { status, waitForStatus } from './browser.ts';
import { submitMlpJob, waitForJob } from './jobs.ts';
import { coordinatorAndChromium, storedCopies } from './tabs.ts';

describe('a reloaded contributor tab', () => {
  // A grace longer than any page start (runtime, self-test) on a loaded machine: the claim is judged, not the clock.
  const grid = coordinatorAndChromium({ args: ['--disconnect-grace', '60'] });

  it('keeps the copies it held across the reload and returns them itself: none expires, none is reissued', async () => {
    let gated = false;
    let reloaded = false;
    let releaseModel!: () => void;
    const modelHeld = new Promise<void>((r) => { releaseModel = r; });
    const { ctx, page } = await grid.openTab('wasm', {
      prepare: async (context) => {
        // Playwright's fake clock, flowing as the real one until it is fixed below (its timers always do).
        await context.clock.install();
        await context.route(/\/blobs\//, async (route) => {
          if (gated && !reloaded) await modelHeld;
          // The page that asked is gone by now: its request has nowhere to go.
          await route.continue().catch(() => {});
        });
      },
    });
    try {
      const before = await waitForStatus(page, (s) => s.state === 'waiting' && !!s.volunteerId, 'tab contributing', 120_000);
      // Short shards first: once one has gone by in under a second, the page fetches the next copy while one computes.
      // Its Date.now stands still from here on, so every shard it times has gone by at once, on any machine.
      await page.clock.setFixedTime(Date.now());
      const warm = await submitMlpJob(grid.c.api, { records: 8, shardSize: 1, width: 8, layers: 1, seed: 21 });
      expect((await waitForJob(grid.c.api, warm.id, 120_000)).state).toBe('completed');

      // Another model, whose download is held: its first copy computes until the reload, with the next one in hand.
      gated = true;
      const job = await submitMlpJob(grid.c.api, { records: 4, shardSize: 1, width: 8, layers: 1, seed: 22 });
      onTestFailed(async () => {
        console.log(`page: ${JSON.stringify(await status(page).catch((e: Error) => e.message))}`);
        console.log(`copies: ${JSON.stringify(storedCopies(grid.c, job.id).map(({ result, ...r }) => ({ ...r, result: !!result })))}`);
      });
      // Both acknowledged (the page does so within a second): their leases, not the 15 s to acknowledge, then run.
      const inFlight = () => storedCopies(grid.c, job.id).filter((r) => r.state === 'running');
      for (const until = Date.now() + 60_000; inFlight().length < 2;) {
        if (Date.now() > until) throw new Error('the page never held two copies although its last shard took no time by its clock');
        await new Promise((r) => setTimeout(r, 200));
      }
      await waitForStatus(page, (s) => s.state === 'computing' && s.currentJob === job.id, 'computing the held copy');
      const held = inFlight();
      expect(held.map((r) => r.volunteer_id)).toEqual([before.volunteerId, before.volunteerId]);
      // Time flows again in the page for the rest: the reload, the resumed copies and the job's end.
      await page.clock.setSystemTime(Date.now());

      const seen = grid.c.logs.length;
      reloaded = true;
      await page.reload();
      releaseModel();
      const after = await waitForStatus(page, (s) => s.phase === 'running' && !!s.volunteerId, 'resumed after the reload', 120_000);
      expect(after.volunteerId).toBe(before.volunteerId);
      expect((await waitForJob(grid.c.api, job.id, 120_000)).state).toBe('completed');

      // Lost to the reload: none. Both held copies were returned by the tab itself, and the job needed no other copy.
      const copies = storedCopies(grid.c, job.id);
      expect(held.map((h) => copies.find((x) => x.id === h.id)).map((x) => [x?.state, x?.volunteer_id]))
        .toEqual([['returned', before.volunteerId], ['returned', before.volunteerId]]);
      expect(copies.map((x) => x.state)).toEqual(['returned', 'returned', 'returned', 'returned']);
      expect(grid.c.logs.slice(seen).filter((l) => l.msg === 'copy expired; its shard will be reissued')).toEqual([]);
      const kept = grid.c.logs.slice(seen).find((l) => l.msg === 'volunteer came back holding copies: kept for it with a fresh lease');
      expect([...(kept?.copies as string[] ?? [])].sort()).toEqual(held.map((h) => h.id).sort());
    } finally {
      releaseModel();
      await ctx.close();
    }
  }, 420_000);
});
