import { describe, expect, it } from 'vitest';
import { judge, judgeLate, type JudgedResult } from '../../../server/core/trust/judge.ts';
import { DEFAULT_TRUST } from '../../../server/core/trust/policy.ts';
import { decideReplication, type Holder, type ReplicationInput, trustedCanBeHad, untrustedSlots } from '../../../server/core/trust/replication.ts';
import { afterEvent, isTrusted, newReputation, replicateProbability } from '../../../server/core/trust/reputation.ts';

const P = DEFAULT_TRUST;
const streak = (n: number) => ({ streak: n });
const U: Holder = { trusted: false, solo: false };
const T: Holder = { trusted: true, solo: false };
const ask = (over: Partial<ReplicationInput>): ReplicationInput => ({
  replicas: 2, wanted: 2, holders: [], asker: null, trustedAvailable: true, draw: 0.5, policy: P, ...over,
});
const differ = (a: string, b: string) => (a === b ? null : `${a} vs ${b}`);
const r = (copyId: string, result: string, trusted = false, solo = false): JudgedResult<string> => ({ copyId, result, trusted, solo });

describe('root of trust', () => {
  it('trusts an operator host from the start, replicating it as one that just earned trust', () => {
    const op = { ...newReputation('op', 'wasm/ort-1', 0), operator: true };
    expect(isTrusted(op, P)).toBe(true);
    expect(replicateProbability(op, P)).toBeCloseTo(1 / P.trustAfter);
    expect(replicateProbability({ ...op, streak: 40 }, P)).toBeCloseTo(P.minReplicateProbability);
    // An error is not a lie: it stays the root of trust. An invalid result revokes that (trust.test.ts: reputation).
    expect(isTrusted(afterEvent(op, 'error', 1), P)).toBe(true);
    expect(isTrusted(afterEvent(op, 'invalid', 1), P)).toBe(false);
    expect(isTrusted(newReputation('v', 'wasm/ort-1', 0), P)).toBe(false);
  });
});

describe('decideReplication', () => {
  it('keeps all but one copy of a shard for a trusted host while one can be had: two untrusted hosts never hold every copy', () => {
    expect(untrustedSlots(1)).toBe(1);
    expect(untrustedSlots(2)).toBe(1);
    expect(untrustedSlots(3)).toBe(1);
    expect(untrustedSlots(5)).toBe(2);
    expect(decideReplication(ask({}))).toEqual({ take: true, solo: false, wanted: 2 });
    expect(decideReplication(ask({ holders: [U] }))).toEqual({ take: false, why: 'its other copies are kept for a trusted host' });
    expect(decideReplication(ask({ holders: [U], asker: streak(10) }))).toEqual({ take: true, solo: false, wanted: 2 });
    // Beside each trusted copy, one untrusted copy; what a disagreement wants beyond that goes to a trusted host,
    // or liars that answer at once would take every extra copy until the shard (and its job) failed.
    expect(decideReplication(ask({ holders: [T], wanted: 2 }))).toEqual({ take: true, solo: false, wanted: 2 });
    expect(decideReplication(ask({ holders: [U, T], wanted: 3 }))).toEqual({ take: false, why: 'its next copy is kept for a trusted host' });
    expect(decideReplication(ask({ holders: [U, T], wanted: 3, asker: streak(10) }))).toEqual({ take: true, solo: false, wanted: 3 });
    expect(decideReplication(ask({ holders: [U, T, T], wanted: 4 }))).toEqual({ take: true, solo: false, wanted: 4 });
    expect(decideReplication(ask({ holders: [U, T], wanted: 2 }))).toMatchObject({ take: false });
  });

  it('lets untrusted hosts check each other only while no trusted host can be had', () => {
    expect(decideReplication(ask({ holders: [U], trustedAvailable: false }))).toEqual({ take: true, solo: false, wanted: 2 });
    expect(decideReplication(ask({ holders: [U, U], trustedAvailable: false }))).toMatchObject({ take: false });
  });

  it('pairs an untrusted host with a trusted one even at replicas 1, and gives it the one unchecked copy when none can be had', () => {
    expect(decideReplication(ask({ replicas: 1, wanted: 1 }))).toEqual({ take: true, solo: false, wanted: 2 });
    expect(decideReplication(ask({ replicas: 1, wanted: 1, trustedAvailable: false }))).toEqual({ take: true, solo: false, wanted: 1 });
    expect(decideReplication(ask({ replicas: 1, wanted: 1, asker: streak(10) }))).toEqual({ take: true, solo: true, wanted: 1 });
  });

  it('gives a trusted host an unreplicated fresh shard with probability 1 - 1/streak (capped), never a shard others hold', () => {
    // streak 10: replicate with probability 0.1, so draws at or above 0.1 stand alone.
    expect(decideReplication(ask({ asker: streak(10), draw: 0.1 }))).toEqual({ take: true, solo: true, wanted: 1 });
    expect(decideReplication(ask({ asker: streak(10), draw: 0.099 }))).toEqual({ take: true, solo: false, wanted: 2 });
    expect(decideReplication(ask({ asker: streak(1000), draw: 0.05 }))).toMatchObject({ solo: true });
    expect(decideReplication(ask({ asker: streak(1000), draw: 0.049 }))).toMatchObject({ solo: false });
    expect(decideReplication(ask({ asker: streak(9), draw: 0.99 }))).toEqual({ take: true, solo: false, wanted: 2 });
    expect(decideReplication(ask({ asker: streak(50), draw: 0.99, holders: [U] }))).toEqual({ take: true, solo: false, wanted: 2 });
    // A solo copy live (its claim set the shard wanting one result): nobody else gets one.
    expect(decideReplication(ask({ asker: streak(50), holders: [{ trusted: true, solo: true }], wanted: 1 }))).toMatchObject({ take: false });
    // Once the judge asked for a second result (its host's first in the job, or too fast when judged), whatever
    // the holder's pace reads now: a trusted host gets the copy.
    expect(decideReplication(ask({ asker: streak(50), holders: [{ trusted: true, solo: true }], wanted: 2 }))).toEqual({ take: true, solo: false, wanted: 2 });
    // Unless its host lost its trust since (the judge then wants a second result): a trusted host gets the copy.
    const fallen: Holder = { trusted: false, solo: true };
    expect(decideReplication(ask({ asker: streak(50), holders: [fallen], wanted: 2 }))).toEqual({ take: true, solo: false, wanted: 2 });
    expect(decideReplication(ask({ holders: [fallen], wanted: 2 }))).toMatchObject({ take: false, why: 'its other copies are kept for a trusted host' });
  });

  it('keeps the job\'s replicas as a floor the project may raise: replicas 3 never stands alone', () => {
    expect(decideReplication(ask({ replicas: 3, wanted: 3, asker: streak(1000), draw: 0.99 }))).toEqual({ take: true, solo: false, wanted: 3 });
    // A shard whose solo copy expired wants its replicas again from whoever takes it next.
    expect(decideReplication(ask({ wanted: 1 }))).toEqual({ take: true, solo: false, wanted: 2 });
    expect(decideReplication(ask({ wanted: 1, trustedAvailable: false }))).toEqual({ take: true, solo: false, wanted: 2 });
  });

  it('asks whether a connected trusted host may compute the job', () => {
    const wasmOnly = (c: string) => c.startsWith('wasm/');
    expect(trustedCanBeHad(['webgpu/nvidia/x/ort-1'], wasmOnly)).toBe(false);
    expect(trustedCanBeHad(['webgpu/nvidia/x/ort-1', 'wasm/ort-1'], wasmOnly)).toBe(true);
    expect(trustedCanBeHad([], () => true)).toBe(false);
  });
});

describe('judge', () => {
  it('accepts a trusted result with an agreeing untrusted one: both gain, the liar loses', () => {
    const v = judge([r('liar', 'x'), r('t', 'y', true), r('h', 'y')], { replicas: 2, trustedAvailable: true }, differ);
    expect(v).toMatchObject({ accept: true, canonical: 't', valid: ['t', 'h'], unchecked: false });
    if (!v.accept) throw new Error('unreachable');
    expect(v.invalid.map((i) => i.copyId)).toEqual(['liar']);
    expect([...v.reputation]).toEqual([['t', 'valid'], ['h', 'valid'], ['liar', 'invalid']]);
  });

  it('never accepts two agreeing untrusted results while a trusted host can be had', () => {
    const v = judge([r('l1', 'x'), r('l2', 'x')], { replicas: 2, trustedAvailable: true }, differ);
    expect(v).toMatchObject({ accept: false, wanted: 3 });
    const w = judge([r('l1', 'x'), r('l2', 'x'), r('t', 'y', true)], { replicas: 2, trustedAvailable: true }, differ);
    expect(w).toMatchObject({ accept: false, wanted: 4 });
    const x = judge([r('l1', 'x'), r('l2', 'x'), r('t', 'y', true), r('h', 'y')], { replicas: 2, trustedAvailable: true }, differ);
    expect(x).toMatchObject({ accept: true, canonical: 't', valid: ['t', 'h'] });
  });

  it('accepts independent agreement of untrusted hosts, checked and counted, when no trusted host can be had', () => {
    const v = judge([r('a', 'x'), r('b', 'x')], { replicas: 2, trustedAvailable: false }, differ);
    expect(v).toMatchObject({ accept: true, unchecked: false, valid: ['a', 'b'] });
    if (v.accept) expect([...v.reputation.values()]).toEqual(['valid', 'valid']);
  });

  it('accepts a lone untrusted result at replicas 1 only when no trusted host can be had, and then unchecked', () => {
    const v = judge([r('a', 'x')], { replicas: 1, trustedAvailable: false }, differ);
    expect(v).toMatchObject({ accept: true, canonical: 'a', unchecked: true });
    if (v.accept) expect(v.reputation.get('a')).toBeNull();
    expect(judge([r('a', 'x')], { replicas: 1, trustedAvailable: true }, differ)).toMatchObject({ accept: false, wanted: 2 });
    expect(judge([r('a', 'x')], { replicas: 2, trustedAvailable: false }, differ)).toMatchObject({ accept: false, wanted: 2 });
  });

  it('lets a trusted result stand alone only when drawn to (or at replicas 1), with no streak for it', () => {
    const v = judge([r('t', 'x', true, true)], { replicas: 2, trustedAvailable: true }, differ);
    expect(v).toMatchObject({ accept: true, unchecked: false, valid: ['t'] });
    if (v.accept) expect(v.reputation.get('t')).toBeNull();
    expect(judge([r('t', 'x', true, false)], { replicas: 2, trustedAvailable: true }, differ)).toMatchObject({ accept: false, wanted: 2 });
    expect(judge([r('t', 'x', true)], { replicas: 1, trustedAvailable: true }, differ)).toMatchObject({ accept: true, unchecked: false });
  });

  it('never lets a trusted host\'s first result in a job (no pace there yet) stand alone; when no other trusted host can be had it is accepted unchecked', () => {
    const first = { ...r('f', 'x', true, true), first: true };
    expect(judge([first], { replicas: 2, trustedAvailable: true }, differ)).toMatchObject({ accept: false, wanted: 2 });
    expect(judge([first], { replicas: 1, trustedAvailable: true }, differ)).toMatchObject({ accept: false, wanted: 2 });
    const v = judge([first], { replicas: 1, trustedAvailable: false }, differ);
    expect(v).toMatchObject({ accept: true, unchecked: true });
    if (v.accept) expect(v.reputation.get('f')).toBeNull();
    // Checked by another trusted result, it counts for its host (its pace is learned from that check).
    const w = judge([first, r('t', 'x', true)], { replicas: 1, trustedAvailable: true }, differ);
    expect(w).toMatchObject({ accept: true, unchecked: false, canonical: 't' });
    if (w.accept) expect(w.reputation.get('f')).toBe('valid');
  });

  it('judges a late result against the canonical one, crediting and counting it only when that was checked', () => {
    expect(judgeLate(null, false)).toMatchObject({ outcome: 'valid', reputation: 'valid', credited: true });
    expect(judgeLate(null, true)).toMatchObject({ outcome: 'valid', reputation: null, credited: false });
    expect(judgeLate('x vs y', false)).toMatchObject({ outcome: 'invalid', reputation: 'invalid', credited: false });
    expect(judgeLate('x vs y', true)).toMatchObject({ outcome: 'invalid', reputation: null, credited: false });
  });
});

describe('one copy at a time (oneCopyAtATime)', () => {
  const inFlight: Holder = { trusted: true, solo: false, inFlight: true };
  const returned: Holder = { trusted: true, solo: false, inFlight: false };
  it('holds a compared shard\'s next copy back until its copy in flight has returned, whoever asks', () => {
    const on = { ...P, oneCopyAtATime: true };
    for (const asker of [null, streak(10), { streak: 0, operator: true }]) {
      expect(decideReplication(ask({ holders: [inFlight], asker, policy: on, compared: true }))).toEqual({ take: false, why: 'its copy in flight comes back first' });
    }
    // Returned: the second copy goes out as before.
    expect(decideReplication(ask({ holders: [returned], asker: streak(10), policy: on, compared: true }))).toEqual({ take: true, solo: false, wanted: 2 });
  });
  it('leaves copies together when off, and for jobs whose results are not compared against one answer (training)', () => {
    expect(decideReplication(ask({ holders: [inFlight], asker: streak(10), policy: { ...P, oneCopyAtATime: false }, compared: true }))).toEqual({ take: true, solo: false, wanted: 2 });
    expect(decideReplication(ask({ holders: [inFlight], asker: streak(10), policy: { ...P, oneCopyAtATime: true }, compared: false }))).toEqual({ take: true, solo: false, wanted: 2 });
  });
});

describe('a re-opened shard is recomputed with agreement (fresh)', () => {
  const solo = ask({ asker: streak(1000), draw: 0.99 });
  it('lets a trusted host\'s copy of a fresh shard stand alone when drawn, not one of a shard issued before', () => {
    expect(decideReplication({ ...solo, fresh: true })).toEqual({ take: true, solo: true, wanted: 1 });
    // Re-opened by backtracking or a void agreement: it wants two new results, drawn or not.
    expect(decideReplication({ ...solo, fresh: false, wanted: 2 })).toEqual({ take: true, solo: false, wanted: 2 });
    // Replicas 1, re-opened: agreement too.
    expect(decideReplication({ ...solo, replicas: 1, fresh: false, wanted: 2 })).toEqual({ take: true, solo: false, wanted: 2 });
  });
  it('lets a lost solo copy\'s shard (wanting one result, nothing answered) have a solo copy again', () => {
    expect(decideReplication({ ...solo, fresh: false, wanted: 1 })).toEqual({ take: true, solo: true, wanted: 1 });
    expect(decideReplication({ ...solo, replicas: 1, fresh: false, wanted: 1 })).toEqual({ take: true, solo: true, wanted: 1 });
  });
});
