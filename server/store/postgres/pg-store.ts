/**
 * The scale-out store: PostgreSQL through a pg.Pool, shared by several
 * coordinator processes. Each method is one statement or one transaction, so
 * it is atomic across coordinators, not only inside this process (the
 * in-process KeyedLock in WorkService does not reach the other processes).
 *
 * Locking discipline, so concurrent coordinators queue instead of
 * deadlocking: a transaction that locks several rows takes them in the order
 * job row, then shard rows (ascending id), then copy rows (ascending id).
 * Methods that touch one copy reach it through its shard: the shard is
 * locked first. The dispatcher's claim never waits on a row (SKIP LOCKED);
 * for a training round with a per-volunteer cap it waits only on an advisory
 * lock for (job, volunteer), whose holder waits on nothing, so no cycle forms.
 * Deadlocks and serialization failures that slip through anyway are retried.
 *
 * Row locks are FOR NO KEY UPDATE, the mode UPDATE itself takes: it
 * serialises writers exactly as FOR UPDATE does but leaves the KEY SHARE lock
 * that a foreign-key check takes (inserting a ledger row checks its copy)
 * unblocked.
 */
import { payableAt } from '../../core/credit/hold.ts';
import pg from 'pg';
import type { PoolClient, QueryResult } from 'pg';
import type { Job, Shard, TrainProgress } from '../../core/jobs/types.ts';
import { decideClaim, jobRefusals } from '../../core/scheduler/claim.ts';
import { PICK_WINDOW, type Pickable, pickOrder } from '../../core/scheduler/pick.ts';
import { type CopyIdentity, type DistinctRule, mayServeProject } from '../../core/scheduler/eligibility.ts';
import type { InviteRow } from '../../core/groups/membership.ts';
import { budgetRefunds, reopenedBudget } from '../../core/scheduler/transitions.ts';
import { expiryReason, heartbeatRefusal, leaseDeadline } from '../../core/scheduler/lease.ts';
import { newId } from '../ids.ts';
import { FAIR_SHARE_WINDOW_MS, fairShareOrder, type ProjectLoad, shardGflops } from '../../core/scheduler/fair-share.ts';
import { decideSpotCopy } from '../../core/trust/spot-check.ts';
import type { KeyedJob, SubmissionKey } from '../../core/jobs/submission.ts';
import { agreementVoid, COORDINATOR_HOST, decideReviewCopy, type Review } from '../../core/trust/review.ts';
import { activeProject, COPY_COLS, FAIR_SHARE_SQL, MEMBERSHIP_COLS, lateRefusal, REVIEW_SQL, SPOT_SQL, toAgreedResult, toAgreements, toReview, toVoucher, toInvite, toKnownAnswer, toOwnAnswer, type OwnAnswerRow, toMembership, toSoloResult, GRID_COUNT_SQL, gridCounts, projectPatch, type Row, shardOf, toCopy, toJob, toProject, toShard, toShardRow, toTokenInfo, toVolunteer } from '../rows.ts';
import {
  type ClaimRequest, type Claimed, DEFAULT_PROJECT_SETTINGS, type JobCounts, type LedgerEntry, type NewProject, type Project, type ProjectDeletion,
  type ProjectSettings, type Reopened, type Voided, type ResultWrite, type ReviewSettleWrite, type ReviewSettled, type ShardResults, type Store, type ValidationWrite, type Volunteer,
} from '../types.ts';
import type { ProjectBoardCounts } from '../types.ts';
import type { JobState } from '../../../shared/protocol/events.ts';
import type { CreditLedger, WalletClaimWrite } from '../credit-types.ts';
import * as credit from './credit-ledger.ts';
import { SCHEMA_NAME, migrate } from './migrations.ts';
import { mayMarkOperator, newReputation, type Reputation, type ResultTrust, trustWithPace } from '../../core/trust/reputation.ts';
import type { Seen } from '../../core/trust/pace.ts';
import { applyEvent, checkedPace, REPUTATION_COLS, reputationKey, reputationValues, type ReputationEventWrite, type ReputationKey, type ReputationMove, toReputation } from '../reputation-rows.ts';

type Exec = (sql: string, params?: unknown[]) => Promise<QueryResult<Row>>;

export interface PgStoreOptions {
  /** Schema for all tables (created if missing); default: the connection's search_path. */
  schema?: string;
  /** Connections in the pool (default 10). */
  max?: number;
  /** Errors of idle pooled connections (a restarted server); the next query reconnects. */
  onError?: (err: Error) => void;
}

// BIGINT arrives as a string (it can exceed 2^53); every one of ours is a
// millisecond timestamp, a record offset or a count, all far below that.
const num = (v: unknown): number => Number(v);
/** Shared SQL's `?` placeholders as PostgreSQL's $1, $2, ... */
const numbered = (sql: string): string => {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
};

const IN_FLIGHT = `state IN ('assigned','running')`;
/** The live projects whose group a volunteer is in now (server/core/groups/membership.ts). */
const GROUPS_OF = `SELECT m.project_id FROM project_members m JOIN project_invites i ON i.id = m.invite_id JOIN projects p ON p.id = m.project_id
  WHERE m.volunteer_id = $1 AND m.ended_at IS NULL AND i.revoked_at IS NULL AND p.deleted_at IS NULL ORDER BY m.joined_at`;
const JOB_COLS = 'id, project_id, kind, state, created_at, finished_at, error, result_hash, progress, name, tags, priority';

/**
 * Wanting shards a claim reads at once from a project's queue, each with its copies: first enough for the
 * pick's window (pick.ts) when most of the head is open to the volunteer, as it mostly is, then more at once.
 */
const FIRST_PAGE = 4 * PICK_WINDOW;
const CLAIM_PAGE = 256;
/**
 * At most this many wanting shards are read from a project's queue for one claim. A volunteer may hold
 * copies of every shard at the head, so a claim reads on past them; but a host refused by every shard asks
 * again every few seconds, and must not read the whole queue each time. Past it the volunteer waits as it
 * would with nothing to take, until the others catch up (the SQLite store reads up to 5 × 1024).
 */
const CLAIM_READ_MAX = 1024;
const WANTING_WHERE = `s.project_id = $1 AND s.state = 'open' AND s.alive < s.wanted AND s.issued < s.max_total AND s.job_id <> ALL($2::text[])`;
/**
 * Under one copy at a time (trust/replication.ts waitsForCopyInFlight) an inference shard with a copy in flight
 * gives nobody a copy until it returns, yet still wants one: left in the page, a fresh swarm's first copies (every
 * shard replicated) would fill CLAIM_READ_MAX and hide the free shards after them. Each is an index probe
 * (copies_shard, jobs' key); decideClaim still decides under the lock.
 */
const NOT_HELD_BACK = ` AND NOT (EXISTS (SELECT 1 FROM copies c WHERE c.shard_id = s.id AND c.${IN_FLIGHT})
  AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = s.job_id AND j.kind = 'inference'))`;
/** Queue order: highest priority, oldest job, shard index; the id breaks ties between jobs of one millisecond. */
const QUEUE_ORDER = 'priority DESC, job_created, idx, id';
/**
 * Each shard of the page with every copy of it and whether the copy's holder is trusted in its class ($4:
 * trustAfter); `existing` is null, and no copy is read, for a shard the volunteer ($5) may not take because of
 * a copy of its own that can still vote or that failed (eligibility.ts copyConflict): what keeps a volunteer
 * far ahead of the others from every shard at the head costs an index probe per shard, not its copies.
 */
const withCopies = (page: string): string => `SELECT p.*, CASE WHEN EXISTS (SELECT 1 FROM copies c WHERE c.shard_id = p.id AND c.volunteer_id = $5
    AND c.state IN ('assigned','running','returned','error')) THEN NULL
  ELSE COALESCE((SELECT json_agg(json_build_object('volunteerId', c.volunteer_id,
    'wallet', c.wallet, 'address', c.address, 'numericClass', c.numeric_class, 'state', c.state, 'reason', c.reason, 'outcome', c.outcome,
    'solo', c.solo = 1, 'trusted', COALESCE(r.operator = 1 OR r.streak >= $4, false),
    'assignedAt', c.assigned_at, 'returnedAt', c.returned_at, 'pace', pc.pace, 'operator', COALESCE(r.operator = 1, false)))
  FROM copies c LEFT JOIN reputations r ON r.volunteer_id = c.volunteer_id AND r.numeric_class = c.numeric_class
    LEFT JOIN paces pc ON pc.job_id = c.job_id AND pc.volunteer_id = c.volunteer_id AND pc.numeric_class = c.numeric_class
  WHERE c.shard_id = p.id), '[]'::json) END AS existing
FROM (${page}) p ORDER BY ${QUEUE_ORDER.replace(/(^|, )/g, '$1p.')}`;
/** A copy as the claim reads it with its holder's trust (withCopies, claimFirst): numbers as numbers (BIGINT comes back as text). */
type HeldCopy = CopyIdentity & { trusted: boolean; pace: number | null; operator: boolean };
const heldCopy = (r: Record<string, unknown>): HeldCopy => ({
  ...(r as unknown as HeldCopy),
  assignedAt: Number(r.assignedAt), returnedAt: r.returnedAt === null || r.returnedAt === undefined ? null : Number(r.returnedAt),
  pace: r.pace === null || r.pace === undefined ? null : Number(r.pace),
});
/** How the holder counts for this copy (reputation.ts resultTrust): its trust in its class, and its pace in the copy's job (core/trust/pace.ts). */
const holderTrust = (c: CopyIdentity, seen: Seen | null): ResultTrust => {
  const h = c as HeldCopy;
  return trustWithPace(h.trusted, h, seen === null ? null : { pace: h.pace, seen });
};
/** The first page of a project's wanting shards ($1 project, $2 jobs left out, $3 page size, $4 and $5 as withCopies). */
const wantingPageFirst = (where: string) => withCopies(`SELECT s.* FROM shards s WHERE ${where} ORDER BY ${QUEUE_ORDER.replace(/(^|, )/g, '$1s.')} LIMIT $3`);
/**
 * The page after the shard ($6 priority, $7 job_created, $8 idx, $9 id): keyset, each page starting where the
 * last ended in the index (shards_wanting_project), never an OFFSET read through again. The order mixes
 * directions, so "after" is two ordered scans: the rest of that priority, then the lower ones.
 */
const wantingPageAfter = (where: string) => withCopies(`(SELECT s.* FROM shards s WHERE ${where} AND s.priority = $6::int
    AND (s.job_created, s.idx, s.id) > ($7::bigint, $8::int, $9::text) ORDER BY s.job_created, s.idx, s.id LIMIT $3)
  UNION ALL
  (SELECT s.* FROM shards s WHERE ${where} AND s.priority < $6::int ORDER BY ${QUEUE_ORDER.replace(/(^|, )/g, '$1s.')} LIMIT $3)
  ORDER BY ${QUEUE_ORDER} LIMIT $3`);
/** The pages, by whether the claim's policy holds shards back for their copy in flight (NOT_HELD_BACK). */
const WANTING_PAGE = {
  together: { first: wantingPageFirst(WANTING_WHERE), after: wantingPageAfter(WANTING_WHERE) },
  oneAtATime: { first: wantingPageFirst(WANTING_WHERE + NOT_HELD_BACK), after: wantingPageAfter(WANTING_WHERE + NOT_HELD_BACK) },
};

/**
 * PostgreSQL text cannot hold U+0000 (SQLite can), and a volunteer's failure
 * message or an id in a URL may carry one: it becomes U+FFFD instead of
 * failing the statement, so a lookup finds nothing and a write goes through.
 */
function clean(v: unknown): unknown {
  if (typeof v === 'string') return v.includes('\0') ? v.replaceAll('\0', '\uFFFD') : v;
  if (Array.isArray(v)) return v.map(clean);
  return v;
}

/** Deadlock, serialization failure: the transaction was rolled back whole and may run again. */
const RETRYABLE = new Set(['40P01', '40001']);
const retryable = (e: unknown) => RETRYABLE.has((e as { code?: string }).code ?? '');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ATTEMPTS = 5;

export class PgStore implements Store {
  readonly kind = 'postgres' as const;
  /** Specs never change after creation, so they are cached; state is always re-read. */
  private specCache = new Map<string, Job['spec']>();

  private constructor(private readonly pool: pg.Pool) {}

  /** Connects, and brings the schema up to date (safe with several coordinators starting at once). */
  static async open(url: string, opts: PgStoreOptions = {}): Promise<PgStore> {
    const schema = opts.schema ?? null;
    if (schema !== null && !SCHEMA_NAME.test(schema)) throw new Error(`schema name ${JSON.stringify(schema)} must match ${SCHEMA_NAME}`);
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.max ?? 10,
      application_name: 'tabgrid',
      // search_path as a startup option: every pooled connection has it before its first query.
      ...(schema !== null ? { options: `-c search_path=${schema}` } : {}),
    });
    // Without a listener an idle connection's error (server restart) would crash the process.
    pool.on('error', opts.onError ?? (() => {}));
    try {
      const client = await pool.connect();
      try {
        await migrate(client, schema);
      } finally {
        client.release();
      }
    } catch (e) {
      await pool.end().catch(() => {});
      throw e;
    }
    return new PgStore(pool);
  }

  async close() {
    await this.pool.end();
  }

  /** One autocommit statement on any pooled connection. */
  private exec: Exec = async (sql, params = []) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.pool.query<Row>(sql, params.map(clean));
      } catch (e) {
        if (attempt >= ATTEMPTS || !retryable(e)) throw e;
        await sleep(attempt * 5 + Math.random() * 10);
      }
    }
  };

  /**
   * Runs `fn` in one transaction on one connection. `fn` must use the
   * executor it is given (never the pool: with every connection inside a
   * transaction waiting for another connection, the pool would starve).
   */
  private async tx<T>(fn: (q: Exec) => Promise<T>, begin = 'BEGIN'): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client: PoolClient = await this.pool.connect();
      const q: Exec = (sql, params = []) => client.query<Row>(sql, params.map(clean));
      let broken: Error | undefined;
      try {
        await client.query(begin);
        const out = await fn(q);
        await client.query('COMMIT');
        return out;
      } catch (e) {
        await client.query('ROLLBACK').catch((re: Error) => { broken = re; });
        if (attempt >= ATTEMPTS || !retryable(e)) throw e;
      } finally {
        // A connection that cannot even roll back is discarded, not reused.
        client.release(broken);
      }
      await sleep(attempt * 5 + Math.random() * 10);
    }
  }

  /** Several reads that must agree with each other: one snapshot. */
  private snapshot<T>(fn: (q: Exec) => Promise<T>): Promise<T> {
    return this.tx(fn, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  }

  async createProject(p: NewProject) {
    const q = { ...DEFAULT_PROJECT_SETTINGS, ...p };
    await this.exec(`INSERT INTO projects (id, name, created_at, embed, description, weight, private, max_in_flight)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [q.id, q.name, q.createdAt, JSON.stringify(q.embed), q.description, q.weight, q.private, q.maxInFlight]);
  }

  async getProject(id: string) {
    const { rows } = await this.exec('SELECT * FROM projects WHERE id = $1', [id]);
    return rows[0] ? toProject(rows[0]) : null;
  }

  async projectByName(name: string) {
    const { rows } = await this.exec('SELECT * FROM projects WHERE name = $1 AND deleted_at IS NULL', [name]);
    return rows[0] ? toProject(rows[0]) : null;
  }

  async listProjects() {
    return (await this.exec('SELECT * FROM projects WHERE deleted_at IS NULL ORDER BY created_at')).rows.map(toProject);
  }

  async setEmbedSettings(projectId: string, embed: Project['embed']) {
    await this.exec('UPDATE projects SET embed = $1 WHERE id = $2', [JSON.stringify(embed), projectId]);
  }

  async updateProject(projectId: string, patch: Partial<ProjectSettings>) {
    const { sets, vals } = projectPatch(patch);
    if (!sets.length) return;
    let n = 0;
    await this.exec(`UPDATE projects SET ${sets.map((x) => x.replace('?', () => `$${++n}`)).join(', ')} WHERE id = $${n + 1}`, [...vals, projectId]);
  }

  async deleteProject(projectId: string, at: number): Promise<ProjectDeletion> {
    return this.tx(async (q): Promise<ProjectDeletion> => {
      // The project row first: a job created meanwhile (its insert checks the project's key) waits for this or sees it gone.
      const live = (await q('SELECT 1 FROM projects WHERE id = $1 AND deleted_at IS NULL FOR UPDATE', [projectId])).rows[0];
      if (!live) return 'gone';
      if ((await q(`SELECT 1 FROM jobs WHERE project_id = $1 AND state = 'running' LIMIT 1`, [projectId])).rows[0]) return 'running';
      await q('UPDATE projects SET deleted_at = $1 WHERE id = $2', [at, projectId]);
      await q('UPDATE tokens SET revoked_at = $1 WHERE project_id = $2 AND revoked_at IS NULL', [at, projectId]);
      return 'deleted';
    });
  }

  async addToken(t: { id: string; projectId: string; hash: string; label: string; createdAt: number }) {
    await this.exec('INSERT INTO tokens (id, project_id, hash, label, created_at) VALUES ($1, $2, $3, $4, $5)', [t.id, t.projectId, t.hash, t.label, t.createdAt]);
  }

  async projectByTokenHash(hash: string) {
    const { rows } = await this.exec(`SELECT p.* FROM tokens t JOIN projects p ON p.id = t.project_id
      WHERE t.hash = $1 AND t.revoked_at IS NULL AND p.deleted_at IS NULL`, [hash]);
    return rows[0] ? toProject(rows[0]) : null;
  }

  async tokensOf(projectId: string) {
    return (await this.exec('SELECT id, label, created_at, revoked_at FROM tokens WHERE project_id = $1 ORDER BY created_at, id', [projectId])).rows.map(toTokenInfo);
  }

  async revokeTokens(projectId: string, ids: string[] | null, at: number) {
    const { rows } = await this.exec(`UPDATE tokens SET revoked_at = $1 WHERE project_id = $2 AND revoked_at IS NULL
      AND ($3::text[] IS NULL OR id = ANY($3::text[])) RETURNING id`, [at, projectId, ids]);
    return rows.map((r) => r.id as string);
  }

  async replaceOperatorToken(t: { hash: string; createdAt: number }) {
    await this.exec(`INSERT INTO operator_tokens (id, hash, created_at) VALUES ('operator', $1, $2)
      ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, created_at = excluded.created_at`, [t.hash, t.createdAt]);
  }

  async addOperatorToken(t: { hash: string; createdAt: number }) {
    const r = await this.exec(`INSERT INTO operator_tokens (id, hash, created_at) VALUES ('operator', $1, $2) ON CONFLICT DO NOTHING`, [t.hash, t.createdAt]);
    return r.rowCount === 1;
  }

  async isOperatorTokenHash(hash: string) {
    return (await this.exec('SELECT 1 FROM operator_tokens WHERE hash = $1', [hash])).rows.length > 0;
  }

  async recordBlob(b: { hash: string; bytes: number; kind: string; createdAt: number }) {
    // A blob first uploaded privately becomes public once a job uses it as a model or weights.
    await this.exec(`INSERT INTO blobs (hash, bytes, kind, created_at) VALUES ($1, $2, $3, $4)
      ON CONFLICT (hash) DO UPDATE SET kind = excluded.kind WHERE excluded.kind IN ('model', 'weights')`, [b.hash, b.bytes, b.kind, b.createdAt]);
  }

  async blobKind(hash: string) {
    const { rows } = await this.exec('SELECT kind FROM blobs WHERE hash = $1', [hash]);
    return rows[0] ? (rows[0].kind as string) : null;
  }

  async grantBlob(projectId: string, hash: string, at: number) {
    await this.exec('INSERT INTO project_blobs (project_id, hash, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [projectId, hash, at]);
  }

  async projectHasBlob(projectId: string, hash: string) {
    const { rows } = await this.exec('SELECT 1 FROM project_blobs WHERE project_id = $1 AND hash = $2', [projectId, hash]);
    return rows.length > 0;
  }

  async addInvite(i: InviteRow & { hash: string }) {
    await this.exec('INSERT INTO project_invites (id, project_id, hash, label, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)',
      [i.id, i.projectId, i.hash, i.label, i.createdAt, i.revokedAt]);
  }

  async inviteByHash(hash: string) {
    const { rows } = await this.exec('SELECT * FROM project_invites WHERE hash = $1', [hash]);
    return rows[0] ? toInvite(rows[0]) : null;
  }

  async invitesOf(projectId: string) {
    const { rows } = await this.exec(`SELECT i.*, (SELECT COUNT(*) FROM project_members m WHERE m.invite_id = i.id AND m.ended_at IS NULL) AS members
      FROM project_invites i WHERE i.project_id = $1 ORDER BY i.created_at, i.id`, [projectId]);
    return rows.map((r) => ({ ...toInvite(r), members: num(r.members) }));
  }

  async revokeInvite(projectId: string, inviteId: string, at: number) {
    const r = await this.exec('UPDATE project_invites SET revoked_at = $1 WHERE id = $2 AND project_id = $3 AND revoked_at IS NULL', [at, inviteId, projectId]);
    return (r.rowCount ?? 0) > 0;
  }

  async membership(projectId: string, volunteerId: string) {
    const { rows } = await this.exec(`SELECT ${MEMBERSHIP_COLS} FROM project_members m JOIN project_invites i ON i.id = m.invite_id
      WHERE m.project_id = $1 AND m.volunteer_id = $2`, [projectId, volunteerId]);
    return rows[0] ? toMembership(rows[0]) : null;
  }

  async joinGroup(j: { projectId: string; volunteerId: string; inviteId: string; inviteCreatedAt: number; at: number }) {
    const r = await this.exec(`INSERT INTO project_members (project_id, volunteer_id, invite_id, joined_at) VALUES ($1, $2, $3, $4)
      ON CONFLICT (project_id, volunteer_id) DO UPDATE SET invite_id = excluded.invite_id,
        joined_at = CASE WHEN project_members.ended_at IS NULL THEN project_members.joined_at ELSE excluded.joined_at END, ended_at = NULL, ended_by = NULL
      WHERE project_members.ended_by IS NULL OR project_members.ended_by = 'left' OR project_members.ended_at < $5`,
    [j.projectId, j.volunteerId, j.inviteId, j.at, j.inviteCreatedAt]);
    return (r.rowCount ?? 0) > 0;
  }

  async endMembership(projectId: string, volunteerId: string, by: 'left' | 'removed', at: number) {
    const r = await this.exec('UPDATE project_members SET ended_at = $1, ended_by = $2 WHERE project_id = $3 AND volunteer_id = $4 AND ended_at IS NULL',
      [at, by, projectId, volunteerId]);
    return (r.rowCount ?? 0) > 0;
  }

  async membersOf(projectId: string) {
    const { rows } = await this.exec(`SELECT ${MEMBERSHIP_COLS}, v.account FROM project_members m JOIN project_invites i ON i.id = m.invite_id
      JOIN volunteers v ON v.id = m.volunteer_id WHERE m.project_id = $1 ORDER BY m.joined_at DESC, m.volunteer_id`, [projectId]);
    return rows.map((r) => ({ ...toMembership(r), account: r.account as string }));
  }

  async groupsOf(volunteerId: string) {
    return (await this.exec(GROUPS_OF, [volunteerId])).rows.map((r) => r.project_id as string);
  }

  async blobIsPrivate(hash: string) {
    const { rows } = await this.exec(`SELECT EXISTS(SELECT 1 FROM project_blobs b JOIN projects p ON p.id = b.project_id WHERE b.hash = $1 AND p.private) AS priv,
      EXISTS(SELECT 1 FROM project_blobs b JOIN projects p ON p.id = b.project_id WHERE b.hash = $1 AND NOT p.private AND p.deleted_at IS NULL) AS pub`, [hash]);
    return rows[0]!.priv === true && rows[0]!.pub === false;
  }

  async createVolunteer(v: Volunteer) {
    await this.exec(`INSERT INTO volunteers (id, secret_hash, wallet, account, address, numeric_class, capabilities, created_at, last_seen)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [v.id, v.secretHash, v.wallet, v.account, v.address, v.numericClass, JSON.stringify(v.capabilities), v.createdAt, v.lastSeen]);
  }

  async getVolunteer(id: string) {
    const { rows } = await this.exec('SELECT * FROM volunteers WHERE id = $1', [id]);
    return rows[0] ? toVolunteer(rows[0]) : null;
  }

  async updateVolunteer(id: string, patch: Partial<Pick<Volunteer, 'wallet' | 'account' | 'address' | 'numericClass' | 'capabilities' | 'lastSeen'>>) {
    const cols: Record<string, string> = { wallet: 'wallet', account: 'account', address: 'address', numericClass: 'numeric_class', capabilities: 'capabilities', lastSeen: 'last_seen' };
    const sets: string[] = [];
    const vals: unknown[] = [];
    for (const [k, v] of Object.entries(patch)) {
      const col = cols[k];
      if (!col) continue;
      vals.push(k === 'capabilities' ? JSON.stringify(v) : v);
      sets.push(`${col} = $${vals.length}`);
    }
    if (sets.length) await this.exec(`UPDATE volunteers SET ${sets.join(', ')} WHERE id = $${vals.length + 1}`, [...vals, id]);
  }

  private async insertShards(q: Exec, job: Pick<Job, 'id' | 'projectId' | 'createdAt' | 'spec' | 'priority'>, shards: Shard[]) {
    if (shards.length === 0) return;
    await q(`INSERT INTO shards (id, job_id, project_id, job_created, idx, rec_start, rec_end, state, wanted, max_total, homogeneous, priority, gflops)
      SELECT s.id, $1::text, $2::text, $3::bigint, s.idx, s.rec_start, s.rec_end, 'open', s.wanted, $4::int, $5::boolean, $11::int, s.gflops
      FROM unnest($6::text[], $7::int[], $8::bigint[], $9::bigint[], $10::int[], $12::float8[]) AS s(id, idx, rec_start, rec_end, wanted, gflops)`,
    [job.id, job.projectId, job.createdAt, job.spec.limits.maxTotalCopies, job.spec.homogeneous,
      shards.map((s) => s.id), shards.map((s) => s.index), shards.map((s) => s.start), shards.map((s) => s.end), shards.map((s) => s.wanted),
      job.priority ?? 0, shards.map((s) => shardGflops(job.spec, s))]);
  }

  async createJob(job: Job, shards: Shard[], submission?: SubmissionKey) {
    return this.tx(async (q): Promise<KeyedJob | null> => {
      // A repeat racing the first with the same key waits here on the unique index until that one commits
      // (then this inserts nothing) or rolls back (then this one is the first).
      const r = await q(`INSERT INTO jobs (id, project_id, kind, state, spec, created_at, round, progress, name, tags, priority, submission_key, submission_fingerprint)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        ON CONFLICT (project_id, submission_key) WHERE submission_key IS NOT NULL DO NOTHING`,
      [job.id, job.projectId, job.kind, job.state, JSON.stringify(job.spec), job.createdAt, job.progress?.round ?? 0, job.progress ? JSON.stringify(job.progress) : null,
        job.name ?? null, job.tags ? JSON.stringify(job.tags) : null, job.priority ?? 0, submission?.key ?? null, submission?.fingerprint ?? null]);
      if (!r.rowCount) {
        // READ COMMITTED: this statement's snapshot sees the row the conflicting insert committed.
        const taken = await this.keyedJob(job.projectId, submission!.key, q);
        if (!taken) throw new Error(`job ${job.id}: its Idempotency-Key clashed with a job that cannot be read`);
        return taken;
      }
      await this.insertShards(q, job, shards);
      return null;
    });
  }

  async jobBySubmissionKey(projectId: string, key: string) {
    return this.keyedJob(projectId, key);
  }

  private async keyedJob(projectId: string, key: string, q: Exec = this.exec): Promise<KeyedJob | null> {
    const { rows } = await q('SELECT id, submission_fingerprint FROM jobs WHERE project_id = $1 AND submission_key = $2', [projectId, key]);
    return rows[0] ? { jobId: rows[0].id as string, fingerprint: rows[0].submission_fingerprint as string } : null;
  }

  async advanceRound(jobId: string, fromRound: number, progress: TrainProgress, nextShards: Shard[]) {
    const job = await this.job(jobId);
    if (!job) return false;
    return this.tx(async (q) => {
      // The conditional update on the job row is the gate: of two coordinators
      // closing the same round, the second waits on the row, then matches nothing.
      const r = await q(`UPDATE jobs SET round = $1, progress = $2 WHERE id = $3 AND round = $4 AND state = 'running'`,
        [progress.round, JSON.stringify(progress), jobId, fromRound]);
      if (!r.rowCount) return false;
      await q(`SELECT id FROM shards WHERE job_id = $1 AND state = 'open' ORDER BY id FOR NO KEY UPDATE`, [jobId]);
      await q(`UPDATE copies SET state = 'cancelled', reason = 'round closed without it'
        WHERE id IN (SELECT id FROM copies WHERE job_id = $1 AND ${IN_FLIGHT}
                       AND shard_id IN (SELECT id FROM shards WHERE job_id = $1 AND state = 'open') ORDER BY id FOR NO KEY UPDATE)
          AND ${IN_FLIGHT}`, [jobId]);
      await q(`UPDATE shards SET state = 'cancelled' WHERE job_id = $1 AND state = 'open'`, [jobId]);
      // A closed round's gradients are folded into the checkpoint: drop them rather than keep megabytes per round.
      await q('UPDATE copies SET result = NULL WHERE job_id = $1 AND result IS NOT NULL', [jobId]);
      await this.insertShards(q, job, nextShards);
      return true;
    });
  }

  async canonicalResultsOf(shardIds: string[]) {
    const out = new Map<string, Uint8Array>();
    if (shardIds.length === 0) return out;
    const { rows } = await this.exec('SELECT s.id, c.result FROM shards s JOIN copies c ON c.id = s.canonical_copy_id WHERE s.id = ANY($1::text[])', [shardIds]);
    for (const r of rows) out.set(r.id as string, r.result as Uint8Array);
    return out;
  }

  async getJob(id: string) {
    return this.job(id);
  }

  /** The job with its state as committed now; the spec comes from the cache when it can. */
  /** A re-opened shard's copy budget (transitions.ts reopenedBudget); at least the results it now wants beyond those issued. */
  private async reopenBudget(q: Exec, row: Record<string, unknown>, jobId: string, wanted: number): Promise<number> {
    const issued = num(row.issued);
    const limits = (await this.job(jobId, q))?.spec.limits;
    return Math.max(issued + wanted, limits ? reopenedBudget({ issued, maxTotal: num(row.max_total) }, limits) : num(row.max_total));
  }

  private async job(id: string, q: Exec = this.exec): Promise<Job | null> {
    const cached = this.specCache.get(id);
    const { rows } = await q(`SELECT ${JOB_COLS}${cached ? '' : ', spec'} FROM jobs WHERE id = $1`, [id]);
    const r = rows[0];
    if (!r) return null;
    const job = toJob(r, cached ?? JSON.parse(r.spec as string));
    if (!cached) {
      this.specCache.set(id, job.spec);
      if (this.specCache.size > 256) this.specCache.delete(this.specCache.keys().next().value!);
    }
    return job;
  }

  /** Several jobs as `job` reads one, in one statement: the specs it has not cached yet, and each state as committed now. */
  private async jobsById(ids: readonly string[], q: Exec): Promise<Map<string, Job>> {
    const { rows } = await q(`SELECT ${JOB_COLS}, CASE WHEN id = ANY($2::text[]) THEN NULL ELSE spec END AS spec FROM jobs WHERE id = ANY($1::text[])`,
      [ids, ids.filter((id) => this.specCache.has(id))]);
    const out = new Map<string, Job>();
    for (const r of rows) {
      const id = r.id as string;
      const cached = this.specCache.get(id);
      const job = toJob(r, cached ?? JSON.parse(r.spec as string));
      if (!cached) {
        this.specCache.set(id, job.spec);
        if (this.specCache.size > 256) this.specCache.delete(this.specCache.keys().next().value!);
      }
      out.set(id, job);
    }
    return out;
  }

  async listJobs(filter: { projectId?: string; states?: Job['state'][]; limit?: number }) {
    const where: string[] = [];
    const vals: unknown[] = [];
    if (filter.projectId) { vals.push(filter.projectId); where.push(`project_id = $${vals.length}`); }
    if (filter.states?.length) { vals.push(filter.states); where.push(`state = ANY($${vals.length}::text[])`); }
    vals.push(filter.limit ?? 100);
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC LIMIT $${vals.length}`;
    return (await this.exec(sql, vals)).rows.map((r) => toJob(r));
  }

  async finishJob(id: string, state: 'completed' | 'failed' | 'cancelled', patch: { error?: string | null; resultHash?: string | null; finishedAt: number }) {
    return this.tx(async (q) => {
      const r = await q(`UPDATE jobs SET state = $1, error = $2, result_hash = $3, finished_at = $4 WHERE id = $5 AND state = 'running'`,
        [state, patch.error ?? null, patch.resultHash ?? null, patch.finishedAt, id]);
      if (!r.rowCount) return false;
      // A claim holding one of these shards finishes first; its copy is then
      // visible to the cancel below (each statement takes a fresh snapshot).
      await q(`SELECT id FROM shards WHERE job_id = $1 AND state = 'open' ORDER BY id FOR NO KEY UPDATE`, [id]);
      await q(`UPDATE shards SET state = $1 WHERE job_id = $2 AND state = 'open'`, [state === 'failed' ? 'failed' : 'cancelled', id]);
      await q(`UPDATE copies SET state = 'cancelled', reason = $1
        WHERE id IN (SELECT id FROM copies WHERE job_id = $2 AND ${IN_FLIGHT} ORDER BY id FOR NO KEY UPDATE) AND ${IN_FLIGHT}`, [`job ${state}`, id]);
      // The coordinator's own answers of the job check nothing more (saveOwnAnswer waits on this job row's lock).
      await q(numbered(SPOT_SQL.forgetOwnAnswers), [id]);
      if (state !== 'completed') await q(numbered(REVIEW_SQL.closeJobReviews), [patch.finishedAt, id]);
      return true;
    });
  }

  async shardsWithUnjudgedResults() {
    return (await this.exec(`SELECT DISTINCT shard_id FROM copies WHERE state = 'returned' AND outcome = 'pending'`)).rows.map((r) => r.shard_id as string);
  }

  async shardsLeft(jobId: string) {
    const r = (await this.exec(`SELECT EXISTS(SELECT 1 FROM shards WHERE job_id = $1 AND state = 'open') AS open,
      EXISTS(SELECT 1 FROM shards WHERE job_id = $1 AND state = 'failed') AS failed`, [jobId])).rows[0]!;
    return { open: r.open === true, failed: r.failed === true };
  }

  async gridCounts() {
    return this.snapshot(async (q) => gridCounts(
      (await q(GRID_COUNT_SQL.jobs)).rows, (await q(GRID_COUNT_SQL.shards)).rows, (await q(GRID_COUNT_SQL.queue)).rows[0]!.n,
    ));
  }

  async jobCounts(jobId: string): Promise<JobCounts> {
    return this.snapshot(async (q) => {
      const shards = { total: 0, open: 0, validated: 0, failed: 0 };
      for (const r of (await q('SELECT state, COUNT(*) AS n FROM shards WHERE job_id = $1 GROUP BY state', [jobId])).rows) {
        const n = num(r.n);
        shards.total += n;
        if (r.state === 'open') shards.open = n;
        if (r.state === 'validated') shards.validated = n;
        if (r.state === 'failed') shards.failed = n;
      }
      const copies = { valid: 0, invalid: 0, pending: 0, expired: 0, error: 0 };
      for (const r of (await q('SELECT state, outcome, COUNT(*) AS n FROM copies WHERE job_id = $1 GROUP BY state, outcome', [jobId])).rows) {
        const n = num(r.n);
        if (r.outcome === 'valid') copies.valid += n;
        else if (r.outcome === 'invalid') copies.invalid += n;
        else if (r.state === 'expired') copies.expired += n;
        else if (r.state === 'error') copies.error += n;
        else if (r.state !== 'cancelled') copies.pending += n;
      }
      const credit = num((await q('SELECT COALESCE(SUM(amount), 0) AS c FROM ledger WHERE job_id = $1', [jobId])).rows[0]!.c);
      return { shards, copies, credit };
    });
  }

  async shardsOf(jobId: string, range?: { from: number; to: number }) {
    const { rows } = range
      ? await this.exec('SELECT * FROM shards WHERE job_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx', [jobId, range.from, range.to])
      : await this.exec('SELECT * FROM shards WHERE job_id = $1 ORDER BY idx', [jobId]);
    return rows.map(toShard);
  }

  async getShard(id: string) {
    const { rows } = await this.exec('SELECT * FROM shards WHERE id = $1', [id]);
    return rows[0] ? toShard(rows[0]) : null;
  }

  /**
   * The dispatcher. First an unlocked look at the queue, page by page, with
   * each shard's copies, each decided by decideClaim on that snapshot; then
   * the first of those this volunteer may take that no other coordinator is
   * claiming right now is locked (SKIP LOCKED: concurrent claims spread over
   * shards instead of queueing on one). The copies are read again under the
   * lock, in a new statement and so a new snapshot that includes every claim
   * committed on that shard before ours, and decideClaim decides again: that is
   * what keeps two coordinators from giving one volunteer (or wallet, or
   * address) two copies of a shard, or a shard more copies than it wants.
   */
  async claimCopy(req: ClaimRequest): Promise<Claimed | null> {
    const copyId = newId();
    return this.tx(async (q): Promise<Claimed | null> => {
      // Choose the project first (fair share), then the shard within it.
      for (const projectId of await this.projectOrder(q, req)) {
        const claimed = await this.claimIn(q, req, projectId, copyId);
        if (claimed) return claimed;
      }
      return null;
    });
  }

  /**
   * Projects with work, in fair-share order (fair-share.ts). The charges are
   * read without locks, so coordinators claiming at once may each favour the
   * same project for a moment; the next claims even it out.
   */
  private async projectOrder(q: Exec, req: ClaimRequest): Promise<string[]> {
    const withWork = (await q(FAIR_SHARE_SQL.projectsWithWork)).rows.map(activeProject);
    // A private project's work goes only to its group (eligibility.ts); the groups are read only when one has work.
    const groups = new Set(withWork.some((p) => p.private) ? (await q(GROUPS_OF, [req.volunteer.id])).rows.map((r) => r.project_id as string) : []);
    let active = withWork.filter((p) => mayServeProject(p, groups));
    if (req.projectId) active = active.filter((p) => p.id === req.projectId);
    if (active.length <= 1 && active.every((p) => p.maxInFlight <= 0)) return active.map((p) => p.id);
    const charged = new Map<string, number>();
    for (const r of (await q(FAIR_SHARE_SQL.validatedSince.replace('?', '$1'), [req.now - FAIR_SHARE_WINDOW_MS])).rows) charged.set(r.project_id as string, num(r.g));
    const inFlight = new Map<string, { n: number; g: number }>();
    for (const r of (await q(FAIR_SHARE_SQL.inFlightByProject)).rows) inFlight.set(r.project_id as string, { n: num(r.n), g: num(r.g) });
    const loads: ProjectLoad[] = active.map((p) => ({
      ...p, charged: (charged.get(p.id) ?? 0) + (inFlight.get(p.id)?.g ?? 0), inFlight: inFlight.get(p.id)?.n ?? 0,
    }));
    return fairShareOrder(loads, active.map((p) => p.id));
  }

  /**
   * A copy of one of the project's wanting shards (highest priority, oldest job first) that the volunteer may take.
   * The queue is read a page at a time (WANTING_PAGE), each shard decided on what that snapshot holds, until the
   * first PICK_WINDOW it may take are found; the volunteer may hold copies of every shard at the head (or each be
   * kept from it), so it reads on past them, but at most CLAIM_READ_MAX shards. A job that refuses the volunteer
   * whatever the shard (claim.ts jobRefusal) is decided once and left out of the pages after. A shard refused on
   * that read that the lock would grant (a holder lost its trust in between) waits for the next request.
   */
  private async claimIn(q: Exec, req: ClaimRequest, projectId: string, copyId: string): Promise<Claimed | null> {
    const refusals = jobRefusals(req.volunteer, req.trust);
    const jobs = new Map<string, Job | null>();
    const refusedJobs: string[] = [];
    const trustAfter = req.trust?.policy.trustAfter ?? 0;
    const trust = req.trust ? { trust: { ...req.trust, holderTrust } } : {};
    const pages = req.trust?.policy.oneCopyAtATime === true ? WANTING_PAGE.oneAtATime : WANTING_PAGE.together;
    let eligible: Pickable[] = [];
    let after: Row | null = null;
    let read = 0;
    for (;;) {
      const cursor = after ? [after.priority, after.job_created, after.idx, after.id] : [];
      const limit = after ? Math.min(CLAIM_PAGE, CLAIM_READ_MAX - read) : FIRST_PAGE;
      const { rows } = await q(after ? pages.after : pages.first, [projectId, refusedJobs, limit, trustAfter, req.volunteer.id, ...cursor]);
      const unread = [...new Set(rows.map((r) => r.job_id as string))].filter((id) => !jobs.has(id));
      if (unread.length > 0) {
        const found = await this.jobsById(unread, q);
        for (const id of unread) jobs.set(id, found.get(id) ?? null);
      }
      let decided = 0;
      for (const r of rows) {
        // The pick draws among the first PICK_WINDOW the volunteer may take (pick.ts): the rest are not decided.
        if (eligible.length >= PICK_WINDOW) break;
        after = r;
        decided++;
        const jobId = r.job_id as string;
        const job = jobs.get(jobId)!;
        const shard = toShardRow(r);
        // A shard carries its job's homogeneity, so this refusal holds for each of the job's shards.
        if (refusals(job, shard.homogeneous)) {
          if (!refusedJobs.includes(jobId)) refusedJobs.push(jobId);
          continue;
        }
        // Its own copy keeps it from the shard (withCopies).
        if (r.existing === null) continue;
        // Decided again under the shard's lock; a round's count ('count') is read there.
        if (decideClaim({ shard, copies: (r.existing as Record<string, unknown>[]).map(heldCopy), job, volunteer: req.volunteer, rules: req.rules, now: req.now, copyId, ...trust }).take === false) continue;
        eligible.push({ id: shard.id, priority: num(r.priority), ordered: job?.kind !== 'inference' });
      }
      read += decided;
      // More to read: the page ended before its last shard was decided, or it was full.
      const more = read < CLAIM_READ_MAX && (decided < rows.length || rows.length === limit);
      if (more && eligible.length < PICK_WINDOW) continue;
      const claimed = await this.claimFirst(q, req, copyId, req.draw ? pickOrder(eligible, req.draw) : eligible);
      if (claimed || !more) return claimed;
      // Each was taken meanwhile by other claims: on to the rest of the queue.
      eligible = [];
    }
  }

  /**
   * A copy of the first of these shards (in this order) that no other claim holds locked now (SKIP LOCKED)
   * and that the volunteer may still take, decided on its copies read again under the shard's lock.
   */
  private async claimFirst(q: Exec, req: ClaimRequest, copyId: string, candidates: readonly Pickable[]): Promise<Claimed | null> {
    let eligible = candidates.map((r) => r.id);
    while (eligible.length > 0) {
      const { rows } = await q(`SELECT * FROM shards
        WHERE id = ANY($1::text[]) AND state = 'open' AND alive < wanted AND issued < max_total
        ORDER BY array_position($1::text[], id) LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED`, [eligible]);
      const row = rows[0];
      if (!row) return null;
      eligible = eligible.filter((id) => id !== row.id);
      // With each holder's trust in the copy's class (adaptive replication), read under the shard's lock.
      const existing = (await q(`SELECT c.volunteer_id AS "volunteerId", c.wallet, c.address, c.numeric_class AS "numericClass", c.state,
          c.reason, c.outcome, c.solo = 1 AS solo, COALESCE(r.operator = 1 OR r.streak >= $2, false) AS trusted,
          c.assigned_at AS "assignedAt", c.returned_at AS "returnedAt", pc.pace, COALESCE(r.operator = 1, false) AS operator
        FROM copies c LEFT JOIN reputations r ON r.volunteer_id = c.volunteer_id AND r.numeric_class = c.numeric_class
          LEFT JOIN paces pc ON pc.job_id = c.job_id AND pc.volunteer_id = c.volunteer_id AND pc.numeric_class = c.numeric_class
        WHERE c.shard_id = $1`, [row.id, req.trust?.policy.trustAfter ?? 0])).rows.map(heldCopy);
      const shard = toShardRow(row);
      const trust = req.trust ? { trust: { ...req.trust, holderTrust } } : {};
      const input = { shard, copies: existing, job: await this.job(shard.jobId, q), volunteer: req.volunteer, rules: req.rules, now: req.now, copyId, ...trust };
      let d = decideClaim(input);
      if (d.take === 'count') {
        // The cap spans a round's shards, which the shard lock does not:
        // this volunteer's claims on this job queue on an advisory lock, so
        // two coordinators cannot both count one under the cap and both grant.
        await q('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [d.jobId, req.volunteer.id]);
        const held = (await q(`SELECT COUNT(*) AS n FROM copies c JOIN shards s ON s.id = c.shard_id
          WHERE s.job_id = $1 AND s.idx >= $2 AND s.idx < $3 AND c.volunteer_id = $4 AND c.state NOT IN ('expired','error','cancelled')`,
        [d.jobId, d.from, d.to, req.volunteer.id])).rows[0]!.n;
        d = decideClaim({ ...input, heldInRound: num(held) });
      }
      if (d.take !== true) continue;
      const { copy } = d;
      const job = input.job!;
      await q(`INSERT INTO copies (id, shard_id, job_id, volunteer_id, account, wallet, address, numeric_class, state, outcome, assigned_at, deadline, solo)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'assigned', 'pending', $9, $10, $11)`,
      [copy.id, copy.shardId, copy.jobId, copy.volunteerId, copy.account, copy.wallet, copy.address, copy.numericClass, copy.assignedAt, copy.deadline, copy.solo ? 1 : 0]);
      // Adaptive replication may lower what the shard wants (a copy that stands alone) or raise it; under the shard's lock.
      await q('UPDATE shards SET alive = alive + 1, issued = issued + 1, wanted = $2 WHERE id = $1', [shard.id, d.wanted]);
      return { job, shard: { ...shardOf(shard), issued: shard.issued + 1, wanted: d.wanted }, copy };
    }
    return null;
  }

  async knownAnswerShards(limit: number) {
    return (await this.exec(numbered(SPOT_SQL.knownAnswers), [limit])).rows.map(toKnownAnswer);
  }

  async saveOwnAnswer(a: OwnAnswerRow) {
    return this.tx(async (q) => {
      // Kept only while its job runs. The job's row is share-locked first: a finishJob under way commits before this
      // reads the state, and one that comes after waits for this row and then deletes it with the job's others.
      if ((await q(`SELECT 1 FROM jobs WHERE id = $1 AND state = 'running' FOR SHARE`, [a.jobId])).rows.length === 0) return false;
      await q(numbered(SPOT_SQL.saveOwnAnswer), [a.shardId, a.jobId, a.projectId, a.numericClass, Buffer.from(a.encoded.buffer, a.encoded.byteOffset, a.encoded.byteLength), a.at]);
      return true;
    });
  }

  async ownAnswers(limit: number) {
    return (await this.exec(numbered(SPOT_SQL.ownAnswers), [limit])).rows.map(toOwnAnswer);
  }

  /** As the claim path: the shard's row locked, its copies read again under the lock, then decided. */
  async issueSpotCopy(shardId: string, volunteer: ClaimRequest['volunteer'], now: number): Promise<Claimed | null> {
    const copyId = newId();
    return this.tx(async (q): Promise<Claimed | null> => {
      const row = (await q('SELECT * FROM shards WHERE id = $1 FOR NO KEY UPDATE', [shardId])).rows[0];
      if (!row) return null;
      const copies = (await q(`SELECT volunteer_id AS "volunteerId", wallet, address, numeric_class AS "numericClass", state
        FROM copies WHERE shard_id = $1`, [shardId])).rows as unknown as CopyIdentity[];
      const shard = toShardRow(row);
      // A spot check never carries a private project's shard outside its group (eligibility.ts).
      const p = (await q('SELECT private FROM projects WHERE id = $1', [shard.projectId])).rows[0];
      const groups = new Set(p?.private ? (await q(GROUPS_OF, [volunteer.id])).rows.map((r) => r.project_id as string) : []);
      if (!p || !mayServeProject({ id: shard.projectId, private: p.private === true }, groups)) return null;
      const job = await this.job(shard.jobId, q);
      const d = decideSpotCopy({ shard, copies, job, volunteer, now, copyId });
      if (!d.take) return null;
      const { copy } = d;
      await q(`INSERT INTO copies (id, shard_id, job_id, volunteer_id, account, wallet, address, numeric_class, state, outcome, assigned_at, deadline, spot)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'assigned', 'pending', $9, $10, 1)`,
      [copy.id, copy.shardId, copy.jobId, copy.volunteerId, copy.account, copy.wallet, copy.address, copy.numericClass, copy.assignedAt, copy.deadline]);
      await q('UPDATE shards SET alive = alive + 1, issued = issued + 1 WHERE id = $1', [shardId]);
      return { job: job!, shard: { ...shardOf(shard), issued: shard.issued + 1 }, copy };
    });
  }

  async soloResults(volunteerId: string, since: number) {
    return (await this.exec(numbered(SPOT_SQL.soloResults), [volunteerId, since])).rows.map(toSoloResult);
  }

  async reopenShards(r: { targets: readonly { shardId: string; copyId: string }[]; reason: string; now: number }) {
    return this.tx(async (q) => {
      const reopened: Reopened[] = [];
      // Shard rows locked in id order, as every multi-shard write here.
      for (const t of [...r.targets].sort((a, b) => (a.shardId < b.shardId ? -1 : a.shardId > b.shardId ? 1 : 0))) {
        const row = (await q('SELECT * FROM shards WHERE id = $1 FOR NO KEY UPDATE', [t.shardId])).rows[0];
        if (!row || row.state !== 'validated' || row.canonical_copy_id !== t.copyId) continue;
        const copy = (await q(`UPDATE copies SET outcome = 'invalid', reason = $1, credit = 0 WHERE id = $2 RETURNING volunteer_id`, [r.reason, t.copyId])).rows[0]!;
        const alive = num((await q(numbered(SPOT_SQL.alive), [t.shardId])).rows[0]!.n);
        const wanted = Math.max(2, num(row.wanted));
        const jobId = row.job_id as string;
        await q(`UPDATE shards SET state = 'open', canonical_copy_id = NULL, wanted = $1, alive = $2, max_total = $3 WHERE id = $4`,
          [wanted, alive, await this.reopenBudget(q, row, jobId, wanted), t.shardId]);
        const jobReopened = ((await q(`UPDATE jobs SET state = 'running', finished_at = NULL, result_hash = NULL WHERE id = $1 AND state = 'completed'`, [jobId])).rowCount ?? 0) === 1;
        reopened.push({ shardId: t.shardId, jobId, projectId: row.project_id as string, copyId: t.copyId, volunteerId: copy.volunteer_id as string, jobReopened });
      }
      const reversed = await credit.reverseCredits(q, { copyIds: reopened.map((x) => x.copyId), reason: r.reason, now: r.now });
      return { reopened, reversed };
    });
  }

  async agreedResults(volunteerId: string, since: number) {
    return (await this.exec(numbered(REVIEW_SQL.agreedResults), [volunteerId, since])).rows.map(toAgreedResult);
  }

  async startReviews(r: { targets: readonly { shardId: string; at: number }[]; reason: string; now: number }): Promise<Review[]> {
    return this.tx(async (q) => {
      const out: Review[] = [];
      // Shard rows locked in id order, as every multi-shard write here.
      for (const { shardId, at } of [...r.targets].sort((a, b) => (a.shardId < b.shardId ? -1 : a.shardId > b.shardId ? 1 : 0))) {
        const row = (await q('SELECT * FROM shards WHERE id = $1 FOR NO KEY UPDATE', [shardId])).rows[0];
        if (!row || row.state !== 'validated' || !row.canonical_copy_id) continue;
        const ins = await q(numbered(REVIEW_SQL.insert), [shardId, row.job_id, row.project_id, row.canonical_copy_id, r.reason, r.now, at]);
        if (!ins.rowCount) continue;
        out.push({ shardId, jobId: row.job_id as string, projectId: row.project_id as string, canonicalCopyId: row.canonical_copy_id as string, state: 'open', reason: r.reason, openedAt: r.now, resultAt: at, copyId: null });
      }
      return out;
    });
  }

  async waitingReviews(limit: number) {
    return (await this.exec(numbered(REVIEW_SQL.open), [limit])).rows.map(toReview);
  }

  async agreements(volunteerId: string, limit: number) {
    return toAgreements((await this.exec(numbered(REVIEW_SQL.agreements), [volunteerId, limit])).rows);
  }

  async voidAgreement(r: { shardId: string; canonicalCopyId: string; reason: string; now: number }): Promise<Voided | null> {
    return this.tx(async (q): Promise<Voided | null> => {
      const row = (await q('SELECT * FROM shards WHERE id = $1 FOR NO KEY UPDATE', [r.shardId])).rows[0];
      if (!row || row.state !== 'validated' || row.canonical_copy_id !== r.canonicalCopyId) return null;
      // Read again under the shard's row lock: a review confirmed meanwhile (the root's copy valid) or a host's copy judged since keeps it.
      const vouchers = (await q(numbered(REVIEW_SQL.vouchers), [r.shardId])).rows.map(toVoucher);
      if (!agreementVoid(vouchers)) return null;
      const jobId = row.job_id as string;
      await q(`UPDATE copies SET outcome = 'invalid', reason = $1, credit = 0 WHERE id = ANY($2::text[])`, [r.reason, vouchers.map((v) => v.copyId)]);
      const alive = num((await q(numbered(SPOT_SQL.alive), [r.shardId])).rows[0]!.n);
      const wanted = Math.max(2, num(row.wanted));
      await q(`UPDATE shards SET state = 'open', canonical_copy_id = NULL, wanted = $1, alive = $2, max_total = $3 WHERE id = $4`,
        [wanted, alive, await this.reopenBudget(q, row, jobId, wanted), r.shardId]);
      const reviewClosed = ((await q(numbered(REVIEW_SQL.closeVoided), [r.now, r.shardId])).rowCount ?? 0) === 1;
      const jobReopened = ((await q(`UPDATE jobs SET state = 'running', finished_at = NULL, result_hash = NULL WHERE id = $1 AND state = 'completed'`, [jobId])).rowCount ?? 0) === 1;
      const reversed = await credit.reverseCredits(q, { copyIds: vouchers.map((v) => v.copyId), reason: r.reason, now: r.now });
      return {
        shardId: r.shardId, jobId, projectId: row.project_id as string, copies: vouchers.map((v) => ({ copyId: v.copyId, volunteerId: v.volunteerId })),
        reversed, jobReopened, reviewClosed,
      };
    });
  }

  async reviewOf(shardId: string) {
    const r = (await this.exec(numbered(REVIEW_SQL.one), [shardId])).rows[0];
    return r ? toReview(r) : null;
  }

  /** As issueSpotCopy: the shard's row locked, the review and the copies read again under the lock, then decided. */
  async issueReviewCopy(shardId: string, volunteer: ClaimRequest['volunteer'], root: boolean, now: number): Promise<Claimed | null> {
    const copyId = newId();
    return this.tx(async (q): Promise<Claimed | null> => {
      const row = (await q('SELECT * FROM shards WHERE id = $1 FOR NO KEY UPDATE', [shardId])).rows[0];
      const rv = (await q(numbered(REVIEW_SQL.one), [shardId])).rows[0];
      if (!row || !rv) return null;
      const review = toReview(rv);
      const copies = (await q(`SELECT volunteer_id AS "volunteerId", wallet, address, numeric_class AS "numericClass", state
        FROM copies WHERE shard_id = $1`, [shardId])).rows as unknown as CopyIdentity[];
      const shard = toShardRow(row);
      const p = (await q('SELECT private FROM projects WHERE id = $1', [shard.projectId])).rows[0];
      const groups = new Set(p?.private ? (await q(GROUPS_OF, [volunteer.id])).rows.map((r) => r.project_id as string) : []);
      if (!p || !mayServeProject({ id: shard.projectId, private: p.private === true }, groups)) return null;
      const job = await this.job(shard.jobId, q);
      const d = decideReviewCopy({ review, copyLive: review.copyLive, shard, canonicalCopyId: review.canonicalCopyId, copies, job, volunteer, root, now, copyId });
      if (!d.take) return null;
      const { copy } = d;
      // Outside the shard's copy budget: neither issued nor alive counts it (the shard is validated; a review is the coordinator's cost).
      await q(`INSERT INTO copies (id, shard_id, job_id, volunteer_id, account, wallet, address, numeric_class, state, outcome, assigned_at, deadline, review)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'assigned', 'pending', $9, $10, 1)`,
      [copy.id, copy.shardId, copy.jobId, copy.volunteerId, copy.account, copy.wallet, copy.address, copy.numericClass, copy.assignedAt, copy.deadline]);
      await q('UPDATE reviews SET copy_id = $1 WHERE shard_id = $2', [copy.id, shardId]);
      return { job: job!, shard: shardOf(shard), copy };
    });
  }

  async settleReview(w: ReviewSettleWrite): Promise<ReviewSettled | null> {
    return this.tx(async (q): Promise<ReviewSettled | null> => {
      const shard = (await q('SELECT * FROM shards WHERE id = $1 FOR NO KEY UPDATE', [w.shardId])).rows[0];
      const rv = (await q(`SELECT * FROM reviews WHERE shard_id = $1 FOR UPDATE`, [w.shardId])).rows[0];
      if (!rv || !shard) return null;
      const review = toReview(rv);
      if (review.state !== 'open' || shard.state !== 'validated' || shard.canonical_copy_id !== review.canonicalCopyId) return null;
      if (w.own) {
        const h = COORDINATOR_HOST;
        await q(`INSERT INTO copies (id, shard_id, job_id, volunteer_id, account, wallet, address, numeric_class, state, outcome, assigned_at, deadline, returned_at, compute_ms, result, review)
          VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, 'returned', 'pending', $8, $8, $8, $9, $10, 1)`,
        [w.rootCopyId, w.shardId, shard.job_id, h.volunteerId, h.account, h.address, w.own.numericClass, w.now, w.own.computeMs, Buffer.from(w.own.encoded.buffer, w.own.encoded.byteOffset, w.own.encoded.byteLength)]);
      }
      const ids = [...new Set([w.rootCopyId, ...w.overturned])].sort();
      const rows = (await q(`SELECT ${COPY_COLS} FROM copies WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE`, [ids])).rows.map(toCopy);
      const root = rows.find((c) => c.id === w.rootCopyId);
      // Any root copy of the review may settle it: an expired one's late result as well as the one issued after it.
      if (!root || !root.review || root.shardId !== w.shardId || root.state !== 'returned' || root.outcome !== 'pending') return null;
      const at = w.now;
      // The coordinator's own copy is never credited: it is the operator's, not a volunteer's.
      const owed = w.own ? 0 : w.credit;
      await q(`UPDATE copies SET outcome = 'valid', reason = $1, credit = $2 WHERE id = $3`, [w.reason, owed, w.rootCopyId]);
      if (owed > 0) {
        await q(`INSERT INTO ledger (copy_id, account, amount, job_id, project_id, at, payable_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (copy_id) DO NOTHING`,
          [w.rootCopyId, root.account, owed, shard.job_id, shard.project_id, at, payableAt(at, w.holdMs)]);
      }
      let reputations: ReputationMove[] = [];
      let jobReopened = false;
      const overturned: string[] = [];
      if (w.outcome === 'overturned') {
        const events: ReputationEventWrite[] = [];
        for (const id of w.overturned) {
          const c = rows.find((x) => x.id === id);
          if (!c || c.shardId !== w.shardId || c.outcome !== 'valid') continue;
          await q(`UPDATE copies SET outcome = 'invalid', reason = $1, credit = 0 WHERE id = $2`, [w.reason, id]);
          events.push({ volunteerId: c.volunteerId, numericClass: c.numericClass, event: 'invalid' });
          overturned.push(id);
        }
        reputations = await this.applyReputation(q, events, at);
        await q('UPDATE shards SET canonical_copy_id = $1 WHERE id = $2', [w.rootCopyId, w.shardId]);
        jobReopened = ((await q(`UPDATE jobs SET state = 'running', finished_at = NULL, result_hash = NULL WHERE id = $1 AND state = 'completed'`, [shard.job_id])).rowCount ?? 0) === 1;
      }
      await q('UPDATE reviews SET state = $1, settled_at = $2 WHERE shard_id = $3', [w.outcome, at, w.shardId]);
      const reversed = await credit.reverseCredits(q, { copyIds: overturned, reason: w.reason, now: at });
      return { review: { ...review, state: w.outcome }, reversed, reputations, jobReopened };
    });
  }

  async reviewCounts() {
    const out: Record<Review['state'], number> = { open: 0, confirmed: 0, overturned: 0, closed: 0 };
    for (const r of (await this.exec(REVIEW_SQL.counts)).rows) out[r.state as Review['state']] = Number(r.n);
    return out;
  }

  async ackCopy(copyId: string, volunteerId: string, deadline: number) {
    const { rows } = await this.exec(`UPDATE copies SET state = 'running', deadline = $1
      WHERE id = $2 AND volunteer_id = $3 AND ${IN_FLIGHT} RETURNING ${COPY_COLS}`, [deadline, copyId, volunteerId]);
    return rows[0] ? toCopy(rows[0]) : null;
  }

  async extendLeases(volunteerId: string, copyIds: string[], now: number) {
    const extended: string[] = [];
    const lost: { copyId: string; reason: string }[] = [];
    if (copyIds.length === 0) return { extended, lost };
    await this.tx(async (q) => {
      const { rows } = await q(`SELECT id, state, reason, job_id, assigned_at, deadline FROM copies WHERE id = ANY($1::text[]) AND volunteer_id = $2
        ORDER BY id FOR NO KEY UPDATE`, [copyIds, volunteerId]);
      const byId = new Map(rows.map((r) => [r.id as string, r]));
      const deadlines = new Map<string, number>();
      for (const id of copyIds) {
        const c = byId.get(clean(id) as string);
        if (!c) { lost.push({ copyId: id, reason: 'not your copy' }); continue; }
        const job = await this.job(c.job_id as string, q);
        const copy = { state: c.state as string, reason: c.reason as string | null, assignedAt: num(c.assigned_at), deadline: num(c.deadline) };
        const refused = heartbeatRefusal(copy, job?.spec ?? null, now);
        if (refused) { lost.push({ copyId: id, reason: refused }); continue; }
        deadlines.set(c.id as string, job ? leaseDeadline(job.spec, num(c.assigned_at), now) : now + 60_000);
        extended.push(id);
      }
      if (deadlines.size) {
        await q(`UPDATE copies SET deadline = u.deadline FROM unnest($1::text[], $2::bigint[]) AS u(id, deadline) WHERE copies.id = u.id`,
          [[...deadlines.keys()], [...deadlines.values()]]);
      }
    });
    return { extended, lost };
  }

  async getCopy(id: string) {
    const { rows } = await this.exec(`SELECT ${COPY_COLS} FROM copies WHERE id = $1`, [id]);
    return rows[0] ? toCopy(rows[0]) : null;
  }

  async saveResult(copyId: string, volunteerId: string, encoded: Uint8Array, computeMs: number, now: number, rules: ReadonlySet<DistinctRule>): Promise<ResultWrite> {
    return this.tx(async (q): Promise<ResultWrite> => {
      // Shard first (the locking order), reached through the copy's immutable shard_id.
      const shard = (await q(`SELECT id, state FROM shards WHERE id = (SELECT shard_id FROM copies WHERE id = $1) FOR NO KEY UPDATE`, [copyId])).rows[0];
      if (!shard) return 'not_assigned';
      const c = (await q(`SELECT volunteer_id, state FROM copies WHERE id = $1 FOR NO KEY UPDATE`, [copyId])).rows[0];
      if (!c || c.volunteer_id !== volunteerId) return 'not_assigned';
      if (c.state === 'returned') return 'duplicate';
      if (c.state === 'cancelled') return 'gone';
      if (shard.state === 'failed' || shard.state === 'cancelled') return 'gone';
      if (c.state === 'expired' || c.state === 'error') {
        // A late result (expired or errored copy) still counts: it revives the copy, unless it would be a second
        // vote beside a live copy of the same volunteer, wallet or address. Read under the shard's lock, which
        // every claim of this shard takes too: no sibling's copy can be issued between this check and the write.
        const copies = (await q(`SELECT ${COPY_COLS} FROM copies WHERE shard_id = $1`, [shard.id])).rows.map(toCopy);
        const refused = lateRefusal(copyId, copies, rules);
        if (refused) return refused;
        await q('UPDATE shards SET alive = alive + 1 WHERE id = $1', [shard.id]);
      }
      await q(`UPDATE copies SET state = 'returned', result = $1, compute_ms = $2, returned_at = $3 WHERE id = $4`, [encoded, computeMs, now, copyId]);
      return 'accepted';
    });
  }

  async failCopy(copyId: string, volunteerId: string, reason: string, now: number, rules: ReadonlySet<DistinctRule>) {
    return this.tx(async (q) => {
      const shard = (await q(`SELECT id FROM shards WHERE id = (SELECT shard_id FROM copies WHERE id = $1) FOR NO KEY UPDATE`, [copyId])).rows[0];
      if (!shard) return false;
      const r = await q(`UPDATE copies SET state = 'error', reason = $1, returned_at = $2 WHERE id = $3 AND volunteer_id = $4 AND ${IN_FLIGHT}`,
        [reason, now, copyId, volunteerId]);
      if (!r.rowCount) return false;
      await q('UPDATE shards SET alive = alive - 1, errors = errors + 1 WHERE id = $1', [shard.id]);
      await this.refund(q, shard.id as string, [copyId], rules);
      return true;
    });
  }

  async releaseCopy(copyId: string, volunteerId: string, rules: ReadonlySet<DistinctRule>) {
    return this.tx(async (q) => {
      const shard = (await q(`SELECT id FROM shards WHERE id = (SELECT shard_id FROM copies WHERE id = $1) FOR NO KEY UPDATE`, [copyId])).rows[0];
      if (!shard) return false;
      const r = await q(`UPDATE copies SET state = 'cancelled', reason = 'handed back unstarted' WHERE id = $1 AND volunteer_id = $2 AND state = 'assigned'`,
        [copyId, volunteerId]);
      if (!r.rowCount) return false;
      await q('UPDATE shards SET alive = alive - 1 WHERE id = $1', [shard.id]);
      await this.refund(q, shard.id as string, [copyId], rules);
      return true;
    });
  }

  /** Gives the shard's copy budget back what these just-ended copies of dependent sources took (the shard is locked). */
  private async refund(q: Exec, shardId: string, ended: string[], rules: ReadonlySet<DistinctRule>): Promise<void> {
    const copies = (await q(`SELECT ${COPY_COLS} FROM copies WHERE shard_id = $1 ORDER BY seq`, [shardId])).rows.map(toCopy);
    const n = budgetRefunds(copies, ended, rules);
    if (n > 0) await q('UPDATE shards SET issued = issued - $1 WHERE id = $2', [n, shardId]);
  }

  /**
   * Two coordinators' reconcilers run this at the same moment: the shards
   * are locked first, so the second waits, then finds those copies no longer
   * in flight and neither returns them nor counts their errors again.
   */
  async expireCopies(now: number, rules: ReadonlySet<DistinctRule>) {
    return this.tx(async (q) => {
      const due = (await q(`SELECT DISTINCT shard_id FROM copies WHERE ${IN_FLIGHT} AND deadline < $1`, [now])).rows.map((r) => r.shard_id as string);
      if (due.length === 0) return [];
      await q('SELECT id FROM shards WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE', [due]);
      const { rows } = await q(`UPDATE copies SET state = 'expired',
          reason = CASE WHEN state = 'assigned' THEN 'not acknowledged in time' ELSE 'lease expired without heartbeat or result' END
        WHERE id IN (SELECT id FROM copies WHERE shard_id = ANY($1::text[]) AND ${IN_FLIGHT} AND deadline < $2 ORDER BY id FOR NO KEY UPDATE)
          AND ${IN_FLIGHT} AND deadline < $2
        RETURNING ${COPY_COLS}`, [due, now]);
      const expired = rows.map(toCopy);
      // A running copy that reached its hold ceiling is told so, not that its heartbeats stopped.
      for (const c of expired) {
        if (c.state !== 'expired' || c.reason === 'not acknowledged in time') continue;
        const why = expiryReason({ state: 'running', assignedAt: c.assignedAt, deadline: c.deadline }, (await this.job(c.jobId, q))?.spec ?? null);
        if (why !== c.reason) {
          await q('UPDATE copies SET reason = $1 WHERE id = $2', [why, c.id]);
          c.reason = why;
        }
      }
      const perShard = new Map<string, number>();
      for (const c of expired) perShard.set(c.shardId, (perShard.get(c.shardId) ?? 0) + 1);
      if (perShard.size) {
        await q(`UPDATE shards SET alive = alive - u.n, errors = errors + u.n FROM unnest($1::text[], $2::int[]) AS u(id, n) WHERE shards.id = u.id`,
          [[...perShard.keys()], [...perShard.values()]]);
      }
      for (const shardId of perShard.keys()) {
        await this.refund(q, shardId, expired.filter((c) => c.shardId === shardId).map((c) => c.id), rules);
      }
      return expired;
    });
  }

  async setShardFailed(shardId: string) {
    await this.exec(`UPDATE shards SET state = 'failed' WHERE id = $1 AND state = 'open'`, [shardId]);
  }

  /** Shard, copies and results from one snapshot, so a copy listed as returned always has its result. */
  async shardResults(shardId: string): Promise<ShardResults | null> {
    return this.snapshot(async (q) => {
      const row = (await q('SELECT * FROM shards WHERE id = $1', [shardId])).rows[0];
      if (!row) return null;
      const shard = { ...toShard(row), maxTotal: num(row.max_total) };
      const job = await this.job(shard.jobId, q);
      if (!job) return null;
      const { rows } = await q(`SELECT ${COPY_COLS}, CASE WHEN state = 'returned' THEN result END AS result FROM copies WHERE shard_id = $1 ORDER BY seq`, [shardId]);
      const results = new Map<string, Uint8Array>();
      for (const r of rows) if (r.state === 'returned') results.set(r.id as string, r.result as Uint8Array);
      return { job, shard, copies: rows.map(toCopy), results: async (ids: readonly string[]) => new Map(ids.filter((id) => results.has(id)).map((id) => [id, results.get(id)!])) };
    });
  }

  /**
   * Judgements apply once (only to pending copies), so an invalid copy takes
   * its shard's alive count down once, however often the write is repeated.
   * Across coordinators the write may have been decided on an older snapshot
   * than the database's now, so two guards hold: a shard that is no longer
   * open keeps its state (a stale "no consensus" never reopens a validated
   * shard, and a cancelled one stays cancelled), `wanted` never shrinks; and
   * a credit is written only for a copy that is valid in the database, at
   * most once (UNIQUE copy_id, ON CONFLICT DO NOTHING).
   */
  async applyValidation(w: ValidationWrite) {
    return this.tx(async (q) => {
      await q('SELECT id FROM shards WHERE id = $1 FOR NO KEY UPDATE', [w.shardId]);
      if (w.judgements.length) {
        await q('SELECT id FROM copies WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE', [w.judgements.map((j) => j.copyId)]);
      }
      let invalidated = 0;
      const events: ReputationEventWrite[] = [];
      for (const j of w.judgements) {
        const r = await q(`UPDATE copies SET outcome = $1, reason = $2, credit = $3, unchecked = $4 WHERE id = $5 AND outcome = 'pending'
          RETURNING volunteer_id, numeric_class, job_id`, [j.outcome, j.reason, j.credit, j.unchecked ? 1 : 0, j.copyId]);
        if (r.rowCount && j.outcome === 'invalid') invalidated++;
        // With the judgement, once: a judgement repeated finds the copy no longer pending and changes nothing.
        if (r.rowCount && j.reputation) events.push({ volunteerId: r.rows[0]!.volunteer_id as string, numericClass: r.rows[0]!.numeric_class as string, event: j.reputation, seen: j.seen ?? null, jobId: r.rows[0]!.job_id as string });
      }
      const reputations = await this.applyReputation(q, events, Date.now());
      if (invalidated) await q('UPDATE shards SET alive = alive - $1 WHERE id = $2', [invalidated, w.shardId]);
      await q(`UPDATE shards SET state = $1, wanted = GREATEST(wanted, $2), canonical_copy_id = $3 WHERE id = $4 AND state = 'open'`,
        [w.shard.state, w.shard.wanted, w.shard.canonicalCopyId, w.shardId]);
      if (w.credits.length) {
        const at = Date.now();
        await q(`INSERT INTO ledger (copy_id, account, amount, job_id, project_id, at, payable_at)
          SELECT u.copy_id, u.account, u.amount, u.job_id, u.project_id, $6::bigint, $7::bigint
          FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[], $5::text[]) WITH ORDINALITY AS u(copy_id, account, amount, job_id, project_id, n)
          JOIN copies c ON c.id = u.copy_id AND c.outcome = 'valid'
          ORDER BY u.n
          ON CONFLICT (copy_id) DO NOTHING`,
        [w.credits.map((c) => c.copyId), w.credits.map((c) => c.account), w.credits.map((c) => c.amount),
          w.credits.map((c) => c.jobId), w.credits.map((c) => c.projectId), at, payableAt(at, w.holdMs ?? 0)]);
      }
      return { reputations };
    });
  }

  async canonicalResults(jobId: string) {
    const { rows } = await this.exec(`SELECT c.result FROM shards s JOIN copies c ON c.id = s.canonical_copy_id WHERE s.job_id = $1 ORDER BY s.idx`, [jobId]);
    return rows.map((r) => r.result as Uint8Array);
  }

  async shortenLeases(volunteerId: string, deadline: number) {
    const r = await this.exec(`UPDATE copies SET deadline = LEAST(deadline, $1)
      WHERE id IN (SELECT id FROM copies WHERE volunteer_id = $2 AND ${IN_FLIGHT} ORDER BY id FOR NO KEY UPDATE) AND ${IN_FLIGHT}`, [deadline, volunteerId]);
    return r.rowCount ?? 0;
  }

  async copiesInFlight(volunteerId: string) {
    return (await this.exec(`SELECT ${COPY_COLS} FROM copies WHERE volunteer_id = $1 AND ${IN_FLIGHT} ORDER BY seq`, [volunteerId])).rows.map(toCopy);
  }

  // Balances are sums over the ledger's credits and its later changes (reversals, claims, payouts).
  async balance(account: string) {
    return num((await this.exec(`SELECT (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE account = $1)
      + (SELECT COALESCE(SUM(amount), 0) FROM ledger_changes WHERE account = $1) AS b`, [account])).rows[0]!.b);
  }

  async accountTotals(account: string) {
    const r = (await this.exec(`SELECT (SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE account = $1)
      + (SELECT COALESCE(SUM(amount), 0) FROM ledger_changes WHERE account = $1) AS balance,
      (SELECT COUNT(*) FROM ledger WHERE account = $1) AS copies`, [account])).rows[0]!;
    return { balance: num(r.balance), copies: num(r.copies) };
  }

  async ledger(filter: { account?: string; jobId?: string; before?: number; limit: number }): Promise<LedgerEntry[]> {
    const where: string[] = [];
    const vals: unknown[] = [];
    if (filter.before !== undefined) { vals.push(filter.before); where.push(`seq < $${vals.length}`); }
    if (filter.account) { vals.push(filter.account); where.push(`account = $${vals.length}`); }
    if (filter.jobId) { vals.push(filter.jobId); where.push(`job_id = $${vals.length}`); }
    vals.push(filter.limit);
    const { rows } = await this.exec(`SELECT * FROM ledger ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${vals.length}`, vals);
    return rows.map((r) => ({
      seq: num(r.seq), copyId: r.copy_id as string, account: r.account as string, amount: r.amount as number,
      jobId: r.job_id as string, projectId: r.project_id as string, at: num(r.at),
    }));
  }

  async topAccounts(limit: number) {
    const { rows } = await this.exec(`SELECT account, SUM(amount) AS balance, COUNT(copy) AS copies FROM (
        SELECT account, amount, 1 AS copy FROM ledger UNION ALL SELECT account, amount, NULL FROM ledger_changes) t
      GROUP BY account ORDER BY balance DESC LIMIT $1`, [limit]);
    return rows.map((r) => ({ account: r.account as string, balance: num(r.balance), copies: num(r.copies) }));
  }

  async projectBoard(projectId: string, limit: number): Promise<ProjectBoardCounts> {
    return this.snapshot(async (q) => {
      const jobs: Record<JobState, number> = { running: 0, completed: 0, failed: 0, cancelled: 0 };
      for (const r of (await q('SELECT state, COUNT(*) AS n FROM jobs WHERE project_id = $1 GROUP BY state', [projectId])).rows) jobs[r.state as JobState] = num(r.n);
      const shards = (await q(`SELECT job_id, COUNT(*) AS total, SUM(CASE WHEN state = 'validated' THEN 1 ELSE 0 END) AS validated,
        SUM(CASE WHEN state = 'validated' THEN rec_end - rec_start ELSE 0 END) AS records
      FROM shards WHERE job_id IN (SELECT id FROM jobs WHERE project_id = $1) AND state <> 'cancelled' GROUP BY job_id`, [projectId])).rows
        .map((r) => ({ jobId: r.job_id as string, total: num(r.total), validated: num(r.validated), validatedRecords: num(r.records) }));
      // Per copy: its credit less its reversal (a copy is reversed at most once).
      const leaderboard = (await q(`SELECT l.account AS account, SUM(l.amount + COALESCE(r.amount, 0)) AS credit,
        SUM(CASE WHEN r.copy_id IS NULL THEN 1 ELSE 0 END) AS copies
      FROM ledger l LEFT JOIN ledger_changes r ON r.copy_id = l.copy_id AND r.kind = 'reversal'
      WHERE l.job_id IN (SELECT id FROM jobs WHERE project_id = $1)
      GROUP BY l.account ORDER BY credit DESC, account LIMIT $2`, [projectId, limit])).rows
        .map((r) => ({ account: r.account as string, credit: num(r.credit), copies: num(r.copies) }));
      const credit = num((await q(`SELECT COALESCE(SUM(l.amount + COALESCE(r.amount, 0)), 0) AS credit
      FROM ledger l LEFT JOIN ledger_changes r ON r.copy_id = l.copy_id AND r.kind = 'reversal'
      WHERE l.job_id IN (SELECT id FROM jobs WHERE project_id = $1)`, [projectId])).rows[0]!.credit);
      return { jobs, shards, leaderboard, credit };
    });
  }

  async reputations(keys: readonly ReputationKey[]) {
    if (keys.length === 0) return [];
    const { rows } = await this.exec(`SELECT r.* FROM reputations r
      JOIN unnest($1::text[], $2::text[]) AS k(volunteer_id, numeric_class) USING (volunteer_id, numeric_class)`,
    [keys.map((k) => k.volunteerId), keys.map((k) => k.numericClass)]);
    const byKey = new Map(rows.map((r) => { const rep = toReputation(r); return [reputationKey(rep), rep]; }));
    return keys.map((k) => byKey.get(reputationKey(k))).filter((r): r is Reputation => !!r);
  }

  async paces(jobId: string, keys: readonly ReputationKey[]) {
    if (keys.length === 0) return new Map<string, number>();
    const { rows } = await this.exec(`SELECT p.volunteer_id, p.numeric_class, p.pace FROM paces p
      JOIN unnest($2::text[], $3::text[]) AS k(volunteer_id, numeric_class) USING (volunteer_id, numeric_class) WHERE p.job_id = $1`,
    [jobId, keys.map((k) => k.volunteerId), keys.map((k) => k.numericClass)]);
    return new Map(rows.map((r) => [reputationKey({ volunteerId: r.volunteer_id as string, numericClass: r.numeric_class as string }), Number(r.pace)]));
  }

  /**
   * Each host's row is created if missing, then locked (FOR UPDATE) and
   * rewritten from afterEvent: concurrent judgements on several coordinators
   * queue on the row and none loses another's event.
   */
  private async applyReputation(q: Exec, events: readonly ReputationEventWrite[], now: number): Promise<ReputationMove[]> {
    if (events.length === 0) return [];
    // Locked in one order (by key) so two transactions never wait on each other's rows.
    const keys = [...new Map(events.map((e) => [reputationKey(e), e])).values()].sort((a, b) => (reputationKey(a) < reputationKey(b) ? -1 : 1));
    for (const k of keys) {
      await q(`INSERT INTO reputations (${REPUTATION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT (volunteer_id, numeric_class) DO NOTHING`, reputationValues(newReputation(k.volunteerId, k.numericClass, now)));
    }
    const current = new Map<string, Reputation>();
    // A row just created above reads back as a new host's (untrusted, as SQLite's missing row is).
    const before = new Map<string, Reputation | null>();
    for (const k of keys) {
      const { rows } = await q('SELECT * FROM reputations WHERE volunteer_id = $1 AND numeric_class = $2 FOR UPDATE', [k.volunteerId, k.numericClass]);
      current.set(reputationKey(k), toReputation(rows[0]!));
      before.set(reputationKey(k), toReputation(rows[0]!));
    }
    for (const e of events) {
      current.set(reputationKey(e), applyEvent(current.get(reputationKey(e))!, e, now));
    }
    for (const r of current.values()) {
      await q(`UPDATE reputations SET streak = $3, streak_since = $4, valid = $5, invalid = $6, errors = $7, spot_passed = $8,
        spot_failed = $9, last_invalid_at = $10, operator = $11, updated_at = $12 WHERE volunteer_id = $1 AND numeric_class = $2`, reputationValues(r));
    }
    // The faster of the two (pace.ts afterChecked), in the transaction of the event that taught it.
    for (const p of events.map(checkedPace)) {
      if (p) {
        await q(`INSERT INTO paces (job_id, volunteer_id, numeric_class, pace) VALUES ($1, $2, $3, $4)
          ON CONFLICT (job_id, volunteer_id, numeric_class) DO UPDATE SET pace = LEAST(paces.pace, EXCLUDED.pace)`, [p.jobId, p.volunteerId, p.numericClass, p.pace]);
      }
    }
    return [...current.entries()].map(([k, after]) => ({ before: before.get(k) ?? null, after }));
  }

  async recordReputation(events: readonly ReputationEventWrite[], now: number) {
    return events.length ? this.tx((q) => this.applyReputation(q, events, now)) : [];
  }

  async markOperator(k: ReputationKey, now: number) {
    // `WHERE reputations.operator = 0`: a revoked host (OPERATOR_REVOKED) stays revoked, and one revoked in any
    // class (mayMarkOperator) is marked in none: its rows are locked first, so a revocation under way is waited for.
    return this.tx(async (q) => {
      const { rows: all } = await q('SELECT * FROM reputations WHERE volunteer_id = $1 FOR UPDATE', [k.volunteerId]);
      if (!mayMarkOperator(all.map(toReputation))) return false;
      await q(`INSERT INTO reputations (${REPUTATION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT (volunteer_id, numeric_class) DO UPDATE SET operator = 1, updated_at = EXCLUDED.updated_at WHERE reputations.operator = 0`,
      reputationValues({ ...newReputation(k.volunteerId, k.numericClass, now), operator: true }));
      const { rows } = await q('SELECT operator FROM reputations WHERE volunteer_id = $1 AND numeric_class = $2', [k.volunteerId, k.numericClass]);
      return Number(rows[0]!.operator) === 1;
    });
  }

  async classCensus() {
    const { rows } = await this.exec('SELECT numeric_class AS c, COUNT(DISTINCT address) AS n FROM volunteers GROUP BY numeric_class');
    return new Map(rows.map((r) => [r.c as string, num(r.n)]));
  }

  async trustedClassesSeen(trustAfter: number, since: number) {
    const { rows } = await this.exec(`SELECT DISTINCT r.numeric_class AS c FROM reputations r JOIN volunteers v ON v.id = r.volunteer_id
      WHERE (r.operator = 1 OR r.streak >= $1) AND v.last_seen >= $2 ORDER BY c`, [trustAfter, since]);
    return rows.map((r) => r.c as string);
  }

  async countCreditsForCopy(copyId: string) {
    return num((await this.exec('SELECT COUNT(*) AS n FROM ledger WHERE copy_id = $1', [copyId])).rows[0]!.n);
  }

  // The credit ledger beyond credits (credit-ledger.ts).
  async accountCredit(account: string, now: number) { return credit.accountCredit(this.exec, account, now); }
  async reverseCredits(r: { copyIds: readonly string[]; reason: string; now: number }) { return this.tx((q) => credit.reverseCredits(q, r)); }
  async ledgerChanges(filter: { account?: string; before?: number; limit: number }) { return credit.ledgerChanges(this.exec, filter); }
  async claimCredit(c: WalletClaimWrite) { return this.tx((q) => credit.claimCredit(q, c)); }
  async closePayout(p: Parameters<CreditLedger['closePayout']>[0]) { return this.tx((q) => credit.closePayout(q, p)); }
  async payoutEpochs(limit: number) { return credit.payoutEpochs(this.exec, limit); }
  async payoutEpoch(id: string) { return credit.payoutEpoch(this.exec, id); }
  async payoutsOf(account: string) { return credit.payoutsOf(this.exec, account); }
}
