/**
 * A coordinator restart keeps an embed visitor (as test/e2e/restart.test.ts
 * does the contributor page): SIGTERM, then `tabgrid serve` again on the same
 * port and data directory. The hidden compute frame on a third-party host page
 * (real Chromium) reconnects by itself as the same volunteer, without a reload
 * of the page or the frame, and computes a job submitted after the restart.
 */
import type { Frame, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { SpawnedCoordinator } from '../helpers/coordinator.ts';
import { coordinatorAway, watchPage } from './browser.ts';
import { embedGrid } from './embed-grid.ts';
import { cancelJob, submitMlpJob, waitForJob } from './jobs.ts';

const SITE_WALLET = '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359';

interface HostEvent { type: string; at: number; state?: string; shards?: number }

describe('an embed visitor across a coordinator restart', () => {
  // The host site names the coordinator's address, which the restart keeps. A job waits before the page opens.
  const grid = embedGrid({
    embed: (host) => ({ allowedOrigins: [host.origin], defaultIntensity: 1, creditTo: 'site' }),
    job: { records: 12_000, shardSize: 12, width: 64, layers: 6, seed: 7 },
  });
  const { problems } = grid;

  const events = (page: Page) => page.evaluate(() => (window as unknown as { hostEvents: HostEvent[] }).hostEvents);
  async function waitEvent(page: Page, pred: (e: HostEvent) => boolean, what: string, timeoutMs = 60_000): Promise<HostEvent> {
    let last: HostEvent[] = [];
    for (const t0 = Date.now(); Date.now() - t0 < timeoutMs; await new Promise((r) => setTimeout(r, 150))) {
      last = await events(page).catch(() => last);
      const hit = last.find(pred);
      if (hit) return hit;
    }
    throw new Error(`the host page never saw: ${what}; its events: ${JSON.stringify(last.slice(-8))}`);
  }
  const joinedAs = (c: SpawnedCoordinator, account: string) => c.logs.filter((l) => l.msg === 'volunteer joined' && l.account === account);

  it('the frame comes back by itself as the same volunteer, without a reload, and computes a job submitted after the restart', async () => {
    const { c: c1, host, projectId } = grid;
    // A third-party frame in a context that denies it storage: what it keeps across the restart, it keeps in memory.
    const ctx = await grid.browser.newContext();
    const page = await ctx.newPage();
    watchPage(page, 'host', problems);
    await page.goto(host.url({ project: projectId, wallet: SITE_WALLET, intensity: 1 }));
    await page.locator('[data-tabgrid-consent="accept"]').click({ timeout: 30_000 });
    await waitEvent(page, (e) => e.type === 'shard', 'a shard before the restart');
    const [hello] = joinedAs(c1, SITE_WALLET);
    expect(hello).toBeDefined();
    const frame: Frame = page.frames().find((f) => f.url().includes('/embed-frame.html'))!;
    // Marks only these page and frame loads carry: a reload of either would lose them.
    await page.evaluate(() => { (window as unknown as { __sameLoad: boolean }).__sameLoad = true; });
    await frame.evaluate(() => { (window as unknown as { __sameLoad: boolean }).__sameLoad = true; });
    await cancelJob(c1.api, grid.jobId);

    // Promptly: a connection the host page's browser keeps open once held the shutdown for minutes.
    const stopping = Date.now();
    await c1.stop();
    expect(c1.proc.exitCode).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(60_000);
    expect(c1.logs.filter((l) => l.msg === 'volunteer disconnected' && l.reason !== 'server shutting down')).toEqual([]);
    const restartedAt = Date.now();
    const c2 = await grid.restart();

    // Back by itself, as the same volunteer.
    const back = await c2.waitForLog((l) => l.msg === 'volunteer joined' && l.volunteer === hello!.volunteer, 60_000).catch(async (e: Error) => {
      throw new Error(`${e.message.slice(0, 200)}; joined: ${JSON.stringify(c2.logs.filter((l) => l.msg === 'volunteer joined'))}; host events: ${JSON.stringify((await events(page)).slice(-6))}; problems: ${problems.join(' | ').slice(0, 1500)}`);
    });
    expect(back.resumed).toBe(true);

    const after = await submitMlpJob(c2.api, { records: 48, shardSize: 8, width: 16, layers: 2, seed: 8 });
    expect((await waitForJob(c2.api, after.id, 120_000)).state).toBe('completed');
    const computedBy = new Set(c2.logs.filter((l) => l.msg === 'assigned copy' && l.job === after.id).map((l) => l.volunteer));
    expect([...computedBy]).toEqual([hello!.volunteer]);
    await waitEvent(page, (e) => e.type === 'shard' && e.at > restartedAt, 'a shard after the restart');

    expect(await page.evaluate(() => (window as unknown as { __sameLoad?: boolean }).__sameLoad)).toBe(true);
    expect(await frame.evaluate(() => (window as unknown as { __sameLoad?: boolean }).__sameLoad)).toBe(true);
    expect((await events(page)).filter((e) => e.type === 'state' && (e.state === 'stopped' || e.state === 'refused'))).toEqual([]);
    // The frame's connections to the coordinator failing while it was away are expected, and the host script's
    // eval probe (host-site.ts) logs one Trusted Types refusal per load, its CSP at work; nothing else.
    const probe = "host console: This document requires 'TrustedScript' assignment. The action has been blocked.";
    expect(problems.filter((p) => !coordinatorAway(c2.url)(p) && !p.startsWith(probe))).toEqual([]);
    await ctx.close();
  }, 280_000);
});
