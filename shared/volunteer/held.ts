/**
 * The copies a volunteer holds, written down where they outlive the
 * volunteer's run (a page's storage: a reload), so the next run's first
 * hello offers them back to the coordinator (HelloRequest.holding) instead
 * of leaving them to run out the disconnect grace and be reissued. Only ids
 * are written (a few bytes, at once, on every change); the assignment of the
 * copy being computed may be kept beside them (a page keeps it for long
 * shards), and the coordinator sends the others again.
 */
import type { Assignment } from '../protocol/events.ts';

export interface HeldCopies {
  /** What the previous run held: each copy's id, and its assignment where one was kept. Read once, at start. */
  load(): Promise<{ copyId: string; assignment?: Assignment }[]>;
  /** The ids of the copies held now; called on every change, and must write before it returns. */
  save(copyIds: readonly string[]): void;
}

/** For tests and hosts that keep a volunteer's holdings in memory across its restarts. */
export class MemoryHeldCopies implements HeldCopies {
  ids: string[] = [];
  assignments = new Map<string, Assignment>();
  async load() { return this.ids.map((copyId) => ({ copyId, ...(this.assignments.has(copyId) ? { assignment: this.assignments.get(copyId)! } : {}) })); }
  save(copyIds: readonly string[]) { this.ids = [...copyIds]; }
}
