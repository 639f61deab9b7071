/** The credit core as pure functions: the hold, payout epochs (checked independently with viem) and SIWE wallet claims. */
import { concat, encodeAbiParameters, keccak256, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { checkClaim } from '../../../server/core/credit/claim.ts';
import { parseHold, splitBalance } from '../../../server/core/credit/hold.ts';
import { buildPayout, creditToUnits, proofFor } from '../../../server/core/credit/payout.ts';
import { claimMessage } from '../../../shared/wallet-claim.ts';

// Fixed keys: the same addresses and signatures on every run.
const owner = privateKeyToAccount(`0x${'11'.repeat(32)}`);
const other = privateKeyToAccount(`0x${'22'.repeat(32)}`);
const NOW = Date.UTC(2026, 11, 2, 12);

describe('credit hold', () => {
  it('parses --credit-hold durations and refuses what it cannot read', () => {
    expect(parseHold('24h')).toBe(86_400_000);
    expect(parseHold('90s')).toBe(90_000);
    expect(parseHold('1.5m')).toBe(90_000);
    expect(parseHold('0')).toBe(0);
    expect(parseHold('2d')).toBe(172_800_000);
    expect(() => parseHold('24')).toThrow(/give a unit/);
    expect(() => parseHold('-1h')).toThrow(/expected a duration/);
    expect(() => parseHold('400d')).toThrow(/at most 365d/);
  });

  it('payable is the balance less what is pending; float dust is zero', () => {
    expect(splitBalance(5, 2)).toEqual({ balance: 5, pending: 2, payable: 3, debt: 0 });
    expect(splitBalance(0.1 + 0.2 - 0.3, 0)).toEqual({ balance: 0, pending: 0, payable: 0, debt: 0 });
    expect(splitBalance(1, 3)).toEqual({ balance: 1, pending: 3, payable: -2, debt: 2 });
  });
});

describe('payout epochs', () => {
  const A = '0x52908400098527886E0F7030069857D2E4169EE7';
  const B = '0x8617E340B3D01FA5F11F306F4090FD50E238070D';

  it('pays wallets only, whole micro-credits rounded down, and the same balances always give the same root', () => {
    const d = buildPayout([{ account: B, payable: 0.3 }, { account: 'volunteer:abcdef', payable: 9 }, { account: A.toLowerCase(), payable: 1.2345678 }, { account: '0x' + '3'.repeat(40), payable: 4e-7 }])!;
    expect(d.leaves.map((l) => [l.account, l.amount]).sort()).toEqual([[A, '1234567'], [B, '300000']]);
    expect(d.totalUnits).toBe('1534567');
    expect(d.debits).toEqual([{ account: A, credit: 1.234567 }, { account: B, credit: 0.3 }]);
    expect(buildPayout([{ account: A, payable: 1.2345678 }, { account: B, payable: 0.3 }])!.root).toBe(d.root);
    expect(buildPayout([{ account: 'volunteer:x', payable: 3 }, { account: A, payable: -1 }])).toBeNull();
    expect(creditToUnits(0.1 + 0.2)).toBe(300000n);
    expect(creditToUnits(Number.NaN)).toBe(0n);
  });

  it('every proof walks to the root when hashed independently (keccak256 of abi.encode, sorted pairs)', () => {
    const accounts = Array.from({ length: 9 }, (_, i) => `0x${(i + 1).toString(16).padStart(2, '0').repeat(20)}`);
    const d = buildPayout(accounts.map((account, i) => ({ account, payable: i + 0.5 })))!;
    for (const l of d.leaves) {
      const leaf = keccak256(keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [l.account as Hex, BigInt(l.amount)])));
      const root = proofFor(d.tree, l.index).reduce<Hex>((h, p) => (BigInt(h) < BigInt(p) ? keccak256(concat([h, p as Hex])) : keccak256(concat([p as Hex, h]))), leaf);
      expect(root).toBe(d.root);
    }
  });
});

describe('wallet claims (Sign-In with Ethereum)', () => {
  const account = 'volunteer:abc123';
  const domain = '127.0.0.1:8080';
  const msg = (o: Partial<Parameters<typeof claimMessage>[0]> = {}) =>
    claimMessage({ account, wallet: owner.address, coordinatorUrl: `http://${domain}`, now: NOW, nonce: 'n0nce12345', ...o });

  it('accepts the wallet\'s own signature of a fresh message naming the account and this coordinator', async () => {
    const message = msg();
    expect(await checkClaim({ message, signature: await owner.signMessage({ message }), account, domain, now: NOW + 1000 }))
      .toEqual({ ok: true, wallet: owner.address, nonce: 'n0nce12345' });
  });

  it('refuses another signer, another account, another coordinator, an expired or future message, and a malformed signature', async () => {
    const message = msg();
    const good = await owner.signMessage({ message });
    const reason = async (c: Partial<Parameters<typeof checkClaim>[0]>) => {
      const r = await checkClaim({ message, signature: good, account, domain, now: NOW, ...c });
      return r.ok ? 'accepted' : r.reason;
    };
    expect(await reason({ signature: await other.signMessage({ message }) })).toMatch(/signed by 0x.*, not by/);
    expect(await reason({ account: 'volunteer:someone-else' })).toMatch(/must say exactly/);
    expect(await reason({ domain: 'tabgrid.example.org' })).toMatch(/not this coordinator/);
    expect(await reason({ now: NOW + 11 * 60_000 })).toMatch(/expired/);
    expect(await reason({ signature: '0x1234' })).toMatch(/65 bytes/);
    const future = msg({ now: NOW + 5 * 60_000 });
    expect(await checkClaim({ message: future, signature: await owner.signMessage({ message: future }), account, domain, now: NOW })).toMatchObject({ ok: false });
    expect(await reason({ message: 'hello' })).toMatch(/not a Sign-In with Ethereum message/);
  });
});
