/**
 * Volunteers keep the weights of local-steps jobs they trained (a tab in
 * IndexedDB, so a reload takes the next round as a delta; client/lib/held-weights.ts).
 * When such a job ends, they are of no more use: this tells the connections
 * that may keep them. A connection may keep a job's weights when it was given
 * a copy of it, or named it in `jobs:held` (which every volunteer says after
 * its hello; a job that already ended is named in that reply, and so is one of
 * a project the connection does not compute for, as if it were unknown). Once a second,
 * the jobs of the projects whose jobs changed here, or on another coordinator
 * sharing the database (its project news), are looked up, and the
 * connections keeping one that ended hear `jobs:ended`.
 */
import type { JobState } from '../../shared/protocol/events.ts';
import type { GatewayContext } from './context.ts';
import { everyTick } from './context.ts';

export const HELD_JOBS_TICK_MS = 1000;

/** Whether a job's weights are of no more use: it ended, or this coordinator's database does not know it. */
export const weightsSpent = (job: { state: JobState } | null): boolean => job === null || job.state !== 'running';

/** Which connections may keep which jobs' weights. Bookkeeping only: who to tell is read from it. */
export class HeldJobs {
  private jobs = new Map<string, { projectId: string; sockets: Set<string> }>();
  private bySocket = new Map<string, Set<string>>();

  /** This connection may keep the job's weights from now on. */
  hold(socketId: string, jobId: string, projectId: string): void {
    let j = this.jobs.get(jobId);
    if (!j) { j = { projectId, sockets: new Set() }; this.jobs.set(jobId, j); }
    j.sockets.add(socketId);
    let s = this.bySocket.get(socketId);
    if (!s) { s = new Set(); this.bySocket.set(socketId, s); }
    s.add(jobId);
  }

  /** The connection closed: nothing to tell it any more. */
  left(socketId: string): void {
    for (const jobId of this.bySocket.get(socketId) ?? []) {
      const j = this.jobs.get(jobId);
      j?.sockets.delete(socketId);
      if (j && j.sockets.size === 0) this.jobs.delete(jobId);
    }
    this.bySocket.delete(socketId);
  }

  /** The jobs some connection keeps, of these projects. */
  ofProjects(projects: ReadonlySet<string>): string[] {
    return [...this.jobs].filter(([, j]) => projects.has(j.projectId)).map(([id]) => id);
  }

  /** The job ended: the connections keeping it, which are forgotten with it. */
  ended(jobId: string): string[] {
    const j = this.jobs.get(jobId);
    if (!j) return [];
    this.jobs.delete(jobId);
    for (const socketId of j.sockets) {
      const s = this.bySocket.get(socketId);
      s?.delete(jobId);
      if (s && s.size === 0) this.bySocket.delete(socketId);
    }
    return [...j.sockets];
  }

  /** Jobs followed and connections following (for tests and metrics). */
  get size(): { jobs: number; sockets: number } {
    return { jobs: this.jobs.size, sockets: this.bySocket.size };
  }
}

export interface HeldJobsWatch {
  /** A job of this project changed (here or, told by a peer, elsewhere). */
  projectChanged(projectId: string): void;
}

/** Follows job changes and tells the connections keeping an ended job's weights (c.held). */
export function followHeldJobs(c: GatewayContext): HeldJobsWatch {
  const { held } = c;
  const dirty = new Set<string>();
  c.events.on('job', (_jobId, projectId) => { dirty.add(projectId); });
  everyTick(c, HELD_JOBS_TICK_MS, 'telling volunteers of ended jobs', async () => {
    if (dirty.size === 0) return;
    const projects = new Set(dirty);
    dirty.clear();
    for (const jobId of held.ofProjects(projects)) {
      if (!weightsSpent(await c.job(jobId))) continue;
      for (const socketId of held.ended(jobId)) c.io.sockets.sockets.get(socketId)?.emit('jobs:ended', { jobIds: [jobId] });
    }
  });
  return { projectChanged: (projectId) => { dirty.add(projectId); } };
}
