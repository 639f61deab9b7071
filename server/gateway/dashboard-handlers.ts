/**
 * Dashboards watch topics: `swarm` (public), `account:<account>` (public),
 * `board:<project id>` (a project's public page) and `project:<id>` (needs
 * that project's API token). Each watch is answered at
 * once with the topic's current state; later updates come from the ticks
 * (dashboard-ticker.ts, balance-news.ts).
 */
import { UnwatchSchema, WatchSchema } from '../../shared/protocol/schemas.ts';
import { WorkError } from '../services/work-service.ts';
import type { Acked } from './acked.ts';
import type { GatewayContext, TabgridSocket } from './context.ts';

export function dashboardHandlers(c: GatewayContext, socket: TabgridSocket, on: Acked): void {
  on('watch', WatchSchema, false, async (req) => {
    if (req.topic.startsWith('project:')) {
      const project = req.token ? await c.projectForToken(req.token) : null;
      if (!project || `project:${project.id}` !== req.topic) throw new WorkError('unauthorized', 'watching a project needs that project\'s API token');
    }
    const board = req.topic.startsWith('board:') ? await c.projectBoard(req.topic.slice('board:'.length)) : undefined;
    if (board === null) throw new WorkError('bad_request', 'no such project');
    await socket.join(req.topic);
    if (board) socket.emit('project:board', board);
    if (req.topic === 'swarm') socket.emit('swarm:stats', await c.swarm.stats());
    if (req.topic.startsWith('project:')) {
      const projectId = req.topic.slice('project:'.length);
      socket.emit('project:update', { projectId, jobs: await c.projectSummaries(projectId) });
    }
    if (req.topic.startsWith('account:')) {
      const account = req.topic.slice('account:'.length);
      socket.emit('credit:balance', await c.work.balanceOf(account));
    }
    return {};
  });

  on('unwatch', UnwatchSchema, false, async (req) => {
    // Only dashboard topics: a volunteer's own rooms are the coordinator's to manage.
    if (req.topic === 'swarm' || req.topic.startsWith('project:') || req.topic.startsWith('board:') || req.topic.startsWith('account:')) {
      await socket.leave(req.topic);
    }
    return {};
  });
}
