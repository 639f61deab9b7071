/**
 * The credit ledger's contract (hold, reversals, wallet claims, payout
 * epochs), run against SQLite and PostgreSQL like contract.ts. Credits are
 * written with the real clock (applyValidation stamps them), so every
 * "now" here is relative to the moment they were written, an hour of hold
 * apart: nothing depends on how fast the test runs.
 */
import { describe, expect, it } from 'vitest';
import { buildPayout } from '../../../server/core/credit/payout.ts';
import type { Claimed, Store } from '../../../server/store/types.ts';
import { bytes, claimReq, consensus, makeVolunteer, NO_RULES, type Vol, writeJob } from './contract.ts';
import { freshStoreEachTest, type StoreHarness } from './harness.ts';

const HOUR = 3600_000;
const W1 = '0x52908400098527886E0F7030069857D2E4169EE7';
const W2 = '0x8617E340B3D01FA5F11F306F4090FD50E238070D';

export function creditContract(label: string, makeHarness: () => Promise<StoreHarness>) {
  describe(`Credit ledger contract: ${label}`, () => {
    let h: StoreHarness;
    let store: Store;

    freshStoreEachTest(makeHarness, (fresh, opened) => {
      h = fresh;
      store = opened;
    });

    /** One validated single-copy shard per volunteer given, credited `amount` each with `holdMs`; returns the copies and when they were credited (bounds). */
    async function credit(vols: Vol[], amount: number, holdMs: number) {
      const { project: p, job, shards } = await writeJob(store, { shards: vols.length, replicas: 1 });
      const copies: Claimed['copy'][] = [];
      const before = Date.now();
      for (const v of vols) {
        const c = (await store.claimCopy(claimReq(v, { projectId: p.id })))!;
        await store.saveResult(c.copy.id, v.id, bytes(1), 1, Date.now(), NO_RULES);
        await store.applyValidation({ ...consensus(c.shard, job, [c.copy], amount), holdMs });
        copies.push(c.copy);
      }
      return { copies, before, after: Date.now() };
    }

    it('a credit is pending for its hold, then payable; rows written without a hold are payable at once', async () => {
      const v = makeVolunteer(1);
      const { before, after } = await credit([v], 2.5, HOUR);
      expect(await store.accountCredit(v.account, after)).toMatchObject({ balance: 2.5, pending: 2.5, payable: 0, copies: 1 });
      expect(await store.accountCredit(v.account, before + HOUR - 1)).toMatchObject({ pending: 2.5, payable: 0 });
      expect(await store.accountCredit(v.account, after + HOUR)).toMatchObject({ balance: 2.5, pending: 0, payable: 2.5 });
      const u = makeVolunteer(2);
      const { after: t } = await credit([u], 1, 0);
      expect(await store.accountCredit(u.account, t)).toMatchObject({ balance: 1, pending: 0, payable: 1 });
      expect(await store.accountCredit('nobody', t)).toEqual({ account: 'nobody', balance: 0, pending: 0, payable: 0, debt: 0, underReview: 0, copies: 0 });
    });

    it('reversals are new rows with a reason, once per copy; pending credit falls, and after the hold payable falls', async () => {
      const v = makeVolunteer(1);
      const { copies: [a, b, c], after } = await credit([v, v, v], 2, HOUR);
      const r1 = await store.reverseCredits({ copyIds: [a!.id, a!.id, 'no-such-copy'], reason: 'failed a spot check', now: after });
      expect(r1).toEqual([{ copyId: a!.id, account: v.account, amount: 2 }]);
      expect(await store.reverseCredits({ copyIds: [a!.id], reason: 'again', now: after })).toEqual([]);
      expect(await store.accountCredit(v.account, after)).toMatchObject({ balance: 4, pending: 4, payable: 0, copies: 3 });
      expect(await store.accountCredit(v.account, after + HOUR)).toMatchObject({ balance: 4, pending: 0, payable: 4 });
      // After its hold a credit can still be reversed: it comes off what is payable.
      await store.reverseCredits({ copyIds: [b!.id], reason: 'backtracking: recomputed by others', now: after + 2 * HOUR });
      expect(await store.accountCredit(v.account, after + 2 * HOUR)).toMatchObject({ balance: 2, pending: 0, payable: 2 });
      const changes = await store.ledgerChanges({ account: v.account, limit: 10 });
      expect(changes.map((x) => [x.kind, x.copyId, x.amount, x.reason])).toEqual([
        ['reversal', b!.id, -2, 'backtracking: recomputed by others'],
        ['reversal', a!.id, -2, 'failed a spot check'],
      ]);
      // The credit rows themselves are untouched: the ledger only grows.
      expect((await store.ledger({ account: v.account, limit: 10 })).map((e) => e.copyId).sort()).toEqual([a!.id, b!.id, c!.id].sort());
      expect(await store.ledgerChanges({ account: v.account, before: changes[0]!.seq, limit: 10 })).toHaveLength(1);
      expect((await store.topAccounts(10)).find((t) => t.account === v.account)).toEqual({ account: v.account, balance: 2, copies: 3 });
    });

    it('the changes, claims and payouts refuse UPDATE and DELETE, and a second reversal of a copy, in the database itself', async () => {
      const v = makeVolunteer(1, { wallet: W1 });
      const { copies: [a], after } = await credit([v], 2, 0);
      await store.reverseCredits({ copyIds: [a!.id], reason: 'wrong', now: after });
      await expect(h.sql(`UPDATE ledger_changes SET amount = 0`)).rejects.toThrow(/append-only/);
      await expect(h.sql(`DELETE FROM ledger_changes`)).rejects.toThrow(/append-only/);
      await expect(h.sql(`INSERT INTO ledger_changes (kind, account, amount, copy_id, reason, payable_at, at) VALUES ('reversal', '${W1}', -2, '${a!.id}', 'twice', 0, 0)`)).rejects.toThrow();
      const { after: t } = await credit([makeVolunteer(2, { wallet: W2 })], 1, 0);
      expect(await store.closePayout({ id: 'e1', now: t, build: buildPayout })).not.toBeNull();
      for (const [table, column] of [['payout_epochs', 'root'], ['payout_leaves', 'amount']]) {
        await expect(h.sql(`UPDATE ${table} SET ${column} = '0'`)).rejects.toThrow(/append-only/);
        await expect(h.sql(`DELETE FROM ${table}`)).rejects.toThrow(/append-only/);
      }
      expect(await store.claimCredit({ nonce: 'n0nce0001', from: 'volunteer:x', wallet: W1, message: 'm', signature: '0x', now: t })).toMatchObject({ ok: true });
      await expect(h.sql(`UPDATE wallet_claims SET wallet = 'x'`)).rejects.toThrow(/append-only/);
      await expect(h.sql(`DELETE FROM wallet_claims`)).rejects.toThrow(/append-only/);
    });

    it('a claim moves payable credit at once and each pending credit with its hold; its nonce never works twice', async () => {
      const v = makeVolunteer(1);
      await credit([v], 3, 0);
      const { copies: [fresh, gone], after } = await credit([v, v], 2, HOUR);
      await store.reverseCredits({ copyIds: [gone!.id], reason: 'wrong', now: after });
      const claim = { nonce: 'abcdef123456', from: v.account, wallet: W1, message: 'signed text', signature: '0xsig', now: after };
      expect(await store.claimCredit(claim)).toEqual({ ok: true, movedPayable: 3, movedPending: 2 });
      expect(await store.accountCredit(v.account, after)).toMatchObject({ balance: 0, pending: 0, payable: 0 });
      expect(await store.accountCredit(W1, after)).toMatchObject({ balance: 5, pending: 2, payable: 3 });
      expect(await store.accountCredit(W1, after + HOUR)).toMatchObject({ balance: 5, pending: 0, payable: 5 });
      // The replay changes nothing, even with new credit to move.
      await credit([v], 1, 0);
      expect(await store.claimCredit({ ...claim, now: Date.now() })).toEqual({ ok: false, reason: 'nonce_used' });
      expect(await store.accountCredit(v.account, Date.now())).toMatchObject({ balance: 1 });
      // A claimed pending credit found wrong is taken back from the wallet it moved to.
      expect(await store.reverseCredits({ copyIds: [fresh!.id], reason: 'failed a spot check', now: after })).toEqual([{ copyId: fresh!.id, account: W1, amount: 2 }]);
      expect(await store.accountCredit(W1, after)).toMatchObject({ balance: 3, pending: 0, payable: 3 });
      const kinds = (await store.ledgerChanges({ account: W1, limit: 10 })).map((c) => c.kind);
      expect(kinds).toEqual(['reversal', 'claim_in', 'claim_in']);
    });

    it('a reversal after a claim or a payout is a debt on the wallet: the next epoch pays net, and no credit is paid twice', async () => {
      const anon = makeVolunteer(1);
      const w2 = makeVolunteer(2, { wallet: W2 });
      const { copies: [a, b], after } = await credit([anon, anon], 2, 0);
      const { copies: [p2] } = await credit([w2], 3, 0);
      // Claimed once payable: the account's payable sum moves to W1 (one pair of rows, no copy).
      const t = Date.now();
      expect(await store.claimCredit({ nonce: 'debt-claim-1', from: anon.account, wallet: W1, message: 'm', signature: '0x', now: t })).toEqual({ ok: true, movedPayable: 4, movedPending: 0 });
      const e1 = (await store.closePayout({ id: 'epoch-d1', now: t, build: buildPayout }))!;
      expect(e1.leaves.map((l) => [l.account, l.amount]).sort()).toEqual([[W1, '4000000'], [W2, '3000000']]);
      // Both found wrong after they were paid: the claimed one falls on the wallet that took it, not on the abandoned account.
      const r = await store.reverseCredits({ copyIds: [a!.id, p2!.id], reason: 'failed a spot check', now: t });
      expect(r.sort((x, y) => x.account.localeCompare(y.account))).toEqual([{ copyId: a!.id, account: W1, amount: 2 }, { copyId: p2!.id, account: W2, amount: 3 }]);
      expect(await store.accountCredit(anon.account, t)).toMatchObject({ balance: 0, payable: 0, debt: 0 });
      expect(await store.accountCredit(W1, t)).toMatchObject({ balance: -2, pending: 0, payable: -2, debt: 2 });
      expect(await store.accountCredit(W2, t)).toMatchObject({ balance: -3, payable: -3, debt: 3 });
      // Nothing is owed to anyone: no epoch.
      expect(await store.closePayout({ id: 'epoch-d2', now: t, build: buildPayout })).toBeNull();
      // New credit to W1 pays its debt first: the next epoch pays 5 - 2; W2 stays in debt and is not paid.
      const { after: t3 } = await credit([makeVolunteer(3, { wallet: W1 })], 5, 0);
      const e3 = (await store.closePayout({ id: 'epoch-d3', now: t3, build: buildPayout }))!;
      expect(e3.leaves.map((l) => [l.account, l.amount])).toEqual([[W1, '3000000']]);
      expect(await store.accountCredit(W1, t3)).toMatchObject({ balance: 0, payable: 0, debt: 0 });
      expect(await store.accountCredit(W2, t3)).toMatchObject({ payable: -3, debt: 3 });
      // Paid to W1 in all: 4 + 3 = 7, what it was credited (4 claimed + 5) less the 2 reversed.
      expect((await store.payoutsOf(W1)).reduce((s, p) => s + BigInt(p.amount), 0n)).toBe(7_000_000n);
      // The other claimed copy, reversed later, is a debt again; reversing it twice changes nothing.
      expect(await store.reverseCredits({ copyIds: [b!.id, b!.id], reason: 'backtracking', now: t3 })).toEqual([{ copyId: b!.id, account: W1, amount: 2 }]);
      expect(await store.accountCredit(W1, t3)).toMatchObject({ payable: -2, debt: 2 });
      expect(after).toBeLessThanOrEqual(t);
    });

    it('a payout pays each wallet its payable credit once; volunteer accounts and pending credit wait', async () => {
      const w1 = makeVolunteer(1, { wallet: W1 });
      const w2 = makeVolunteer(2, { wallet: W2 });
      const anon = makeVolunteer(3);
      const { after } = await credit([w1, w1, w2, anon], 1.5, 0);
      const { after: later } = await credit([w2], 4, HOUR);
      const e1 = (await store.closePayout({ id: 'epoch-1', now: later, build: buildPayout }))!;
      expect(e1.leaves.map((l) => [l.account, l.amount]).sort()).toEqual([[W1, '3000000'], [W2, '1500000']]);
      expect(e1).toMatchObject({ id: 'epoch-1', accounts: 2, totalUnits: '4500000', at: later });
      expect(await store.accountCredit(W1, later)).toMatchObject({ balance: 0, payable: 0 });
      expect(await store.accountCredit(W2, later)).toMatchObject({ balance: 4, pending: 4, payable: 0 });
      expect(await store.accountCredit(anon.account, later)).toMatchObject({ balance: 1.5, payable: 1.5 });
      // Nothing new is payable: no epoch.
      expect(await store.closePayout({ id: 'epoch-2', now: later, build: buildPayout })).toBeNull();
      // W2's held credit, once past its hold, in the next epoch, and only it.
      const e3 = (await store.closePayout({ id: 'epoch-3', now: later + HOUR, build: buildPayout }))!;
      expect(e3.leaves.map((l) => [l.account, l.amount])).toEqual([[W2, '4000000']]);
      expect(await store.payoutEpoch('epoch-3')).toMatchObject({ id: 'epoch-3', root: e3.root, leaves: e3.leaves, tree: e3.tree });
      expect(await store.payoutEpoch('nope')).toBeNull();
      expect((await store.payoutEpochs(10)).map((e) => e.id)).toEqual(['epoch-3', 'epoch-1']);
      expect((await store.payoutsOf(W2)).map((p) => [p.epochId, p.amount])).toEqual([['epoch-3', '4000000'], ['epoch-1', '1500000']]);
      expect((await store.ledgerChanges({ account: W2, limit: 10 })).map((c) => [c.kind, c.ref, c.amount])).toEqual([['payout', 'epoch-3', -4], ['payout', 'epoch-1', -1.5]]);
      expect(after).toBeLessThanOrEqual(later);
    });
  });
}
