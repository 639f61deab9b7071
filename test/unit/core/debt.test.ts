/** Debt as pure functions: where a reversal falls, what a claim moves, how a debt shows and how a payout nets it. */
import { describe, expect, it } from 'vitest';
import { debtOf, payableToMove, reversalHolder } from '../../../server/core/credit/debt.ts';
import { splitBalance } from '../../../server/core/credit/hold.ts';
import { buildPayout } from '../../../server/core/credit/payout.ts';

const W1 = '0x52908400098527886E0F7030069857D2E4169EE7';
const W2 = '0x8617E340B3D01FA5F11F306F4090FD50E238070D';

describe('reversalHolder', () => {
  const credit = { account: 'volunteer:v', payableAt: 1000 };

  it('a pending credit that moved with its copy falls on that wallet', () => {
    expect(reversalHolder(credit, W2, [{ wallet: W1, at: 2000 }])).toBe(W2);
  });

  it('a credit claimed once payable falls on the wallet of the first claim at or after its payable moment', () => {
    expect(reversalHolder(credit, null, [{ wallet: W2, at: 3000 }, { wallet: W1, at: 1000 }])).toBe(W1);
    expect(reversalHolder(credit, null, [{ wallet: W1, at: 500 }, { wallet: W2, at: 1500 }])).toBe(W2);
  });

  it('a credit never claimed (or claimed only before it was payable, when it moved with its copy) stays on its account', () => {
    expect(reversalHolder(credit, null, [])).toBe('volunteer:v');
    expect(reversalHolder(credit, null, [{ wallet: W1, at: 999 }])).toBe('volunteer:v');
  });
});

describe('debt', () => {
  it('a claim moves the whole payable balance, a debt included; float noise is nothing', () => {
    expect(payableToMove(4)).toBe(4);
    expect(payableToMove(-2)).toBe(-2);
    expect(payableToMove(1e-12)).toBe(0);
  });

  it('shows as the part of payable below zero', () => {
    expect(debtOf(-2.5)).toBe(2.5);
    expect(debtOf(3)).toBe(0);
    expect(debtOf(-1e-12)).toBe(0);
    expect(splitBalance(-1, 1)).toEqual({ balance: -1, pending: 1, payable: -2, debt: 2 });
    expect(splitBalance(5, 1)).toEqual({ balance: 5, pending: 1, payable: 4, debt: 0 });
  });

  it('a payout pays only a positive net sum: a wallet in debt is left out until new credit exceeds it', () => {
    const draft = buildPayout([{ account: W1, payable: -2 }, { account: W2, payable: 3 - 2 }]);
    expect(draft!.leaves.map((l) => [l.account, l.amount])).toEqual([[W2, '1000000']]);
    expect(buildPayout([{ account: W1, payable: -2 }])).toBeNull();
  });
});
