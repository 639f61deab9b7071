import { describe, expect, it } from 'vitest';
import { volunteerWallets } from '../../../server/core/scheduler/embed-identity.ts';
import { mayTakeCopy, type CopyIdentity, type DistinctRule } from '../../../server/core/scheduler/eligibility.ts';

const SITE = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const NAMED = '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359';
const rules: ReadonlySet<DistinctRule> = new Set(['wallet', 'address']);
const site = { creditTo: 'site' as const, siteWallet: SITE };

function visitor(id: string, address: string, named: string | null, embed: Parameters<typeof volunteerWallets>[1]) {
  return { id, address, numericClass: 'wasm', wallet: volunteerWallets(named, embed).wallet };
}
const copyOf = (v: ReturnType<typeof visitor>): CopyIdentity => ({ volunteerId: v.id, wallet: v.wallet, address: v.address, numericClass: v.numericClass, state: 'running' });

describe('volunteerWallets', () => {
  it('credits the site wallet but gives site-wallet embed visitors no wallet identity, whatever the page names', () => {
    expect(volunteerWallets(NAMED, site)).toEqual({ wallet: null, credit: SITE });
    expect(volunteerWallets(null, site)).toEqual({ wallet: null, credit: SITE });
  });
  it('keeps a named wallet as both identity and credit outside site-wallet embeds', () => {
    expect(volunteerWallets(NAMED, null)).toEqual({ wallet: NAMED, credit: NAMED });
    expect(volunteerWallets(NAMED, { creditTo: 'visitor', siteWallet: SITE })).toEqual({ wallet: NAMED, credit: NAMED });
    expect(volunteerWallets(NAMED, { creditTo: 'site', siteWallet: null })).toEqual({ wallet: NAMED, credit: NAMED });
  });
  it('lets a second site-wallet visitor on another address take a copy, never one on the same address', () => {
    const first = visitor('v1', '198.51.100.7', null, site);
    expect(mayTakeCopy(visitor('v2', '203.0.113.9', NAMED, site), [copyOf(first)], rules, false)).toBe(true);
    expect(mayTakeCopy(visitor('v3', '198.51.100.7', NAMED, site), [copyOf(first)], rules, false)).toBe(false);
    expect(mayTakeCopy(first, [copyOf(first)], rules, false)).toBe(false);
  });
  it('still bars one wallet a volunteer chose from two copies', () => {
    const first = visitor('v1', '198.51.100.7', NAMED, null);
    expect(mayTakeCopy(visitor('v2', '203.0.113.9', NAMED, null), [copyOf(first)], rules, false)).toBe(false);
  });
});
