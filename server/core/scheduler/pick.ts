/**
 * Which of the shards a volunteer may take it gets. Handing out the queue's
 * head in order makes the pick a function of request timing: a colluder
 * asking right after its friend gets the other copy of the same shard, and
 * a reissued copy goes to whoever asks first. So the pick is random among
 * the first `window` eligible shards of the best priority present, drawn
 * from a generator seeded per coordinator (random.ts). Fair share is not
 * touched (the project is chosen before this), nor priorities (only shards
 * of the top priority among the eligible are drawn from), and oldest-job-
 * first holds up to the window.
 */

/** How many of the head's eligible shards the pick draws from. */
export const PICK_WINDOW = 16;

export interface Pickable {
  id: string;
  priority: number;
  /**
   * The shard's job keeps queue order: training. A round's shards are
   * interchangeable micro-batches whose gradients are aggregated robustly
   * under a per-volunteer round cap, and handing them out in index order
   * lets two volunteers be given one batch on purpose (the browser
   * gradient-agreement tests rely on it). Inference shards are drawn.
   */
  ordered?: boolean;
}

/**
 * The order in which to try the eligible shards (given in queue order):
 * the first `window` of the top priority shuffled by `random` (uniform in
 * [0, 1)), then the rest in queue order. Tests that need one order fix it
 * by construction (one eligible shard, or window 1).
 */
export function pickOrder<T extends Pickable>(eligible: readonly T[], random: () => number, window = PICK_WINDOW): T[] {
  if (eligible.length <= 1 || window <= 1 || eligible[0]!.ordered) return [...eligible];
  const top = Math.max(...eligible.map((e) => e.priority));
  const head: T[] = [];
  const rest: T[] = [];
  for (const e of eligible) (e.priority === top && !e.ordered && head.length < window ? head : rest).push(e);
  // Fisher-Yates.
  for (let i = head.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [head[i], head[j]] = [head[j]!, head[i]!];
  }
  return [...head, ...rest];
}
