/**
 * Coordinators sharing one PostgreSQL database hear each other through
 * socket.io's PostgreSQL adapter (LISTEN/NOTIFY, payloads over NOTIFY's
 * 8000-byte limit in the `socket_io_attachments` table the store's
 * migrations create). Through it a volunteer connected here hears the outcome
 * of a copy another coordinator judged, its balance after credit another
 * coordinator granted, and of work another coordinator's API created; a
 * dashboard here sees another coordinator's progress on its project; and
 * adaptive replication here counts the trusted hosts connected there.
 *
 * What crosses is small and batched (see PeerNews), twice a second from
 * each coordinator: state lives in the
 * database, so a coordinator only needs to know *that* something changed and
 * for whom, and reads the rest as it would for its own events.
 */
import { createAdapter } from '@socket.io/postgres-adapter';
import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import * as v from 'valibot';
import type { CopyOutcome, CopyOutcomeKind } from '../../shared/protocol/events.ts';
import type { Server } from 'socket.io';
import type { SwarmShare } from '../services/swarm-monitor.ts';

/** What one coordinator tells the others, once per gateway tick. */
export interface PeerNews {
  /** The sender, a random id per coordinator process. */
  from: string;
  /** Its own volunteers and validations: the swarm dashboards show the sum. */
  swarm: SwarmShare;
  /** Outcomes for volunteers not connected to the coordinator that judged them. */
  outcomes: [volunteerId: string, outcome: CopyOutcome][];
  /** Accounts credited since the last tick (their balances are read from the database). */
  credited: string[];
  /** Projects whose jobs changed (their dashboards re-read the summaries). */
  projects: string[];
  /**
   * Numeric classes of the trusted hosts connected to the sender now: a trusted host on any coordinator counts
   * for every coordinator's adaptive replication (services/work-service.ts trustedClasses).
   */
  trusted: string[];
}

export interface PeerEvents {
  'tabgrid:news': (news: PeerNews) => void;
}

const Id = v.pipe(v.string(), v.maxLength(200));
/** Peers are our own coordinators, but a message that crossed a database is still checked before it is believed. */
const Count = v.pipe(v.number(), v.finite(), v.minValue(0));
export const PeerNewsSchema = v.object({
  from: Id,
  swarm: v.object({ volunteers: v.record(v.pipe(v.string(), v.maxLength(40)), Count), shardsPerMin: Count, flopsPerMin: Count }),
  outcomes: v.array(v.tuple([Id, v.object({
    copyId: Id, jobId: Id,
    outcome: v.picklist(['valid', 'invalid', 'expired', 'error', 'cancelled'] as const satisfies readonly CopyOutcomeKind[]),
    reason: v.optional(v.string()),
    credit: v.number(),
  })])),
  credited: v.array(Id),
  projects: v.array(Id),
  // A coordinator of an older version sends none: it tells of no trusted host.
  trusted: v.optional(v.array(Id), []),
});

export interface ClusterLink {
  /** The NOTIFY channel prefix: one per database and schema. */
  channelPrefix: string;
  close(): Promise<void>;
}

/** Installs the adapter on `io`; call before any socket connects. */
export async function joinCluster(io: Server, url: string, log: Logger): Promise<ClusterLink> {
  // A pool of its own: the adapter holds one connection for LISTEN, and the store's pool stays the store's.
  const pool = new pg.Pool({ connectionString: url, max: 3, application_name: 'tabgrid-cluster' });
  pool.on('error', (err) => log.warn({ err }, 'a cluster connection to PostgreSQL failed; the adapter reconnects'));
  try {
    const { rows } = await pool.query<{ db: string; schema: string }>('SELECT current_database() AS db, current_schema() AS schema');
    // Channels are per database, not per schema: deployments (or test runs) in different schemas of one
    // database must not hear each other. A hash keeps the name under PostgreSQL's 63-byte identifier limit.
    const scope = createHash('sha256').update(`${rows[0]!.db}\0${rows[0]!.schema}`).digest('hex').slice(0, 16);
    const channelPrefix = `tabgrid:${scope}`;
    io.adapter(createAdapter(pool, {
      channelPrefix,
      errorHandler: (err) => log.warn({ err }, 'a message between coordinators failed'),
    }));
    log.info({ channelPrefix, schema: rows[0]!.schema }, 'joined the coordinators sharing this database');
    return { channelPrefix, close: () => pool.end() };
  } catch (e) {
    await pool.end().catch(() => {});
    throw e;
  }
}

/** What this coordinator will tell the others at the next tick, gathered as it happens. */
export class PeerRelay {
  /** This process among the coordinators sharing the database. */
  readonly from = randomUUID();
  private outcomes: PeerNews['outcomes'] = [];
  private credited = new Set<string>();
  private projects = new Set<string>();

  constructor(private readonly emit: (news: PeerNews) => void) {}

  outcome(volunteerId: string, o: CopyOutcome): void { this.outcomes.push([volunteerId, o]); }
  credit(account: string): void { this.credited.add(account); }
  project(projectId: string): void { this.projects.add(projectId); }

  /** Sends everything gathered since the last flush, with this coordinator's swarm share and trusted classes. */
  flush(swarm: SwarmShare, trusted: string[] = []): void {
    const news: PeerNews = { from: this.from, swarm, outcomes: this.outcomes, credited: [...this.credited], projects: [...this.projects], trusted };
    this.outcomes = [];
    this.credited = new Set();
    this.projects = new Set();
    this.emit(news);
  }
}
