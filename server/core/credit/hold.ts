/**
 * Credit hold: a credit is *pending* for a hold window after its copy was
 * validated (spot checks and backtracking can still reverse it), then
 * *payable*. The moment a row becomes payable is written with the row
 * (`payable_at`), so changing `--credit-hold` later never moves credit that
 * was already granted between pending and payable.
 */
import { debtOf } from './debt.ts';

/** 24 hours: long enough for spot checks to catch a host that turned liar before its credit can be paid. */
export const DEFAULT_CREDIT_HOLD_MS = 24 * 3600_000;

export function payableAt(at: number, holdMs: number): number {
  return at + holdMs;
}

/** What an account's balance is made of at `now`. */
export interface BalanceSplit {
  /** Everything credited, less reversals, moves out and payouts. */
  balance: number;
  /** Still in its hold window: may be reversed, not yet paid. */
  pending: number;
  /** Past its hold and not yet paid out (negative: reversals after the hold exceed what is left: a debt future credit pays first). */
  payable: number;
  /** How far payable is below zero (debt.ts): credit reversed after it was claimed or paid; the next payout pays net of it. */
  debt: number;
}

/** Sums below a micro-credit are float noise from adding and subtracting rows, not credit. */
const EPS = 1e-9;
const clean = (x: number) => (Math.abs(x) < EPS ? 0 : x);

export function splitBalance(balance: number, pending: number): BalanceSplit {
  const payable = clean(balance - pending);
  return { balance: clean(balance), pending: clean(pending), payable, debt: debtOf(payable) };
}

/**
 * `--credit-hold`: a number with a unit (s, m, h, d), e.g. `24h`, `90s`, `0`.
 * Returns milliseconds, or throws a message that names what was wrong.
 */
export function parseHold(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) throw new Error(`--credit-hold ${JSON.stringify(text)}: expected a duration such as 24h, 30m, 90s or 0`);
  const unit = m[2] ?? (Number(m[1]) === 0 ? 's' : undefined);
  if (!unit) throw new Error(`--credit-hold ${JSON.stringify(text)}: give a unit (ms, s, m, h or d), e.g. 24h`);
  const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }[unit]!;
  if (ms > 365 * 86_400_000) throw new Error(`--credit-hold ${JSON.stringify(text)}: at most 365d`);
  return Math.round(ms);
}
