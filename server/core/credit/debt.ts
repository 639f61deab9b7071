/**
 * Debt: credit reversed after it left the account that earned it. A copy's
 * credit travels: a pending credit moves to a wallet with its copy (a claim
 * row per copy), payable credit moves in one sum when its account is claimed,
 * and a wallet's payable credit is paid in a payout epoch. A reversal (a
 * failed spot check, backtracking) takes the credit back from wherever it
 * went, so one who claimed or was paid cannot keep it by moving it first;
 * after a payout that makes the wallet's payable balance negative: a debt the
 * next epoch pays net (buildPayout pays only a positive sum), so no credit is
 * ever paid twice and a reversed one is never paid at all in the end.
 */

/** A claim of a `volunteer:<id>` account by a wallet, and when it was made. */
export interface AccountClaim {
  wallet: string;
  at: number;
}

/**
 * The account a reversal of one copy's credit falls on: the wallet its pending
 * credit moved to (`movedTo`) if it moved with its copy; else, if its account
 * was claimed once the credit was payable, the wallet of the first such claim
 * (the claim moved the account's whole payable balance, this credit in it);
 * else the account that earned it.
 */
export function reversalHolder(credit: { account: string; payableAt: number }, movedTo: string | null, claims: readonly AccountClaim[]): string {
  if (movedTo) return movedTo;
  let first: AccountClaim | null = null;
  for (const c of claims) if (c.at >= credit.payableAt && (!first || c.at < first.at)) first = c;
  return first ? first.wallet : credit.account;
}

/** Sums below a micro-credit are float noise from adding and subtracting rows. */
const EPS = 1e-9;

/**
 * What a claim moves of its account's payable balance: all of it, a debt
 * included (a negative sum), so a debt follows the account into the wallet
 * that takes it over and is netted in that wallet's next payout instead of
 * being left behind on an account its owner may abandon.
 */
export function payableToMove(payable: number): number {
  return Math.abs(payable) < EPS ? 0 : payable;
}

/** An account's debt: how far reversals after a payout or a claim took its payable balance below zero. */
export function debtOf(payable: number): number {
  return payable < -EPS ? -payable : 0;
}
