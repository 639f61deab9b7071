/**
 * A tab drops the weights it kept for a local-steps job once the job ends
 * (client/lib/held-weights.ts keeps them in IndexedDB so a reload takes the
 * next round as a delta). Two ways it learns, each tested in real Chromium
 * against a real coordinator: connected when the job ends, it hears
 * `jobs:ended`; away when it ends (closed, then opened again), it names what
 * it keeps in `jobs:held` after its hello and the reply says the job ended.
 *
 * The job keeps the tab's weights in place for as long as the test needs, by
 * construction: one round of two shards, replicas 1, at most one shard of a
 * round per volunteer, minFraction 1 and an hour's round deadline. The one tab
 * trains shard 0 and keeps the weights it trained from; shard 1 waits for a
 * second volunteer that never comes, so the job runs until it is cancelled.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it, onTestFinished } from 'vitest';
import { uploadMnist, mnistTrainJob } from '../helpers/mnist-job.ts';
import { contributorUrl, waitForStatus, watchPage } from './browser.ts';
import { coordinatorAndChromium } from './tabs.ts';

const BATCH = 64;
const STEPS = 4;

/** The jobs whose weights the page's browser context keeps in IndexedDB (read once the app has made its database). */
function keptJobs(page: Page): Promise<string[]> {
  return page.evaluate(() => new Promise<string[]>((resolve, reject) => {
    const open = indexedDB.open('tabgrid');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const keys = db.transaction('weights').objectStore('weights').getAllKeys();
      keys.onsuccess = () => { db.close(); resolve(keys.result.map(String)); };
      keys.onerror = () => { db.close(); reject(keys.error); };
    };
  }));
}

/** Polls until the kept jobs are `want`; the wait is generous (a push and one IndexedDB write take well under a second). */
async function keptBecomes(page: Page, want: string[], what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let kept: string[] = [];
  while (Date.now() < deadline) {
    kept = await keptJobs(page);
    if (JSON.stringify(kept) === JSON.stringify(want)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: the tab still keeps the weights of ${JSON.stringify(kept)}`);
}

describe('weights a tab keeps for a local-steps job', () => {
  const grid = coordinatorAndChromium();

  /** A running local-steps job whose shard 0 the tab trains, keeping its weights; shard 1 waits for ever. */
  async function keptByTab() {
    const { c, openTab } = grid;
    const up = await uploadMnist(c.api, { count: BATCH * STEPS * 2, seed: 7 });
    const job = await c.api.createJob(mnistTrainJob(up, {
      optimizer: 'adam', lr: 1e-3, batch: BATCH, epochs: 1, shardsPerRound: 2, localSteps: STEPS, updateFormat: 'int8', replicas: 1,
      maxShardsPerVolunteer: 1, minFraction: 1, roundDeadlineSeconds: 3600, evalFraction: 0, seed: 7,
    }));
    const tab = await openTab('wasm');
    onTestFinished(() => tab.ctx.close());
    const problems = watchPage(tab.page, 'wasm');
    await waitForStatus(tab.page, (s) => s.counts.uploaded >= 1, 'the tab delivered its copy of shard 0', 180_000);
    // The weights it trained from are kept (stored before it computed), and the job still runs.
    expect(await keptJobs(tab.page)).toEqual([job.id]);
    expect((await c.api.job(job.id)).state).toBe('running');
    return { job, tab, problems };
  }

  it('are dropped when the job ends while the tab is connected (jobs:ended)', async () => {
    const { c } = grid;
    const { job, tab, problems } = await keptByTab();
    await c.api.cancel(job.id);
    await keptBecomes(tab.page, [], 'job cancelled while the tab was connected');
    // And stay gone: a reload finds nothing to take a delta from.
    await tab.page.reload();
    await waitForStatus(tab.page, (s) => !!s.volunteerId, 'the reloaded tab said hello', 120_000);
    expect(await keptJobs(tab.page)).toEqual([]);
    expect(problems).toEqual([]);
  }, 300_000);

  it('are dropped when the tab comes back after the job ended (jobs:held after its hello)', async () => {
    const { c } = grid;
    const { job, tab } = await keptByTab();
    // Away: the page closes (its storage stays with its browser context), then the job ends.
    await tab.page.close();
    await c.api.cancel(job.id);
    const page = await tab.ctx.newPage();
    const problems = watchPage(page, 'wasm');
    await page.goto(contributorUrl(c.url, { autostart: true, backend: 'wasm', intensity: 1 }));
    // Kept until the coordinator has been asked; gone once it answered.
    await keptBecomes(page, [], 'job cancelled while the tab was away');
    const s = await waitForStatus(page, (x) => !!x.volunteerId, 'the returning tab said hello', 120_000);
    expect(s.volunteerId).toBeTruthy();
    expect(problems).toEqual([]);
  }, 300_000);
});
