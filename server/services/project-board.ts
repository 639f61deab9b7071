/**
 * A project's public page: its progress, the compute validated for it and
 * its contributors by validated credit, summed from the ledger by the store
 * (reversals taken off). Public by design, like the swarm: no job ids, inputs
 * or results, only counts and accounts.
 */
import type { ProjectBoard } from '../../shared/http/replies.ts';
import type { Project, ProjectBoardCounts, Store } from '../store/types.ts';

export const LEADERBOARD_SIZE = 50;

/** The board from the store's counts and each job's FLOPs per record (pure). */
export function boardOf(project: Project, counts: ProjectBoardCounts, flopsPerRecord: ReadonlyMap<string, number>, at: number): ProjectBoard {
  let total = 0;
  let validated = 0;
  let validatedFlops = 0;
  for (const s of counts.shards) {
    total += s.total;
    validated += s.validated;
    validatedFlops += s.validatedRecords * (flopsPerRecord.get(s.jobId) ?? 0);
  }
  return {
    project: { id: project.id, name: project.name, description: (project as Project & { description?: string | null }).description ?? null },
    jobs: counts.jobs,
    shards: { total, validated },
    validatedFlops,
    credit: counts.credit,
    leaderboard: counts.leaderboard.map((r, i) => ({ rank: i + 1, ...r })),
    at,
  };
}

export class ProjectBoards {
  constructor(private readonly store: Store) {}

  /** A project by id, else by name (the oldest of that name). */
  async find(ref: string): Promise<Project | null> {
    return (await this.store.getProject(ref)) ?? (await this.store.listProjects()).find((p) => p.name === ref) ?? null;
  }

  async board(project: Project, now = Date.now()): Promise<ProjectBoard> {
    const counts = await this.store.projectBoard(project.id, LEADERBOARD_SIZE);
    const withWork = new Set(counts.shards.filter((s) => s.validatedRecords > 0).map((s) => s.jobId));
    const flops = new Map<string, number>();
    if (withWork.size) {
      for (const j of await this.store.listJobs({ projectId: project.id, limit: 100_000 })) {
        if (withWork.has(j.id)) flops.set(j.id, j.spec.flopsPerRecord);
      }
    }
    return boardOf(project, counts, flops, now);
  }
}
