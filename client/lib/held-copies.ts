/**
 * The copies this page holds, for the page after a reload to offer back in
 * its first hello (shared/volunteer/held.ts): their ids in localStorage,
 * written synchronously on every change (a few bytes: a reload right after
 * a copy arrived still finds it), and the assignment being computed where
 * in-hand.ts kept it (long shards). The coordinator sends the others again.
 * One contributing tab per browser profile writes it (contributor-lock.ts).
 */
import type { Assignment } from '../../shared/protocol/events.ts';
import type { HeldCopies } from '../../shared/volunteer/held.ts';
import { takeInHand } from './in-hand.ts';

const key = (coordinator: string) => `tabgrid:held|${coordinator}`;
const ID = /^[A-Za-z0-9_-]{6,64}$/;

const storage = (): Storage | null => { try { return localStorage; } catch { return null; } };

/** The ids written down, or none when storage is unavailable or holds something else. */
export function readHeldIds(coordinator: string): string[] {
  try {
    const v: unknown = JSON.parse(storage()?.getItem(key(coordinator)) ?? '[]');
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && ID.test(x)) : [];
  } catch {
    return [];
  }
}

export class PageHeldCopies implements HeldCopies {
  constructor(private readonly coordinator: string) {}

  async load(): Promise<{ copyId: string; assignment?: Assignment }[]> {
    const ids = readHeldIds(this.coordinator);
    const inHand = await takeInHand(this.coordinator).catch(() => null);
    const out: { copyId: string; assignment?: Assignment }[] = ids.map((copyId) => ({ copyId }));
    if (inHand) {
      const at = out.find((h) => h.copyId === inHand.copyId);
      if (at) at.assignment = inHand;
      else out.unshift({ copyId: inHand.copyId, assignment: inHand });
    }
    return out;
  }

  save(copyIds: readonly string[]): void {
    try {
      const s = storage();
      if (!s) return;
      if (copyIds.length) s.setItem(key(this.coordinator), JSON.stringify(copyIds));
      else s.removeItem(key(this.coordinator));
    } catch { /* storage full or disabled: a reload then loses what it held, as before */ }
  }
}
