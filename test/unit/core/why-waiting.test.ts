/** Why a job waits, judged over plain data with the claim's own rules. */
import { describe, expect, it } from 'vitest';
import type { CopyIdentity } from '../../../server/core/scheduler/eligibility.ts';
import { type JobForDiagnosis, type RosterEntry, submissionWarnings, whyWaiting } from '../../../server/core/scheduler/why-waiting.ts';

const job: JobForDiagnosis = { projectId: 'p1', homogeneous: false, replicas: 2 };
const rules = new Set(['wallet', 'address'] as const);
const vol = (id: string, o: Partial<RosterEntry> = {}): RosterEntry => ({
  id, wallet: null, address: '127.0.0.1', numericClass: 'wasm/ort-1.30.0', projectId: null, inFlight: 0, ...o,
});
const copyOf = (v: RosterEntry, state = 'returned'): CopyIdentity => ({ volunteerId: v.id, wallet: v.wallet, address: v.address, numericClass: v.numericClass, state });

describe('whyWaiting', () => {
  it('on a homogeneous job, names a class too few address groups announce, and untrusted hosts whose class no trusted host can check', () => {
    const FORGED = 'webgpu/forged/x/ort-1.30.0';
    const GPU = 'webgpu/nvidia/ampere/ort-1.30.0';
    const hom = { ...job, homogeneous: true };
    const classes = { census: new Map([['wasm/ort-1.30.0', 3], [GPU, 4], [FORGED, 1]]), trustedClasses: ['wasm/ort-1.30.0'], policy: { classQuorum: 3 } };
    const f1 = vol('f1', { address: '10.0.0.1', numericClass: FORGED });
    const f2 = vol('f2', { address: '10.0.0.2', numericClass: FORGED });
    const g = vol('g', { address: '10.0.0.3', numericClass: GPU });
    const r = whyWaiting(hom, [[]], [f1, f2, g], rules, 2, classes);
    expect(r).toMatchObject({ code: 'excluded', excluded: { unhonoured: 2, 'untrusted-class': 1 } });
    expect(r!.message).toBe('3 volunteers connected, but none may take a copy: 2 compute in a numeric class fewer than 3 address groups announce '
      + '(homogeneous job: a class counts only once that many share it, so a made-up class cannot keep shards to itself); 1 is not trusted yet, '
      + 'and no trusted host of its numeric class is connected to check its copies (homogeneous job: only a host of the same class can; trust is earned on other jobs)');
    // A trusted GPU host may take a copy; so may an untrusted one once a trusted GPU host is connected.
    expect(whyWaiting(hom, [[]], [f1, { ...g, trusted: true }], rules, 2, classes)).toBeNull();
    expect(whyWaiting(hom, [[]], [g], rules, 2, { ...classes, trustedClasses: ['wasm/ort-1.30.0', GPU] })).toBeNull();
    // A forged copy does not tie the shard to its class: a trusted GPU host may take the shard's next copy.
    expect(whyWaiting(hom, [[copyOf(f1, 'running')]], [{ ...g, trusted: true }], rules, 2, classes)).toBeNull();
    // Not homogeneous, or without the trust rules: no class rule.
    expect(whyWaiting(job, [[]], [f1], rules, 2, classes)).toBeNull();
    expect(whyWaiting(hom, [[]], [f1], rules, 2)).toBeNull();
  });

  it('says nothing while no shard wants a copy, or while some volunteer may take one', () => {
    const a = vol('a');
    expect(whyWaiting(job, [], [a], rules, 2)).toBeNull();
    expect(whyWaiting(job, [[]], [a], rules, 2)).toBeNull();
  });

  it('names an empty swarm', () => {
    expect(whyWaiting(job, [[]], [], rules, 2)).toMatchObject({ code: 'no_volunteers', message: 'no volunteer is connected' });
  });

  it('names the distinct-address rule for two volunteers of one machine once each shard has one copy (worker --node 2)', () => {
    const a = vol('a');
    const b = vol('b');
    const r = whyWaiting(job, [[copyOf(a)], [copyOf(b)]], [a, b], rules, 2);
    expect(r).toMatchObject({ code: 'excluded', connected: 2, excluded: { address: 2 }, busy: 0 });
    expect(r!.message).toBe("2 volunteers connected, but none may take a copy: 2 share a client address with a copy of the same shard (distinct-copies rule 'address': replicas 2 need 2 different addresses)");
    // Without the address rule, b may take a's shard: nothing waits.
    expect(whyWaiting(job, [[copyOf(a)], [copyOf(b)]], [a, b], new Set(['wallet']), 2)).toBeNull();
  });

  it('names the wallet rule, the job\'s backends, another project and homogeneous classes', () => {
    const w = '0x52908400098527886E0F7030069857D2E4169EE7';
    const a = vol('a', { wallet: w, address: '10.0.0.1' });
    const b = vol('b', { wallet: w, address: '10.0.0.2' });
    const gpu = vol('g', { address: '10.0.0.3', numericClass: 'webgpu/nvidia/ampere/ort-1.30.0' });
    const other = vol('o', { address: '10.0.0.4', projectId: 'p2' });
    const r = whyWaiting({ ...job, backends: ['webgpu'] }, [[copyOf(a)]], [b, other], rules, 2);
    expect(r!.excluded).toEqual({ backend: 1, project: 1 });
    expect(r!.message).toContain('1 runs a backend the job excludes (it runs on webgpu only)');
    expect(r!.message).toContain("1 is bound to another project");
    expect(whyWaiting(job, [[copyOf(a)]], [b], rules, 2)!.excluded).toEqual({ wallet: 1 });
    const hom = whyWaiting({ ...job, homogeneous: true }, [[copyOf(a, 'running')]], [gpu], rules, 2);
    expect(hom!.excluded).toEqual({ class: 1 });
    // An expired copy of another class binds no one.
    expect(whyWaiting({ ...job, homogeneous: true }, [[copyOf(a, 'expired')]], [gpu], rules, 2)).toBeNull();
  });

  it('says a lone volunteer already holds a copy of every shard that wants one', () => {
    const a = vol('a');
    const r = whyWaiting(job, [[copyOf(a)], [copyOf(a)]], [a], new Set(), 2);
    expect(r).toMatchObject({ code: 'excluded', excluded: { volunteer: 1 } });
    expect(r!.message).toContain('replicas 2 need 2 different volunteers');
  });

  it('says so when every connected volunteer that could take a shard failed on it, and only then', () => {
    const a = vol('a', { address: '10.0.0.1' });
    const b = vol('b', { address: '10.0.0.2' });
    const failed = (v: RosterEntry): CopyIdentity => ({ ...copyOf(v, 'error'), reason: 'volunteer reported: out of memory' });
    // One shard: b returned its copy, a's copy errored.
    const r = whyWaiting(job, [[copyOf(b), failed(a)]], [a, b], new Set(), 2);
    expect(r).toMatchObject({ code: 'excluded', excluded: { errored: 1, volunteer: 1 } });
    expect(r!.message).toBe('2 volunteers connected, but none may take a copy: 1 has failed on every shard that wants a copy (a volunteer whose copy of a shard errored is not given that shard again; replicas 2 need 2 different volunteers); 1 already holds or held a copy of every shard that wants one (replicas 2 need 2 different volunteers; it cannot take a second copy)');
    // a handed its copy back, or it expired: a may take the shard again, nothing to explain.
    expect(whyWaiting(job, [[copyOf(b), { ...copyOf(a, 'cancelled'), reason: 'handed back unstarted' }]], [a, b], new Set(), 2)).toBeNull();
    expect(whyWaiting(job, [[copyOf(b), { ...copyOf(a, 'expired'), reason: 'not acknowledged in time' }]], [a, b], new Set(), 2)).toBeNull();
    // Failed on one shard but holding a copy of the other: "holds or held", not "failed on every shard".
    expect(whyWaiting(job, [[copyOf(b), failed(a)], [copyOf(a, 'running')]], [a], new Set(), 2)!.excluded).toEqual({ volunteer: 1 });
  });

  it('says a shard waits for its copy in flight to come back, one copy at a time, whoever else is connected', () => {
    const one: JobForDiagnosis = { ...job, oneCopyAtATime: true };
    const a = vol('a', { address: '10.0.0.1', inFlight: 1 });
    const b = vol('b', { address: '10.0.0.2' });
    const t = vol('t', { address: '10.0.0.3', trusted: true });
    for (const state of ['assigned', 'running']) {
      const r = whyWaiting(one, [[copyOf(a, state)]], [a, b, t], rules, 2);
      expect(r).toEqual({
        code: 'copy_in_flight', connected: 3, excluded: {}, busy: 0, heldBack: 1,
        message: 'the shard that wants a copy waits for its copy in flight to come back (--copies one-at-a-time: a replicated inference shard\'s next copy goes out only once its last has returned, so whoever holds one answers before anyone holds another)',
      });
    }
    expect(whyWaiting(one, [[copyOf(a, 'running')], [copyOf(b, 'assigned')]], [a, b], rules, 2)!.message)
      .toMatch(/^every shard that wants a copy waits for its copy in flight to come back \(--copies one-at-a-time/);
    // Its copy returned: b may take the next one, nothing waits.
    expect(whyWaiting(one, [[copyOf(a, 'returned')]], [a, b], rules, 2)).toBeNull();
    // Copies together (the flag, or a training job): b may take the second copy now.
    expect(whyWaiting(job, [[copyOf(a, 'running')]], [a, b], rules, 2)).toBeNull();
    // Another shard b may take: nothing waits. One only a busy or excluded volunteer could take: that is said, and the shard held back beside it.
    expect(whyWaiting(one, [[copyOf(a, 'running')], []], [a, b], rules, 2)).toBeNull();
    const busy = whyWaiting(one, [[copyOf(a, 'running')], []], [{ ...a, inFlight: 2 }, { ...b, inFlight: 2 }], rules, 2);
    expect(busy).toMatchObject({ code: 'busy', busy: 2, heldBack: 1 });
    expect(busy!.message).toMatch(/; and 1 shard waits for its copy in flight to come back \(--copies one-at-a-time\)$/);
  });

  it('tells busy from excluded', () => {
    const a = vol('a', { address: '10.0.0.1', inFlight: 2 });
    const b = vol('b', { address: '10.0.0.2' });
    const r = whyWaiting(job, [[copyOf(b)]], [a, b], rules, 2);
    expect(r).toMatchObject({ code: 'busy', busy: 1, excluded: { volunteer: 1 } });
    expect(r!.message).toMatch(/^2 volunteers connected; the one that may take a copy is busy \(holding 2 copies each\); the others may not: 1 already holds or held/);
    expect(whyWaiting(job, [[copyOf(b)]], [{ ...a, inFlight: 1 }, b], rules, 2)).toBeNull();
  });
});

describe('submissionWarnings', () => {
  it('warns when the connected volunteers cannot supply the replicas under the distinct rules', () => {
    const [a, b] = [vol('a'), vol('b')];
    const w = submissionWarnings(job, [a, b], rules);
    expect(w).toEqual(['replicas 2 need 2 volunteers with distinct wallets and client addresses (--distinct-copies wallet,address), but the 2 connected volunteers that may compute it give only 1: shards will wait for more volunteers']);
    expect(submissionWarnings(job, [a, vol('c', { address: '10.0.0.9' })], rules)).toEqual([]);
    expect(submissionWarnings(job, [a, b], new Set())).toEqual([]);
    expect(submissionWarnings({ ...job, replicas: 3 }, [a, b], new Set())[0]).toMatch(/replicas 3 need 3 volunteers, but the 2 connected/);
  });

  it('warns about an empty swarm and one that may not compute the job', () => {
    expect(submissionWarnings(job, [], rules)).toEqual(['no volunteer is connected yet: the job waits until one is']);
    expect(submissionWarnings({ ...job, backends: ['webgpu'] }, [vol('a')], rules)[0]).toMatch(/none of the 1 connected volunteer may compute this job \(it runs on webgpu only\)/);
  });
});
