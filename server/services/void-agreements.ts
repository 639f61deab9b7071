/**
 * Voiding in the coordinator (server/core/trust/review.ts agreementVoid decides): once a host is caught, each
 * answer it agreed on for which no uncaught host vouches any more (every host that agreed on it, none the root,
 * caught since) is re-opened as a caught host's solo result is: recomputed by others, every agreeing copy invalid,
 * its credit reversed by new ledger rows, its open review closed, a completed job run again. The root of trust is
 * few hosts; what stays for it is only what an uncaught host still vouches for.
 */
import type { Logger } from 'pino';
import { VOID_READ, voidReason, voidTargets } from '../core/trust/review.ts';
import type { Store, Voided } from '../store/types.ts';
import type { CoordinatorEvents } from './events.ts';

export interface VoidDeps {
  store: Store;
  events: CoordinatorEvents;
  /** Runs `fn` under the shard's validation lock (WorkService), so a voiding never races a judgement of the shard. */
  underShardLock<T>(shardId: string, fn: () => Promise<T>): Promise<T>;
  log: Logger;
}

/**
 * `caught` was found wrong on `copyId` (its reputation says so already): voids what it agreed on that nobody
 * uncaught vouches for any more, one shard per transaction under the shard's lock. Returns what was voided.
 */
export async function voidAgreements(d: VoidDeps, caught: { volunteerId: string; copyId: string; spot: boolean }): Promise<Voided[]> {
  const targets = voidTargets(await d.store.agreements(caught.volunteerId, VOID_READ));
  if (targets.length === 0) return [];
  const reason = voidReason(caught);
  const now = Date.now();
  const voided: Voided[] = [];
  for (const t of targets) {
    // The store checks again under the lock: the shard still validated with this answer, still void.
    const v = await d.underShardLock(t.shardId, () => d.store.voidAgreement({ shardId: t.shardId, canonicalCopyId: t.canonicalCopyId, reason, now }));
    if (v) voided.push(v);
  }
  for (const v of voided) {
    const creditReversed = v.reversed.reduce((s, r) => s + r.amount, 0);
    d.log.warn({
      shard: v.shardId, job: v.jobId, hosts: v.copies.map((c) => c.volunteerId), copies: v.copies.map((c) => c.copyId), creditReversed,
      jobReopened: v.jobReopened, reviewClosed: v.reviewClosed, volunteer: caught.volunteerId, caughtOn: caught.copyId, spot: caught.spot, reason,
    }, 'agreement void: every host that agreed on this answer has since been caught; the shard is re-opened for others to recompute, every agreeing copy invalid, its credit reversed');
    for (const c of v.copies) d.events.emit('outcome', c.volunteerId, { copyId: c.copyId, jobId: v.jobId, outcome: 'invalid', credit: 0, reason });
  }
  if (voided.length === 0) return voided;
  const reversed = voided.flatMap((v) => v.reversed);
  d.events.emit('trust', { kind: 'reopened', reason: 'void', shards: voided.length, creditReversed: reversed.reduce((s, r) => s + r.amount, 0) });
  for (const a of new Set(reversed.map((r) => r.account))) d.events.emit('credited', a);
  for (const v of new Map(voided.map((x) => [x.jobId, x])).values()) d.events.emit('job', v.jobId, v.projectId);
  d.events.emit('work');
  return voided;
}
