/**
 * The SQLite side of the credit ledger (see ../credit-types.ts): synchronous
 * statements that SqliteStore runs inside its group-committed writes, so each
 * method below is one atomic step.
 */
import type Database from 'better-sqlite3';
import type { PayoutDraft } from '../../core/credit/payout.ts';
import { payableToMove, reversalHolder } from '../../core/credit/debt.ts';
import { splitBalance } from '../../core/credit/hold.ts';
import { UNDER_REVIEW } from '../rows.ts';
import type { AccountCredit, ClaimWrite, LedgerChange, PayoutEpoch, PayoutEpochFull, PayoutLeafOf, ReversedCredit, WalletClaimWrite } from '../credit-types.ts';

type Row = Record<string, unknown>;

const toChange = (r: Row): LedgerChange => ({
  seq: r.seq as number, kind: r.kind as LedgerChange['kind'], account: r.account as string, amount: r.amount as number,
  copyId: (r.copy_id as string | null) ?? null, ref: (r.ref as string | null) ?? null, reason: r.reason as string,
  payableAt: r.payable_at as number, at: r.at as number,
});

const toEpoch = (r: Row): PayoutEpoch => ({
  id: r.id as string, root: r.root as string, totalUnits: r.total_units as string, accounts: r.accounts as number, at: r.at as number,
});

export class SqliteCreditLedger {
  private readonly s: Record<string, Database.Statement>;

  constructor(private readonly db: Database.Database) {
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      totals: p('SELECT balance, copies FROM balances WHERE account = ?'),
      // Pending: rows still in their hold; the index on (account, payable_at) reads only those. Credit under
      // review (rows of copies whose shard has an open review) stays pending past its hold until the review settles.
      pending: p(`SELECT (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE account = @a AND payable_at > @now)
                       + (SELECT COALESCE(SUM(amount), 0) FROM ledger_changes WHERE account = @a AND payable_at > @now) AS p,
                         (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE account = @a AND payable_at <= @now AND copy_id IN (${UNDER_REVIEW}))
                       + (SELECT COALESCE(SUM(amount), 0) FROM ledger_changes WHERE account = @a AND payable_at <= @now AND copy_id IN (${UNDER_REVIEW})) AS held,
                         (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE account = @a AND copy_id IN (${UNDER_REVIEW}))
                       + (SELECT COALESCE(SUM(amount), 0) FROM ledger_changes WHERE account = @a AND copy_id IN (${UNDER_REVIEW})) AS review`),
      credit: p('SELECT account, amount, payable_at FROM ledger WHERE copy_id = ?'),
      reversed: p(`SELECT 1 FROM ledger_changes WHERE copy_id = ? AND kind = 'reversal'`),
      movedTo: p(`SELECT account FROM ledger_changes WHERE copy_id = ? AND kind = 'claim_in'`),
      claimsOf: p('SELECT wallet, at FROM wallet_claims WHERE from_account = ?'),
      change: p(`INSERT INTO ledger_changes (kind, account, amount, copy_id, ref, reason, payable_at, at)
                 VALUES (@kind, @account, @amount, @copyId, @ref, @reason, @payableAt, @at)`),
      claimNonce: p(`INSERT INTO wallet_claims (nonce, from_account, wallet, message, signature, moved, at) VALUES (?, ?, ?, ?, ?, ?, ?)
                     ON CONFLICT(nonce) DO NOTHING`),
      pendingCredits: p(`SELECT l.copy_id, l.amount, l.payable_at FROM ledger l
                         WHERE l.account = ? AND (l.payable_at > ? OR l.copy_id IN (${UNDER_REVIEW}))
                           AND NOT EXISTS (SELECT 1 FROM ledger_changes c WHERE c.copy_id = l.copy_id AND c.kind IN ('reversal','claim_in'))`),
      payableWallets: p(`SELECT account, SUM(amount) AS payable FROM (
                           SELECT account, amount FROM ledger WHERE payable_at <= @now AND account LIKE '0x%' AND copy_id NOT IN (${UNDER_REVIEW})
                           UNION ALL
                           SELECT account, amount FROM ledger_changes WHERE payable_at <= @now AND account LIKE '0x%'
                             AND (copy_id IS NULL OR copy_id NOT IN (${UNDER_REVIEW})))
                         GROUP BY account`),
      epoch: p('INSERT INTO payout_epochs (id, root, tree, total_units, accounts, at) VALUES (?, ?, ?, ?, ?, ?)'),
      leaf: p('INSERT INTO payout_leaves (epoch_id, account, amount, idx) VALUES (?, ?, ?, ?)'),
    };
  }

  accountCredit(account: string, now: number): AccountCredit {
    const t = this.s.totals!.get(account) as Row | undefined;
    const r = this.s.pending!.get({ a: account, now }) as Row;
    const pending = (r.p as number) + (r.held as number);
    return { account, ...splitBalance((t?.balance as number | undefined) ?? 0, pending), underReview: r.review as number, copies: (t?.copies as number | undefined) ?? 0 };
  }

  /** Inside a write. */
  reverseCredits(r: { copyIds: readonly string[]; reason: string; now: number }): ReversedCredit[] {
    const out: ReversedCredit[] = [];
    for (const copyId of new Set(r.copyIds)) {
      const c = this.s.credit!.get(copyId) as Row | undefined;
      if (!c || this.s.reversed!.get(copyId)) continue;
      const movedTo = ((this.s.movedTo!.get(copyId) as Row | undefined)?.account as string | undefined) ?? null;
      const claims = (this.s.claimsOf!.all(c.account) as Row[]).map((x) => ({ wallet: x.wallet as string, at: x.at as number }));
      const holder = reversalHolder({ account: c.account as string, payableAt: c.payable_at as number }, movedTo, claims);
      const amount = c.amount as number;
      this.s.change!.run({ kind: 'reversal', account: holder, amount: -amount, copyId, ref: null, reason: r.reason, payableAt: c.payable_at, at: r.now });
      out.push({ copyId, account: holder, amount });
    }
    return out;
  }

  ledgerChanges(filter: { account?: string; before?: number; limit: number }): LedgerChange[] {
    const where: string[] = [];
    const vals: unknown[] = [];
    if (filter.before !== undefined) { where.push('seq < ?'); vals.push(filter.before); }
    if (filter.account) { where.push('account = ?'); vals.push(filter.account); }
    const rows = this.db.prepare(`SELECT * FROM ledger_changes ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`).all(...vals, filter.limit) as Row[];
    return rows.map(toChange);
  }

  /** Inside a write. */
  claimCredit(c: WalletClaimWrite): ClaimWrite {
    const before = this.accountCredit(c.from, c.now);
    // The nonce first: a replay changes nothing, whatever it would have moved.
    if (!this.s.claimNonce!.run(c.nonce, c.from, c.wallet, c.message, c.signature, Math.max(0, before.balance), c.now).changes) return { ok: false, reason: 'nonce_used' };
    const why = `claimed by ${c.wallet} (signed, nonce ${c.nonce})`;
    let movedPending = 0;
    for (const r of this.s.pendingCredits!.all(c.from, c.now) as Row[]) {
      const base = { copyId: r.copy_id, ref: c.nonce, payableAt: r.payable_at, at: c.now };
      this.s.change!.run({ ...base, kind: 'claim_out', account: c.from, amount: -(r.amount as number), reason: `moved to ${c.wallet}` });
      this.s.change!.run({ ...base, kind: 'claim_in', account: c.wallet, amount: r.amount, reason: `from ${c.from}, ${why}` });
      movedPending += r.amount as number;
    }
    // All of the payable balance, a debt included: the wallet takes the account over as it is.
    const movedPayable = payableToMove(before.payable);
    if (movedPayable !== 0) {
      const base = { copyId: null, ref: c.nonce, payableAt: c.now, at: c.now };
      this.s.change!.run({ ...base, kind: 'claim_out', account: c.from, amount: -movedPayable, reason: `moved to ${c.wallet}` });
      this.s.change!.run({ ...base, kind: 'claim_in', account: c.wallet, amount: movedPayable, reason: `from ${c.from}, ${why}` });
    }
    return { ok: true, movedPayable, movedPending };
  }

  /** Inside a write. */
  closePayout(p: { id: string; now: number; build: (payable: { account: string; payable: number }[]) => PayoutDraft | null }): PayoutEpochFull | null {
    const payable = (this.s.payableWallets!.all({ now: p.now }) as Row[]).map((r) => ({ account: r.account as string, payable: r.payable as number }));
    const draft = p.build(payable);
    if (!draft) return null;
    this.s.epoch!.run(p.id, draft.root, JSON.stringify(draft.tree), draft.totalUnits, draft.leaves.length, p.now);
    for (const l of draft.leaves) this.s.leaf!.run(p.id, l.account, l.amount, l.index);
    for (const d of draft.debits) {
      this.s.change!.run({ kind: 'payout', account: d.account, amount: -d.credit, copyId: null, ref: p.id, reason: `paid in payout epoch ${p.id} (root ${draft.root})`, payableAt: p.now, at: p.now });
    }
    return { id: p.id, root: draft.root, totalUnits: draft.totalUnits, accounts: draft.leaves.length, at: p.now, tree: draft.tree, leaves: draft.leaves };
  }

  payoutEpochs(limit: number): PayoutEpoch[] {
    return (this.db.prepare('SELECT id, root, total_units, accounts, at FROM payout_epochs ORDER BY seq DESC LIMIT ?').all(limit) as Row[]).map(toEpoch);
  }

  payoutEpoch(id: string): PayoutEpochFull | null {
    const r = this.db.prepare('SELECT * FROM payout_epochs WHERE id = ?').get(id) as Row | undefined;
    if (!r) return null;
    const leaves = (this.db.prepare('SELECT account, amount, idx FROM payout_leaves WHERE epoch_id = ? ORDER BY idx').all(id) as Row[])
      .map((l) => ({ account: l.account as string, amount: l.amount as string, index: l.idx as number }));
    return { ...toEpoch(r), tree: JSON.parse(r.tree as string) as PayoutDraft['tree'], leaves };
  }

  payoutsOf(account: string): PayoutLeafOf[] {
    return (this.db.prepare(`SELECT l.epoch_id, e.root, e.at, l.amount, l.idx FROM payout_leaves l JOIN payout_epochs e ON e.id = l.epoch_id
      WHERE l.account = ? ORDER BY e.seq DESC`).all(account) as Row[])
      .map((r) => ({ epochId: r.epoch_id as string, root: r.root as string, at: r.at as number, amount: r.amount as string, index: r.idx as number }));
  }
}
