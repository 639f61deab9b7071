/**
 * Copy outcomes and balances reach volunteers as news (news.ts) and balances
 * reach the dashboards watching an account. A busy account is credited many
 * times a second: its balance is read at most once per tick (500 ms), then
 * told to the dashboards watching it and, as news, to its volunteers. The
 * same tick pushes news that has waited too long for a reply, and flushes
 * what other coordinators must hear (cluster.ts).
 */
import type { GatewayContext, TabgridSocket } from './context.ts';
import { connectedHere, everyTick } from './context.ts';

export const BALANCE_TICK_MS = 500;

export interface BalanceNews {
  /** An account was credited (here or, told by a peer, elsewhere): its balance is told on the next tick. */
  credited(account: string): void;
}

export function startBalanceNews(c: GatewayContext): BalanceNews {
  const { io, work, metrics, desk, peers } = c;
  const credited = new Set<string>();

  c.events.on('outcome', (volunteerId, o) => {
    metrics.judged.inc({ outcome: o.outcome });
    if (o.outcome === 'valid') metrics.credit.inc(o.credit);
    if (peers && !connectedHere(io, volunteerId)) peers.outcome(volunteerId, o);
    else desk.outcome(volunteerId, o, Date.now());
  });
  c.events.on('credited', (account) => {
    credited.add(account);
    peers?.credit(account);
  });

  everyTick(c, BALANCE_TICK_MS, 'telling volunteers their news', async () => {
    peers?.flush(c.swarm.share(), c.work.trustedClassesHere());
    if (credited.size) {
      const accounts = new Set(credited);
      credited.clear();
      const volunteersOf = new Map<string, Set<string>>();
      for (const s of io.sockets.sockets.values()) {
        const v = (s as TabgridSocket).data.session?.volunteer;
        if (v && accounts.has(v.account)) {
          let set = volunteersOf.get(v.account);
          if (!set) volunteersOf.set(v.account, (set = new Set()));
          set.add(v.id);
        }
      }
      for (const account of accounts) {
        const watched = !!io.sockets.adapter.rooms.get(`account:${account}`)?.size;
        const ids = volunteersOf.get(account);
        if (!watched && !ids) continue;
        const b = await work.balanceOf(account);
        if (watched) io.local.to(`account:${account}`).emit('credit:balance', b);
        for (const id of ids ?? []) desk.balance(id, b, Date.now());
      }
    }
    for (const [id, n] of desk.due(Date.now())) io.local.to(`volunteer:${id}`).emit('news', n);
  });

  return { credited: (account) => { credited.add(account); } };
}
