/**
 * The assignment being computed, kept in IndexedDB until its result is safe in
 * the pending store. A reload in the middle of a shard then recomputes that
 * shard straight away and delivers it under the same copy, instead of leaving
 * the copy to expire and be reissued to someone else.
 */
import type { Assignment } from '../../shared/protocol/events.ts';
import { kvDelete, kvGet, kvSet } from './db.ts';

const key = (coordinator: string) => `inhand|${coordinator}`;

export interface InHand {
  assignment: Assignment;
  /** The lease ends around here; after it, recomputing would be wasted work. */
  leaseEndsAt: number;
}

export async function keepInHand(coordinator: string, a: Assignment): Promise<void> {
  await kvSet(key(coordinator), { assignment: a, leaseEndsAt: Date.now() + a.leaseMs } satisfies InHand);
}

export async function clearInHand(coordinator: string, copyId?: string): Promise<void> {
  if (copyId) {
    const cur = await kvGet<InHand>(key(coordinator));
    if (cur && cur.assignment.copyId !== copyId) return;
  }
  await kvDelete(key(coordinator));
}

/** Takes (and forgets) the interrupted assignment, if one is still worth finishing. */
export async function takeInHand(coordinator: string): Promise<Assignment | null> {
  const cur = await kvGet<InHand>(key(coordinator));
  if (!cur) return null;
  await kvDelete(key(coordinator));
  return cur.leaseEndsAt > Date.now() ? cur.assignment : null;
}
