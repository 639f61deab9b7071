/**
 * Fair share as a pure function: which project the next copy goes to. The
 * long-run shares are checked by replaying claims through the function with
 * the charges it implies (each copy charged its GFLOP when issued), counted
 * over a fixed number of claims, never wall time.
 */
import { describe, expect, it } from 'vitest';
import { fairShareOrder, type ProjectLoad, shardGflops, underCap } from '../../../server/core/scheduler/fair-share.ts';

const load = (id: string, o: Partial<ProjectLoad> = {}): ProjectLoad => ({ id, weight: 1, charged: 0, inFlight: 0, maxInFlight: 0, ...o });

/** Gives `claims` copies one by one to the first project in the order, charging it `gflops[id]` each time. */
function replay(loads: ProjectLoad[], withWork: (claim: number) => string[], claims: number, gflops: Record<string, number> = {}) {
  const got: Record<string, number> = Object.fromEntries(loads.map((l) => [l.id, 0]));
  for (let i = 0; i < claims; i++) {
    const first = fairShareOrder(loads, withWork(i))[0];
    if (!first) continue;
    const l = loads.find((x) => x.id === first)!;
    l.charged += gflops[first] ?? 1;
    got[first]! += gflops[first] ?? 1;
  }
  return got;
}

describe('fair share between projects', () => {
  it('weights 1 and 3 under contention: 25 % and 75 % of the compute over any whole number of rounds', () => {
    const got = replay([load('a', { weight: 1 }), load('b', { weight: 3 })], () => ['a', 'b'], 400);
    expect(got).toEqual({ a: 100, b: 300 });
  });

  it('counts GFLOP, not copies: a project with shards 4x larger gets a quarter as many copies for the same share', () => {
    const got = replay([load('big'), load('small')], () => ['big', 'small'], 500, { big: 4, small: 1 });
    expect(got.big! / (got.big! + got.small!)).toBeCloseTo(0.5, 1);
  });

  it('an idle project\'s share goes to the others at once, and it is served again as soon as it has work', () => {
    const loads = [load('a', { weight: 1 }), load('b', { weight: 3 })];
    // b has no work for the first 100 claims: a takes every one.
    const first = replay(loads, () => ['a'], 100);
    expect(first).toEqual({ a: 100, b: 0 });
    // b returns: it is below its share, so it is offered first.
    expect(fairShareOrder(loads, ['a', 'b'])).toEqual(['b', 'a']);
  });

  it('a project at its cap on copies in flight is passed over, and offered again once under it', () => {
    const loads = [load('a', { charged: 0, inFlight: 2, maxInFlight: 2 }), load('b', { charged: 50 })];
    expect(fairShareOrder(loads, ['a', 'b'])).toEqual(['b']);
    loads[0]!.inFlight = 1;
    expect(fairShareOrder(loads, ['a', 'b'])).toEqual(['a', 'b']);
    expect(underCap({ inFlight: 10, maxInFlight: 0 })).toBe(true);
  });

  it('offers only projects with work; ties go to the heavier project, then by id; unknown projects count as weight 1', () => {
    const loads = [load('x', { weight: 2, charged: 10 }), load('y', { weight: 1, charged: 5 }), load('z', { charged: 0 })];
    expect(fairShareOrder(loads, ['x', 'y'])).toEqual(['x', 'y']);
    expect(fairShareOrder(loads, ['y', 'z', 'new'])).toEqual(['new', 'z', 'y']);
    expect(fairShareOrder(loads, [])).toEqual([]);
  });

  it('a copy is charged the credit it earns once valid (GFLOP of the graph for its records)', () => {
    expect(shardGflops({ creditPerRecord: 0.25 }, { start: 8, end: 16 })).toBe(2);
  });
});
