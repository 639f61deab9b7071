/**
 * The dashboards in headless Chromium against a real coordinator with
 * in-process volunteers at work (two honest, one whose results are wrong, so
 * validation has something to reject): the swarm monitor, a project's
 * dashboard behind its API token, and a wallet's credit, each updating live
 * over socket.io, on a wide screen and on a phone.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import { blobLoader, nodeCapabilities } from '../../cli/commands/worker-node.ts';
import { ort } from '../../server/models/ort-node.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';
import { MemoryPendingStore } from '../../shared/volunteer/pending.ts';
import { Volunteer, type VolunteerSocket } from '../../shared/volunteer/volunteer.ts';
import { ShardExecutor } from '../../shared/worker-core/executor.ts';
import { scaleOutputs, type Tamper } from '../helpers/volunteers.ts';
import { ARTIFACTS, watchPage } from './browser.ts';
import { cancelJob, submitMlpJob } from './jobs.ts';
import { coordinatorAndChromium } from './tabs.ts';

const WALLET = '0x52908400098527886E0F7030069857D2E4169EE7';
const OTHER = '0xde709f2102306220921060314715629080e2fb77';
const LIAR = '0x27b1fdb04752bbc536007a920d24acb045561c26';

/**
 * A Node volunteer that takes at least `paceMs` per shard: the dashboards need a steady trickle of
 * validated work, not a flat-out run that would crowd the other test files off two shared cores.
 */
function pacedVolunteer(server: string, wallet: string, o: { paceMs: number; tamper?: Tamper }) {
  const executor = new ShardExecutor({ ort, backend: 'wasm', loadBlob: blobLoader(server) });
  const socket: VolunteerSocket = io(server, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION }, transports: ['websocket'], autoConnect: false });
  const volunteer = new Volunteer({
    socket,
    hello: { backend: 'wasm', capabilities: nodeCapabilities(), wallet },
    execute: async (a) => {
      const [r] = await Promise.all([executor.run(a), new Promise((res) => setTimeout(res, o.paceMs))]);
      return o.tamper ? { ...r, outputs: o.tamper(r.outputs) } : r;
    },
    pending: new MemoryPendingStore(),
  });
  volunteer.start();
  return { async stop() { await volunteer.stop(); socket.disconnect(); await executor.dispose(); } };
}

describe('dashboards', () => {
  const grid = coordinatorAndChromium();
  const { problems } = grid;
  let page: Page;
  const volunteers: { stop(): Promise<void> }[] = [];
  let jobId = '';

  beforeAll(async () => {
    const { c, browser } = grid;
    volunteers.push(
      pacedVolunteer(c.url, WALLET, { paceMs: 120 }),
      pacedVolunteer(c.url, OTHER, { paceMs: 120 }),
      pacedVolunteer(c.url, LIAR, { paceMs: 120, tamper: scaleOutputs(1.5) }),
    );
    // Two copies per shard: the liar's copies disagree, a third copy settles it, the liar's is invalid.
    jobId = (await submitMlpJob(c.api, { records: 16_000, shardSize: 8, width: 32, layers: 2, replicas: 2, seed: 3, name: 'digits batch 7', tags: { team: 'vision' } })).id;
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await ctx.newPage();
    watchPage(page, 'dashboard', problems);
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterAll(async () => {
    if (jobId) await cancelJob(grid.c.api, jobId).catch(() => {});
    await Promise.all(volunteers.map((v) => v.stop()));
  });

  const num = async (testId: string) => Number(((await page.getByTestId(testId).textContent()) ?? '').replace(/[^0-9.e-]/g, ''));
  async function until(what: string, pred: () => Promise<boolean>, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await pred().catch(() => false)) return;
      await page.waitForTimeout(200);
    }
    throw new Error(`dashboard never showed: ${what}`);
  }

  it('project view: refuses a wrong token, then shows the jobs and their rates, updating live', async () => {
    const { c } = grid;
    await page.goto(`${c.url}/dashboard.html#/project`);
    await page.getByTestId('token').fill('tg_not-the-token');
    await page.getByTestId('open-project').click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/refused this token \(invalid API token\)/);

    // Live: the count moves with no reload and no polling of the jobs endpoint. The page reads the jobs once
    // when it opens the project; the coordinator's line for that request reaches c.logs through its stdout,
    // possibly after the page already shows the count, so the baseline waits for that one line.
    const jobsRequests = () => c.logs.filter((l) => l.msg === 'request' && l.method === 'GET' && l.url === '/api/v1/jobs').length;
    const atOpen = jobsRequests();
    await page.getByTestId('token').fill(c.token);
    await page.getByTestId('open-project').click();
    await until('validated shards', async () => (await num('validated')) > 0);
    await until('the page\'s one jobs request logged', async () => jobsRequests() === atOpen + 1);
    const first = await num('validated');
    const before = jobsRequests();
    await until('more validated shards, live', async () => (await num('validated')) > first);
    expect(jobsRequests()).toBe(before);
    await expect(page.getByTestId('project-jobs').textContent()).resolves.toContain(jobId);
    // The job's name and labels (issue 15).
    await expect(page.getByTestId('job-name').textContent()).resolves.toBe('digits batch 7');
    await expect(page.getByTestId('job-labels').textContent()).resolves.toContain('team=vision');
    await until('an invalid copy in the rates', async () => /[1-9][0-9.]*% invalid/.test((await page.getByTestId('project-totals').textContent()) ?? ''), 30_000);
    await expect(page.locator('.chip.ok', { hasText: 'live' }).count()).resolves.toBe(1);
    // The token stays in this tab's sessionStorage: a reload reopens the project without asking.
    await page.reload();
    await until('reopened after reload', async () => (await num('validated')) > 0, 10_000);
    await page.waitForTimeout(5000);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-project.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(600);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-project-phone.png'), fullPage: true });
    // Readable on a phone: nothing wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.setViewportSize({ width: 1280, height: 900 });
  }, 60_000);

  it('wallet view: the balance and validated work of a wallet, updating live', async () => {
    const { c } = grid;
    await page.goto(`${c.url}/dashboard.html#/wallet/${WALLET.toLowerCase()}`);
    await until('a balance', async () => (await num('balance')) > 0);
    const b1 = await num('balance');
    await until('the balance growing, live', async () => (await num('balance')) > b1);
    expect(await num('validated-count')).toBeGreaterThan(0);
    await expect(page.getByTestId('ledger').textContent()).resolves.toContain(jobId);
    await page.waitForTimeout(2500);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-wallet.png'), fullPage: true });

    // A mistyped address is refused in words.
    await page.getByTestId('wallet-input').fill(WALLET.replace('E7', 'e7'));
    await page.getByRole('button', { name: 'Show' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/EIP-55 checksum; did you mean 0x5290/);
  }, 40_000);

  it('swarm view: volunteers by backend, compute rate and the active job, live', async () => {
    const { c } = grid;
    await page.goto(`${c.url}/dashboard.html#/swarm`);
    await until('three volunteers on wasm', async () => /3\s*wasm 3/.test((await page.getByTestId('volunteers').textContent()) ?? ''));
    await expect(page.getByTestId('swarm-jobs').textContent()).resolves.toContain(jobId);
    // Several live samples, so the charts have lines.
    await page.waitForTimeout(5000);
    expect(await page.locator('.u-over').count()).toBe(2);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-swarm.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(600);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-swarm-phone.png'), fullPage: true });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    // The project view's wrong token, refused on purpose: Chromium logs that 401 itself. Nothing else may show up.
    const refusedToken = `dashboard console: Failed to load resource: the server responded with a status of 401 (Unauthorized) (at ${new URL('/api/v1/project', c.url).href})`;
    expect(problems.filter((p) => p !== refusedToken)).toEqual([]);
  }, 40_000);
});
