/**
 * Each volunteer's news (copy outcomes, its balance) waits here until a reply
 * to that volunteer can carry it or it has waited long enough to be pushed.
 * A busy volunteer sends a result every few hundred milliseconds and so hears
 * everything on the replies: no push of its own, which at thousands of
 * results a second is a large share of a coordinator's messages.
 */
import type { AccountBalance, CopyOutcome, VolunteerNews } from '../../shared/protocol/events.ts';

/** News older than this is pushed rather than kept for a reply. */
export const NEWS_PUSH_AFTER_MS = 1000;

interface Box { outcomes: CopyOutcome[]; balance?: AccountBalance; since: number }

export class NewsDesk {
  private boxes = new Map<string, Box>();

  constructor(private readonly pushAfterMs = NEWS_PUSH_AFTER_MS) {}

  outcome(volunteerId: string, o: CopyOutcome, now: number): void {
    this.box(volunteerId, now).outcomes.push(o);
  }

  /** Only the latest balance matters: it replaces any older one not yet told. */
  balance(volunteerId: string, b: AccountBalance, now: number): void {
    this.box(volunteerId, now).balance = b;
  }

  /** Everything waiting for a volunteer, for a reply to carry; undefined when nothing waits. */
  take(volunteerId: string): VolunteerNews | undefined {
    const b = this.boxes.get(volunteerId);
    if (!b) return undefined;
    this.boxes.delete(volunteerId);
    return { outcomes: b.outcomes, ...(b.balance ? { balance: b.balance } : {}) };
  }

  /** The news that waited too long, taken out to be pushed. */
  due(now: number): [volunteerId: string, news: VolunteerNews][] {
    const out: [string, VolunteerNews][] = [];
    for (const [id, b] of this.boxes) if (now - b.since >= this.pushAfterMs) out.push([id, this.take(id)!]);
    return out;
  }

  private box(volunteerId: string, now: number): Box {
    let b = this.boxes.get(volunteerId);
    if (!b) { b = { outcomes: [], since: now }; this.boxes.set(volunteerId, b); }
    return b;
  }
}
