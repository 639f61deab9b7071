import { describe, expect, it } from 'vitest';
import { addressBehindOneProxy, addressGroup, clientAddress, parseTrustedProxies } from '../../../server/core/trust/address.ts';
import { censusOf, classHonoured, homogeneousClassProblem } from '../../../server/core/trust/numeric-class.ts';
import { DEFAULT_TRUST, trustPolicy } from '../../../server/core/trust/policy.ts';
import { decideTrustQuorum, type TrustCandidate } from '../../../server/core/trust/quorum.ts';
import { afterEvent, isTrusted, mayMarkOperator, mayStandAlone, newReputation, replicateProbability, trustChange } from '../../../server/core/trust/reputation.ts';
import { backtrackTargets, spotCheckNow } from '../../../server/core/trust/spot-check.ts';

const P = DEFAULT_TRUST;
const differ = (a: string, b: string) => (a === b ? null : `${a} vs ${b}`);
const c = (copyId: string, result: string, trusted = false): TrustCandidate<string> => ({ copyId, result, trusted });
const streakOf = (n: number) => {
  let r = newReputation('v', 'wasm/ort-1.30.0', 0);
  for (let i = 0; i < n; i++) r = afterEvent(r, 'valid', 100 + i);
  return r;
};

describe('reputation', () => {
  it('starts untrusted and becomes trusted at the streak threshold', () => {
    expect(isTrusted(newReputation('v', 'c', 0), P)).toBe(false);
    expect(isTrusted(streakOf(9), P)).toBe(false);
    expect(isTrusted(streakOf(10), P)).toBe(true);
    expect(streakOf(3).streakSince).toBe(100);
  });

  it('resets the streak on any invalid result but not on an error', () => {
    const r = afterEvent(streakOf(20), 'error', 500);
    expect(r.streak).toBe(20);
    expect(r.errors).toBe(1);
    const bad = afterEvent(r, 'spot-fail', 600);
    expect(bad).toMatchObject({ streak: 0, streakSince: null, invalid: 1, spotFailed: 1, lastInvalidAt: 600 });
    expect(isTrusted(bad, P)).toBe(false);
    expect(afterEvent(bad, 'valid', 700).streakSince).toBe(700);
  });

  it('revokes an operator host\'s trust for good on an invalid result or a failed spot check, not on an error', () => {
    const op = { ...streakOf(3), operator: true };
    expect(isTrusted(afterEvent(op, 'error', 200), P)).toBe(true);
    expect(mayMarkOperator([afterEvent(op, 'error', 200)])).toBe(true);
    for (const ev of ['invalid', 'spot-fail'] as const) {
      const caught = afterEvent(op, ev, 200);
      expect(caught.operator).toBeUndefined();
      expect(caught.operatorRevoked).toBe(true);
      expect(isTrusted(caught, P)).toBe(false);
      expect(mayMarkOperator([caught])).toBe(false);
      // Revoked in one class, it is the operator's in none: the class is the host's own claim.
      expect(mayMarkOperator([newReputation('v', 'wasm/ort-9.9.9', 0), caught])).toBe(false);
      // Later valid results neither restore the flag nor lift the revocation; only its own streak can earn trust again.
      const later = afterEvent(caught, 'valid', 201);
      expect(later).toMatchObject({ operatorRevoked: true, streak: 1 });
      expect(isTrusted(later, P)).toBe(false);
    }
    // A host that was never an operator's keeps no revocation mark: the token may still vouch for it.
    expect(mayMarkOperator([afterEvent(streakOf(3), 'invalid', 200)])).toBe(true);
    expect(mayMarkOperator([])).toBe(true);
  });

  it('replicates with probability 1/streak, never below the floor, and always for the untrusted', () => {
    expect(replicateProbability(streakOf(5), P)).toBe(1);
    expect(replicateProbability(null, P)).toBe(1);
    expect(replicateProbability(streakOf(10), P)).toBeCloseTo(0.1);
    expect(replicateProbability(streakOf(40), P)).toBeCloseTo(0.05);
    expect(replicateProbability(streakOf(400), P)).toBeCloseTo(0.05);
    expect(mayStandAlone(streakOf(10), P, 0.09)).toBe(false);
    expect(mayStandAlone(streakOf(10), P, 0.1)).toBe(true);
    expect(mayStandAlone(streakOf(9), P, 0.99)).toBe(false);
  });

  it('says what a judgement did to a host\'s trust, and why it was lost', () => {
    const t = trustPolicy({ trustAfter: 3 });
    // Earned exactly at the threshold, under the policy given (not the default 10).
    expect(trustChange(streakOf(2), streakOf(3), t)).toEqual({ change: 'earned' });
    expect(trustChange(streakOf(2), streakOf(3), P)).toBeNull();
    expect(trustChange(streakOf(3), streakOf(4), t)).toBeNull();
    expect(trustChange(null, streakOf(1), t)).toBeNull();
    // Lost: by an invalid result, a failed spot check, or a result judged against a known answer.
    expect(trustChange(streakOf(5), afterEvent(streakOf(5), 'invalid', 900), t)).toEqual({ change: 'lost', reason: 'invalid' });
    expect(trustChange(streakOf(5), afterEvent(streakOf(5), 'spot-fail', 900), t)).toEqual({ change: 'lost', reason: 'spot_check_failed' });
    expect(trustChange(streakOf(5), afterEvent(streakOf(5), 'invalid', 900), t, true)).toEqual({ change: 'lost', reason: 'spot_check_failed' });
    // An operator's host, whatever it failed, loses its operator trust: that is the reason an operator needs to see.
    const op = { ...newReputation('v', 'c', 0), operator: true };
    expect(trustChange(op, afterEvent(op, 'invalid', 900), t)).toEqual({ change: 'lost', reason: 'operator_revoked' });
    expect(trustChange(op, afterEvent(op, 'spot-fail', 900), t)).toEqual({ change: 'lost', reason: 'operator_revoked' });
    // An untrusted host's invalid result loses nothing it had; an error changes nothing.
    expect(trustChange(streakOf(2), afterEvent(streakOf(2), 'invalid', 900), t)).toBeNull();
    expect(trustChange(streakOf(5), afterEvent(streakOf(5), 'error', 900), t)).toBeNull();
  });

  it('refuses a policy with a precise message', () => {
    expect(() => trustPolicy({ trustAfter: 0 })).toThrow(/trustAfter must be an integer >= 1; got 0/);
    expect(() => trustPolicy({ spotCheckFraction: 1 })).toThrow(/spotCheckFraction must be in \[0, 1\); got 1/);
    expect(trustPolicy({ trustAfter: 5 }).trustAfter).toBe(5);
  });
});

describe('decideTrustQuorum', () => {
  const busy = { replicas: 2, soloDrawn: false, trustedAvailable: true };

  it('never accepts an untrusted result alone, even for replicas 1', () => {
    const d = decideTrustQuorum([c('a', 'x')], { ...busy, replicas: 1 }, differ);
    expect(d).toEqual({ consensus: false, reason: 'an untrusted result never stands alone', wanted: 2 });
  });

  it('lets a trusted result stand alone only when drawn to, or when the job wants one result', () => {
    expect(decideTrustQuorum([c('a', 'x', true)], busy, differ)).toMatchObject({ consensus: false, wanted: 2 });
    expect(decideTrustQuorum([c('a', 'x', true)], { ...busy, soloDrawn: true }, differ)).toMatchObject({ consensus: true, canonical: 'a', solo: true });
    expect(decideTrustQuorum([c('a', 'x', true)], { ...busy, replicas: 1 }, differ)).toMatchObject({ consensus: true, solo: true });
  });

  it('refuses two agreeing untrusted results while a trusted host can be had, accepts them while none can', () => {
    const two = [c('l1', 'lie'), c('l2', 'lie')];
    expect(decideTrustQuorum(two, busy, differ)).toEqual({
      consensus: false, reason: '2 result(s) agree only among untrusted hosts while a trusted host can be had', wanted: 3,
    });
    expect(decideTrustQuorum(two, { ...busy, trustedAvailable: false }, differ)).toMatchObject({ consensus: true, valid: ['l1', 'l2'], solo: false });
  });

  it('never lets an untrusted crowd outvote a trusted host', () => {
    const d = decideTrustQuorum([c('l1', 'lie'), c('t', 'truth', true), c('l2', 'lie'), c('h', 'truth')], busy, differ);
    expect(d).toMatchObject({ consensus: true, canonical: 't', valid: ['t', 'h'] });
    if (d.consensus) expect(d.invalid.map((i) => i.copyId)).toEqual(['l1', 'l2']);
    // Without the honest untrusted partner there is no acceptable group: one more copy.
    expect(decideTrustQuorum([c('l1', 'lie'), c('t', 'truth', true), c('l2', 'lie')], busy, differ)).toMatchObject({ consensus: false, wanted: 4 });
  });

  it('accepts a trusted result with an agreeing untrusted one and invalidates the rest', () => {
    const d = decideTrustQuorum([c('u', 'x'), c('t', 'x', true), c('bad', 'y')], busy, differ);
    expect(d).toMatchObject({ consensus: true, canonical: 't', valid: ['u', 't'], invalid: [{ copyId: 'bad', reason: 'disagrees with the canonical result: x vs y' }] });
  });

  describe('a trusted host\'s first result in a job (no checked pace there yet: pace.ts)', () => {
    const first = (id: string, r: string): TrustCandidate<string> => ({ ...c(id, r, true), first: true });

    it('never stands alone, even at replicas 1: the shard wants a check', () => {
      expect(decideTrustQuorum([first('f', 'x')], { ...busy, replicas: 1 }, differ))
        .toEqual({ consensus: false, reason: 'a trusted host\'s first result in this job is checked', wanted: 2 });
      expect(decideTrustQuorum([first('f', 'x')], { ...busy, soloDrawn: true }, differ)).toMatchObject({ consensus: false });
    });

    it('two agreeing check each other (a fresh job has nothing else); beside an untrusted one only, it counts as untrusted', () => {
      expect(decideTrustQuorum([first('f1', 'x'), first('f2', 'x')], busy, differ)).toMatchObject({ consensus: true, canonical: 'f1', valid: ['f1', 'f2'] });
      expect(decideTrustQuorum([first('f', 'x'), c('u', 'x')], busy, differ)).toMatchObject({ consensus: false, wanted: 3 });
      expect(decideTrustQuorum([first('f', 'x'), c('u', 'x')], { ...busy, trustedAvailable: false }, differ)).toMatchObject({ consensus: true, valid: ['f', 'u'] });
      // With a paced trusted result: checked by it, which is the canonical one.
      expect(decideTrustQuorum([first('f', 'x'), c('t', 'x', true)], busy, differ)).toMatchObject({ consensus: true, canonical: 't', valid: ['f', 't'] });
    });

    it('two of them never outvote a paced trusted host (two liars new to the job framing an honest host)', () => {
      const d = decideTrustQuorum([first('l1', 'lie'), c('t', 'truth', true), first('l2', 'lie')], { ...busy, replicas: 1 }, differ);
      expect(d).toMatchObject({ consensus: true, canonical: 't', valid: ['t'] });
      if (d.consensus) expect(d.invalid.map((i) => i.copyId)).toEqual(['l1', 'l2']);
    });
  });
});

describe('spot checks and backtracking', () => {
  it('spot-checks the configured fraction of requests, only when a known answer exists', () => {
    expect(spotCheckNow(P, 0.049, 3)).toBe(true);
    expect(spotCheckNow(P, 0.05, 3)).toBe(false);
    expect(spotCheckNow(P, 0.0, 0)).toBe(false);
  });

  it('re-verifies every solo result of the caught host since its streak began, and nobody else\'s', () => {
    const solos = [
      { copyId: '1', shardId: 's1', volunteerId: 'liar', numericClass: 'c', at: 50 },
      { copyId: '2', shardId: 's2', volunteerId: 'liar', numericClass: 'c', at: 150 },
      { copyId: '3', shardId: 's3', volunteerId: 'honest', numericClass: 'c', at: 160 },
      { copyId: '4', shardId: 's4', volunteerId: 'liar', numericClass: 'c', at: 170 },
    ];
    expect(backtrackTargets(solos, { volunteerId: 'liar', streakSince: 100 }).map((s) => s.copyId)).toEqual(['2', '4']);
  });
});

describe('addresses', () => {
  const proxies = parseTrustedProxies('10.0.0.0/8, ::1');

  it('takes the client from the right of X-Forwarded-For, never the client-written leftmost entry', () => {
    // The client wrote "1.2.3.4" itself; the proxy appended the address it saw.
    expect(clientAddress('10.0.0.2', '1.2.3.4, 203.0.113.7', proxies)).toBe('203.0.113.7');
    expect(clientAddress('10.0.0.2', '1.2.3.4, 203.0.113.7, 10.0.0.9', proxies)).toBe('203.0.113.7');
    expect(clientAddress('::ffff:10.0.0.2', '198.51.100.1', proxies)).toBe('198.51.100.1');
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy, or with no proxies listed', () => {
    expect(clientAddress('203.0.113.9', '1.2.3.4', proxies)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.2', '1.2.3.4', [])).toBe('10.0.0.2');
  });

  it('stops at a malformed hop and keeps the last good address', () => {
    expect(clientAddress('10.0.0.2', '1.2.3.4, not-an-ip', proxies)).toBe('10.0.0.2');
  });

  it('behind one proxy (--trust-proxy), takes the entry that proxy appended, not what the client wrote', () => {
    expect(addressBehindOneProxy('127.0.0.1', '198.51.100.7, 127.0.99.1')).toBe('127.0.99.1');
    expect(addressBehindOneProxy('127.0.0.1', '127.0.99.1')).toBe('127.0.99.1');
    expect(addressBehindOneProxy('::ffff:10.0.0.2', '203.0.113.7')).toBe('203.0.113.7');
    // Nothing usable from the proxy: the peer itself.
    expect(addressBehindOneProxy('10.0.0.2', undefined)).toBe('10.0.0.2');
    expect(addressBehindOneProxy('10.0.0.2', '1.2.3.4, not-an-ip')).toBe('10.0.0.2');
  });

  it('refuses a bad --trust-proxy entry by name', () => {
    expect(() => parseTrustedProxies('10.0.0.1, nonsense')).toThrow(/got "nonsense"/);
    expect(parseTrustedProxies('loopback')).toEqual(['127.0.0.0/8', '::1/128']);
  });

  it('groups IPv4 by /24 and IPv6 by /64, configurably', () => {
    expect(addressGroup('203.0.113.7')).toBe('203.0.113.0/24');
    expect(addressGroup('::ffff:203.0.113.200')).toBe('203.0.113.0/24');
    expect(addressGroup('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressGroup('2001:db8:1:2:ffff::9')).toBe(addressGroup('2001:db8:1:2::1'));
    expect(addressGroup('203.0.113.7', { v4Prefix: 32, v6Prefix: 128 })).toBe('203.0.113.7/32');
  });
});

describe('numeric classes', () => {
  const MADE_UP = 'webgpu/made-up/x/ort-1';
  const hosts = [
    { numericClass: MADE_UP, address: '203.0.113.0/24' }, { numericClass: MADE_UP, address: '203.0.113.0/24' },
    { numericClass: MADE_UP, address: '198.51.100.0/24' }, { numericClass: 'wasm/ort-1', address: '203.0.113.0/24' },
  ];

  it('honours a class only once enough distinct address groups announce it', () => {
    expect(censusOf(hosts)).toEqual(new Map([[MADE_UP, 2], ['wasm/ort-1', 1]]));
    expect(classHonoured(MADE_UP, censusOf(hosts), P)).toBe(false);
    expect(classHonoured(MADE_UP, censusOf([...hosts, { numericClass: MADE_UP, address: '192.0.2.0/24' }]), P)).toBe(true);
    expect(classHonoured('never/announced', censusOf(hosts), P)).toBe(false);
  });

  it('a homogeneous copy goes to an honoured class only, and to an untrusted host only while a trusted host of its class can be had (or none at all)', () => {
    const census = new Map([[MADE_UP, 3], ['wasm/ort-1', 2]]);
    const c = (trustedClasses: string[]) => ({ census, trustedClasses, policy: P });
    expect(homogeneousClassProblem('wasm/ort-1', true, c(['wasm/ort-1']))).toBe('class not honoured');
    expect(homogeneousClassProblem(MADE_UP, false, c(['wasm/ort-1']))).toBe('no trusted host in class');
    expect(homogeneousClassProblem(MADE_UP, true, c(['wasm/ort-1']))).toBeNull();
    expect(homogeneousClassProblem(MADE_UP, false, c([MADE_UP]))).toBeNull();
    expect(homogeneousClassProblem(MADE_UP, false, c([]))).toBeNull();
  });
});
