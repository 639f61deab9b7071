/**
 * The assignment being computed, kept in IndexedDB until its result is safe in
 * the pending store. A reload in the middle of a shard then recomputes that
 * shard straight away and delivers it under the same copy, instead of leaving
 * the copy to expire and be reissued to someone else.
 */
import type { Assignment } from '../../shared/protocol/events.ts';
import { kvDelete, kvGet, kvSet } from './db.ts';

const key = (coordinator: string) => `inhand|${coordinator}`;

/**
 * Shards that compute faster than this (judged by the one before) are written
 * down only once they have computed this long, which they seldom do: writing
 * every shard's inputs (512 KiB and more) costs a good share of a short
 * shard's compute, and a short shard lost to a reload costs little (its copy
 * is reissued after the coordinator's grace period). Longer shards, and the
 * first one (model download and compile), are written down at once.
 */
export const IN_HAND_AFTER_MS = 1000;

export interface InHand {
  assignment: Assignment;
  /** The lease ends around here; after it, recomputing would be wasted work. */
  leaseEndsAt: number;
}

export async function keepInHand(coordinator: string, a: Assignment): Promise<void> {
  await kvSet(key(coordinator), { assignment: a, leaseEndsAt: Date.now() + a.leaseMs } satisfies InHand);
}

/** Takes (and forgets) the interrupted assignment, if one is still worth finishing. */
export async function takeInHand(coordinator: string): Promise<Assignment | null> {
  const cur = await kvGet<InHand>(key(coordinator));
  if (!cur) return null;
  await kvDelete(key(coordinator));
  return cur.leaseEndsAt > Date.now() ? cur.assignment : null;
}

/**
 * Writes down the shard in hand once it has computed for a while, and forgets
 * it once its result is kept. This page is the only writer (one contributing
 * tab per profile), so what is stored is tracked here instead of read back,
 * and the writes run in order.
 */
export class InHandKeeper {
  private waiting = new Map<string, { timer: ReturnType<typeof setTimeout>; a: Assignment }>();
  private stored: string | null = null;
  /** How long the last shard took from start to done; null before the first. */
  private lastMs: number | null = null;
  private started = new Map<string, number>();
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly coordinator: string, private readonly afterMs = IN_HAND_AFTER_MS) {}

  /** The copy written down now (its write committed), which a reload would finish; null if none. */
  get kept(): string | null {
    return this.stored;
  }

  /** A shard starts computing. Its inputs are copied now: they are about to be transferred to the worker, which detaches them here. */
  start(a: Assignment): void {
    const copy: Assignment = { ...a, inputs: a.inputs.map((t) => ({ ...t, data: t.data.slice() })) };
    this.started.set(a.copyId, Date.now());
    if (this.lastMs === null || this.lastMs >= this.afterMs) {
      this.write(copy);
      return;
    }
    const timer = setTimeout(() => {
      this.waiting.delete(a.copyId);
      this.write(copy);
    }, this.afterMs);
    this.waiting.set(a.copyId, { timer, a: copy });
  }

  /** Its result is safe in the pending store, or it will never have one: nothing to finish after a reload. */
  done(copyId: string): void {
    const t0 = this.started.get(copyId);
    if (t0 !== undefined) {
      this.lastMs = Date.now() - t0;
      this.started.delete(copyId);
    }
    const w = this.waiting.get(copyId);
    if (w) {
      clearTimeout(w.timer);
      this.waiting.delete(copyId);
    }
    this.enqueue(async () => {
      if (this.stored !== copyId) return;
      await kvDelete(key(this.coordinator));
      this.stored = null;
    });
  }

  /** The page is going away: write down what is still computing, at once (best effort: the write may not outlive the page). */
  flush(): void {
    for (const [id, w] of this.waiting) {
      clearTimeout(w.timer);
      this.waiting.delete(id);
      this.write(w.a);
    }
  }

  private write(a: Assignment): void {
    this.enqueue(async () => {
      await keepInHand(this.coordinator, a);
      this.stored = a.copyId;
    });
  }

  private enqueue(op: () => Promise<void>): void {
    this.queue = this.queue.then(op).catch(() => { /* IndexedDB unavailable: a reload then loses the shard in hand */ });
  }
}
