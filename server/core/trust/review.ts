/**
 * Reviews: backtracking that follows agreement, settled by the root of trust.
 *
 * Backtracking (spot-check.ts) re-opens what a caught host had accepted on its
 * word alone. A careful group never lies alone: it lies where it holds every
 * copy of a shard, and two trusted colluders agreeing is a validated shard.
 * So once a host is caught, the results it had accepted WITH others' agreement
 * go under review too. A review is settled only by the root of trust (a host
 * on the operator's token): a recomputation majority of ordinary volunteers
 * would let fast liars, who ask far more often than anyone, take the
 * recomputation copies and overturn right answers (measured with
 * `npm run simulate`, on-off attackers at f = 35 %: every reviewed shard wrong).
 *
 *  - root agrees with the accepted answer: confirmed, nothing changes;
 *  - root differs: overturned. The root's result becomes the shard's output,
 *    every host whose result agreed on the overturned answer is caught (its
 *    copy invalid, its credit reversed by new ledger rows, its trust lost),
 *    and their own agreed results go under review in turn: one catch
 *    cascades through a colluding group.
 *
 * Each answer is reviewed once: after a review its answer is the root's, or
 * the root agreed with it (a voided answer's shard, recomputed by others, may
 * be reviewed again on its new answer).
 *
 * The coordinator is a root of trust too (issue 13: known answers "computed
 * by the coordinator itself"): its own bounded computation (one worker
 * thread) settles open reviews no operator host is working on, so a
 * coordinator with no operator host connected does not leave reviews, and
 * their credit, waiting for ever. Its result settles a review exactly as a
 * root host's copy does.
 */
import { kindOf } from '../jobs/kinds.ts';
import type { Copy, Job, Shard } from '../jobs/types.ts';
import { assignedCopy } from '../scheduler/assigned-copy.ts';
import { type CopyIdentity, mayTakeCopy, NO_RULES, type VolunteerIdentity } from '../scheduler/eligibility.ts';

/**
 * How far back a caught host's agreed results are reviewed: those whose
 * credit is still in its hold (reversible before anyone was paid), and at
 * least this long, so a coordinator run with a short or no hold still reviews
 * recent work. Not "since its last passed check": a careful colluder lies
 * only where its group holds every copy and passes every check in between,
 * so a passed check says nothing about the results before it.
 */
export const MIN_REVIEW_WINDOW_MS = 60 * 60_000;

/** A caught host's result accepted with others' agreement, as the store reads it. */
export interface AgreedResult {
  copyId: string;
  shardId: string;
  jobId: string;
  volunteerId: string;
  /** When it was returned. */
  at: number;
  /** Only inference results are compared against one fixed answer; a training round's updates are aggregated and gone. */
  kind: Job['kind'];
  /** An operator host's result agreed with it: the root confirmed it already. */
  rootAgreed: boolean;
  /** The shard was reviewed already (or is under review): each shard is reviewed once. */
  reviewed: boolean;
}

/** The earliest return time of a result reviewed when a host is caught at `now`. */
export function reviewSince(w: { now: number; holdMs: number }): number {
  return w.now - Math.max(w.holdMs, MIN_REVIEW_WINDOW_MS);
}

/** The reviews to open once `caught` was found wrong at `now` (one per shard). */
export function reviewTargets(agreed: readonly AgreedResult[], caught: { volunteerId: string }, w: { now: number; holdMs: number }): AgreedResult[] {
  const since = reviewSince(w);
  const seen = new Set<string>();
  return agreed.filter((a) => {
    if (a.volunteerId !== caught.volunteerId || a.at < since || a.kind !== 'inference' || a.rootAgreed || a.reviewed || seen.has(a.shardId)) return false;
    seen.add(a.shardId);
    return true;
  });
}

/** Why a review was opened, in words the volunteers and the dashboards read. */
export function reviewReason(caught: { volunteerId: string; copyId: string; spot: boolean }): string {
  const what = caught.spot ? 'failed a spot check' : 'returned an invalid result';
  return `under review: host ${caught.volunteerId} agreed on this answer and later ${what} (copy ${caught.copyId}); the root of trust (the coordinator's own computation, or the operator's own host) recomputes it before its credit is payable`;
}

/** A review, as the store keeps it. */
export interface Review {
  shardId: string;
  jobId: string;
  projectId: string;
  /** The accepted answer under review (the shard's canonical copy when it was opened). */
  canonicalCopyId: string;
  /** closed: its job failed or was cancelled before the root settled it (nothing was decided; its credit follows the normal hold). */
  state: 'open' | 'confirmed' | 'overturned' | 'closed';
  reason: string;
  openedAt: number;
  /** When the caught host's copy agreeing on the answer was returned (reviewOrder). */
  resultAt: number;
  /** The root's copy issued for it (null: none yet, or the last one ended without a result). */
  copyId: string | null;
}

/**
 * The review copy a root host may take, or why not. Only the operator's own
 * hosts (the root of trust) get one; each open review has one root copy live
 * at a time. It is made by assignedCopy as any copy is (nothing in it tells
 * the host it is a review) and does not count against the shard's copy
 * budget (maxTotalCopies): it is the coordinator's cost, not the project's.
 */
export function decideReviewCopy(c: {
  review: Pick<Review, 'state' | 'copyId'>;
  /** Whether the review's current copy (if any) is still live (assigned, running or returned). */
  copyLive: boolean;
  shard: Pick<Shard, 'id' | 'state' | 'canonicalCopyId'>;
  canonicalCopyId: string;
  copies: readonly CopyIdentity[];
  job: Job | null;
  volunteer: VolunteerIdentity & { account: string };
  /** The asker runs on the operator's token and is trusted as such (Reputation.operator). */
  root: boolean;
  now: number;
  copyId: string;
}): { take: true; copy: Copy } | { take: false; why: string } {
  const { shard, job, volunteer: v } = c;
  if (!c.root) return { take: false, why: 'not a root host' };
  if (c.review.state !== 'open') return { take: false, why: `review ${c.review.state}` };
  if (c.review.copyId !== null && c.copyLive) return { take: false, why: 'a root copy is under way' };
  if (!job || (job.state !== 'running' && job.state !== 'completed')) return { take: false, why: 'job ended' };
  if (job.kind !== 'inference') return { take: false, why: 'not an inference job' };
  if (shard.state !== 'validated' || shard.canonicalCopyId !== c.canonicalCopyId) return { take: false, why: 'the answer under review is no longer the shard\'s' };
  if (c.copies.some((x) => x.volunteerId === v.id)) return { take: false, why: 'volunteer held a copy' };
  if (!mayTakeCopy(v, c.copies, NO_RULES, job.spec.homogeneous)) return { take: false, why: 'another numeric class' };
  if (!kindOf(job.spec).runsOn(job.spec, v.numericClass)) return { take: false, why: 'backend not allowed' };
  return { take: true, copy: assignedCopy({ copyId: c.copyId, shardId: shard.id, job, volunteer: v, now: c.now, review: true }) };
}

/**
 * Who holds the copy the coordinator's own computation settles a review with: an identity of the operator's,
 * not a volunteer. No volunteer row carries it and volunteer ids are 22 characters (store/ids.ts), so nobody can
 * connect as it; its copy is never credited (the store writes no ledger row for it), so no balance, leaderboard
 * or payout sees it; it is never judged, so it has no reputation.
 */
export const COORDINATOR_HOST = { volunteerId: 'coordinator', account: 'coordinator', address: 'coordinator' } as const;

/** Who settled a review: an operator's host (a root copy), or the coordinator's own computation. */
export type SettledBy = 'root' | 'coordinator';

/**
 * Whether the coordinator's own computation settles this open review, or why not: then it is left to the
 * operator's hosts. `later`: it may be settled by the coordinator another time (a root copy is under way and
 * may end without a result); otherwise it never will be, and the caller need not look at it again.
 */
export function decideOwnReview(c: {
  review: Pick<Review, 'state' | 'canonicalCopyId'>;
  /** A root host's copy of it is live (assigned, running or returned): that host settles it. */
  copyLive: boolean;
  shard: Pick<Shard, 'state' | 'canonicalCopyId'> | null;
  job: Pick<Job, 'state' | 'kind' | 'spec'> | null;
  /** The numeric class of the answer under review (its copy's). */
  answerClass: string;
  /** The class of the coordinator's own computations (onnxruntime-web, WASM). */
  ownClass: string;
}): { compute: true } | { compute: false; later: boolean; why: string } {
  if (c.review.state !== 'open') return { compute: false, later: false, why: `review ${c.review.state}` };
  if (c.copyLive) return { compute: false, later: true, why: 'an operator host\'s copy is under way' };
  if (!c.job || (c.job.state !== 'running' && c.job.state !== 'completed')) return { compute: false, later: false, why: 'job ended' };
  if (c.job.kind !== 'inference') return { compute: false, later: false, why: 'not an inference job' };
  if (!c.shard || c.shard.state !== 'validated' || c.shard.canonicalCopyId !== c.review.canonicalCopyId) return { compute: false, later: false, why: 'the answer under review is no longer the shard\'s' };
  // A homogeneous job's results are compared within one class only: the coordinator's WASM answer says nothing of a WebGPU one.
  if (c.job.spec.homogeneous && c.answerClass !== c.ownClass) {
    return { compute: false, later: false, why: `homogeneous job: the answer under review is of class ${c.answerClass}, the coordinator computes in ${c.ownClass}` };
  }
  return { compute: true };
}

/** The open review the coordinator's own computation takes next (reviewOrder): one no root copy is under way for, not passed over before. */
export function pickOwnReview<R extends WaitingReview & Pick<Review, 'copyId'> & { copyLive: boolean }>(open: readonly R[], passed: ReadonlySet<string>): R | null {
  return pickReview(open.filter((r) => r.copyId === null || !r.copyLive), passed);
}

/** How a review settles, from the root's result. */
export type Settlement =
  | { outcome: 'confirmed'; reason: string }
  | {
    outcome: 'overturned';
    /** The root's copy: the shard's output from now on. */
    canonical: string;
    /** Every copy that agreed on the overturned answer: invalid, credit reversed, its host caught. */
    overturned: { copyId: string; volunteerId: string }[];
    reason: string;
  };

/**
 * Settles a review: `differ` is how the root's result differs from the
 * answer under review (null: it agrees). `agreeing` are the shard's valid
 * copies (the answer under review and every copy that agreed with it).
 */
export function settleReview(
  review: Pick<Review, 'shardId' | 'canonicalCopyId'>,
  root: { copyId: string },
  agreeing: readonly { copyId: string; volunteerId: string }[],
  differ: string | null,
  by: SettledBy = 'root',
): Settlement {
  const who = by === 'root' ? 'the operator\'s own host' : 'the coordinator\'s own computation';
  if (differ === null) return { outcome: 'confirmed', reason: `review confirmed: ${who} computed the same answer` };
  return {
    outcome: 'overturned',
    canonical: root.copyId,
    overturned: agreeing.filter((c) => c.copyId !== root.copyId).map((c) => ({ copyId: c.copyId, volunteerId: c.volunteerId })),
    reason: `overturned: ${who} (copy ${root.copyId}) computed a different answer for this shard (${differ}); the hosts that agreed on it are caught and their credit for it reversed`,
  };
}

/**
 * A root's review copy that came back without settling its review (another root copy or another coordinator
 * settled it meanwhile, or its job ended and the review with it). It is never judged as a volunteer's late
 * copy: that would make the root of trust answer to the volunteers' answer, and cost the operator's host its
 * trust whenever the answer it was sent to check was a lie. So no reputation event either way; it is credited
 * as computed when it agrees with the shard's answer as it stands (a checked answer, as a late copy that agrees
 * is), and recorded invalid, uncredited, when it does not (its result is not the shard's; the coordinator logs
 * it for the operator: two of its own hosts, or its host and a settled review, disagree).
 */
export function judgeUnsettledReviewCopy(differ: string | null): { outcome: 'valid' | 'invalid'; reason: string; credited: boolean } {
  if (differ === null) return { outcome: 'valid', reason: 'review copy returned after its review was settled; agrees with the shard\'s answer', credited: true };
  return { outcome: 'invalid', reason: `review copy returned after its review was settled; differs from the shard's answer (${differ}); no trust change`, credited: false };
}

/**
 * One host's vouching for an accepted answer: its valid copy, when it was
 * returned, and when the host was last caught (an invalid result, a failed
 * spot check, an overturned review) in the copy's numeric class.
 */
export interface Voucher {
  copyId: string;
  volunteerId: string;
  /** When the copy was returned. */
  at: number;
  /** The host is the operator's (the root of trust). */
  root: boolean;
  /** The host's last catch in the copy's class; null: never caught. */
  lastCaughtAt: number | null;
}

/** The host was caught at or after it vouched for the answer: its word for it counts no more. */
export const caughtSince = (v: Pick<Voucher, 'at' | 'lastCaughtAt'>): boolean => v.lastCaughtAt !== null && v.lastCaughtAt >= v.at;

/**
 * Whether an answer accepted on agreement is void: every host that agreed
 * on it has been caught since, and none of them is the root. A careful
 * group lies only where it holds every copy of a shard, and is caught only
 * on traps; each member caught later proves nothing of one shard, but an
 * answer for which no one uncaught vouches rests on nothing. It is then
 * re-opened as a caught host's solo result is (backtracking: recomputed by
 * others, its credit reversed), without waiting for the root, which stays
 * for answers an uncaught host still vouches for. Honest hosts are caught
 * rarely, two honest hosts both caught on other shards rarer still: the cost
 * of a void honest answer is one recomputation. Found by `npm run simulate`
 * (careful colluders and on-off attackers regain trust after a catch, so
 * "a host trusted now agreed" kept their lies vouched for and behind the
 * root's backlog).
 */
export function agreementVoid(vouchers: readonly Pick<Voucher, 'at' | 'lastCaughtAt' | 'root'>[]): boolean {
  return vouchers.length >= 2 && vouchers.every((v) => !v.root && caughtSince(v));
}

/**
 * How many of a caught host's agreements one catch reads, newest first (Store.agreements). A host that turns to
 * lying does so after it earned trust, and is caught soon after: its lies are its newest agreements. An older
 * answer becomes void only when the last host vouching for it is caught, and that catch reads it among that
 * host's agreements; one missed (a host with more agreements since) is left to the reviews.
 */
export const VOID_READ = 1000;

/** An answer a caught host agreed on, with every host vouching for it (its shard's valid copies), as the store reads it. */
export interface Agreement {
  shardId: string;
  jobId: string;
  /** The shard's canonical copy when read: voiding re-checks it under the shard's lock. */
  canonicalCopyId: string;
  /** The caught host's own copy among the vouchers. */
  copyId: string;
  vouchers: Voucher[];
}

/** The agreements to void once a host is caught (agreementVoid), one per shard. */
export function voidTargets(agreements: readonly Agreement[]): Agreement[] {
  const seen = new Set<string>();
  return agreements.filter((a) => {
    if (seen.has(a.shardId) || !agreementVoid(a.vouchers)) return false;
    seen.add(a.shardId);
    return true;
  });
}

/** Why a void agreement's copies are invalid, in words the volunteers and the dashboards read. */
export function voidReason(caught: { volunteerId: string; copyId: string; spot: boolean }): string {
  const what = caught.spot ? 'failed a spot check' : 'returned an invalid result';
  return `void: every host that agreed on this answer has since been caught (the last, host ${caught.volunteerId}, ${what} on copy ${caught.copyId}); no uncaught host vouches for it, so it is recomputed by others and its credit reversed`;
}

/** An open review as a root host's request weighs it. */
export interface WaitingReview {
  shardId: string;
  /** When the answer under review was returned. */
  resultAt: number;
  /** A host not caught since it agreed still vouches for the answer under review (caughtSince). */
  vouched: boolean;
}

/**
 * The order the root takes open reviews in: first those whose answer no
 * uncaught host vouches for (every host that agreed on it has since been
 * caught: most likely a lie; agreementVoid re-opens most of those without
 * the root), then the newest answers first (a host that
 * turns to lying is caught soon after; its older results were more likely
 * computed while it was honest, and its spot checks passed in between). The
 * root is few hosts (the operator's own, 1 % of a swarm): a caught host's
 * honest work, agreed with honest hosts, waits behind its lies (found by
 * `npm run simulate`, on-off attackers: oldest first spent the root on
 * their honest phase while their lies waited).
 */
export function reviewOrder(a: WaitingReview, b: WaitingReview): number {
  return Number(a.vouched) - Number(b.vouched) || b.resultAt - a.resultAt || (a.shardId < b.shardId ? -1 : a.shardId > b.shardId ? 1 : 0);
}

/** The open review a root host takes next (reviewOrder) among those whose shard it holds no copy of. */
export function pickReview<R extends WaitingReview>(open: readonly R[], held: ReadonlySet<string>): R | null {
  let best: R | null = null;
  for (const r of open) if (!held.has(r.shardId) && (!best || reviewOrder(r, best) < 0)) best = r;
  return best;
}
