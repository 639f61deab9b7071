/**
 * Once a second: the project dashboards and public project pages whose jobs
 * changed get their summaries and boards (only when someone watches: both
 * count over whole jobs),
 * the swarm dashboards get the swarm's stats, and the volunteers metric is
 * set from this coordinator's own volunteers (a scraper sums the instances;
 * a backend whose last volunteer left reads 0, not its last count).
 */
import type { SwarmStats } from '../../shared/protocol/events.ts';
import type { GatewayContext } from './context.ts';
import { everyTick } from './context.ts';

export const DASHBOARD_TICK_MS = 1000;

export interface DashboardTicker {
  /** A job of this project changed (here or, told by a peer, elsewhere). */
  projectChanged(projectId: string): void;
}

export function startDashboardTicker(c: GatewayContext): DashboardTicker {
  const { io, metrics } = c;
  const dirtyProjects = new Set<string>();
  const backendsSeen = new Set<string>();

  c.events.on('job', (_jobId, projectId) => {
    dirtyProjects.add(projectId);
    c.peers?.project(projectId);
  });

  everyTick(c, DASHBOARD_TICK_MS, 'dashboard update', async () => {
    for (const p of dirtyProjects) {
      dirtyProjects.delete(p);
      if (io.sockets.adapter.rooms.get(`project:${p}`)?.size) {
        io.local.to(`project:${p}`).emit('project:update', { projectId: p, jobs: await c.projectSummaries(p) });
      }
      if (io.sockets.adapter.rooms.get(`board:${p}`)?.size) {
        const board = await c.projectBoard(p);
        if (board) io.local.to(`board:${p}`).emit('project:board', board);
      }
    }
    const stats: SwarmStats = await c.swarm.stats();
    io.local.to('swarm').emit('swarm:stats', stats);
    const mine = c.swarm.share().volunteers;
    for (const b of Object.keys(mine)) backendsSeen.add(b);
    for (const backend of backendsSeen) metrics.volunteers.set({ backend }, mine[backend] ?? 0);
  });

  return { projectChanged: (projectId) => { dirtyProjects.add(projectId); } };
}
