/**
 * "Claim my credit to this wallet" on the contributor page, in real Chromium
 * against a real coordinator: a tab computes without a wallet (credit accrues
 * to its volunteer:<id>), makes a wallet in the browser, and the button has
 * that wallet sign the Sign-In with Ethereum claim by itself; the coordinator
 * moves the credit, the page shows the wallet's pending, payable and claimed
 * credit, and once the operator closes a payout epoch, the paid amount and
 * its Merkle proof, which verifies with @openzeppelin/merkle-tree.
 */
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SpawnedCoordinator } from '../helpers/coordinator.ts';
import { contributorUrl, waitForStatus, watchPage } from './browser.ts';
import { startPartner, submitMlpJob, waitForJob } from './jobs.ts';
import { coordinatorAndChromium } from './tabs.ts';

interface Statement { balance: number; pending: number; payable: number; debt: number; changes: { kind: string; amount: number }[] }
const statement = async (c: SpawnedCoordinator, a: string) => (await fetch(`${c.url}/api/v1/accounts/${encodeURIComponent(a)}`)).json() as Promise<Statement>;

describe('contributor page: claim my credit to this wallet', () => {
  // No hold: the claimed credit is payable at once, so an epoch can pay it within the test. No spot
  // checks: a known-answer copy (of a validated shard) in flight at Stop would add credit after it was counted.
  const grid = coordinatorAndChromium({ args: ['--credit-hold', '0', '--spot-checks', '0'] });
  const { problems } = grid;

  it('the in-browser wallet signs the claim itself; the page shows the moved credit, then the payout and its proof', async () => {
    const { c, browser } = grid;
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    watchPage(page, 'page', problems);
    await page.goto(contributorUrl(c.url, { autostart: true, backend: 'wasm' }));
    // Replicas 2 and a partner: a lone untrusted result at replicas 1 is unchecked and earns no credit.
    const job = await submitMlpJob(c.api, { records: 8, shardSize: 4, width: 16, layers: 2, replicas: 2 });
    const partner = startPartner(c.url);
    try {
      expect((await waitForJob(c.api, job.id, 120_000)).state).toBe('completed');
    } finally {
      await partner.stop();
    }
    const s = await waitForStatus(page, (x) => (x.balance ?? 0) > 0 && x.counts.validated >= 2, 'credited for two shards', 60_000);
    expect(s.account).toBe(`volunteer:${s.volunteerId}`);
    await page.getByTestId('stop').click();
    await waitForStatus(page, (x) => x.phase === 'stopped', 'stopped');
    const earned = await statement(c, s.account!);
    expect(earned.balance).toBeGreaterThan(0);

    // A wallet made here; its key stays in this browser.
    await page.getByRole('button', { name: 'Create one in this browser' }).click();
    const wallet = (await page.locator('.local code').first().textContent())!.trim();
    expect(wallet).toMatch(/^0x[0-9a-fA-F]{40}$/);
    const claims: string[] = [];
    page.on('request', (r) => { if (r.url().endsWith('/api/v1/claims')) claims.push(r.postData() ?? ''); });

    await page.getByTestId('claim-credit').click();
    await expect.poll(() => page.getByTestId('claim-status').textContent(), { timeout: 30_000 }).toMatch(/^Claimed: /);
    // What went over the wire: a SIWE message naming this volunteer's account and the wallet, signed in the page.
    expect(claims).toHaveLength(1);
    const sent = JSON.parse(claims[0]!) as { volunteerId: string; message: string; signature: string };
    expect(sent.volunteerId).toBe(s.volunteerId);
    expect(sent.message).toContain(`Move the tabgrid credit of volunteer:${s.volunteerId} to this wallet.`);
    expect(sent.message).toContain(wallet);
    expect(sent.signature).toMatch(/^0x[0-9a-f]{130}$/);

    // The coordinator moved all of it: the volunteer account is empty, the wallet holds it, payable.
    expect(await statement(c, s.account!)).toMatchObject({ balance: 0, payable: 0 });
    const w = await statement(c, wallet);
    expect(w.balance).toBeCloseTo(earned.balance, 6);
    expect(w).toMatchObject({ pending: 0, debt: 0 });
    expect(w.changes.filter((x) => x.kind === 'claim_in').reduce((t, x) => t + x.amount, 0)).toBeCloseTo(earned.balance, 6);
    // The page says so: pending, payable, claimed, nothing paid yet.
    await expect.poll(() => page.getByTestId('claimed-wallet').textContent(), { timeout: 20_000 }).toMatch(/paid \(the next payout epoch pays what is payable\)/);
    // As formatCredits writes them (1,234.5 or 8.01e-6).
    const shown = async (id: string) => Number((await page.getByTestId(id).textContent())!.trim().replace(/,/g, ''));
    expect(await shown('claimed-pending')).toBe(0);
    expect(await shown('claimed-payable')).toBeGreaterThan(0);
    expect(await shown('claimed-total')).toBe(await shown('claimed-payable'));
    expect(await page.getByTestId('payout-proof').count()).toBe(0);

    // The operator closes a payout epoch; the page, polling, shows the payment and its proof.
    const operator = readFileSync(join(c.dataDir, 'operator-token'), 'utf8').trim();
    const closed = await (await fetch(`${c.url}/api/v1/payouts`, { method: 'POST', headers: { authorization: `Bearer ${operator}` } })).json() as { epoch: { id: string; root: string } };
    expect(closed.epoch.id).toBeTruthy();
    await expect.poll(() => page.getByTestId('payout-proof').count(), { timeout: 30_000 }).toBe(1);
    const proofText = (await page.getByTestId('payout-proof').textContent())!;
    expect(proofText).toContain(closed.epoch.id);
    expect(proofText).toContain(closed.epoch.root);
    const mine = await (await fetch(`${c.url}/api/v1/accounts/${wallet}/payouts`)).json() as { payouts: { root: string; amount: string; proof: string[] }[] };
    expect(mine.payouts).toHaveLength(1);
    const p = mine.payouts[0]!;
    expect(BigInt(p.amount)).toBe(BigInt(Math.floor(earned.balance * 1e6 + 1e-6)));
    // The proof the page shows is the one that verifies against the epoch's root.
    expect(JSON.parse((await page.locator('[data-testid="payout-proof"] pre').textContent())!)).toEqual(p.proof);
    expect(StandardMerkleTree.verify(p.root, ['address', 'uint256'], [wallet, p.amount], p.proof)).toBe(true);
    await expect.poll(() => shown('claimed-paid'), { timeout: 20_000 }).toBeCloseTo(Number(p.amount) / 1e6, 6);
    expect(problems).toEqual([]);
    await ctx.close();
  }, 300_000);
});
