/**
 * One simulated swarm: volunteers pulling copies from the coordinator
 * (coordinator.ts: the real decision code) in simulated time, honest ones
 * computing and cheaters following one strategy, and what came of it.
 *
 * Time: an honest volunteer computes a copy in `computeMs` (each host its own
 * speed, 0.5-1.5 times that); a fast cheater answers in `fastMs`; one that
 * got nothing asks again after about `idleMs` (the coordinator's work nudge).
 * Each volunteer holds one copy at a time. The project keeps `backlog` open
 * shards queued. The first `warmup` shards are not counted (the swarm
 * earning trust); the next `shards` are. The run goes on, on more shards,
 * until every counted shard is final and the credit hold of the last one has
 * passed, so spot checks and backtracking had the whole hold to reverse
 * credit.
 */
import type { DistinctRule } from '../../server/core/scheduler/eligibility.ts';
import type { TrustPolicy } from '../../server/core/trust/policy.ts';
import { createRng } from '../../server/training/rng.ts';
import { type Outcome, type SimCopy, SimCoordinator, type SimShard, type SimVolunteer } from './coordinator.ts';
import { EventHeap } from './heap.ts';
import { answer, COLLUDING, type Strategy } from './strategies.ts';

export interface WorldOptions {
  seed: number;
  volunteers: number;
  /** Of them, run by the operator (honest, trusted from the start: the root of trust). */
  operators: number;
  /** Counted shards. */
  shards: number;
  warmup: number;
  /** Share of the volunteers that cheat, in [0, 1). */
  share: number;
  strategy: Strategy | 'honest';
  policy: TrustPolicy;
  replicas: number;
  rules: ReadonlySet<DistinctRule>;
  holdMs: number;
  computeMs: number;
  fastMs: number;
  idleMs: number;
  backlog: number;
  /** Backtracking that follows agreement, settled by the root of trust (review.ts); default on. */
  reviews?: boolean;
  /** Answers no uncaught host vouches for are re-opened (review.ts agreementVoid); default on. */
  voiding?: boolean;
  pairWaitMs?: number;
  /** Stop when no counted shard became final for this long (simulated): the rest are stalled. */
  stallMs: number;
  /** Told how far the run is, every few thousand events (it does not change the run). */
  onProgress?: (p: Progress) => void;
}

/** Where a run is: earning trust on warm-up shards, finishing the counted ones, or waiting out the last one's credit hold. */
export interface Progress {
  phase: 'warm-up' | 'counted' | 'hold';
  /** Warm-up: shards validated; counted: counted shards final; hold: simulated ms of the hold passed. */
  done: number;
  total: number;
  /** Counted shards final (what the bar counts). */
  final: number;
  simulatedMs: number;
}

/** Events between progress reports. */
const PROGRESS_EVERY = 4096;

export interface CellFigures {
  strategy: string;
  share: number;
  volunteers: number;
  shardsCounted: number;
  validated: number;
  /** Counted shards whose accepted result is wrong at the end (after backtracking), per 100,000 validated. */
  wrongPer100k: number;
  /** Counted shards ever accepted with a wrong result (before backtracking corrected some), per 100,000. */
  everWrongPer100k: number;
  /** Of the wrong ones, those accepted on two or more agreeing results (not on one host's word: backtracking does not revisit them). */
  wrongAgreed: number;
  failed: number;
  /** Counted shards never final (stalled). */
  stalled: number;
  /** Copies issued (spot checks and re-verification included) per shard validated, while counted shards were validated. */
  copiesPerShard: number;
  /** Credit paid for wrong results after the hold, % of what those results would have earned. */
  liesPaidPct: number;
  /** All credit paid to cheating identities after the hold, % of what all their uploads would have earned. */
  cheaterPaidPct: number;
  lies: number;
  /** Lying identities caught at least once, %. */
  caughtPct: number;
  /** Median wrong results a lying identity uploaded before its first was caught (caught ones). */
  liesBeforeCaught: number;
  /** Median simulated seconds from a lying identity's first lie to its first being caught. */
  secondsToCatch: number;
  spotChecks: number;
  reopened: number;
  /** Reviews opened, and overturned by the root of trust (review.ts). */
  reviews: number;
  overturned: number;
  /** Overturned reviews whose overturned answer was right (a review settled by anyone but the root could do that). */
  overturnedRight: number;
  /** Reviews waiting for the root at once, at most, and at the end (their credit still pending, their answers unsettled). */
  rootBacklogMax: number;
  rootBacklogEnd: number;
  /** Counted shards re-opened and not yet validated again when the run ended (no result for the project yet). */
  reopenedAtEnd: number;
  /** Answers accepted on agreement re-opened because every host that agreed on them was caught since (review.ts agreementVoid). */
  voided: number;
  /** Right results judged invalid, their hosts caught for them (framed by an accepted lie). */
  framed: number;
  /** Copies the root computed for reviews. */
  reviewCopies: number;
  simulatedHours: number;
}

interface Actor {
  v: SimVolunteer;
  strategy: Strategy | 'honest';
  computeMs: number;
  busy: boolean;
  gen: number;
  validRun: number;
  history: number[];
  partner: Actor | null;
  retiring: boolean;
}

interface Identity {
  cheater: boolean;
  lies: number;
  firstLieAt: number | null;
  caughtAt: number | null;
  liesAtCaught: number;
  uploads: number;
}

type Ev =
  | { kind: 'request'; actor: Actor; gen: number }
  | { kind: 'upload'; actor: Actor; copy: SimCopy; value: number; lie: boolean };

const HONEST_CLASSES = ['wasm/ort-1.30.0', 'webgpu/nvidia/ampere/ort-1.30.0', 'webgpu/apple/metal-3/ort-1.30.0'];
const median = (xs: number[]) => {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
};

export function simulate(o: WorldOptions): CellFigures {
  const rng = createRng(o.seed);
  const coord = new SimCoordinator({
    policy: o.policy, replicas: o.replicas, homogeneous: o.strategy === 'forged-class', rules: o.rules, holdMs: o.holdMs, backlog: o.backlog,
    reviews: o.reviews !== false, voiding: o.voiding !== false, ...(o.pairWaitMs !== undefined ? { pairWaitMs: o.pairWaitMs } : {}),
  }, rng, o.warmup, o.shards);
  const heap = new EventHeap<Ev>();
  const actors = new Map<string, Actor>();
  const identities = new Map<string, Identity>();
  let seq = 0;
  let now = 0;

  const newVolunteer = (cheater: boolean, operator: boolean, strategy: Strategy | 'honest'): SimVolunteer => {
    const n = seq++;
    const id = `v${n}`;
    // Every volunteer in its own /24 (cheaters spread too: the distinct rule cannot part them); half of them name a wallet.
    const address = `${cheater ? 100 : 10}.${(n >> 8) & 255}.${n & 255}.${1 + (n >> 16)}`;
    const wallet = cheater || n % 2 === 0 ? `0x${n.toString(16).padStart(40, '0')}` : null;
    const numericClass = strategy === 'forged-class' ? 'webgpu/forged/x/ort-1.30.0' : HONEST_CLASSES[n % HONEST_CLASSES.length]!;
    identities.set(id, { cheater, lies: 0, firstLieAt: null, caughtAt: null, liesAtCaught: 0, uploads: 0 });
    return { id, wallet, address, numericClass, account: wallet ?? `volunteer:${id}`, operator, present: true };
  };

  const cheaters = Math.round(o.volunteers * o.share);
  const group: Actor[] = [];
  for (let i = 0; i < o.volunteers; i++) {
    // Cheaters are spread through the swarm, not its first rows (ids and addresses say nothing).
    const cheater = o.strategy !== 'honest' && (i * cheaters) % o.volunteers < cheaters;
    const operator = !cheater && i < o.operators * 3 && i % 3 === 1;
    const strategy = cheater ? o.strategy : 'honest';
    const v = newVolunteer(cheater, operator, strategy);
    const a: Actor = { v, strategy, computeMs: o.computeMs * (0.5 + rng.next()), busy: false, gen: 0, validRun: 0, history: [], partner: null, retiring: false };
    actors.set(v.id, a);
    coord.join(v, now);
    if (cheater && COLLUDING.has(o.strategy as Strategy)) {
      // Friends in pairs: each asks for work right after its partner got some.
      if (group.length % 2 === 1) { a.partner = group.at(-1)!; group.at(-1)!.partner = a; }
      group.push(a);
    }
    heap.push(rng.next() * o.computeMs, { kind: 'request', actor: a, gen: 0 });
  }

  // Careful colluders: what the group learns by comparing input bytes: its copies of each shard, and whether it lies on it.
  const careful = new Map<number, { held: number; honest: boolean; lying: boolean }>();

  // Counted shards: final, first validations, and the copies-per-shard window.
  let final = 0;
  let lastFinalAt = 0;
  let validations = 0;
  let windowStart: { at: number; copies: number; validations: number } | null = null;
  let windowEnd: { copies: number; validations: number } | null = null;
  // Review copies are the root's compute: counted too.
  const copiesNow = () => coord.issued.copies + coord.issued.spot + coord.issued.review;
  coord.onShard = (s: SimShard, t: number) => {
    if (s.state === 'validated' && s.validatedAt === t && !s.reverifying) {
      validations++;
      if (s.measured && !windowStart) windowStart = { at: t, copies: copiesNow(), validations: validations - 1 };
    }
    if (!s.measured) return;
    if (s.validatedAt === t || s.state === 'failed') {
      final++;
      lastFinalAt = t;
      if (final === o.shards) windowEnd = { copies: copiesNow(), validations };
    }
  };
  coord.onCaught = (v, t) => {
    const id = identities.get(v.id)!;
    if (id.lies > 0 && id.caughtAt === null) { id.caughtAt = t; id.liesAtCaught = id.lies; }
    const a = actors.get(v.id);
    if (a && a.strategy === 'sybils') a.retiring = true;
  };

  const deliver = (outs: Outcome[]) => {
    for (const { copy, outcome } of outs) {
      const a = actors.get(copy.volunteerId);
      if (!a) continue;
      a.validRun = outcome === 'valid' ? a.validRun + 1 : 0;
    }
  };

  const request = (a: Actor) => {
    if (a.busy || !a.v.present) return;
    if (a.retiring) {
      // A Sybil drops the identity that was caught and comes back as a fresh one.
      coord.leave(a.v);
      actors.delete(a.v.id);
      a.v = newVolunteer(true, false, a.strategy);
      a.retiring = false;
      a.validRun = 0;
      a.history = [];
      actors.set(a.v.id, a);
      coord.join(a.v, now);
    }
    const copy = coord.request(a.v, now);
    a.gen++;
    if (!copy) {
      heap.push(now + o.idleMs * (0.5 + rng.next()), { kind: 'request', actor: a, gen: a.gen });
      return;
    }
    a.busy = true;
    // A known-answer copy looks like any other (opaque copy id, same inputs as the real shard): the group counts it too.
    if (a.strategy === 'careful-colluders') {
      const g = careful.get(copy.index) ?? { held: 0, honest: false, lying: false };
      g.held++;
      careful.set(copy.index, g);
    }
    const ans = answer(a.strategy, {
      truth: coord.truthOf(copy), computeMs: a.computeMs, fastMs: o.fastMs, draw: () => rng.next(), history: a.history, validRun: a.validRun,
      // Decided at upload (below); the assignment only reads how long it takes.
      groupLies: () => false,
    });
    heap.push(now + ans.ms, { kind: 'upload', actor: a, copy, value: ans.value, lie: ans.lie });
    if (a.partner && !a.partner.busy) heap.push(now, { kind: 'request', actor: a.partner, gen: a.partner.gen });
  };

  const upload = (a: Actor, copy: SimCopy, value: number, lie: boolean) => {
    a.busy = false;
    if (a.strategy === 'careful-colluders') {
      const g = careful.get(copy.index);
      const ans = answer('careful-colluders', {
        truth: coord.truthOf(copy), computeMs: a.computeMs, fastMs: o.fastMs, draw: () => rng.next(), history: a.history, validRun: a.validRun,
        // Lie only when the group holds as many copies as the job has replicas, and no friend has already answered honestly.
        groupLies: () => {
          if (!g) return false;
          if (!g.lying && !g.honest && g.held >= o.replicas) g.lying = true;
          return g.lying;
        },
      });
      if (g && !ans.lie) g.honest = true;
      value = ans.value;
      lie = ans.lie;
    }
    // What counts as a lie is what the job's comparison says, whatever the strategy meant (a replayed value may happen to be right).
    lie = coord.isWrong(copy, value);
    const id = identities.get(copy.volunteerId)!;
    id.uploads++;
    if (lie) {
      id.lies++;
      id.firstLieAt ??= now;
    }
    a.history.push(value);
    if (a.history.length > 20) a.history.shift();
    deliver(coord.submit(copy, value, lie, now));
    request(a);
  };

  const progress = (): Progress => {
    if (final >= o.shards) return { phase: 'hold', done: Math.min(o.holdMs, now - lastFinalAt), total: o.holdMs, final, simulatedMs: now };
    if (coord.measuredMade === 0) return { phase: 'warm-up', done: Math.min(validations, o.warmup), total: o.warmup, final, simulatedMs: now };
    return { phase: 'counted', done: final, total: o.shards, final, simulatedMs: now };
  };
  let lastProgressAt = 0;
  let lastFinal = 0;
  let events = 0;
  for (;;) {
    if (o.onProgress && ++events % PROGRESS_EVERY === 0) o.onProgress(progress());
    const t = heap.peekTime();
    const ev = heap.pop();
    if (!ev) break;
    now = t;
    if (ev.kind === 'request') {
      if (ev.gen === ev.actor.gen) request(ev.actor);
    } else {
      upload(ev.actor, ev.copy, ev.value, ev.lie);
    }
    if (final !== lastFinal) { lastFinal = final; lastProgressAt = now; }
    // Reviews still open then are counted as they stand (their backlog is reported), and so are shards re-opened and
    // not yet validated again (reopenedAtEnd: the project has no result for them yet).
    if (final >= o.shards && now >= lastFinalAt + o.holdMs) break;
    // Stalled: every counted shard was made, and none became final for a while.
    if (now - lastProgressAt > o.stallMs && coord.measuredMade >= o.shards) break;
  }
  return figures();

  function figures(): CellFigures {
    const counted = coord.shards.filter((s) => s.measured);
    const validated = counted.filter((s) => s.state === 'validated' || s.reverifying);
    const wrong = validated.filter((s) => coord.wrong(s)).length;
    const everWrong = counted.filter((s) => s.everWrong).length;
    const wrongAgreed = validated.filter((s) => coord.wrong(s) && s.copies.filter((c) => c.outcome === 'valid').length >= 2).length;
    const failed = counted.filter((s) => s.state === 'failed').length;
    const stalled = counted.filter((s) => s.state !== 'failed' && s.validatedAt === null).length + (o.shards - counted.length);
    const end = windowEnd ?? { copies: copiesNow(), validations };
    const start = windowStart ?? { at: 0, copies: 0, validations: 0 };
    const copiesPerShard = (end.copies - start.copies) / Math.max(1, end.validations - start.validations);
    // Credit: rows granted up to the last counted shard's finish (their hold has passed by the end), paid unless reversed within the hold.
    let liesWorth = 0, liesPaid = 0, cheatWorth = 0, cheatPaid = 0;
    const credit = coord.job.spec.creditPerRecord * 64;
    for (const s of coord.shards) {
      for (const c of s.copies) {
        if (c.state !== 'returned' || (c.returnedAt ?? Infinity) > lastFinalAt) continue;
        if (!identities.get(c.volunteerId)!.cheater) continue;
        const row = coord.ledger.get(c.id);
        // Paid: standing and not under review at the end, or reversed only after it was payable (never held by a review before that).
        const paid = row && (row.reversedAt === null
          ? !coord.underReview(s)
          : row.reversedAt > row.payableAt && (row.heldFrom === null || row.heldFrom > row.payableAt)) ? row.amount : 0;
        cheatWorth += credit;
        cheatPaid += paid;
        if (c.lie) { liesWorth += credit; liesPaid += paid; }
      }
    }
    const liars = [...identities.values()].filter((i) => i.cheater && i.lies > 0);
    const caught = liars.filter((i) => i.caughtAt !== null);
    const pct = (a: number, b: number) => (b > 0 ? (100 * a) / b : 0);
    return {
      strategy: o.strategy,
      share: o.share,
      volunteers: o.volunteers,
      shardsCounted: o.shards,
      validated: validated.length,
      wrongPer100k: (1e5 * wrong) / Math.max(1, validated.length),
      everWrongPer100k: (1e5 * everWrong) / Math.max(1, validated.length),
      wrongAgreed,
      failed,
      stalled,
      copiesPerShard,
      liesPaidPct: pct(liesPaid, liesWorth),
      cheaterPaidPct: pct(cheatPaid, cheatWorth),
      lies: liars.reduce((n, i) => n + i.lies, 0),
      caughtPct: pct(caught.length, liars.length),
      liesBeforeCaught: median(caught.map((i) => i.liesAtCaught)),
      secondsToCatch: median(caught.map((i) => (i.caughtAt! - i.firstLieAt!) / 1000)),
      spotChecks: coord.spot.passed + coord.spot.failed,
      reopened: coord.reopened,
      reviews: coord.reviewStats.opened,
      overturned: coord.reviewStats.overturned,
      overturnedRight: coord.reviewStats.overturnedRight,
      rootBacklogMax: coord.reviewStats.backlogMax,
      rootBacklogEnd: coord.openReviews.length,
      reopenedAtEnd: coord.reverifyingMeasured,
      voided: coord.voided,
      framed: coord.framed,
      reviewCopies: coord.issued.review,
      simulatedHours: now / 3600_000,
    };
  }
}
