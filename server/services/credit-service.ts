/**
 * Credit after it is granted: balances with their hold (pending, payable),
 * reversals with a reason, wallet claims and payout epochs. Decisions are
 * the pure core's (server/core/credit/); this glues them to the store and
 * tells the gateway whose balance changed.
 */
import type { Logger } from 'pino';
import type { AccountBalance } from '../../shared/protocol/events.ts';
import { timingSafeEqual } from 'node:crypto';
import { sha256 } from '../blobs/blob-store.ts';
import { checkClaim } from '../core/credit/claim.ts';
import { debtOf } from '../core/credit/debt.ts';
import { buildPayout, proofFor } from '../core/credit/payout.ts';
import { newId } from '../store/ids.ts';
import type { PayoutEpochFull, ReversedCredit } from '../store/credit-types.ts';
import type { Store } from '../store/types.ts';
import type { CoordinatorEvents } from './events.ts';

export class ClaimError extends Error {
  constructor(readonly code: 'unauthorized' | 'forbidden' | 'conflict', message: string) {
    super(message);
  }
}

export class CreditService {
  constructor(
    private readonly store: Store,
    private readonly events: CoordinatorEvents,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async balanceOf(account: string): Promise<AccountBalance & { copies: number }> {
    return this.store.accountCredit(account, this.now());
  }

  /**
   * An account's balance with its ledger page (newest first, before a sequence
   * number) and the changes after the credits: reversals with their reasons,
   * claims and payouts (the latest 100).
   */
  async statement(account: string, page: { limit: number; before?: number }) {
    const c = await this.balanceOf(account);
    return {
      account, balance: c.balance, pending: c.pending, payable: c.payable, debt: c.debt, underReview: c.underReview, copies: c.copies,
      entries: await this.store.ledger({ account, limit: page.limit, ...(page.before ? { before: page.before } : {}) }),
      changes: await this.store.ledgerChanges({ account, limit: 100 }),
    };
  }

  /** The accounts with the most credit (at most 100). */
  async top() {
    return this.store.topAccounts(100);
  }

  /** The latest payout epochs (at most 100). */
  async epochs() {
    return this.store.payoutEpochs(100);
  }

  /**
   * Takes back the credit of copies found wrong after they were credited
   * (a spot check failed, backtracking): new ledger rows with `reason`,
   * each copy at most once. The accounts hear their new balance.
   */
  async reverse(copyIds: readonly string[], reason: string): Promise<ReversedCredit[]> {
    if (!reason.trim()) throw new Error('a reversal needs a reason the volunteer can read');
    const reversed = await this.store.reverseCredits({ copyIds, reason, now: this.now() });
    if (reversed.length) {
      this.log.warn({ copies: reversed.length, credit: reversed.reduce((s, r) => s + r.amount, 0), reason }, 'credit reversed');
      this.events.emit('trust', { kind: 'reversed', credit: reversed.reduce((s, r) => s + r.amount, 0) });
      for (const a of new Set(reversed.map((r) => r.account))) this.events.emit('credited', a);
    }
    return reversed;
  }

  /**
   * Moves the credit of `volunteer:<id>` to a wallet. Two proofs: the
   * volunteer's secret (whoever computed the work) and a Sign-In with
   * Ethereum message naming that account, signed by the wallet (whoever
   * owns the wallet). The nonce works once.
   */
  async claim(c: { volunteerId: string; secret: string; message: string; signature: string; domain: string }) {
    const v = await this.store.getVolunteer(c.volunteerId);
    const a = Buffer.from(sha256(Buffer.from(c.secret)), 'hex');
    const b = Buffer.from(v?.secretHash ?? '', 'hex');
    if (!v || a.length !== b.length || !timingSafeEqual(a, b)) throw new ClaimError('unauthorized', 'unknown volunteer or wrong secret: only the volunteer that earned the credit may claim it');
    const from = `volunteer:${v.id}`;
    const now = this.now();
    const check = await checkClaim({ message: c.message, signature: c.signature, account: from, domain: c.domain, now });
    if (!check.ok) {
      this.log.warn({ volunteer: v.id, reason: check.reason }, 'wallet claim refused');
      throw new ClaimError('forbidden', check.reason);
    }
    const r = await this.store.claimCredit({ nonce: check.nonce, from, wallet: check.wallet, message: c.message, signature: c.signature, now });
    if (!r.ok) throw new ClaimError('conflict', 'this signed message was already used (its nonce): sign a new one');
    this.log.info({ volunteer: v.id, wallet: check.wallet, payable: r.movedPayable, pending: r.movedPending }, 'credit claimed by a wallet');
    this.events.emit('credited', from);
    this.events.emit('credited', check.wallet);
    return { from, wallet: check.wallet, movedPayable: r.movedPayable, movedPending: r.movedPending };
  }

  /** Closes a payout epoch over every wallet's payable credit; null when nothing is payable. */
  async closePayout(): Promise<PayoutEpochFull | null> {
    const id = newId();
    const now = this.now();
    this.log.info({ epoch: id }, 'closing a payout epoch');
    // Wallets whose payable credit is below zero (debt.ts) are left out; the log says how many and how much.
    let debts: { account: string; payable: number }[] = [];
    const build = (payable: { account: string; payable: number }[]) => {
      debts = payable.filter((p) => debtOf(p.payable) > 0);
      return buildPayout(payable);
    };
    const epoch = await this.store.closePayout({ id, now, build });
    const debt = debts.length ? { walletsInDebt: debts.length, debt: debts.reduce((t, d) => t + debtOf(d.payable), 0) } : {};
    if (epoch) {
      this.log.info({ epoch: id, root: epoch.root, accounts: epoch.accounts, units: epoch.totalUnits, ...debt }, 'payout epoch closed');
      this.events.emit('trust', { kind: 'payout', accounts: epoch.accounts });
      for (const l of epoch.leaves) this.events.emit('credited', l.account);
    } else {
      this.log.info(debt, 'payout: no wallet has payable credit');
    }
    return epoch;
  }

  /** An epoch with every account's proof (what `tabgrid payout --out` writes). */
  async epochWithProofs(id: string) {
    const e = await this.store.payoutEpoch(id);
    if (!e) return null;
    return { ...e, proofs: e.leaves.map((l) => ({ ...l, proof: proofFor(e.tree, l.index) })) };
  }

  /** Every epoch that paid this wallet, with its proof against that epoch's root. */
  async proofsOf(account: string) {
    const out = [];
    for (const p of await this.store.payoutsOf(account)) {
      const e = await this.store.payoutEpoch(p.epochId);
      if (!e) continue;
      out.push({ ...p, account, proof: proofFor(e.tree, p.index) });
    }
    return out;
  }
}
