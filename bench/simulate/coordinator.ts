/**
 * The coordinator as the simulator runs it: the store's part (shards, copies,
 * reputations, ledger) kept in memory, and every decision taken by the same
 * pure functions the coordinator calls (server/core): which copy a volunteer
 * may claim (scheduler/claim.ts with eligibility.ts, trust/replication.ts and
 * trust/numeric-class.ts, given the trust inputs the work service gives it),
 * whether a request gets a known-answer copy (trust/spot-check.ts), how a
 * shard's results are judged (trust/judge.ts over trust/quorum.ts, the job
 * kind's comparison of real tensors), what a judgement does to a host's
 * reputation (trust/reputation.ts), what a caught host's backtracking
 * re-verifies (trust/spot-check.ts), which agreed results go under review
 * and how the root of trust settles a review (trust/review.ts), when a shard fails (scheduler/
 * transitions.ts), and what a copy is credited and when it becomes payable
 * (credit/credit.ts, credit/hold.ts). Nothing here decides by itself what
 * the core decides; it only sequences the decisions as the services do.
 */
import { copyCredit } from '../../server/core/credit/credit.ts';
import { payableAt } from '../../server/core/credit/hold.ts';
import { kindOf } from '../../server/core/jobs/kinds.ts';
import { DEFAULT_LIMITS, DEFAULT_TOLERANCE } from '../../server/core/jobs/limits.ts';
import type { Copy, InferenceSpec, Job } from '../../server/core/jobs/types.ts';
import { type ClaimableShard, type ClaimTrust, decideClaim, type JobClaimTrust, jobRefusal } from '../../server/core/scheduler/claim.ts';
import type { CopyIdentity, DistinctRule } from '../../server/core/scheduler/eligibility.ts';
import { aliveCopies, reopenedBudget, shardFailure } from '../../server/core/scheduler/transitions.ts';
import { judge, judgeLate, type ReputationChange } from '../../server/core/trust/judge.ts';
import type { TrustPolicy } from '../../server/core/trust/policy.ts';
import { addressGroup } from '../../server/core/trust/address.ts';
import { decideReplication, trustedCanBeHad, type Holder } from '../../server/core/trust/replication.ts';
import { afterEvent, isTrusted, newReputation, type Reputation, type ReputationEvent, type ResultTrust, resultTrust } from '../../server/core/trust/reputation.ts';
import { PICK_WINDOW, type Pickable, pickOrder } from '../../server/core/scheduler/pick.ts';
import {
  answerKnown, backtrackPlan, decideSpotCopy, judgeAgainstKnown, type KnownAnswer, pairedKnownAnswer, type PendingPair, pickKnownAnswer, type SoloResult, spotCheckNow,
} from '../../server/core/trust/spot-check.ts';
import { afterChecked, copyPace, type Seen } from '../../server/core/trust/pace.ts';
import { agreementVoid, caughtSince, type AgreedResult, decideReviewCopy, reviewOrder, reviewSince, reviewTargets, settleReview, type WaitingReview } from '../../server/core/trust/review.ts';
import type { Rng } from '../../server/training/rng.ts';
import type { NamedTensor } from '../../shared/tensor/tensor.ts';
import { SortedInts } from './sorted.ts';

/** Records per shard (the CLI's default shard size). */
export const SHARD_RECORDS = 64;
/** Known answers the spot checks draw from: the newest this many. */
const KNOWN_POOL = 1000;

export interface SimVolunteer {
  id: string;
  wallet: string | null;
  address: string;
  numericClass: string;
  account: string;
  /** Runs on the operator's token: the root of trust. */
  operator: boolean;
  present: boolean;
}

export interface SimCopy extends Copy {
  index: number;
  value: number | null;
  out: NamedTensor[] | null;
  lie: boolean;
  /** A known-answer copy (spot check) of a validated shard. */
  spot: boolean;
  /** Drawn to stand alone when issued. */
  solo: boolean;
  /** A root host's copy of a shard under review (review.ts). */
  review: boolean;
}

export interface SimShard extends ClaimableShard {
  truth: NamedTensor[];
  measured: boolean;
  copies: SimCopy[];
  /** Its copies less the spot checks' (what the claim reads, as the simulated `alive` and holders do). */
  ordinary: SimCopy[];
  canonical: SimCopy | null;
  unchecked: boolean;
  /** First validated (null: not yet). */
  validatedAt: number | null;
  /** Ever validated with a wrong canonical result, even if backtracking corrected it later. */
  everWrong: boolean;
  reverifying: boolean;
}

export interface LedgerRow {
  copy: SimCopy;
  amount: number;
  at: number;
  payableAt: number;
  reversedAt: number | null;
  /** When its shard went under review (its credit pending until settled, whatever its hold); null: never. */
  heldFrom: number | null;
}

/** A review (review.ts) as the simulated store keeps it. */
export interface SimReview {
  shard: SimShard;
  /** The answer under review. */
  canonical: SimCopy;
  openedAt: number;
  /** When the caught host's agreeing copy was returned (reviewOrder). */
  resultAt: number;
  /** The root copy issued for it, if any. */
  copy: SimCopy | null;
}

export interface CoordinatorOptions {
  policy: TrustPolicy;
  replicas: number;
  homogeneous: boolean;
  rules: ReadonlySet<DistinctRule>;
  holdMs: number;
  /** Open shards kept queued (a project's backlog). */
  backlog: number;
  /** Backtracking that follows agreement, settled by the root of trust (review.ts); default on. */
  reviews?: boolean;
  /** Answers no uncaught host vouches for are re-opened (review.ts agreementVoid); default on. */
  voiding?: boolean;
  /** How long a known answer's first copy waits for a second host (spot-check.ts; 0: singles). */
  pairWaitMs?: number;
}

export interface Outcome {
  copy: SimCopy;
  outcome: 'valid' | 'invalid';
}

/** A float32 result tensor of one element: what the job kind's comparison reads. */
export function resultTensor(value: number): NamedTensor[] {
  const data = new Uint8Array(4);
  new DataView(data.buffer).setFloat32(0, value, true);
  return [{ name: 'y', dtype: 'float32', dims: [1], data }];
}

export function simJob(o: Pick<CoordinatorOptions, 'replicas' | 'homogeneous'>): Job {
  const spec: InferenceSpec = {
    kind: 'inference', modelHash: 'sim', modelBytes: 0, inputs: [], batchedInputs: ['x'], runUnit: 1, records: 1e12,
    shardSize: SHARD_RECORDS, outputs: [{ name: 'y', dtype: 'float32', dims: [1] }], stackOutputs: false,
    tolerance: DEFAULT_TOLERANCE, limits: { ...DEFAULT_LIMITS, replicas: o.replicas }, homogeneous: o.homogeneous,
    flopsPerRecord: 1e9, creditPerRecord: 1,
  };
  return { id: 'job', projectId: 'p', kind: 'inference', state: 'running', spec, progress: null, createdAt: 0, finishedAt: null, error: null, resultHash: null };
}

export class SimCoordinator {
  readonly job: Job;
  readonly shards: SimShard[] = [];
  readonly ledger = new Map<string, LedgerRow>();
  readonly reputations = new Map<string, Reputation>();
  readonly volunteers = new Map<string, SimVolunteer>();
  /** Copies issued, spot checks included, by kind. */
  issued = { copies: 0, spot: 0, reverify: 0, review: 0 };
  /** Reviews (review.ts): opened, settled, and the root's backlog (open reviews) at its largest. */
  reviewStats = { opened: 0, confirmed: 0, overturned: 0, overturnedRight: 0, backlogMax: 0 };
  /** Open reviews, oldest first. */
  readonly openReviews: SimReview[] = [];
  /** Spot checks judged, and failed. */
  spot = { passed: 0, failed: 0 };
  /** Shards reopened by backtracking. */
  reopened = 0;
  /** Called with each shard's first validation, its re-judgements, and each failure. */
  onShard: (s: SimShard, now: number) => void = () => {};
  /** Called when a host's reputation is reset (caught), with when its streak had begun. */
  onCaught: (v: SimVolunteer, now: number) => void = () => {};

  private readonly differ: (a: SimCopy | SimShard, b: SimCopy | SimShard) => string | null;
  private readonly credit: number;
  private copySeq = 0;
  private open = 0;
  private nextMeasured = 0;
  /** Wanting shards an untrusted host may take a copy of, and those kept for a trusted host. */
  private readonly anyone = new SortedInts();
  private readonly trustedOnly = new SortedInts();
  private readonly solos = new Map<string, SoloResult[]>();
  /** Each volunteer's valid results that another result agreed with (what a review follows once it is caught). */
  private readonly agreed = new Map<string, SimCopy[]>();
  /** The same, every one still standing (voidAgreements reads them whatever their age). */
  private readonly agreedAll = new Map<string, SimCopy[]>();
  /** Right results judged invalid (their hosts caught for them): honest hosts framed by an accepted lie. */
  framed = 0;
  /** Each host's pace in the job (pace.ts; the simulation runs one job): its fastest checked result, ms per record. */
  private readonly paces = new Map<string, number | null>();
  /** Agreements voided (review.ts agreementVoid). */
  voided = 0;
  /** Counted shards re-opened (backtracking, a void agreement) and not yet validated again. */
  reverifyingMeasured = 0;
  /** Shards reviewed (or under review): each is reviewed once. */
  private readonly reviewed = new Set<string>();
  private readonly reviewing = new Set<SimShard>();
  /** A known answer's first copy waiting for its second host (spot-check.ts pairedKnownAnswer). */
  private pendingPair: PendingPair | null = null;
  /** Validated shards whose answer is known (agreed by two or more): what spot checks draw from. */
  private readonly known: KnownAnswer[] = [];
  /** Shards each volunteer ever held a copy of (a known answer it computed itself checks nothing). */
  private readonly heldShards = new Map<string, Set<string>>();
  /** How many eligible shards the pick draws from (scheduler/pick.ts PICK_WINDOW). */
  private readonly window = PICK_WINDOW;
  private readonly trustedPresent = new Map<string, number>();
  private trustedAvailable = false;
  /** Numeric classes of the trusted hosts present (the claim's trustedClasses). */
  private trustedClasses: string[] = [];
  /** Address groups that announced each class, and their count: the stores' class census (volunteers never leave it). */
  private readonly classGroups = new Map<string, Set<string>>();
  private readonly census = new Map<string, number>();

  constructor(private readonly o: CoordinatorOptions, private readonly rng: Rng, private readonly measuredFrom: number, private readonly measuredShards: number) {
    this.job = simJob(o);
    const kind = kindOf(this.job.spec);
    const outOf = (x: SimCopy | SimShard): NamedTensor[] => ('truth' in x ? x.truth : x.out!);
    this.differ = (a, b) => kind.disagreement(this.job.spec, outOf(a), outOf(b));
    this.credit = copyCredit(this.job.spec.creditPerRecord, SHARD_RECORDS);
  }

  /** The shard's true output disagrees with its canonical result (as the job's own comparison tells). */
  wrong(s: SimShard): boolean {
    return s.canonical !== null && this.differ(s, s.canonical) !== null;
  }

  join(v: SimVolunteer, now: number): void {
    this.volunteers.set(v.id, v);
    const groups = this.classGroups.get(v.numericClass) ?? new Set<string>();
    groups.add(addressGroup(v.address));
    this.classGroups.set(v.numericClass, groups);
    this.census.set(v.numericClass, groups.size);
    this.reputations.set(v.id, { ...newReputation(v.id, v.numericClass, now), ...(v.operator ? { operator: true } : {}) });
    this.refreshTrust(v);
  }

  leave(v: SimVolunteer): void {
    v.present = false;
    this.refreshTrust(v);
  }

  isTrusted(volunteerId: string): boolean {
    return isTrusted(this.reputations.get(volunteerId), this.o.policy);
  }

  /** Shards made so far that count (the first `measuredShards`). */
  get measuredMade(): number {
    return this.nextMeasured;
  }

  /** A volunteer asks for work: a copy, or null when there is none it may take. */
  request(v: SimVolunteer, now: number): SimCopy | null {
    this.topUp();
    // The root of trust takes a waiting review first (work-service.ts requestWork).
    const review = v.operator && this.o.reviews !== false ? this.reviewCopy(v, now) : null;
    if (review) return review;
    const spot = this.spotCheck(v, now);
    if (spot) return spot;
    const rep = this.reputations.get(v.id)!;
    // As the stores do (claim.ts jobRefusals): a job that refuses this host whatever the shard is not read shard by shard.
    if (jobRefusal(this.job, this.o.homogeneous, v, this.jobTrust(rep))) return null;
    const trusted = isTrusted(rep, this.o.policy);
    const lists = trusted ? [this.trustedOnly.items, this.anyone.items] : [this.anyone.items];
    // One trust input for the whole scan (nothing it reads changes meanwhile); the scan's draw decides nothing kept.
    const scan = this.claimTrust(rep, 0);
    // The store reads wanting shards in queue order (oldest job, lowest index first) and keeps those the
    // claim decisions allow, up to the pick window; the pick order (scheduler/pick.ts) shuffles that head.
    const eligible: (Pickable & { shard: SimShard })[] = [];
    const pos = lists.map(() => 0);
    while (eligible.length < this.window) {
      let li = -1;
      for (let i = 0; i < lists.length; i++) if (pos[i]! < lists[i]!.length && (li < 0 || lists[i]![pos[i]!]! < lists[li]![pos[li]!]!)) li = i;
      if (li < 0) break;
      const shard = this.shards[lists[li]![pos[li]!]!]!;
      pos[li]!++;
      if (this.claim(v, shard, now, '', scan).take === true) eligible.push({ id: shard.id, priority: 0, ordered: false, shard });
    }
    if (!eligible.length) return null;
    const shard = pickOrder(eligible, () => this.rng.next(), this.window)[0]!.shard;
    const copyId = `c${this.copySeq++}`;
    const d = this.claim(v, shard, now, copyId, this.claimTrust(rep, this.rng.next()));
    if (d.take !== true) throw new Error('an eligible shard refused the claim');
    const copy: SimCopy = { ...d.copy, index: shard.index, value: null, out: null, lie: false, spot: false, solo: d.copy.solo === true, review: false };
    shard.copies.push(copy);
    shard.ordinary.push(copy);
    shard.issued++;
    shard.alive++;
    shard.wanted = d.wanted;
    this.held(v.id).add(shard.id);
    this.issued.copies++;
    if (shard.reverifying) this.issued.reverify++;
    this.index(shard);
    return copy;
  }

  /**
   * The claim decision with the trust inputs the work service gives it (adaptive replication, the class rules).
   * Its copies leave out spot checks' copies, as the simulated shard's `alive` and `holders` do.
   */
  private claim(v: SimVolunteer, shard: SimShard, now: number, copyId: string, trust: ClaimTrust) {
    return decideClaim({ shard, copies: shard.ordinary, job: this.job, volunteer: v, rules: this.o.rules, now, copyId, trust });
  }

  private jobTrust(rep: Reputation): JobClaimTrust {
    return { policy: this.o.policy, asker: rep, trustedClasses: this.trustedClasses, census: this.census };
  }

  private claimTrust(rep: Reputation, draw: number): ClaimTrust {
    return { ...this.jobTrust(rep), draw, holderTrust: this.holderTrust };
  }

  /** Made once: a closure per claim costs more than the claim when the simulation runs under tsx (its keepNames). */
  private readonly holderTrust = (c: CopyIdentity, seen: Seen | null): ResultTrust => this.trustWith(c.volunteerId, seen);

  private held(volunteerId: string): Set<string> {
    let h = this.heldShards.get(volunteerId);
    if (!h) { h = new Set(); this.heldShards.set(volunteerId, h); }
    return h;
  }

  private spotCheck(v: SimVolunteer, now: number): SimCopy | null {
    if (!spotCheckNow(this.o.policy, this.rng.next(), this.known.length)) return null;
    const paired = pairedKnownAnswer(this.pendingPair, v.id, now, this.o.pairWaitMs);
    const k = paired && !this.held(v.id).has(paired.shardId) ? paired : pickKnownAnswer(this.known, { heldShards: this.held(v.id) }, this.rng.next());
    if (!k) return null;
    const shard = this.shards[Number(k.shardId.slice(1))]!;
    const d = decideSpotCopy({ shard, copies: shard.copies, job: this.job, volunteer: v, now, copyId: `c${this.copySeq++}` });
    if (!d.take) return null;
    const copy: SimCopy = { ...d.copy, index: shard.index, value: null, out: null, lie: false, spot: true, solo: false, review: false };
    shard.copies.push(copy);
    shard.issued++;
    this.held(v.id).add(shard.id);
    this.issued.spot++;
    // The first copy of a known answer waits for a second host; the second closes the pair.
    this.pendingPair = k === paired ? null : { known: k, firstVolunteer: v.id, at: now };
    return copy;
  }

  /** A volunteer uploads its result; returns the outcomes judged now (news for their hosts). */
  submit(copy: SimCopy, value: number, lie: boolean, now: number): Outcome[] {
    copy.state = 'returned';
    copy.returnedAt = now;
    copy.value = value;
    copy.out = resultTensor(value);
    copy.lie = lie;
    const shard = this.shards[copy.index]!;
    if (copy.review) return this.settle(shard, copy, now);
    if (copy.spot) return this.judgeSpot(shard, copy, now);
    // One copy at a time: the shard may want its next copy now.
    if (this.o.policy.oneCopyAtATime) this.index(shard);
    return this.validate(shard, now);
  }

  private judgeSpot(shard: SimShard, copy: SimCopy, now: number): Outcome[] {
    // The known answer: the shard's canonical result (validated by agreement when it entered the pool).
    const answer = shard.canonical;
    if (!answer) return [];
    const [verdict] = judgeAgainstKnown([{ copyId: copy.id, volunteerId: copy.volunteerId }], 'validated', () => this.differ(answer, copy));
    copy.outcome = verdict!.outcome;
    copy.reason = verdict!.reason;
    if (verdict!.outcome === 'valid') {
      this.spot.passed++;
      this.checked(copy);
      this.pay(copy, now);
    } else {
      this.spot.failed++;
    }
    this.event(copy, verdict!.event, now);
    return [{ copy, outcome: copy.outcome }];
  }

  private validate(shard: SimShard, now: number): Outcome[] {
    const out: Outcome[] = [];
    const pending = shard.copies.filter((c) => c.state === 'returned' && c.outcome === 'pending' && !c.spot);
    if (shard.state === 'validated') {
      for (const c of pending) {
        const late = judgeLate(this.differ(shard.canonical!, c), shard.unchecked);
        c.outcome = late.outcome;
        if (late.credited) {
          this.pay(c, now);
          this.agree(c);
          this.checked(c);
        }
        this.change(c, late.reputation, now);
        out.push({ copy: c, outcome: c.outcome });
      }
      return out;
    }
    if (shard.state !== 'open') return out;
    const candidates = shard.copies.filter((c) => c.state === 'returned' && c.outcome !== 'invalid' && !c.spot);
    if (candidates.length < shard.wanted || pending.length === 0) return out;
    const verdict = judge(
      candidates.map((c) => { const t = this.trustOf(c); return { copyId: c.id, result: c, trusted: t !== 'untrusted', solo: c.solo, first: t === 'trusted, not alone' }; }),
      { replicas: this.o.replicas, trustedAvailable: this.trustedAvailable },
      (a, b) => this.differ(a, b),
    );
    if (!verdict.accept) {
      shard.wanted = verdict.wanted;
      const why = shardFailure({ ...shard, errors: 0 }, aliveCopies(shard.copies.filter((c) => !c.spot)), this.job.spec.limits);
      if (why) {
        shard.state = 'failed';
        if (!shard.reverifying) this.open--;
        else if (shard.measured) this.reverifyingMeasured--;
        this.onShard(shard, now);
      }
      this.index(shard);
      return out;
    }
    const byId = new Map(candidates.map((c) => [c.id, c]));
    shard.state = 'validated';
    shard.canonical = byId.get(verdict.canonical)!;
    shard.canonicalCopyId = verdict.canonical;
    shard.unchecked = verdict.unchecked;
    if (!shard.reverifying) this.open--;
    else if (shard.measured) this.reverifyingMeasured--;
    shard.reverifying = false;
    if (shard.validatedAt === null) shard.validatedAt = now;
    if (this.wrong(shard)) shard.everWrong = true;
    for (const id of verdict.valid) {
      const c = byId.get(id)!;
      const was = c.outcome;
      c.outcome = 'valid';
      if (was === 'valid') continue; // judged before backtracking reopened the shard
      if (!verdict.unchecked) this.pay(c, now);
      if (verdict.valid.length >= 2) { this.agree(c); this.checked(c); }
      this.change(c, verdict.reputation.get(id) ?? null, now);
      out.push({ copy: c, outcome: 'valid' });
    }
    for (const bad of verdict.invalid) {
      const c = byId.get(bad.copyId)!;
      const was = c.outcome;
      c.outcome = 'invalid';
      shard.alive = aliveCopies(shard.copies.filter((c) => !c.spot));
      // Backtracking found a result it had accepted wrong: its credit is reversed (a new ledger row).
      const row = this.ledger.get(c.id);
      if (was === 'valid' && row && row.reversedAt === null) row.reversedAt = now;
      this.change(c, verdict.reputation.get(bad.copyId) ?? null, now);
      out.push({ copy: c, outcome: 'invalid' });
    }
    shard.alive = aliveCopies(shard.copies.filter((c) => !c.spot));
    if (verdict.valid.length === 1 && shard.canonical.solo && !verdict.unchecked) {
      const list = this.solos.get(shard.canonical.volunteerId) ?? [];
      list.push({ copyId: shard.canonical.id, shardId: shard.id, volunteerId: shard.canonical.volunteerId, numericClass: shard.canonical.numericClass, at: now });
      this.solos.set(shard.canonical.volunteerId, list);
    }
    if (!verdict.unchecked && answerKnown(verdict.valid.map((id) => ({ operator: this.volunteers.get(byId.get(id)!.volunteerId)!.operator })))) this.knowAnswer(shard);
    this.index(shard);
    this.onShard(shard, now);
    return out;
  }

  /** A validated shard an operator host's valid result agreed on is a known answer (the store's knownAnswerShards; a settled review's root copy counts). */
  private knowAnswer(shard: SimShard): void {
    this.known.push({ shardId: shard.id, jobId: this.job.id, projectId: this.job.projectId, source: 'validated' });
    // The store reads a bounded pool of known answers (the newest).
    if (this.known.length > KNOWN_POOL * 2) this.known.splice(0, this.known.length - KNOWN_POOL);
  }

  private change(c: SimCopy, change: ReputationChange, now: number): void {
    if (change) this.event(c, change, now);
  }

  /** A judged copy's effect on its host's reputation; an invalid result triggers backtracking. */
  private event(c: SimCopy, ev: ReputationEvent, now: number): void {
    const before = this.reputations.get(c.volunteerId)!;
    this.reputations.set(c.volunteerId, afterEvent(before, ev, now));
    const v = this.volunteers.get(c.volunteerId)!;
    this.refreshTrust(v);
    if (ev === 'invalid' || ev === 'spot-fail') {
      if (!c.lie) this.framed++;
      this.onCaught(v, now);
      this.voidAgreements(v.id, now);
      if (this.o.reviews !== false) this.openReviewsFor(v.id, now);
      this.backtrack(c, before, ev === 'spot-fail', now);
    }
  }

  private agree(c: SimCopy): void {
    const list = this.agreed.get(c.volunteerId);
    if (list) list.push(c);
    else this.agreed.set(c.volunteerId, [c]);
    const all = this.agreedAll.get(c.volunteerId);
    if (all) all.push(c);
    else this.agreedAll.set(c.volunteerId, [c]);
  }

  /** A valid copy's host vouching for its shard's answer (review.ts Voucher). */
  private voucher(c: SimCopy) {
    return { at: c.returnedAt ?? 0, root: this.volunteers.get(c.volunteerId)!.operator, lastCaughtAt: this.reputations.get(c.volunteerId)!.lastInvalidAt };
  }

  /**
   * What the store's voidAgreements does once a host is caught: each answer it agreed on for which no uncaught
   * host vouches any more (review.ts agreementVoid) is re-opened, every agreeing copy invalid, its credit reversed.
   */
  private voidAgreements(volunteerId: string, now: number): void {
    if (this.o.voiding === false) return;
    const list = this.agreedAll.get(volunteerId) ?? [];
    const keep: SimCopy[] = [];
    for (const c of list) {
      const shard = this.shards[c.index]!;
      if (c.outcome !== 'valid' || shard.state !== 'validated') continue;
      const valid = shard.copies.filter((o) => o.outcome === 'valid' && !o.spot);
      if (!valid.includes(c)) continue;
      if (!agreementVoid(valid.map((o) => this.voucher(o)))) { keep.push(c); continue; }
      for (const o of valid) {
        o.outcome = 'invalid';
        o.credit = 0;
        const row = this.ledger.get(o.id);
        if (row && row.reversedAt === null) row.reversedAt = now;
      }
      const at = this.openReviews.findIndex((r) => r.shard === shard);
      if (at >= 0) this.openReviews.splice(at, 1);
      this.reviewing.delete(shard);
      this.reviewed.delete(shard.id);
      this.reopen(shard);
      this.voided++;
    }
    this.agreedAll.set(volunteerId, keep);
  }

  /** What the store's agreedResults reads, then review.ts reviewTargets, then startReviews: the caught host's agreed results under review. */
  private openReviewsFor(volunteerId: string, now: number): void {
    const since = reviewSince({ now, holdMs: this.o.holdMs });
    // Older ones can never be reviewed again: dropped, so the list stays short.
    const list = (this.agreed.get(volunteerId) ?? []).filter((c) => (c.returnedAt ?? 0) >= since);
    this.agreed.set(volunteerId, list);
    const rows: AgreedResult[] = [];
    for (const c of list) {
      const shard = this.shards[c.index]!;
      if (c.outcome !== 'valid' || shard.state !== 'validated' || !shard.copies.some((o) => o !== c && o.outcome === 'valid')) continue;
      rows.push({
        copyId: c.id, shardId: shard.id, jobId: this.job.id, volunteerId, at: c.returnedAt!, kind: 'inference',
        rootAgreed: shard.copies.some((o) => o.outcome === 'valid' && this.volunteers.get(o.volunteerId)!.operator),
        reviewed: this.reviewed.has(shard.id),
      });
    }
    for (const t of reviewTargets(rows, { volunteerId }, { now, holdMs: this.o.holdMs })) {
      const shard = this.shards[Number(t.shardId.slice(1))]!;
      this.reviewed.add(shard.id);
      this.openReviews.push({ shard, canonical: shard.canonical!, openedAt: now, resultAt: t.at, copy: null });
      this.reviewing.add(shard);
      this.reviewStats.opened++;
      // Its shard's credit stays pending until the review settles.
      for (const o of shard.copies) {
        const row = o.outcome === 'valid' ? this.ledger.get(o.id) : undefined;
        if (row && row.heldFrom === null) row.heldFrom = now;
      }
    }
    this.reviewStats.backlogMax = Math.max(this.reviewStats.backlogMax, this.openReviews.length);
  }

  /**
   * A root host's request: the first open review in review.ts reviewOrder that it may take (decideReviewCopy), as
   * the store reads them (waitingReviews) and issues one.
   */
  private reviewCopy(v: SimVolunteer, now: number): SimCopy | null {
    const rep = this.reputations.get(v.id)!;
    const waiting: (WaitingReview & { r: SimReview })[] = [];
    for (const r of this.openReviews) {
      const live = r.copy !== null && (r.copy.state === 'assigned' || r.copy.state === 'running' || r.copy.state === 'returned');
      if (live) continue;
      const vouched = r.shard.copies.some((c) => c.outcome === 'valid' && !caughtSince(this.voucher(c)));
      waiting.push({ r, shardId: r.shard.id, resultAt: r.resultAt, vouched });
    }
    waiting.sort(reviewOrder);
    for (const { r } of waiting) {
      const d = decideReviewCopy({
        review: { state: 'open', copyId: r.copy?.id ?? null }, copyLive: false, shard: r.shard, canonicalCopyId: r.canonical.id, copies: r.shard.copies,
        job: this.job, volunteer: v, root: rep.operator === true, now, copyId: `c${this.copySeq++}`,
      });
      if (!d.take) continue;
      const copy: SimCopy = { ...d.copy, index: r.shard.index, value: null, out: null, lie: false, spot: false, solo: false, review: true };
      // Outside the shard's copy budget: its issued count is not touched.
      r.shard.copies.push(copy);
      r.copy = copy;
      this.held(v.id).add(r.shard.id);
      this.issued.review++;
      return copy;
    }
    return null;
  }

  /** The root's copy came back: review.ts settleReview, then what the store's settleReview writes. */
  private settle(shard: SimShard, copy: SimCopy, now: number): Outcome[] {
    const at = this.openReviews.findIndex((r) => r.copy === copy);
    if (at < 0) return [];
    const r = this.openReviews[at]!;
    this.openReviews.splice(at, 1);
    this.reviewing.delete(shard);
    copy.outcome = 'valid';
    if (shard.state !== 'validated' || shard.canonical !== r.canonical) return [{ copy, outcome: 'valid' }];
    const agreeing = shard.copies.filter((c) => c !== copy && c.outcome === 'valid').map((c) => ({ copyId: c.id, volunteerId: c.volunteerId }));
    const s = settleReview({ shardId: shard.id, canonicalCopyId: r.canonical.id }, { copyId: copy.id }, agreeing, this.differ(r.canonical, copy));
    this.pay(copy, now);
    const out: Outcome[] = [{ copy, outcome: 'valid' }];
    if (s.outcome === 'confirmed') {
      this.reviewStats.confirmed++;
      this.knowAnswer(shard);
      return out;
    }
    this.reviewStats.overturned++;
    if (this.differ(shard, r.canonical) === null) this.reviewStats.overturnedRight++;
    shard.canonical = copy;
    shard.canonicalCopyId = copy.id;
    this.knowAnswer(shard);
    for (const o of s.overturned) {
      const c = shard.copies.find((x) => x.id === o.copyId)!;
      c.outcome = 'invalid';
      c.reason = s.reason;
      c.credit = 0;
      const row = this.ledger.get(c.id);
      if (row && row.reversedAt === null) row.reversedAt = now;
      out.push({ copy: c, outcome: 'invalid' });
    }
    // Each overturned host is caught: its reputation, backtracking and its own agreed results under review (the cascade).
    for (const o of s.overturned) this.event(shard.copies.find((x) => x.id === o.copyId)!, 'invalid', now);
    this.reviewStats.backlogMax = Math.max(this.reviewStats.backlogMax, this.openReviews.length);
    return out;
  }

  /** The shard has a review still open (its credit is pending). */
  underReview(s: SimShard): boolean {
    return this.reviewing.has(s);
  }

  /**
   * Backtracking (spot-check.ts backtrackPlan), then what the store's reopenShards does: each target shard
   * whose canonical copy is still the caught host's goes back to open wanting at least two new results, the
   * copy becomes invalid and its credit is reversed.
   */
  private backtrack(found: SimCopy, before: Reputation, spot: boolean, now: number): void {
    const solos = this.solos.get(found.volunteerId);
    if (!solos?.length) return;
    const plan = backtrackPlan(solos, { volunteerId: found.volunteerId, streakSince: before.streakSince }, { copyId: found.id, spot });
    const ids = new Set(plan.targets.map((t) => t.copyId));
    this.solos.set(found.volunteerId, solos.filter((s) => !ids.has(s.copyId)));
    for (const t of plan.targets) {
      const shard = this.shards[Number(t.shardId.slice(1))]!;
      const copy = shard.copies.find((c) => c.id === t.copyId)!;
      if (shard.state !== 'validated' || shard.canonical !== copy) continue;
      copy.outcome = 'invalid';
      copy.reason = plan.reason;
      copy.credit = 0;
      const row = this.ledger.get(copy.id);
      if (row && row.reversedAt === null) row.reversedAt = now;
      this.reopen(shard);
    }
  }

  /** What the stores' reopenShards and voidAgreement do to a shard: open again, wanting two new results (re-verifying). */
  private reopen(shard: SimShard): void {
    shard.state = 'open';
    shard.canonical = null;
    shard.canonicalCopyId = null;
    if (shard.measured) this.reverifyingMeasured++;
    shard.reverifying = true;
    shard.wanted = Math.max(2, shard.wanted);
    shard.alive = aliveCopies(shard.copies.filter((c) => !c.spot));
    shard.maxTotal = Math.max(shard.issued + shard.wanted, reopenedBudget(shard, this.job.spec.limits));
    this.reopened++;
    this.index(shard);
  }

  /** A returned copy's pace (pace.ts copyPace): ms per record from assignment to upload; null in flight. */
  private seen(c: SimCopy): Seen | null {
    return c.state === 'returned' ? copyPace(c, SHARD_RECORDS) : null;
  }

  /** How a copy's result counts (reputation.ts resultTrust), as the coordinator's judge and claims read it. */
  private trustOf(c: SimCopy): ResultTrust {
    return this.trustWith(c.volunteerId, this.seen(c));
  }

  private trustWith(volunteerId: string, seen: Seen | null): ResultTrust {
    const timing = this.o.policy.pace ? { pace: this.paces.get(volunteerId) ?? null, seen } : null;
    return resultTrust(this.reputations.get(volunteerId), timing, this.o.policy);
  }

  /** A checked result (agreed with another, or a passed spot check): its host's pace (pace.ts afterChecked). */
  private checked(c: SimCopy): void {
    this.paces.set(c.volunteerId, afterChecked(this.paces.get(c.volunteerId) ?? null, this.seen(c)?.msPerRecord ?? null));
  }

  private pay(c: SimCopy, now: number): void {
    c.credit = this.credit;
    this.ledger.set(c.id, { copy: c, amount: this.credit, at: now, payableAt: payableAt(now, this.o.holdMs), reversedAt: null, heldFrom: null });
  }

  private holders(shard: SimShard): Holder[] {
    const out: Holder[] = [];
    for (const c of shard.copies) {
      if (!c.spot && (c.state === 'assigned' || c.state === 'running' || c.state === 'returned') && c.outcome !== 'invalid') {
        // As the claim reads holders (claim.ts): a trusted host's first result in the job never stands alone.
        const t = this.trustOf(c);
        out.push({ trusted: t !== 'untrusted', solo: c.solo && t === 'trusted', inFlight: c.state !== 'returned' });
      }
    }
    return out;
  }

  /** Keeps the wanting lists in step with a shard: which hosts may take a copy of it now. */
  private index(shard: SimShard): void {
    this.anyone.delete(shard.index);
    this.trustedOnly.delete(shard.index);
    if (!(shard.state === 'open' && shard.alive < shard.wanted && shard.issued < shard.maxTotal)) return;
    const r = decideReplication({
      replicas: this.o.replicas, wanted: shard.wanted, holders: this.holders(shard), asker: null,
      trustedAvailable: this.trustedAvailable, draw: 0, policy: this.o.policy, compared: true, fresh: shard.issued === 0,
    });
    // A copy in flight holds the shard back from everyone (oneCopyAtATime): it is indexed again when the copy returns.
    if (!r.take && this.o.policy.oneCopyAtATime && shard.copies.some((c) => !c.spot && !c.review && c.state !== 'returned' && c.outcome !== 'invalid')) return;
    (r.take ? this.anyone : this.trustedOnly).add(shard.index);
  }

  private refreshTrust(v: SimVolunteer): void {
    const trusted = v.present && this.isTrusted(v.id);
    const had = this.trustedPresent.has(v.id);
    if (trusted === had) return;
    if (trusted) this.trustedPresent.set(v.id, 1);
    else this.trustedPresent.delete(v.id);
    const classes = [...this.trustedPresent.keys()].map((id) => this.volunteers.get(id)!.numericClass);
    this.trustedClasses = [...new Set(classes)];
    const available = trustedCanBeHad(classes, (cls) => kindOf(this.job.spec).runsOn(this.job.spec, cls));
    if (available !== this.trustedAvailable) {
      this.trustedAvailable = available;
      // Whether untrusted hosts may take a copy depends on it: re-sort every wanting shard.
      for (const s of this.shards) if (s.state === 'open') this.index(s);
    }
    // A holder's trust changed: the wanting shards it holds may now be open to others, or kept for a trusted host.
    for (const i of [...this.anyone.items, ...this.trustedOnly.items]) {
      const s = this.shards[i]!;
      if (s.copies.some((c) => c.volunteerId === v.id)) this.index(s);
    }
  }

  /** Keeps the project's backlog of open shards full. */
  private topUp(): void {
    while (this.open < this.o.backlog) {
      const index = this.shards.length;
      // True values spread over [1, 1001): two shards' answers agree within tolerance only by rare chance.
      const value = 1 + (Math.imul(index + 1, 2654435761) >>> 0) % 1_000_000 / 1000;
      const shard: SimShard = {
        id: `s${index}`, jobId: this.job.id, index, start: index * SHARD_RECORDS, end: (index + 1) * SHARD_RECORDS, state: 'open',
        wanted: this.o.replicas, canonicalCopyId: null, errors: 0, issued: 0, alive: 0, maxTotal: this.job.spec.limits.maxTotalCopies,
        homogeneous: this.o.homogeneous, truth: resultTensor(value), measured: index >= this.measuredFrom && this.nextMeasured < this.measuredShards,
        copies: [], ordinary: [], canonical: null, unchecked: false, validatedAt: null, everWrong: false, reverifying: false,
      };
      if (shard.measured) this.nextMeasured++;
      this.shards.push(shard);
      this.open++;
      this.index(shard);
    }
  }

  /** Whether a result for the copy's shard is wrong, by the job's own comparison with the true output. */
  isWrong(copy: SimCopy, value: number): boolean {
    return kindOf(this.job.spec).disagreement(this.job.spec, this.shards[copy.index]!.truth, resultTensor(value)) !== null;
  }

  /** The shard's true value (what an honest volunteer computes). */
  truthOf(copy: SimCopy): number {
    return new DataView(this.shards[copy.index]!.truth[0]!.data.buffer).getFloat32(0, true);
  }
}
