/**
 * Credit after it is granted: balances with their hold (pending, payable),
 * reversals with a reason, wallet claims and payout epochs. Decisions are
 * the pure core's (server/core/credit/); this glues them to the store and
 * tells the gateway whose balance changed.
 */
import type { Logger } from 'pino';
import type { AccountBalance } from '../../shared/protocol/events.ts';
import { buildPayout, proofFor } from '../core/credit/payout.ts';
import { newId } from '../store/ids.ts';
import type { PayoutEpochFull, ReversedCredit } from '../store/credit-types.ts';
import type { Store } from '../store/types.ts';
import type { CoordinatorEvents } from './events.ts';

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
   * Takes back the credit of copies found wrong after they were credited
   * (a spot check failed, backtracking): new ledger rows with `reason`,
   * each copy at most once. The accounts hear their new balance.
   */
  async reverse(copyIds: readonly string[], reason: string): Promise<ReversedCredit[]> {
    if (!reason.trim()) throw new Error('a reversal needs a reason the volunteer can read');
    const reversed = await this.store.reverseCredits({ copyIds, reason, now: this.now() });
    if (reversed.length) {
      this.log.warn({ copies: reversed.length, credit: reversed.reduce((s, r) => s + r.amount, 0), reason }, 'credit reversed');
      for (const a of new Set(reversed.map((r) => r.account))) this.events.emit('credited', a);
    }
    return reversed;
  }

  /** Closes a payout epoch over every wallet's payable credit; null when nothing is payable. */
  async closePayout(): Promise<PayoutEpochFull | null> {
    const id = newId();
    const now = this.now();
    this.log.info({ epoch: id }, 'closing a payout epoch');
    const epoch = await this.store.closePayout({ id, now, build: buildPayout });
    if (epoch) {
      this.log.info({ epoch: id, root: epoch.root, accounts: epoch.accounts, units: epoch.totalUnits }, 'payout epoch closed');
      for (const l of epoch.leaves) this.events.emit('credited', l.account);
    } else {
      this.log.info('payout: no wallet has payable credit');
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
