/**
 * The socket.io gateway: a thin, typed shell around the work service. Every
 * event is validated at the edge; refusals carry a code and a precise message
 * and are logged; nothing a volunteer sends can throw past this layer.
 */
import type { Logger } from 'pino';
import type { Server, Socket } from 'socket.io';
import * as v from 'valibot';
import type {
  ClientToServerEvents, ErrorCode, JobSummary, Reply, ServerToClientEvents, SwarmStats,
} from '../../shared/protocol/events.ts';
import {
  CopyRefSchema, EmptySchema, FailSchema, HandshakeAuthSchema, HeartbeatSchema, HelloRequestSchema,
  ResultUploadSchema, UnwatchSchema, validate, ValidationError, WatchSchema,
} from '../../shared/protocol/schemas.ts';
import { PROTOCOL_VERSION } from '../../shared/protocol/version.ts';
import type { CoordinatorConfig } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import type { Volunteer } from '../store/types.ts';
import type { CoordinatorEvents } from '../services/events.ts';
import { JobError } from '../services/job-service.ts';
import type { SwarmMonitor } from '../services/swarm-monitor.ts';
import { type VolunteerSession, WorkError, type WorkService } from '../services/work-service.ts';
import { type PeerEvents, PeerNewsSchema, PeerRelay } from './cluster.ts';
import { NewsDesk } from './news.ts';

export type TabgridServer = Server<ClientToServerEvents, ServerToClientEvents, PeerEvents, SocketData>;
type TabgridSocket = Socket<ClientToServerEvents, ServerToClientEvents, PeerEvents, SocketData>;

export interface SocketData {
  existing: Volunteer | null;
  session: VolunteerSession | null;
  address: string;
  backend: string | null;
}

function failure(e: unknown): { code: ErrorCode; error: string } {
  if (e instanceof ValidationError) return { code: 'bad_request', error: e.message };
  if (e instanceof WorkError || e instanceof JobError) return { code: e.code, error: e.message };
  return { code: 'internal', error: 'internal error; the coordinator logged it' };
}

export interface GatewayDeps {
  io: TabgridServer;
  work: WorkService;
  events: CoordinatorEvents;
  swarm: SwarmMonitor;
  config: CoordinatorConfig;
  metrics: Metrics;
  log: Logger;
  projectSummaries(projectId: string): Promise<JobSummary[]>;
  projectForToken(token: string): Promise<{ id: string } | null>;
  /**
   * Other coordinators share the database and this server's adapter reaches
   * them (cluster.ts): what happens here that concerns their volunteers and
   * dashboards is told to them, and what they tell is handled as if it had
   * happened here. Everything this gateway emits per tick is then emitted to
   * its own sockets only (io.local), since every coordinator does the same.
   */
  clustered?: boolean;
}

export function attachGateway(d: GatewayDeps): void {
  const { io, work, log, metrics } = d;
  const desk = new NewsDesk();
  /** What waits for this volunteer, for the reply being sent to carry. */
  const news = (s: VolunteerSession) => {
    const n = desk.take(s.volunteer.id);
    return n ? { news: n } : {};
  };

  io.use(async (socket, next) => {
    try {
      const auth = validate(HandshakeAuthSchema, socket.handshake.auth ?? {}, 'handshake');
      if (auth.protocol !== PROTOCOL_VERSION) {
        throw new WorkError('bad_request', `unsupported protocol version ${auth.protocol}; this coordinator speaks version ${PROTOCOL_VERSION}`);
      }
      let existing: Volunteer | null = null;
      if (auth.volunteerId || auth.secret) {
        existing = auth.volunteerId && auth.secret ? await work.authenticate(auth.volunteerId, auth.secret) : null;
        if (!existing) throw new WorkError('unauthorized', 'unknown volunteer id or wrong secret');
      }
      const forwarded = d.config.trustProxy ? String(socket.handshake.headers['x-forwarded-for'] ?? '').split(',')[0]?.trim() : '';
      socket.data = { existing, session: null, address: forwarded || socket.handshake.address, backend: null };
      next();
    } catch (e) {
      const f = failure(e);
      metrics.refused.inc({ code: f.code });
      log.warn({ address: socket.handshake.address, reason: f.error }, 'refused a connection');
      next(Object.assign(new Error(f.error), { data: f }));
    }
  });

  io.on('connection', (socket: TabgridSocket) => {
    /** Wraps a handler: validate the payload, require hello where needed, always answer the ack. */
    const on = <S extends v.GenericSchema, R extends object>(
      event: keyof ClientToServerEvents, schema: S, needsHello: boolean,
      fn: (payload: v.InferOutput<S>, session: VolunteerSession | null) => Promise<R>,
    ) => {
      socket.on(event, (async (payload: unknown, ack: unknown) => {
        if (typeof ack !== 'function') {
          metrics.refused.inc({ code: 'bad_request' });
          log.warn({ socket: socket.id, event }, 'event without acknowledgement callback ignored');
          return;
        }
        const reply = ack as (r: Reply<R>) => void;
        try {
          const session = socket.data.session;
          if (needsHello && !session) throw new WorkError('bad_request', `say hello before ${event}`);
          const input = validate(schema, payload, `${event} payload`);
          reply({ ok: true, ...(await fn(input, session)) });
        } catch (e) {
          const f = failure(e);
          metrics.refused.inc({ code: f.code });
          if (f.code === 'internal') log.error({ err: e, event, socket: socket.id }, 'handler failed');
          else log.warn({ event, volunteer: socket.data.session?.volunteer.id, reason: f.error }, 'refused');
          reply({ ok: false, ...f });
        }
      }) as never);
    };

    on('hello', HelloRequestSchema, false, async (req) => {
      const { session, reply } = await work.hello(socket.data.session?.volunteer ?? socket.data.existing, socket.data.address, req);
      socket.data.session = session;
      socket.data.backend = req.backend;
      socket.join([`volunteer:${session.volunteer.id}`, 'volunteers']);
      d.swarm.joined(socket.id, req.backend, { volunteer: session.volunteer, projectId: session.projectId ?? null });
      // The balance so far, with the first reply (or pushed if none comes).
      const { account } = session.volunteer;
      desk.balance(session.volunteer.id, await work.balanceOf(account), Date.now());
      return reply;
    });

    on('work:request', EmptySchema, true, async (_req, s) => {
      const r = await work.requestWork(s!);
      if (r.assignment) metrics.assigned.inc();
      return { ...r, ...news(s!) };
    });

    on('work:ack', CopyRefSchema, true, async (req, s) => ({ leaseDeadline: await work.ack(s!, req.copyId) }));

    on('work:heartbeat', HeartbeatSchema, true, async (req, s) => work.heartbeat(s!, req.copyIds));

    on('work:result', ResultUploadSchema, true, async (req, s) => {
      const bytes = req.outputs.reduce((n, o) => n + o.data.byteLength, 0);
      if (bytes > d.config.maxResultBytes) {
        throw new WorkError('bad_result', `result of ${bytes} bytes exceeds this coordinator's limit of ${d.config.maxResultBytes} bytes`);
      }
      const end = metrics.resultLatency.startTimer();
      const status = await work.submitResult(s!, req.copyId, req.outputs, req.computeMs);
      end();
      metrics.results.inc({ status });
      if (!req.next) return { status, ...news(s!) };
      const next = await work.requestWork(s!);
      if (next.assignment) metrics.assigned.inc();
      return { status, next, ...news(s!) };
    });

    on('work:release', CopyRefSchema, true, async (req, s) => {
      await work.release(s!, req.copyId);
      return {};
    });

    on('work:fail', FailSchema, true, async (req, s) => {
      await work.fail(s!, req.copyId, req.error);
      return {};
    });

    on('watch', WatchSchema, false, async (req) => {
      if (req.topic.startsWith('project:')) {
        const project = req.token ? await d.projectForToken(req.token) : null;
        if (!project || `project:${project.id}` !== req.topic) throw new WorkError('unauthorized', 'watching a project needs that project\'s API token');
      }
      await socket.join(req.topic);
      if (req.topic === 'swarm') socket.emit('swarm:stats', await d.swarm.stats());
      if (req.topic.startsWith('project:')) {
        const projectId = req.topic.slice('project:'.length);
        socket.emit('project:update', { projectId, jobs: await d.projectSummaries(projectId) });
      }
      if (req.topic.startsWith('account:')) {
        const account = req.topic.slice('account:'.length);
        socket.emit('credit:balance', await work.balanceOf(account));
      }
      return {};
    });

    on('unwatch', UnwatchSchema, false, async (req) => {
      // Only dashboard topics: a volunteer's own rooms are the coordinator's to manage.
      if (req.topic === 'swarm' || req.topic.startsWith('project:') || req.topic.startsWith('account:')) {
        await socket.leave(req.topic);
      }
      return {};
    });

    socket.onAny((event: string, ...args: unknown[]) => {
      if (KNOWN.has(event)) return;
      metrics.refused.inc({ code: 'bad_request' });
      log.warn({ socket: socket.id, event }, 'unknown event refused');
      const ack = args[args.length - 1];
      if (typeof ack === 'function') ack({ ok: false, code: 'bad_request', error: `unknown event ${JSON.stringify(event)}` });
    });

    socket.on('disconnect', (reason) => {
      d.swarm.left(socket.id);
      const s = socket.data.session;
      if (!s) return;
      log.info({ volunteer: s.volunteer.id, reason }, 'volunteer disconnected');
      // This coordinator is shutting down (a restart, a deploy): the volunteer has not left. It reconnects (here
      // after the restart, or to another coordinator on the same database) holding its copies, whose leases stand.
      if (reason === 'server shutting down') return;
      void work.disconnected(s, d.config.disconnectGraceMs).catch((e) => log.error({ err: e }, 'disconnect handling failed'));
    });
  });

  const dirtyProjects = new Set<string>();
  const backendsSeen = new Set<string>();
  const connectedHere = (volunteerId: string) => !!io.sockets.adapter.rooms.get(`volunteer:${volunteerId}`)?.size;
  const peers = d.clustered ? new PeerRelay((news) => io.serverSideEmit('tabgrid:news', news)) : null;

  d.events.on('outcome', (volunteerId, o) => {
    metrics.judged.inc({ outcome: o.outcome });
    if (o.outcome === 'valid') metrics.credit.inc(o.credit);
    if (peers && !connectedHere(volunteerId)) peers.outcome(volunteerId, o);
    else desk.outcome(volunteerId, o, Date.now());
  });
  // A busy account is credited many times a second: its balance is read at most once per tick, then told
  // to the dashboards watching it and, as news, to its volunteers.
  const credited = new Set<string>();
  d.events.on('credited', (account) => {
    credited.add(account);
    peers?.credit(account);
  });

  if (peers) {
    io.on('tabgrid:news', (raw) => {
      const r = v.safeParse(PeerNewsSchema, raw);
      if (!r.success) { log.warn({ issue: r.issues[0]?.message }, 'malformed news from another coordinator ignored'); return; }
      const now = Date.now();
      d.swarm.heard(r.output.from, r.output.swarm, now);
      for (const [volunteerId, o] of r.output.outcomes) if (connectedHere(volunteerId)) desk.outcome(volunteerId, o, now);
      for (const account of r.output.credited) credited.add(account);
      for (const p of r.output.projects) dirtyProjects.add(p);
    });
  }
  const balances = setInterval(async () => {
    try {
      peers?.flush(d.swarm.share());
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
    } catch (e) {
      log.error({ err: e }, 'telling volunteers their news failed');
    }
  }, 500);
  balances.unref();
  io.engine.on('close', () => clearInterval(balances));

  // Nudges are coalesced: one broadcast per tick however many shards opened. Not io.local: only the
  // coordinator where the work appeared sends it, and through the adapter it reaches every coordinator's volunteers.
  let nudge: NodeJS.Timeout | null = null;
  d.events.on('work', () => {
    nudge ??= setTimeout(() => { nudge = null; io.to('volunteers').emit('work:nudge'); }, 0);
  });

  d.events.on('job', (_jobId, projectId) => {
    dirtyProjects.add(projectId);
    peers?.project(projectId);
  });
  const ticker = setInterval(async () => {
    try {
      for (const p of dirtyProjects) {
        dirtyProjects.delete(p);
        // Summaries count over whole jobs: only worth it when a dashboard watches.
        if (io.sockets.adapter.rooms.get(`project:${p}`)?.size) {
          io.local.to(`project:${p}`).emit('project:update', { projectId: p, jobs: await d.projectSummaries(p) });
        }
      }
      const stats: SwarmStats = await d.swarm.stats();
      io.local.to('swarm').emit('swarm:stats', stats);
      // Each coordinator's metrics count its own volunteers (a scraper sums the instances), and a backend
      // whose last volunteer left reads 0, not its last count.
      const mine = d.swarm.share().volunteers;
      for (const b of Object.keys(mine)) backendsSeen.add(b);
      for (const backend of backendsSeen) metrics.volunteers.set({ backend }, mine[backend] ?? 0);
    } catch (e) {
      log.error({ err: e }, 'dashboard update failed');
    }
  }, 1000);
  ticker.unref();
  io.engine.on('close', () => clearInterval(ticker));
}

const KNOWN = new Set(['hello', 'work:request', 'work:ack', 'work:heartbeat', 'work:result', 'work:fail', 'work:release', 'watch', 'unwatch']);
