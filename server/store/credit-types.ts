/**
 * The store's credit ledger beyond credits themselves: the hold (pending vs
 * payable), reversals, wallet claims and payout epochs. Every change to a
 * balance is a new row (`ledger_changes`); nothing in the ledger is ever
 * updated or deleted (triggers refuse it in both databases).
 */
import type { PayoutDraft } from '../core/credit/payout.ts';

export type ChangeKind = 'reversal' | 'claim_out' | 'claim_in' | 'payout';

export interface LedgerChange {
  seq: number;
  kind: ChangeKind;
  account: string;
  /** Signed: a reversal, a claim_out and a payout take credit away. */
  amount: number;
  /** The copy whose credit it concerns (a reversal; a claim moving a pending credit), else null. */
  copyId: string | null;
  /** The claim's nonce, the payout epoch's id. */
  ref: string | null;
  /** Why, in words the volunteer reads. */
  reason: string;
  /** The change falls on pending credit until then, on payable credit after. */
  payableAt: number;
  at: number;
}

export interface AccountCredit {
  account: string;
  balance: number;
  pending: number;
  payable: number;
  /** Of the balance, credit for results under review (server/core/trust/review.ts): pending until the review settles, whatever its hold. */
  underReview: number;
  /** -payable when payable is negative: reversed after a claim or a payout, netted in the next payout. */
  debt: number;
  /** Copies credited to this account. */
  copies: number;
}

export interface ReversedCredit {
  copyId: string;
  /** The account the credit was taken from (where it was when reversed). */
  account: string;
  /** The credit taken back (positive). */
  amount: number;
}

export interface WalletClaimWrite {
  /** Single use: a second claim with it is refused. */
  nonce: string;
  /** `volunteer:<id>`. */
  from: string;
  /** Checksummed address that signed the message. */
  wallet: string;
  message: string;
  signature: string;
  now: number;
}

export type ClaimWrite = { ok: true; movedPayable: number; movedPending: number } | { ok: false; reason: 'nonce_used' };

export interface PayoutEpoch {
  id: string;
  root: string;
  totalUnits: string;
  accounts: number;
  at: number;
}

export interface PayoutEpochFull extends PayoutEpoch {
  tree: PayoutDraft['tree'];
  leaves: { account: string; amount: string; index: number }[];
}

export interface PayoutLeafOf {
  epochId: string;
  root: string;
  at: number;
  amount: string;
  index: number;
}

export interface CreditLedger {
  /** Balance, pending and payable at `now`. */
  accountCredit(account: string, now: number): Promise<AccountCredit>;
  /**
   * Takes back the credit of these copies, once each, with a reason: new
   * rows, from wherever the credit is now (debt.ts reversalHolder: a claimed
   * pending credit from the wallet it moved to, a payable credit from the
   * wallet that claimed its account after it was payable; after a payout
   * that is a debt). Copies never credited, or already
   * reversed, are skipped. Returns what was reversed.
   */
  reverseCredits(r: { copyIds: readonly string[]; reason: string; now: number }): Promise<ReversedCredit[]>;
  /** Newest first; `before` pages back from a sequence number. */
  ledgerChanges(filter: { account?: string; before?: number; limit: number }): Promise<LedgerChange[]>;
  /**
   * Moves all of `from`'s credit to `wallet` in one step, as new rows: the
   * payable part (a debt included: debt.ts payableToMove) as one pair of rows, each pending credit as a pair that
   * keeps its copy and its hold. The nonce is recorded: a replay is refused.
   */
  claimCredit(c: WalletClaimWrite): Promise<ClaimWrite>;
  /**
   * Closes a payout epoch atomically: reads the payable credit of every
   * wallet at `now`, lets `build` make the tree, and records the epoch, its
   * leaves and one payout row per paid wallet in one transaction, so a
   * credit is paid in one epoch at most, whatever crashes. Null when
   * `build` finds nothing to pay.
   */
  closePayout(p: { id: string; now: number; build: (payable: { account: string; payable: number }[]) => PayoutDraft | null }): Promise<PayoutEpochFull | null>;
  payoutEpochs(limit: number): Promise<PayoutEpoch[]>;
  payoutEpoch(id: string): Promise<PayoutEpochFull | null>;
  /** Every epoch that paid this account, newest first. */
  payoutsOf(account: string): Promise<PayoutLeafOf[]>;
}
