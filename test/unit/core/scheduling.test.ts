import { describe, expect, it } from 'vitest';
import { copyCredit, creditPerRecord, MAX_CREDIT_PER_COPY } from '../../../server/core/credit/credit.ts';
import { DEFAULT_LIMITS } from '../../../server/core/jobs/limits.ts';
import { lateResultClash, LOST_COPIES_FORGIVEN, mayTakeCopy, parseDistinctRules, shardConflicts } from '../../../server/core/scheduler/eligibility.ts';
import { expiryReason, holdCeilingMs } from '../../../server/core/scheduler/lease.ts';
import type { JobSpec } from '../../../server/core/jobs/types.ts';
import { aliveCopies, budgetRefunds, independentErrors, reopenedBudget, shardFailure, wantedAfterNoConsensus } from '../../../server/core/scheduler/transitions.ts';

const v = { id: 'v1', wallet: '0xA', address: '10.0.0.1', numericClass: 'wasm/ort-1.30.0' };
const copy = (o: Partial<Omit<typeof v, 'wallet'> & { wallet: string | null; volunteerId: string; state: string; reason: string | null }>) => ({ volunteerId: 'other', wallet: null, address: '10.0.0.9', numericClass: 'wasm/ort-1.30.0', state: 'running', ...o });

describe('mayTakeCopy', () => {
  const all = parseDistinctRules('wallet,address');
  it('never gives a volunteer two copies of one shard', () => {
    expect(mayTakeCopy(v, [copy({ volunteerId: 'v1' })], new Set(), false)).toBe(false);
    expect(mayTakeCopy(v, [copy({})], new Set(), false)).toBe(true);
  });
  it('applies the wallet and address rules when asked', () => {
    expect(mayTakeCopy(v, [copy({ wallet: '0xA' })], all, false)).toBe(false);
    expect(mayTakeCopy(v, [copy({ address: '10.0.0.1' })], all, false)).toBe(false);
    expect(mayTakeCopy(v, [copy({ wallet: '0xA', address: '10.0.0.1' })], parseDistinctRules('none'), false)).toBe(true);
    expect(mayTakeCopy({ ...v, wallet: null }, [copy({ wallet: null })], all, false)).toBe(true);
  });
  it('keeps homogeneous shards to one numeric class, ignoring dead copies', () => {
    expect(mayTakeCopy(v, [copy({ numericClass: 'webgpu/nvidia' })], new Set(), true)).toBe(false);
    expect(mayTakeCopy(v, [copy({ numericClass: 'webgpu/nvidia', state: 'expired' })], new Set(), true)).toBe(true);
  });
  it('lets a copy that ended without a result bar no other volunteer, whatever its wallet or address', () => {
    for (const state of ['expired', 'error', 'cancelled']) {
      expect(mayTakeCopy(v, [copy({ wallet: '0xA', address: '10.0.0.1', state })], all, false)).toBe(true);
    }
    for (const state of ['assigned', 'running', 'returned']) {
      expect(mayTakeCopy(v, [copy({ address: '10.0.0.1', state })], all, false)).toBe(false);
    }
  });
  it('gives a shard again to a volunteer whose copy was handed back or expired, never to one whose copy errored or was held to the ceiling', () => {
    const own = (state: string, reason: string | null = null) => copy({ volunteerId: 'v1', wallet: '0xA', address: '10.0.0.1', state, reason });
    // Its own copy that can still vote: in flight or returned.
    for (const state of ['assigned', 'running', 'returned']) expect(shardConflicts(v, [own(state)], all, false)).toEqual(['volunteer']);
    // Lost without a result: handed back unstarted, or expired unacknowledged or without heartbeats (a dropped connection).
    expect(mayTakeCopy(v, [own('cancelled', 'handed back unstarted')], all, false)).toBe(true);
    expect(mayTakeCopy(v, [own('expired', 'not acknowledged in time')], all, false)).toBe(true);
    expect(mayTakeCopy(v, [own('expired', 'lease expired without heartbeat or result')], all, false)).toBe(true);
    // Failed: the same device on the same input is no fresh evidence.
    expect(shardConflicts(v, [own('error', 'volunteer reported: out of memory')], all, false)).toEqual(['errored']);
    // Heartbeated to its hold ceiling (lease.ts): given again, it would hold the shard again.
    const spec = { kind: 'inference', shardSize: 4, flopsPerRecord: 1, limits: { leaseMs: 1000 } } as unknown as JobSpec;
    const ceiling = expiryReason({ state: 'running', assignedAt: 0, deadline: holdCeilingMs(spec) }, spec);
    expect(shardConflicts(v, [own('expired', ceiling)], all, false)).toEqual(['volunteer']);
    // Beside other volunteers' copies the other rules still apply.
    expect(mayTakeCopy(v, [own('cancelled'), copy({ address: '10.0.0.1' })], all, false)).toBe(false);
  });
  it('forgives a volunteer a bounded number of lost copies of one shard', () => {
    const lost = (n: number) => Array.from({ length: n }, (_, i) => copy({ volunteerId: 'v1', state: i % 2 ? 'cancelled' : 'expired', reason: i % 2 ? 'handed back unstarted' : 'not acknowledged in time' }));
    expect(mayTakeCopy(v, lost(LOST_COPIES_FORGIVEN), all, false)).toBe(true);
    expect(shardConflicts(v, lost(LOST_COPIES_FORGIVEN + 1), all, false)).toEqual(['volunteer']);
    // Another volunteer's lost copies count against it, not against v.
    expect(mayTakeCopy(v, lost(LOST_COPIES_FORGIVEN + 1).map((c) => ({ ...c, volunteerId: 'v2' })), all, false)).toBe(true);
  });
  it('refuses to revive a late copy beside a live copy of its wallet or address', () => {
    const late = { ...copy({ volunteerId: 'v1', wallet: '0xA', address: '10.0.0.1', state: 'expired' }), id: 'c1' };
    const sibling = { ...copy({ volunteerId: 'v2', address: '10.0.0.1', state: 'running' }), id: 'c2' };
    expect(lateResultClash(late, [late, sibling], all)).toBe('address');
    expect(lateResultClash(late, [late, { ...sibling, address: '10.0.0.2', wallet: '0xA' }], all)).toBe('wallet');
    expect(lateResultClash(late, [late, { ...sibling, outcome: 'invalid', state: 'returned' }], all)).toBeNull();
    expect(lateResultClash(late, [late, { ...sibling, state: 'error' }], all)).toBeNull();
    expect(lateResultClash(late, [late, sibling], parseDistinctRules('none'))).toBeNull();
    expect(lateResultClash({ ...late, state: 'running' }, [late, sibling], all)).toBeNull();
  });
  it('refuses to revive a late copy beside a live copy its own volunteer was given again, whatever the rules', () => {
    const late = { ...copy({ volunteerId: 'v1', state: 'expired', reason: 'not acknowledged in time' }), id: 'c1' };
    for (const state of ['assigned', 'running', 'returned']) {
      const again = { ...copy({ volunteerId: 'v1', state }), id: 'c2' };
      expect(lateResultClash(late, [late, again], parseDistinctRules('none'))).toBe('volunteer');
      expect(lateResultClash({ ...late, state: 'error' }, [late, again], all)).toBe('volunteer');
    }
    // Its copy given again and lost too, or judged invalid: nothing to clash with.
    expect(lateResultClash(late, [late, { ...copy({ volunteerId: 'v1', state: 'cancelled' }), id: 'c2' }], all)).toBeNull();
    expect(lateResultClash(late, [late, { ...copy({ volunteerId: 'v1', state: 'returned' }), outcome: 'invalid', id: 'c2' }], all)).toBeNull();
  });
  it('rejects unknown rules', () => {
    expect(() => parseDistinctRules('wallet,ip')).toThrow('--distinct-copies takes wallet, address or none; got "ip"');
  });
});

describe('transitions', () => {
  it('counts alive copies; a failed consensus wants one more result', () => {
    const copies = [{ state: 'running', outcome: 'pending' }, { state: 'returned', outcome: 'invalid' }, { state: 'expired', outcome: 'pending' }] as const;
    expect(aliveCopies([...copies])).toBe(1);
    expect(wantedAfterNoConsensus(2)).toBe(3);
  });
  it('counts failed and timed-out copies once per independent source', () => {
    const all = parseDistinctRules('wallet,address');
    const e = (volunteerId: string, address: string, wallet: string | null = null, state = 'error') => ({ volunteerId, address, wallet, state });
    // Four identities behind one address, or in one /24, are one source; a wallet ties addresses together.
    expect(independentErrors([e('a', '10.0.0.1'), e('b', '10.0.0.1'), e('c', '10.0.0.7', null, 'expired'), e('d', '10.0.0.200')], all)).toBe(1);
    expect(independentErrors([e('a', '10.0.1.1', '0xW'), e('b', '10.0.2.1', '0xw'), e('c', '10.0.3.1')], all)).toBe(2);
    // Copies that did not fail are not errors; with no rules, each volunteer is its own source.
    expect(independentErrors([e('a', '10.0.0.1', null, 'returned'), e('b', '10.0.0.1', null, 'running')], all)).toBe(0);
    expect(independentErrors([e('a', '10.0.0.1'), e('b', '10.0.0.1'), e('a', '10.0.0.1', null, 'expired')], new Set())).toBe(2);
  });
  it('gives the copy budget back the empty copies of a source that had already lost one, judged in the order they ended', () => {
    const all = parseDistinctRules('wallet,address');
    const c = (id: string, address: string, state: string, wallet: string | null = null) => ({ id, volunteerId: id, wallet, address, state });
    // One /24: the first failure is charged, the next ones (failed, expired, handed back) are not.
    const net = [c('a', '10.0.0.1', 'error'), c('b', '10.0.0.2', 'expired'), c('d', '10.0.0.3', 'cancelled'), c('e', '10.0.0.4', 'running')];
    expect(budgetRefunds(net, ['a'], all)).toBe(1); // as if a ended last: b (or d) had ended before it
    expect(budgetRefunds(net, ['b', 'd'], all)).toBe(2); // a had ended before both
    expect(budgetRefunds(net, ['a', 'b', 'd'], all)).toBe(2); // ended together: the first is charged, once
    // Independent sources are charged each; a shared wallet joins two networks into one source.
    expect(budgetRefunds([c('a', '10.0.1.1', 'error'), c('b', '10.0.2.1', 'error'), c('f', '10.0.3.1', 'expired')], ['a', 'b', 'f'], all)).toBe(0);
    expect(budgetRefunds([c('a', '10.0.1.1', 'error', '0xW'), c('b', '10.0.2.1', 'error', '0xw')], ['b'], all)).toBe(1);
    // With --distinct-copies none each volunteer is its own source (and takes one copy of a shard at most).
    expect(budgetRefunds([c('a', '10.0.0.1', 'error'), c('b', '10.0.0.1', 'error')], ['b'], new Set())).toBe(0);
    // A copy listed as ended that is not (a late result revived it) gives nothing back.
    expect(budgetRefunds([c('a', '10.0.0.1', 'error'), c('b', '10.0.0.2', 'returned')], ['b'], all)).toBe(0);
  });
  it('fails a shard after too many errors or copies', () => {
    expect(shardFailure({ errors: 3, issued: 5, wanted: 2 }, 1, DEFAULT_LIMITS)).toBeNull();
    expect(shardFailure({ errors: 4, issued: 6, wanted: 2 }, 1, DEFAULT_LIMITS)).toBe('copies from 4 independent sources failed or timed out (limit 3)');
    expect(shardFailure({ errors: 0, issued: 10, wanted: 4 }, 3, DEFAULT_LIMITS)).toBe('10 copies issued without consensus (limit 10)');
    expect(shardFailure({ errors: 0, issued: 10, wanted: 3 }, 3, DEFAULT_LIMITS)).toBeNull();
    // A recomputation's own budget (reopenedBudget): the copies its first answer used do not count against it.
    const reopened = { errors: 0, issued: 9, wanted: 2, maxTotal: reopenedBudget({ issued: 9, maxTotal: 10 }, DEFAULT_LIMITS) };
    expect(reopened.maxTotal).toBe(19);
    expect(shardFailure({ ...reopened, issued: 12 }, 1, DEFAULT_LIMITS)).toBeNull();
    expect(shardFailure({ ...reopened, issued: 19 }, 1, DEFAULT_LIMITS)).toBe('19 copies issued without consensus (limit 19)');
    // Never less than the job's budget, and never lowered.
    expect(reopenedBudget({ issued: 0, maxTotal: 10 }, DEFAULT_LIMITS)).toBe(10);
    expect(reopenedBudget({ issued: 2, maxTotal: 30 }, DEFAULT_LIMITS)).toBe(30);
  });
});

describe('credit', () => {
  it('grants GFLOP of the graph per record, the same to every valid copy, capped', () => {
    expect(creditPerRecord(2e9)).toBe(2);
    expect(copyCredit(creditPerRecord(5e8), 10)).toBe(5);
    expect(copyCredit(1e9, 1e9)).toBe(MAX_CREDIT_PER_COPY);
    expect(creditPerRecord(0)).toBeGreaterThan(0);
  });
});
