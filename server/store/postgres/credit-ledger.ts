/**
 * The PostgreSQL side of the credit ledger (see ../credit-types.ts). Each
 * write runs in one transaction given by PgStore. Several coordinators may
 * share the database, so writes that read a balance and then move it take a
 * transaction-scoped advisory lock: per account for claims and reversals
 * (a reversal and a claim of one account never interleave), and one for
 * payouts (two operators closing epochs at once pay each credit once).
 */
import type { QueryResult } from 'pg';
import { payableToMove, reversalHolder } from '../../core/credit/debt.ts';
import { splitBalance } from '../../core/credit/hold.ts';
import type { PayoutDraft } from '../../core/credit/payout.ts';
import { UNDER_REVIEW } from '../rows.ts';
import type { AccountCredit, ClaimWrite, LedgerChange, PayoutEpoch, PayoutEpochFull, PayoutLeafOf, ReversedCredit, WalletClaimWrite } from '../credit-types.ts';

type Row = Record<string, unknown>;
export type Exec = (sql: string, params?: unknown[]) => Promise<QueryResult<Row>>;

const num = (v: unknown): number => Number(v);

const toChange = (r: Row): LedgerChange => ({
  seq: num(r.seq), kind: r.kind as LedgerChange['kind'], account: r.account as string, amount: r.amount as number,
  copyId: (r.copy_id as string | null) ?? null, ref: (r.ref as string | null) ?? null, reason: r.reason as string,
  payableAt: num(r.payable_at), at: num(r.at),
});

const toEpoch = (r: Row): PayoutEpoch => ({
  id: r.id as string, root: r.root as string, totalUnits: r.total_units as string, accounts: num(r.accounts), at: num(r.at),
});

const lockAccount = (q: Exec, account: string) => q(`SELECT pg_advisory_xact_lock(hashtext('tabgrid.credit'), hashtext($1))`, [account]);
const lockPayouts = (q: Exec) => q(`SELECT pg_advisory_xact_lock(hashtext('tabgrid.payout'), 0)`);

const INSERT_CHANGE = `INSERT INTO ledger_changes (kind, account, amount, copy_id, ref, reason, payable_at, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`;

export async function accountCredit(q: Exec, account: string, now: number): Promise<AccountCredit> {
  const r = (await q(`SELECT
      (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE account = $1) + (SELECT COALESCE(SUM(amount), 0) FROM ledger_changes WHERE account = $1) AS balance,
      (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE account = $1 AND payable_at > $2)
        + (SELECT COALESCE(SUM(amount), 0) FROM ledger_changes WHERE account = $1 AND payable_at > $2)
        -- Credit under review stays pending past its hold until the review settles.
        + (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE account = $1 AND payable_at <= $2 AND copy_id IN (${UNDER_REVIEW}))
        + (SELECT COALESCE(SUM(amount), 0) FROM ledger_changes WHERE account = $1 AND payable_at <= $2 AND copy_id IN (${UNDER_REVIEW})) AS pending,
      (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE account = $1 AND copy_id IN (${UNDER_REVIEW}))
        + (SELECT COALESCE(SUM(amount), 0) FROM ledger_changes WHERE account = $1 AND copy_id IN (${UNDER_REVIEW})) AS review,
      (SELECT COUNT(*) FROM ledger WHERE account = $1) AS copies`, [account, now])).rows[0]!;
  return { account, ...splitBalance(num(r.balance), num(r.pending)), underReview: num(r.review), copies: num(r.copies) };
}

export async function reverseCredits(q: Exec, r: { copyIds: readonly string[]; reason: string; now: number }): Promise<ReversedCredit[]> {
  const ids = [...new Set(r.copyIds)].sort();
  if (!ids.length) return [];
  const credits = (await q('SELECT copy_id, account, amount, payable_at FROM ledger WHERE copy_id = ANY($1::text[]) ORDER BY copy_id', [ids])).rows;
  for (const a of [...new Set(credits.map((c) => c.account as string))].sort()) await lockAccount(q, a);
  const out: ReversedCredit[] = [];
  for (const c of credits) {
    const copyId = c.copy_id as string;
    const moved = (await q(`SELECT kind, account FROM ledger_changes WHERE copy_id = $1 AND kind IN ('reversal','claim_in')`, [copyId])).rows;
    if (moved.some((m) => m.kind === 'reversal')) continue;
    const movedTo = (moved.find((m) => m.kind === 'claim_in')?.account as string | undefined) ?? null;
    const claims = (await q('SELECT wallet, at FROM wallet_claims WHERE from_account = $1', [c.account])).rows.map((x) => ({ wallet: x.wallet as string, at: num(x.at) }));
    const holder = reversalHolder({ account: c.account as string, payableAt: num(c.payable_at) }, movedTo, claims);
    const amount = c.amount as number;
    // ON CONFLICT: another coordinator reversed it first (the unique index on reversals decides).
    const ins = await q(`${INSERT_CHANGE} ON CONFLICT DO NOTHING`, ['reversal', holder, -amount, copyId, null, r.reason, num(c.payable_at), r.now]);
    if (ins.rowCount) out.push({ copyId, account: holder, amount });
  }
  return out;
}

export async function ledgerChanges(q: Exec, filter: { account?: string; before?: number; limit: number }): Promise<LedgerChange[]> {
  const where: string[] = [];
  const vals: unknown[] = [];
  if (filter.before !== undefined) { vals.push(filter.before); where.push(`seq < $${vals.length}`); }
  if (filter.account) { vals.push(filter.account); where.push(`account = $${vals.length}`); }
  vals.push(filter.limit);
  const { rows } = await q(`SELECT * FROM ledger_changes ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${vals.length}`, vals);
  return rows.map(toChange);
}

export async function claimCredit(q: Exec, c: WalletClaimWrite): Promise<ClaimWrite> {
  await lockAccount(q, c.from);
  const before = await accountCredit(q, c.from, c.now);
  const ins = await q(`INSERT INTO wallet_claims (nonce, from_account, wallet, message, signature, moved, at) VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (nonce) DO NOTHING`, [c.nonce, c.from, c.wallet, c.message, c.signature, Math.max(0, before.balance), c.now]);
  if (!ins.rowCount) return { ok: false, reason: 'nonce_used' };
  const why = `claimed by ${c.wallet} (signed, nonce ${c.nonce})`;
  const pending = (await q(`SELECT l.copy_id, l.amount, l.payable_at FROM ledger l
    WHERE l.account = $1 AND (l.payable_at > $2 OR l.copy_id IN (${UNDER_REVIEW}))
      AND NOT EXISTS (SELECT 1 FROM ledger_changes x WHERE x.copy_id = l.copy_id AND x.kind IN ('reversal','claim_in'))
    ORDER BY l.seq`, [c.from, c.now])).rows;
  let movedPending = 0;
  for (const r of pending) {
    const amount = r.amount as number;
    await q(INSERT_CHANGE, ['claim_out', c.from, -amount, r.copy_id, c.nonce, `moved to ${c.wallet}`, num(r.payable_at), c.now]);
    await q(INSERT_CHANGE, ['claim_in', c.wallet, amount, r.copy_id, c.nonce, `from ${c.from}, ${why}`, num(r.payable_at), c.now]);
    movedPending += amount;
  }
  // All of the payable balance, a debt included: the wallet takes the account over as it is.
  const movedPayable = payableToMove(before.payable);
  if (movedPayable !== 0) {
    await q(INSERT_CHANGE, ['claim_out', c.from, -movedPayable, null, c.nonce, `moved to ${c.wallet}`, c.now, c.now]);
    await q(INSERT_CHANGE, ['claim_in', c.wallet, movedPayable, null, c.nonce, `from ${c.from}, ${why}`, c.now, c.now]);
  }
  return { ok: true, movedPayable, movedPending };
}

export async function closePayout(q: Exec, p: { id: string; now: number; build: (payable: { account: string; payable: number }[]) => PayoutDraft | null }): Promise<PayoutEpochFull | null> {
  await lockPayouts(q);
  const payable = (await q(`SELECT account, SUM(amount) AS payable FROM (
      SELECT account, amount FROM ledger WHERE payable_at <= $1 AND account LIKE '0x%' AND copy_id NOT IN (${UNDER_REVIEW})
      UNION ALL
      SELECT account, amount FROM ledger_changes WHERE payable_at <= $1 AND account LIKE '0x%'
        AND (copy_id IS NULL OR copy_id NOT IN (${UNDER_REVIEW}))) t
    GROUP BY account`, [p.now])).rows.map((r) => ({ account: r.account as string, payable: num(r.payable) }));
  const draft = p.build(payable);
  if (!draft) return null;
  await q('INSERT INTO payout_epochs (id, root, tree, total_units, accounts, at) VALUES ($1, $2, $3, $4, $5, $6)',
    [p.id, draft.root, JSON.stringify(draft.tree), draft.totalUnits, draft.leaves.length, p.now]);
  await q(`INSERT INTO payout_leaves (epoch_id, account, amount, idx) SELECT $1, a, n, i FROM unnest($2::text[], $3::text[], $4::int[]) AS u(a, n, i)`,
    [p.id, draft.leaves.map((l) => l.account), draft.leaves.map((l) => l.amount), draft.leaves.map((l) => l.index)]);
  await q(`INSERT INTO ledger_changes (kind, account, amount, copy_id, ref, reason, payable_at, at)
      SELECT 'payout', a, n, NULL, $1, $2, $3, $3 FROM unnest($4::text[], $5::float8[]) AS u(a, n)`,
    [p.id, `paid in payout epoch ${p.id} (root ${draft.root})`, p.now, draft.debits.map((d) => d.account), draft.debits.map((d) => -d.credit)]);
  return { id: p.id, root: draft.root, totalUnits: draft.totalUnits, accounts: draft.leaves.length, at: p.now, tree: draft.tree, leaves: draft.leaves };
}

export async function payoutEpochs(q: Exec, limit: number): Promise<PayoutEpoch[]> {
  return (await q('SELECT id, root, total_units, accounts, at FROM payout_epochs ORDER BY seq DESC LIMIT $1', [limit])).rows.map(toEpoch);
}

export async function payoutEpoch(q: Exec, id: string): Promise<PayoutEpochFull | null> {
  const r = (await q('SELECT * FROM payout_epochs WHERE id = $1', [id])).rows[0];
  if (!r) return null;
  const leaves = (await q('SELECT account, amount, idx FROM payout_leaves WHERE epoch_id = $1 ORDER BY idx', [id])).rows
    .map((l) => ({ account: l.account as string, amount: l.amount as string, index: num(l.idx) }));
  return { ...toEpoch(r), tree: JSON.parse(r.tree as string) as PayoutDraft['tree'], leaves };
}

export async function payoutsOf(q: Exec, account: string): Promise<PayoutLeafOf[]> {
  return (await q(`SELECT l.epoch_id, e.root, e.at, l.amount, l.idx FROM payout_leaves l JOIN payout_epochs e ON e.id = l.epoch_id
    WHERE l.account = $1 ORDER BY e.seq DESC`, [account])).rows
    .map((r) => ({ epochId: r.epoch_id as string, root: r.root as string, at: num(r.at), amount: r.amount as string, index: num(r.idx) }));
}
