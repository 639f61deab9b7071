/**
 * Private swarms on the contributor page (issue 15), in headless Chromium
 * against a real coordinator: a tab opened by an invite link (?join=CODE)
 * joins the project's group, shows it, and computes the project's private
 * job (its model fetched through the assignment's capability); it leaves
 * the group with a click and gets none of the project's next job while it
 * keeps asking for work; a malformed code pasted into the field is refused
 * with the reason, and a pasted invite link joins again.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TabgridClient } from '../../shared/http/client.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { contributorUrl, countBlobRequests, countEmits, status, waitForStatus, watchPage } from './browser.ts';
import { coordinatorAndChromium } from './tabs.ts';

describe('contributor page: private groups', () => {
  const grid = coordinatorAndChromium();
  const { problems } = grid;
  let ctx: BrowserContext | undefined;
  let lab: TabgridClient;
  let operator: TabgridClient;
  let model = '';
  let input = '';

  beforeAll(async () => {
    const { c } = grid;
    operator = new TabgridClient(c.url, readFileSync(join(c.dataDir, 'operator-token'), 'utf8').trim());
    const created = await operator.createProject({ name: 'lab', private: true, description: 'our own scans' });
    lab = new TabgridClient(c.url, created.token);
    model = await lab.uploadBlob(mlpModel({ width: 8, layers: 1, seed: 21 }));
    input = await lab.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [16, 8], randomInput(16, 8, 22)) }]));
  });
  afterAll(async () => {
    await ctx?.close();
  });

  const labJob = async () => (await lab.createJob({ model, inputs: [{ name: 'x', blob: input, format: 'tensors' }], shardSize: 4, replicas: 1 })).id;
  const groupNames = (page: Page) => page.getByTestId('groups').locator('strong').allTextContents();

  it('joins by invite link, computes the private job, leaves with a click, and joins again by a pasted link', async () => {
    const { c, browser } = grid;
    const invite = await operator.createInvite('lab', 'e2e');
    const first = await labJob();
    ctx = await browser.newContext();
    const page = await ctx.newPage();
    watchPage(page, 'page', problems);
    const emits = countEmits(page);
    const blobs = countBlobRequests(ctx);
    const url = new URL(contributorUrl(c.url, { autostart: true, backend: 'wasm', intensity: 1 }));
    url.searchParams.set('join', invite.code);
    await page.goto(url.href);

    const joined = await waitForStatus(page, (s) => s.groups.joined.includes('lab'), 'joined the lab group');
    expect(joined.groups.joinError).toBeNull();
    await page.getByTestId('groups').waitFor();
    expect(await groupNames(page)).toEqual(['lab']);
    await expect(page.getByTestId('group-notice').textContent()).resolves.toMatch(/Joined project lab's group/);
    await expect(page.getByTestId('public-projects').textContent()).resolves.toMatch(/local/);
    // A reload would not join again: the code is gone from the address bar.
    expect(new URL(page.url()).searchParams.has('join')).toBe(false);

    expect((await lab.waitForJob(first, { timeoutMs: 90_000, pollMs: 250 })).state).toBe('completed');
    // The model came through a capability of one of the tab's copies, never a hash link.
    const modelFetches = blobs.filter((u) => u.includes(model));
    expect(modelFetches.length).toBeGreaterThan(0);
    for (const u of modelFetches) expect(new URL(u).searchParams.get('copy')).toBeTruthy();
    const me = (await status(page)).volunteerId!;
    expect((await lab.members('lab')).members).toEqual([expect.objectContaining({ volunteerId: me, state: 'member' })]);

    await page.getByTestId('leave-lab').click();
    await waitForStatus(page, (s) => !s.groups.served.includes('lab'), 'left the lab group');
    await expect(page.getByTestId('group-notice').textContent()).resolves.toMatch(/You left project lab/);
    await page.getByTestId('no-groups').waitFor();
    expect((await lab.members('lab')).members).toEqual([expect.objectContaining({ volunteerId: me, state: 'left' })]);

    // The next private job: the tab keeps asking (a nudge, then its retry) and none of the job comes to it.
    const asked = emits.get('work:request') ?? 0;
    const second = await labJob();
    await waitForStatus(page, () => (emits.get('work:request') ?? 0) >= asked + 2, 'two more requests for work');
    const waiting = await lab.job(second);
    expect(waiting.shards.validated).toBe(0);
    expect(waiting.copies).toMatchObject({ valid: 0, pending: 0 });
    expect((await status(page)).currentJob).toBeNull();

    // Pasted: a malformed code is refused with the reason; the invite link joins again.
    await page.getByTestId('join-code').fill('tgi_not-a-code');
    await page.getByTestId('join').click();
    await expect(page.getByTestId('group-error').textContent()).resolves.toMatch(/invite code is malformed/);
    await page.getByTestId('join-code').fill(invite.link);
    await page.getByTestId('join').click();
    await waitForStatus(page, (s) => s.groups.served.includes('lab'), 'joined again');
    expect(await groupNames(page)).toEqual(['lab']);
    expect((await lab.waitForJob(second, { timeoutMs: 90_000, pollMs: 250 })).state).toBe('completed');
    expect(problems).toEqual([]);
  });
});
