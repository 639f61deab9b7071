/**
 * The project dashboard says why a job waits, in headless Chromium against a
 * real coordinator: with no volunteer connected its job shows "waits: no
 * volunteer is connected"; once a volunteer joins and computes it, the line
 * goes, live, with no reload.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startVolunteer, type TestVolunteer } from '../helpers/volunteers.ts';
import { watchPage } from './browser.ts';
import { submitMlpJob, waitForJob } from './jobs.ts';
import { coordinatorAndChromium } from './tabs.ts';

describe('project dashboard: why a job waits', () => {
  const grid = coordinatorAndChromium();
  let volunteer: TestVolunteer | undefined;
  // Runs before the fixture's own afterAll (hooks run in reverse): the volunteer leaves before the coordinator stops.
  afterAll(async () => {
    await volunteer?.stop();
  });

  it('shows the reason while the job waits, and drops it once the job is computed', async () => {
    const { c, browser } = grid;
    const job = await submitMlpJob(c.api, { records: 16, shardSize: 8, width: 16, layers: 2, seed: 9, replicas: 1 });
    const page = await (await browser.newContext()).newPage();
    const problems = watchPage(page, 'dashboard');
    await page.goto(`${c.url}/dashboard.html#/project`);
    await page.getByTestId('token').fill(c.token);
    await page.getByTestId('open-project').click();
    const waiting = page.getByTestId('job-waiting');
    await waiting.waitFor({ state: 'visible', timeout: 60_000 });
    expect(await waiting.textContent()).toBe('waits: no volunteer is connected');

    volunteer = startVolunteer(c.url);
    expect((await waitForJob(c.api, job.id)).state).toBe('completed');
    await waiting.waitFor({ state: 'detached', timeout: 60_000 });
    expect(await page.getByTestId('project-jobs').textContent()).toContain(job.id);
    expect(problems).toEqual([]);
  }, 180_000);
});
