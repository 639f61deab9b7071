/**
 * A project's public page in headless Chromium against a real coordinator:
 * opened by its short link before any work exists, it follows a job computed
 * by a real volunteer live (no reload): progress, validated compute and the
 * leaderboard, whose credit is the ledger's.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCredits } from '../../client/lib/format.ts';
import { startVolunteer, type TestVolunteer } from '../helpers/volunteers.ts';
import { waitForJob } from '../helpers/wait.ts';
import { watchPage } from './browser.ts';
import { submitMlpJob } from './jobs.ts';
import { coordinatorAndChromium } from './tabs.ts';

const WALLET = '0x52908400098527886E0F7030069857D2E4169EE7';

describe('a project\'s public page', () => {
  const grid = coordinatorAndChromium();
  const { problems } = grid;
  let page: Page;
  let volunteer: TestVolunteer | null = null;
  let partner: TestVolunteer | null = null;

  beforeAll(async () => {
    page = await (await grid.browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    watchPage(page, 'project page', problems);
  });
  afterAll(async () => {
    await volunteer?.stop();
    await partner?.stop();
  });

  it('shows the project by its short link and follows its work live, the leaderboard summing the ledger', async () => {
    const { c } = grid;
    const project = await c.api.project();
    await page.goto(`${c.url}/p/${project.name}`);
    expect(new URL(page.url()).hash).toBe(`#/p/${project.name}`);
    await page.getByTestId('board-name').filter({ hasText: project.name }).waitFor();
    await page.getByTestId('board-progress').filter({ hasText: '0 of 0' }).waitFor();
    expect(await page.getByTestId('leaderboard').count()).toBe(0);
    // Whatever changes from here arrives over the socket: the page is never loaded again.
    await page.evaluate(() => { (window as unknown as { sameLoad: boolean }).sameLoad = true; });

    // Replicas 2 and a partner: a result no one checked earns no credit (a lone untrusted copy at replicas 1 would not).
    const job = await submitMlpJob(c.api, { records: 64, shardSize: 8, width: 16, layers: 2, replicas: 2, seed: 5 });
    await page.getByTestId('board-progress').filter({ hasText: '0 of 8' }).waitFor();
    volunteer = startVolunteer(c.url, { wallet: WALLET });
    partner = startVolunteer(c.url);
    expect((await waitForJob(c.api, job.id, 120_000)).state).toBe('completed');

    await page.getByTestId('board-progress').filter({ hasText: '8 of 8' }).waitFor({ timeout: 15_000 });
    const row = page.locator(`[data-testid="leaderboard"] tr[data-account="${WALLET}"]`);
    await row.waitFor({ timeout: 15_000 });
    const statement = await c.api.account(WALLET);
    const earned = statement.entries.filter((e) => e.projectId === project.id);
    expect(earned).toHaveLength(8);
    const credit = earned.reduce((n, e) => n + e.amount, 0);
    const shown = formatCredits(credit);
    await row.getByTestId('credit').filter({ hasText: shown }).waitFor({ timeout: 15_000 });
    expect(await row.getByTestId('copies').textContent()).toBe('8');
    await page.getByTestId('board-jobs').filter({ hasText: '1 completed' }).waitFor();
    expect(await page.getByTestId('board-compute').textContent()).toMatch(/FLOP/);
    expect(await page.evaluate(() => (window as unknown as { sameLoad?: boolean }).sameLoad)).toBe(true);
    expect(problems).toEqual([]);
  });
});
