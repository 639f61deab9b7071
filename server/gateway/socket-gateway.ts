/**
 * The socket.io gateway: a thin, typed shell around the work service. Every
 * event is validated at the edge; refusals carry a code and a precise message
 * and are logged; nothing a volunteer sends can throw past this layer.
 *
 * This file only wires the parts together:
 *   handshake.ts          admission of a socket (protocol, volunteer secret, address)
 *   acked.ts              one acknowledged event: validate, need hello, always answer; unknown events
 *   volunteer-handlers.ts hello and the work:* events, disconnect
 *   dashboard-handlers.ts watch / unwatch
 *   balance-news.ts       outcomes and balances to volunteers and account dashboards (500 ms tick)
 *   dashboard-ticker.ts   project and swarm dashboards, volunteers metric (1 s tick)
 *   work-nudge.ts         one nudge per tick when work appears
 *   peer-news.ts          what other coordinators on the same database tell (cluster.ts)
 *   upload-guard.ts       bytes uploaded and not yet answered, per connection and in all, against the budget;
 *                         a connection's allowance follows the copies its volunteer holds (volunteer-handlers.ts)
 *   held-jobs.ts          which connections keep which local-steps jobs' weights; `jobs:ended` when one ends
 */
import { ackedOn, refuseUnknownEvents } from './acked.ts';
import { startBalanceNews } from './balance-news.ts';
import { PeerRelay } from './cluster.ts';
import type { GatewayContext, GatewayDeps, TabgridSocket } from './context.ts';
import { dashboardHandlers } from './dashboard-handlers.ts';
import { startDashboardTicker } from './dashboard-ticker.ts';
import { admitConnections } from './handshake.ts';
import { NewsDesk } from './news.ts';
import { hearPeers } from './peer-news.ts';
import { followEndedCopies, volunteerHandlers } from './volunteer-handlers.ts';
import { UploadGuard } from './upload-guard.ts';
import { followHeldJobs, HeldJobs } from './held-jobs.ts';
import { nudgeOnWork } from './work-nudge.ts';

export type { GatewayDeps, SocketData, TabgridServer } from './context.ts';

export function attachGateway(d: GatewayDeps): void {
  const { io } = d;
  const c: GatewayContext = {
    ...d,
    desk: new NewsDesk(),
    peers: d.clustered ? new PeerRelay((news) => io.serverSideEmit('tabgrid:news', news)) : null,
    uploads: new UploadGuard(io, {
      globalBytes: d.config.uploadBudgetBytes, smallBytes: d.config.unhelloedUploadBytes,
    }, d.metrics, d.log),
    held: new HeldJobs(),
  };

  admitConnections(c);
  io.on('connection', (socket: TabgridSocket) => {
    const on = ackedOn(c, socket);
    volunteerHandlers(c, socket, on);
    dashboardHandlers(c, socket, on);
    refuseUnknownEvents(c, socket);
    // socket.io reports a packet it cannot decode (a malformed one, or more binary attachments than
    // shared/protocol/wire-parser.ts allows) here, then closes the connection ("forced close"): say why.
    socket.on('error', (err: Error) => {
      c.log.warn({ volunteer: socket.data.session?.volunteer.id, address: socket.data.address, error: err.message }, 'undecodable message; connection dropped');
    });
  });

  const balances = startBalanceNews(c);
  const dashboards = startDashboardTicker(c);
  nudgeOnWork(c);
  followEndedCopies(c);
  const heldJobs = followHeldJobs(c);
  if (c.peers) hearPeers(c, balances, dashboards, heldJobs);
}
