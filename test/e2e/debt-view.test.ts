/**
 * Debt on the wallet dashboard, in real Chromium: a wallet is paid in a
 * payout epoch, then one of its copies is found wrong (a reversal, written
 * with the real store's reverseCredits as backtracking writes it, while the
 * coordinator is stopped), and the restarted coordinator's dashboard shows
 * the debt and why instead of a payable amount, and the next epoch pays
 * nothing until new credit exceeds it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../server/store/sqlite/sqlite-store.ts';
import { startVolunteer } from '../helpers/volunteers.ts';
import { watchPage } from './browser.ts';
import { submitMlpJob, waitForJob } from './jobs.ts';
import { coordinatorAndChromium } from './tabs.ts';

const ARGS = ['--credit-hold', '0', '--spot-checks', '0'];

describe('wallet dashboard: debt', () => {
  const grid = coordinatorAndChromium({ args: ARGS });

  it('a copy reversed after its wallet was paid shows as a debt with its reason, and the next epoch pays nothing', async () => {
    const W = privateKeyToAccount(generatePrivateKey()).address;
    let c = grid.c;
    const dataDir = c.dataDir;
    // Replicas 2 and a partner: a lone untrusted result at replicas 1 is unchecked and earns no credit to pay.
    const v = startVolunteer(c.url, { wallet: W });
    const partner = startVolunteer(c.url);
    const job = await submitMlpJob(c.api, { records: 8, shardSize: 4, width: 16, layers: 2, replicas: 2 });
    expect((await waitForJob(c.api, job.id, 120_000)).state).toBe('completed');
    await v.stop();
    await partner.stop();
    const operator = readFileSync(join(dataDir, 'operator-token'), 'utf8').trim();
    const closePayout = async (url: string) => (await (await fetch(`${url}/api/v1/payouts`, { method: 'POST', headers: { authorization: `Bearer ${operator}` } })).json()) as { epoch: { id: string } | null };
    expect((await closePayout(c.url)).epoch).not.toBeNull();
    await c.stop();

    // Found wrong after it was paid: one copy's credit taken back, as backtracking does.
    const store = new SqliteStore(join(dataDir, 'tabgrid.sqlite'));
    let reversed: number;
    try {
      const [first] = await store.ledger({ account: W, limit: 10 });
      const r = await store.reverseCredits({ copyIds: [first!.copyId], reason: 'failed a spot check: recomputed by others', now: Date.now() });
      expect(r).toEqual([{ copyId: first!.copyId, account: W, amount: first!.amount }]);
      reversed = first!.amount;
    } finally {
      await store.close();
    }

    c = await grid.restart();
    const st = await (await fetch(`${c.url}/api/v1/accounts/${W}`)).json() as { payable: number; debt: number };
    expect(st.debt).toBeCloseTo(reversed, 6);
    expect(st.payable).toBeCloseTo(-reversed, 6);
    expect((await closePayout(c.url)).epoch).toBeNull();
    // The operator's log says why: a wallet in debt, carried to the next epoch.
    const said = await c.waitForLog((l) => l.msg === 'payout: no wallet has payable credit');
    expect(said).toMatchObject({ walletsInDebt: 1, debt: expect.closeTo(reversed, 6) });

    const page = await grid.browser.newPage();
    const problems = watchPage(page, 'dashboard');
    await page.goto(`${c.url}/dashboard.html#/wallet/${W}`);
    await expect.poll(() => page.getByTestId('payable-note').textContent(), { timeout: 30_000 }).toMatch(/reversed after it was claimed or paid: the next payout pays net of it/);
    const shown = Number((await page.getByTestId('payable').textContent())!.trim().replace(/,/g, ''));
    expect(shown).toBeCloseTo(reversed, 6);
    await expect.poll(() => page.locator('body').textContent(), { timeout: 10_000 }).toContain('failed a spot check: recomputed by others');
    expect(problems).toEqual([]);
    await page.close();
  }, 300_000);
});
