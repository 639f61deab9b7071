/**
 * News from the other coordinators sharing the database (cluster.ts), handled
 * as if it had happened here: their swarm share, outcomes for volunteers
 * connected here, credited accounts and changed projects (their dashboards,
 * and volunteers keeping an ended job's weights). Malformed news is
 * logged and ignored.
 */
import * as v from 'valibot';
import { PeerNewsSchema } from './cluster.ts';
import type { BalanceNews } from './balance-news.ts';
import type { GatewayContext } from './context.ts';
import { connectedHere } from './context.ts';
import type { DashboardTicker } from './dashboard-ticker.ts';
import type { HeldJobsWatch } from './held-jobs.ts';

export function hearPeers(c: GatewayContext, balances: BalanceNews, dashboards: DashboardTicker, heldJobs: HeldJobsWatch): void {
  c.io.on('tabgrid:news', (raw) => {
    const r = v.safeParse(PeerNewsSchema, raw);
    if (!r.success) { c.log.warn({ issue: r.issues[0]?.message }, 'malformed news from another coordinator ignored'); return; }
    const now = Date.now();
    c.swarm.heard(r.output.from, r.output.swarm, now);
    c.work.heardTrusted(r.output.from, r.output.trusted, now);
    for (const [volunteerId, o] of r.output.outcomes) if (connectedHere(c.io, volunteerId)) c.desk.outcome(volunteerId, o, now);
    for (const account of r.output.credited) balances.credited(account);
    for (const p of r.output.projects) {
      dashboards.projectChanged(p);
      heldJobs.projectChanged(p);
    }
  });
}
