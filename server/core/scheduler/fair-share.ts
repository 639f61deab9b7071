/**
 * Fair share between projects (BOINC's resource share, Slurm's fair share):
 * the swarm's compute is divided among the projects that have work a
 * volunteer could take now, in proportion to their weights. A project is
 * charged, in GFLOP, its validated credit over a sliding window plus the
 * copies it has in flight or awaiting judgement (charged when issued, so a
 * burst of claims between two validations cannot all go to one project).
 * The next copy goes to the project furthest below its share: lowest charge
 * per unit of weight. A project without work is simply not offered, so its
 * share goes to the others at once; a project at its cap on copies in flight
 * waits until one comes back.
 *
 * Pure: the stores read the charges and caps, this decides the order.
 */
import { copyCredit } from '../credit/credit.ts';
import type { JobSpec, Shard } from '../jobs/types.ts';

/** How far back validated credit counts (the 10-minute window). */
export const FAIR_SHARE_WINDOW_MS = 10 * 60_000;

/** What one project has used, and may use, as the claim path sees it. */
export interface ProjectLoad {
  id: string;
  weight: number;
  /** GFLOP: validated credit in the window, plus copies in flight or returned and not yet judged. */
  charged: number;
  /** Copies issued and not yet returned, expired or failed. */
  inFlight: number;
  /** Most copies in flight at once; 0 = no cap. */
  maxInFlight: number;
}

/** The GFLOP one copy of a shard stands for: the credit it earns once valid. */
export function shardGflops(spec: Pick<JobSpec, 'creditPerRecord'>, shard: Pick<Shard, 'start' | 'end'>): number {
  return copyCredit(spec.creditPerRecord, shard.end - shard.start);
}

/** Whether the project may have one more copy in flight. */
export function underCap(p: Pick<ProjectLoad, 'inFlight' | 'maxInFlight'>): boolean {
  return p.maxInFlight <= 0 || p.inFlight < p.maxInFlight;
}

/**
 * The order in which to offer projects' work to the next volunteer: the
 * projects with work (`withWork`) that are under their cap, furthest below
 * their share first. Ties go to the heavier project, then by id, so the
 * order is a function of its input alone. A project missing from `loads`
 * (no charge yet) counts as weight 1, nothing charged, no cap.
 */
export function fairShareOrder(loads: readonly ProjectLoad[], withWork: Iterable<string>): string[] {
  const byId = new Map(loads.map((l) => [l.id, l]));
  const candidates: ProjectLoad[] = [];
  for (const id of new Set(withWork)) {
    const l = byId.get(id) ?? { id, weight: 1, charged: 0, inFlight: 0, maxInFlight: 0 };
    if (underCap(l)) candidates.push(l);
  }
  const norm = (l: ProjectLoad) => l.charged / Math.max(l.weight, 1e-9);
  return candidates
    .sort((a, b) => norm(a) - norm(b) || b.weight - a.weight || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((l) => l.id);
}
