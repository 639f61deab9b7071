/**
 * A volunteer's events: hello, then asking for work, acknowledging, heartbeats,
 * results, releases and failures, each a call into the work service, and the
 * jobs whose weights it keeps (held-jobs.ts). Replies
 * carry the volunteer's waiting news (news.ts). A disconnect starts the work
 * service's grace period for the volunteer's copies, unless this coordinator
 * is shutting down.
 *
 * Whenever what the volunteer holds may have changed (hello, an assignment, a
 * result, a release, a failure), its connection's upload allowance is set
 * again before the reply goes out (upload-guard.ts): a client only ever sends
 * a result after the reply that gave it the copy.
 */
import {
  CopyRefSchema, EmptySchema, FailSchema, HeartbeatSchema, HeldJobsSchema, HelloRequestSchema, JoinSchema, LeaveSchema, ResultUploadSchema,
} from '../../shared/protocol/schemas.ts';
import type { WorkReply } from '../../shared/protocol/events.ts';
import { weightsSpent } from './held-jobs.ts';
import { type VolunteerSession, WorkError } from '../services/work-service.ts';
import type { Acked } from './acked.ts';
import type { GatewayContext, TabgridSocket } from './context.ts';

export function volunteerHandlers(c: GatewayContext, socket: TabgridSocket, on: Acked): void {
  const { work, metrics, desk } = c;
  /** What waits for this volunteer, for the reply being sent to carry. */
  const news = (s: VolunteerSession) => {
    const n = desk.take(s.volunteer.id);
    return n ? { news: n } : {};
  };

  /** Sets the connection's upload allowance from what the volunteer holds now. */
  const holdings = (s: VolunteerSession) => c.uploads.hold(socket.conn, () => work.uploadAllowances(s));

  on('hello', HelloRequestSchema, false, async (req) => {
    const { session, reply } = await work.hello(socket.data.session?.volunteer ?? socket.data.existing, socket.data.address, req);
    socket.data.session = session;
    socket.data.backend = req.backend;
    // A reconnecting volunteer may still hold copies (and resend their results); a new one holds none.
    const allowed = await holdings(session);
    socket.join([`volunteer:${session.volunteer.id}`, 'volunteers']);
    c.swarm.joined(socket.id, req.backend, { volunteer: session.volunteer, projectId: session.projectId ?? null });
    // The balance so far, with the first reply (or pushed if none comes).
    const { account } = session.volunteer;
    desk.balance(session.volunteer.id, await work.balanceOf(account), Date.now());
    return { ...reply, limits: { ...reply.limits, uploadBytes: allowed.messageBytes } };
  });

  /** A local-steps copy's weights are kept by the volunteer: it is told when their job ends (held-jobs.ts). */
  const keepsWeights = (r: WorkReply) => {
    if (r.assignment?.weights) c.held.hold(socket.id, r.assignment.jobId, r.assignment.projectId);
  };

  on('work:request', EmptySchema, true, async (_req, s) => {
    const r = await work.requestWork(s!);
    if (r.assignment) {
      metrics.assigned.inc();
      keepsWeights(r);
      await holdings(s!);
    }
    return { ...r, ...news(s!) };
  });

  on('work:ack', CopyRefSchema, true, async (req, s) => ({ leaseDeadline: await work.ack(s!, req.copyId) }));

  on('work:heartbeat', HeartbeatSchema, true, async (req, s) => work.heartbeat(s!, req.copyIds));

  on('work:result', ResultUploadSchema, true, async (req, s) => {
    const bytes = req.outputs.reduce((n, o) => n + o.data.byteLength, 0);
    if (bytes > c.config.maxResultBytes) {
      throw new WorkError('bad_result', `result of ${bytes} bytes exceeds this coordinator's limit of ${c.config.maxResultBytes} bytes`);
    }
    try {
      const end = metrics.resultLatency.startTimer();
      const status = await work.submitResult(s!, req.copyId, req.outputs, req.computeMs);
      end();
      metrics.results.inc({ status });
      if (!req.next) return { status, ...news(s!) };
      const next = await work.requestWork(s!);
      if (next.assignment) {
        metrics.assigned.inc();
        keepsWeights(next);
      }
      return { status, next, ...news(s!) };
    } finally {
      await holdings(s!);
    }
  });

  on('work:release', CopyRefSchema, true, async (req, s) => {
    try {
      await work.release(s!, req.copyId);
    } finally {
      await holdings(s!);
    }
    return {};
  });

  on('work:fail', FailSchema, true, async (req, s) => {
    try {
      await work.fail(s!, req.copyId, req.error);
    } finally {
      await holdings(s!);
    }
    return {};
  });

  // Private swarms (issue 15): the volunteer's groups, by its identity (it keeps them across reconnects).
  on('group:join', JoinSchema, true, async (req, s) => {
    const r = await c.groups.join(s!.volunteer.id, req.code);
    return { ...r, served: await c.groups.servedBy(s!.volunteer.id) };
  });

  on('group:leave', LeaveSchema, true, async (req, s) => {
    const r = await c.groups.leave(s!.volunteer.id, req.projectId);
    return { ...r, served: await c.groups.servedBy(s!.volunteer.id) };
  });

  on('group:list', EmptySchema, true, async (_req, s) => c.groups.servedBy(s!.volunteer.id));

  // The jobs whose weights the volunteer keeps: those that ended are named now, the others when they end.
  on('jobs:held', HeldJobsSchema, true, async (req, s) => {
    const jobIds = [...new Set(req.jobIds)];
    const jobs = await Promise.all(jobIds.map((id) => c.job(id)));
    const served = await work.servedAmong(s!, jobs.flatMap((j) => (j ? [j.projectId] : [])));
    const ended: string[] = [];
    jobIds.forEach((jobId, i) => {
      const job = jobs[i] ?? null;
      // A job of a project this connection does not compute for (a private one whose group it is not in, another
      // than its embed's) reads as an id never made, and is not followed: whether it exists and when it ends stay hidden.
      if (weightsSpent(job) || !served.has(job!.projectId)) ended.push(jobId);
      else c.held.hold(socket.id, jobId, job!.projectId);
    });
    return { ended };
  });

  socket.on('disconnect', (reason) => {
    c.swarm.left(socket.id);
    c.held.left(socket.id);
    const s = socket.data.session;
    if (!s) return;
    work.left(s);
    c.log.info({ volunteer: s.volunteer.id, reason }, 'volunteer disconnected');
    // This coordinator is shutting down (a restart, a deploy): the volunteer has not left. It reconnects (here
    // after the restart, or to another coordinator on the same database) holding its copies, whose leases stand.
    if (reason === 'server shutting down') return;
    void work.disconnected(s, c.config.disconnectGraceMs).catch((e) => c.log.error({ err: e }, 'disconnect handling failed'));
  });
}

/**
 * A copy that expired (or was reissued past its lease's ceiling, or cancelled
 * with its job) is no longer held: its volunteer's connections here go back to
 * what it still holds at once, not at their next event.
 */
export function followEndedCopies(c: GatewayContext): void {
  c.events.on('outcome', (volunteerId, o) => {
    if (o.outcome !== 'expired' && o.outcome !== 'error' && o.outcome !== 'cancelled') return;
    const room = c.io.sockets.adapter.rooms.get(`volunteer:${volunteerId}`);
    for (const id of room ?? []) {
      const socket = c.io.sockets.sockets.get(id);
      const s = socket?.data.session;
      if (!socket || !s) continue;
      c.uploads.hold(socket.conn, () => c.work.uploadAllowances(s))
        .catch((e) => c.log.error({ err: e, volunteer: volunteerId }, 'could not set the upload allowance'));
    }
  });
}
