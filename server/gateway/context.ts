/**
 * What the gateway's modules share: the coordinator's services (GatewayDeps),
 * the typed socket.io server and socket, and the two pieces of per-process
 * state that more than one module touches: each volunteer's waiting news
 * (NewsDesk) and, when coordinators share a database, the relay to the others.
 */
import type { Logger } from 'pino';
import type { Server, Socket } from 'socket.io';
import type { ClientToServerEvents, JobState, JobSummary, ServerToClientEvents } from '../../shared/protocol/events.ts';
import type { ProjectBoard } from '../../shared/http/replies.ts';
import type { CoordinatorConfig } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import type { Volunteer } from '../store/types.ts';
import type { CoordinatorEvents } from '../services/events.ts';
import type { SwarmMonitor } from '../services/swarm-monitor.ts';
import type { VolunteerSession, WorkService } from '../services/work-service.ts';
import type { GroupService } from '../services/group-service.ts';
import type { PeerEvents, PeerRelay } from './cluster.ts';
import type { NewsDesk } from './news.ts';
import type { UploadGuard } from './upload-guard.ts';
import type { HeldJobs } from './held-jobs.ts';

export type TabgridServer = Server<ClientToServerEvents, ServerToClientEvents, PeerEvents, SocketData>;
export type TabgridSocket = Socket<ClientToServerEvents, ServerToClientEvents, PeerEvents, SocketData>;

export interface SocketData {
  existing: Volunteer | null;
  session: VolunteerSession | null;
  address: string;
  backend: string | null;
}

export interface GatewayDeps {
  io: TabgridServer;
  work: WorkService;
  /** Private projects' groups: join, leave, which projects a volunteer serves. */
  groups: GroupService;
  events: CoordinatorEvents;
  swarm: SwarmMonitor;
  config: CoordinatorConfig;
  metrics: Metrics;
  log: Logger;
  projectSummaries(projectId: string): Promise<JobSummary[]>;
  /** A project's public page (null: no such project). */
  projectBoard(projectId: string): Promise<ProjectBoard | null>;
  projectForToken(token: string): Promise<{ id: string } | null>;
  /** A job's project and state (null: no such job), for telling volunteers which jobs ended (held-jobs.ts). */
  job(jobId: string): Promise<{ projectId: string; state: JobState } | null>;
  /**
   * Other coordinators share the database and this server's adapter reaches
   * them (cluster.ts): what happens here that concerns their volunteers and
   * dashboards is told to them, and what they tell is handled as if it had
   * happened here. Everything this gateway emits per tick is then emitted to
   * its own sockets only (io.local), since every coordinator does the same.
   */
  clustered?: boolean;
}

export interface GatewayContext extends GatewayDeps {
  desk: NewsDesk;
  /** Null unless clustered. */
  peers: PeerRelay | null;
  /** Bytes of uploads in flight per connection and in all, against the budget. */
  uploads: UploadGuard;
  /** Which connections may keep which local-steps jobs' weights (held-jobs.ts). */
  held: HeldJobs;
}

/** Whether a volunteer has a socket on this coordinator (its news is then told here, not relayed). */
export const connectedHere = (io: TabgridServer, volunteerId: string): boolean =>
  !!io.sockets.adapter.rooms.get(`volunteer:${volunteerId}`)?.size;

/** Runs `tick` every `ms` (not keeping the process alive) until the server closes; a failed tick is logged, not fatal. */
export function everyTick(c: GatewayContext, ms: number, what: string, tick: () => Promise<void>): void {
  const timer = setInterval(async () => {
    try {
      await tick();
    } catch (e) {
      c.log.error({ err: e }, `${what} failed`);
    }
  }, ms);
  timer.unref();
  c.io.engine.on('close', () => clearInterval(timer));
}
