/**
 * The embedded store: one SQLite file in WAL mode through better-sqlite3.
 * better-sqlite3 is synchronous, which makes each method trivially atomic in
 * one process; the Promise-returning interface keeps callers honest for the
 * PostgreSQL store. synchronous=NORMAL in WAL mode: a committed transaction
 * survives a process crash (SIGKILL); only power loss can drop the last ones.
 */
import { payableAt } from '../../core/credit/hold.ts';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Copy, Job, Shard, TrainProgress } from '../../core/jobs/types.ts';
import { kindOf } from '../../core/jobs/kinds.ts';
import type { KeyedJob, SubmissionKey } from '../../core/jobs/submission.ts';
import { decideClaim, type JobRefusals, jobRefusals } from '../../core/scheduler/claim.ts';
import { PICK_WINDOW, type Pickable, pickOrder } from '../../core/scheduler/pick.ts';
import { type DistinctRule, mayServeProject } from '../../core/scheduler/eligibility.ts';
import type { InviteRow } from '../../core/groups/membership.ts';
import { budgetRefunds, reopenedBudget } from '../../core/scheduler/transitions.ts';
import { expiryReason, heartbeatRefusal, leaseDeadline } from '../../core/scheduler/lease.ts';
import { newId } from '../ids.ts';
import { FAIR_SHARE_WINDOW_MS, fairShareOrder, type ProjectLoad, shardGflops } from '../../core/scheduler/fair-share.ts';
import { decideSpotCopy } from '../../core/trust/spot-check.ts';
import { agreementVoid, COORDINATOR_HOST, decideReviewCopy, type Review } from '../../core/trust/review.ts';
import { activeProject, COPY_COLS, FAIR_SHARE_SQL, MEMBERSHIP_COLS, lateRefusal, REVIEW_SQL, SPOT_SQL, toAgreedResult, toAgreements, toReview, toVoucher, toInvite, toKnownAnswer, toOwnAnswer, type OwnAnswerRow, toMembership, toSoloResult, GRID_COUNT_SQL, gridCounts, projectPatch, type Row, toCopy, toJob, toProject, toShard, toShardRow, toTokenInfo, toVolunteer } from '../rows.ts';
import {
  type ClaimRequest, type Claimed, DEFAULT_PROJECT_SETTINGS, type JobCounts, type LedgerEntry, type NewProject, type Project, type ProjectDeletion,
  type ProjectSettings, type Reopened, type Voided, type ResultWrite, type ReviewSettleWrite, type ReviewSettled, type ShardResults, type Store, type ValidationWrite, type Volunteer,
} from '../types.ts';
import type { ProjectBoardCounts } from '../types.ts';
import type { JobState } from '../../../shared/protocol/events.ts';
import type { CreditLedger, WalletClaimWrite } from '../credit-types.ts';
import { Checkpointer } from './checkpointer.ts';
import { SqliteCreditLedger } from './credit-ledger.ts';
import { type HotEntry, HotShards, shardOf } from './hot-shards.ts';
import { MIGRATIONS } from './migrations.ts';
import { mayMarkOperator, newReputation, type Reputation, resultTrust } from '../../core/trust/reputation.ts';
import type { ClaimTrust } from '../../core/scheduler/claim.ts';
import { applyEvent, checkedPace, REPUTATION_COLS, reputationKey, reputationValues, type ReputationEventWrite, type ReputationKey, type ReputationMove, toReputation } from '../reputation-rows.ts';

/** Wanting shards read into the dispatch queue at once (and their copies with them). */
const QUEUE_PAGE = 1024;
/** Past a full queue, candidates are read in growing pages, as a volunteer may hold copies of every shard in it. */
const CLAIM_PAGES: [limit: number, offset: number][] = [[QUEUE_PAGE, 0], [4 * QUEUE_PAGE, QUEUE_PAGE]];
const WANTING = `state = 'open' AND alive < wanted AND issued < max_total`;
/**
 * Under one copy at a time (trust/replication.ts waitsForCopyInFlight) an inference shard with a copy in flight
 * gives nobody a copy until it returns, yet still wants one: left in the pages read past the queue, a fresh swarm's
 * first copies (every shard replicated) would fill all of CLAIM_PAGES and hide the free shards after them. Each is
 * an index probe (copies_shard, jobs' key); decideClaim still decides each shard read.
 */
const NOT_HELD_BACK = `NOT (EXISTS (SELECT 1 FROM copies c WHERE c.shard_id = shards.id AND c.state IN ('assigned','running'))
  AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = shards.job_id AND j.kind = 'inference'))`;

/**
 * Results larger than this are written to a file of their own (before the
 * transaction that records them commits) instead of into the database: a
 * 512 KiB BLOB costs 128 page writes to the WAL at COMMIT, on the event
 * loop, and the same again when the WAL is checkpointed, where one file
 * write runs on libuv's thread pool. The file survives a process crash as
 * the WAL does (neither is fsynced per commit).
 */
export const RESULT_FILE_ABOVE_BYTES = 64 * 1024;

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private db: Database.Database;
  private jobCache = new Map<string, Job>();
  private s: Record<string, Database.Statement>;
  private pending: { resolve: () => void; reject: (e: Error) => void }[] | null = null;
  /** Runs a write as a savepoint of the open transaction; built once, not per write. */
  private readonly savepoint: (fn: () => unknown) => unknown;
  /** Where large results go; null for an in-memory database (tests), which keeps them all inline. */
  private readonly resultsDir: string | null;
  private readonly checkpointer: Checkpointer | null = null;
  /** What the hot path reads, kept exact by every write below (see hot-shards.ts). */
  private readonly hot = new HotShards();
  /** Hold, reversals, claims and payouts (credit-ledger.ts). */
  private readonly credits: SqliteCreditLedger;

  constructor(file: string) {
    if (file !== ':memory:') {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      ownerOnly(file);
    }
    this.resultsDir = file === ':memory:' ? null : join(dirname(file), 'results');
    if (this.resultsDir) mkdirSync(this.resultsDir, { recursive: true });
    this.db = new Database(file);
    // New databases only (an existing file keeps its page size): a commit of a few hundred results then
    // writes a quarter as many WAL frames, each a pwrite() system call, and those are dear in a VM.
    this.db.pragma('page_size = 16384');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    // Savepoint sub-journals in memory, not in a temporary file written page by page.
    this.db.pragma('temp_store = MEMORY');
    // 64 MiB of page cache instead of 2: the recent pages of the copies and their indexes stay in memory.
    this.db.pragma('cache_size = -65536');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    if (file !== ':memory:') {
      // Checkpoints run on a thread of their own (see checkpointer.ts), never inside a COMMIT on the event loop.
      this.db.pragma('wal_autocheckpoint = 0');
      this.db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
      this.checkpointer = new Checkpointer(file);
    }
    this.migrate();
    this.credits = new SqliteCreditLedger(this.db);
    this.savepoint = this.db.transaction((fn: () => unknown) => fn());
    void this.sweepResultFiles();
    const p = (sql: string) => this.db.prepare(sql);
    this.s = {
      // One project's wanting shards, highest priority and oldest job first (the shards_wanting_project index).
      wanting: p(`SELECT * FROM shards WHERE project_id = ? AND ${WANTING} ORDER BY priority DESC, job_created, idx LIMIT ? OFFSET ?`),
      // The same, less the shards one copy at a time holds back (NOT_HELD_BACK).
      wantingNotHeld: p(`SELECT * FROM shards WHERE project_id = ? AND ${WANTING} AND ${NOT_HELD_BACK} ORDER BY priority DESC, job_created, idx LIMIT ? OFFSET ?`),
      wantingCopies: p(`SELECT ${COPY_COLS} FROM copies WHERE shard_id IN
        (SELECT id FROM shards WHERE project_id = ? AND ${WANTING} ORDER BY priority DESC, job_created, idx LIMIT ? OFFSET ?) ORDER BY rowid`),
      projectsWithWork: p(FAIR_SHARE_SQL.projectsWithWork),
      runningJobsOf: p(`SELECT id FROM jobs WHERE project_id = ? AND state = 'running'`),
      runningJobs: p(`SELECT id FROM jobs WHERE state = 'running'`),
      validatedSince: p(FAIR_SHARE_SQL.validatedSince),
      inFlightByProject: p(FAIR_SHARE_SQL.inFlightByProject),
      projectPrivate: p('SELECT private FROM projects WHERE id = ?'),
      groupsOf: p(`SELECT m.project_id FROM project_members m JOIN project_invites i ON i.id = m.invite_id JOIN projects p ON p.id = m.project_id
        WHERE m.volunteer_id = ? AND m.ended_at IS NULL AND i.revoked_at IS NULL AND p.deleted_at IS NULL ORDER BY m.joined_at`),
      // Issue order: the validator breaks ties by it.
      copiesOfShard: p(`SELECT ${COPY_COLS} FROM copies WHERE shard_id = ? ORDER BY rowid`),
      insertCopy: p(`INSERT INTO copies (id, shard_id, job_id, volunteer_id, account, wallet, address, numeric_class, state, outcome, assigned_at, deadline, solo, spot, review)
                     VALUES (@id, @shardId, @jobId, @volunteerId, @account, @wallet, @address, @numericClass, 'assigned', 'pending', @assignedAt, @deadline, @solo, @spot, @review)`),
      setWanted: p(`UPDATE shards SET wanted = ? WHERE id = ?`),
      reputation: p('SELECT * FROM reputations WHERE volunteer_id = ? AND numeric_class = ?'),
      pace: p('SELECT pace FROM paces WHERE job_id = ? AND volunteer_id = ? AND numeric_class = ?'),
      // The faster of the two (pace.ts afterChecked), under the write lock with the event that taught it.
      learnPace: p(`INSERT INTO paces (job_id, volunteer_id, numeric_class, pace) VALUES (?, ?, ?, ?)
        ON CONFLICT (job_id, volunteer_id, numeric_class) DO UPDATE SET pace = MIN(pace, excluded.pace)`),
      issue: p(`UPDATE shards SET alive = alive + 1, issued = issued + 1 WHERE id = ?`),
      getCopy: p(`SELECT ${COPY_COLS} FROM copies WHERE id = ?`),
      getShard: p(`SELECT * FROM shards WHERE id = ?`),
      ack: p(`UPDATE copies SET state = 'running', deadline = ? WHERE id = ? AND volunteer_id = ? AND state IN ('assigned','running')`),
      extend: p(`UPDATE copies SET deadline = ? WHERE id = ? AND volunteer_id = ? AND state = 'running'`),
      saveResult: p(`UPDATE copies SET state = 'returned', result = ?, result_file = ?, compute_ms = ?, returned_at = ? WHERE id = ?`),
      inFlightShards: p(`SELECT DISTINCT shard_id FROM copies WHERE volunteer_id = ? AND state IN ('assigned','running')`),
      // The common case in one statement: the copy is in flight with its sender and its shard still wants results.
      saveInFlight: p(`UPDATE copies SET state = 'returned', result = ?, result_file = ?, compute_ms = ?, returned_at = ?
                       WHERE id = ? AND volunteer_id = ? AND state IN ('assigned','running')
                         AND (SELECT state FROM shards WHERE id = copies.shard_id) IN ('open','validated')`),
      revive: p(`UPDATE shards SET alive = alive + 1 WHERE id = ?`),
      fail: p(`UPDATE copies SET state = 'error', reason = ?, returned_at = ? WHERE id = ? AND volunteer_id = ? AND state IN ('assigned','running')`),
      shardError: p(`UPDATE shards SET alive = alive - 1, errors = errors + 1 WHERE id = ?`),
      dueCopies: p(`SELECT ${COPY_COLS} FROM copies WHERE state IN ('assigned','running') AND deadline < ?`),
      expire: p(`UPDATE copies SET state = 'expired', reason = ? WHERE id = ? AND state IN ('assigned','running')`),
      results: p(`SELECT id, result, result_file FROM copies WHERE shard_id = ? AND state = 'returned'`),
      judge: p(`UPDATE copies SET outcome = ?, reason = ?, credit = ?, unchecked = ? WHERE id = ? AND outcome = 'pending'`),
      unalive: p(`UPDATE shards SET alive = alive - 1 WHERE id = ?`),
      refund: p(`UPDATE shards SET issued = issued - ? WHERE id = ?`),
      // Only an open shard moves: a validation computed before a concurrent cancel must not reopen it.
      setShard: p(`UPDATE shards SET state = ?, wanted = ?, canonical_copy_id = ? WHERE id = ? AND state = 'open'`),
      credit: p(`INSERT INTO ledger (copy_id, account, amount, job_id, project_id, at, payable_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(copy_id) DO NOTHING`),
      balance: p(`SELECT balance AS b FROM balances WHERE account = ?`),
      inFlight: p(`SELECT ${COPY_COLS} FROM copies WHERE volunteer_id = ? AND state IN ('assigned','running')`),
      shardsLeft: p(`SELECT EXISTS(SELECT 1 FROM shards WHERE job_id = ? AND state = 'open') AS open,
                            EXISTS(SELECT 1 FROM shards WHERE job_id = ? AND state = 'failed') AS failed`),
      countShards: p('SELECT state, COUNT(*) AS n FROM shards WHERE job_id = ? GROUP BY state'),
      countCopies: p('SELECT state, outcome, COUNT(*) AS n FROM copies WHERE job_id = ? GROUP BY state, outcome'),
      jobCredit: p('SELECT COALESCE(SUM(amount), 0) AS c FROM ledger WHERE job_id = ?'),
      getJob: p(`SELECT * FROM jobs WHERE id = ?`),
      heldInRange: p(`SELECT COUNT(*) AS n FROM copies c JOIN shards s ON s.id = c.shard_id
        WHERE s.job_id = ? AND s.idx >= ? AND s.idx < ? AND c.volunteer_id = ? AND c.state NOT IN ('expired','error','cancelled')`),
    };
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  /**
   * Group commit: every write runs at once inside the current transaction (as
   * a savepoint, so a throwing write rolls back alone), and the transaction
   * commits once per event-loop turn. The returned promise settles only after
   * that COMMIT, so nothing is acknowledged to a volunteer before it is
   * durable, while hundreds of writes share one commit.
   */
  private write<T>(fn: () => T): Promise<T> {
    this.begin();
    let value: T;
    try {
      value = this.savepoint(fn) as T;
    } catch (e) {
      // The savepoint rolled back; whatever the write had already put in memory is forgotten with it.
      this.hot.clear();
      return Promise.reject(e);
    }
    return this.afterCommit(value);
  }

  /**
   * The hot path's writes, without a savepoint of their own. A savepoint
   * copies every page it is about to change into a sub-journal first, and
   * replaying the coordinator's writes that made each result cost 3.6× as
   * much SQL (201 µs against 56). These writes decide in memory (or by
   * the WHERE of their first statement) before they change anything, so no
   * input makes them fail halfway; should one fail anyway (a full disk), the
   * whole group rolls back and every write in it is refused: nothing that
   * was not acknowledged is kept half-done.
   */
  private writeLean<T>(fn: () => T): Promise<T> {
    this.begin();
    let value: T;
    try {
      value = fn();
    } catch (e) {
      this.abortGroup(e as Error);
      return Promise.reject(e);
    }
    return this.afterCommit(value);
  }

  private begin(): void {
    if (this.pending) return;
    this.db.exec('BEGIN IMMEDIATE');
    this.pending = [];
    setImmediate(() => this.commit());
  }

  private afterCommit<T>(value: T): Promise<T> {
    const waiters = this.pending!;
    return new Promise<T>((resolve, reject) => waiters.push({ resolve: () => resolve(value), reject }));
  }

  private abortGroup(e: Error): void {
    const waiters = this.pending ?? [];
    this.pending = null;
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
    this.hot.clear();
    for (const w of waiters) w.reject(e);
  }

  private commit(): void {
    const waiters = this.pending;
    if (!waiters) return;
    this.pending = null;
    try {
      this.db.exec('COMMIT');
    } catch (e) {
      this.pending = waiters;
      this.abortGroup(e as Error);
      return;
    }
    for (const w of waiters) w.resolve();
  }

  async close() {
    this.commit();
    await this.checkpointer?.stop();
    this.db.close();
  }

  async createProject(p: NewProject) {
    const q = { ...DEFAULT_PROJECT_SETTINGS, ...p };
    await this.write(() => this.db.prepare(`INSERT INTO projects (id, name, created_at, embed, description, weight, private, max_in_flight)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(q.id, q.name, q.createdAt, JSON.stringify(q.embed), q.description, q.weight, q.private ? 1 : 0, q.maxInFlight));
  }

  async getProject(id: string) {
    const r = this.db.prepare('SELECT * FROM projects WHERE id = ?').get(id) as Row | undefined;
    return r ? toProject(r) : null;
  }

  async projectByName(name: string) {
    const r = this.db.prepare('SELECT * FROM projects WHERE name = ? AND deleted_at IS NULL').get(name) as Row | undefined;
    return r ? toProject(r) : null;
  }

  async listProjects() {
    return (this.db.prepare('SELECT * FROM projects WHERE deleted_at IS NULL ORDER BY created_at').all() as Row[]).map(toProject);
  }

  async setEmbedSettings(projectId: string, embed: Project['embed']) {
    await this.write(() => this.db.prepare('UPDATE projects SET embed = ? WHERE id = ?').run(JSON.stringify(embed), projectId));
  }

  async updateProject(projectId: string, patch: Partial<ProjectSettings>) {
    const { sets, vals } = projectPatch(patch);
    if (sets.length) await this.write(() => this.db.prepare(`UPDATE projects SET ${sets.join(', ')} WHERE id = ?`).run(...vals.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v)), projectId));
  }

  async deleteProject(projectId: string, at: number): Promise<ProjectDeletion> {
    return this.write(() => {
      const live = this.db.prepare('SELECT 1 FROM projects WHERE id = ? AND deleted_at IS NULL').get(projectId);
      if (!live) return 'gone';
      if (this.db.prepare(`SELECT 1 FROM jobs WHERE project_id = ? AND state = 'running' LIMIT 1`).get(projectId)) return 'running';
      this.db.prepare('UPDATE projects SET deleted_at = ? WHERE id = ?').run(at, projectId);
      this.db.prepare('UPDATE tokens SET revoked_at = ? WHERE project_id = ? AND revoked_at IS NULL').run(at, projectId);
      return 'deleted';
    });
  }

  async addToken(t: { id: string; projectId: string; hash: string; label: string; createdAt: number }) {
    await this.write(() => this.db.prepare('INSERT INTO tokens (id, project_id, hash, label, created_at) VALUES (?, ?, ?, ?, ?)').run(t.id, t.projectId, t.hash, t.label, t.createdAt));
  }

  async projectByTokenHash(hash: string) {
    const r = this.db.prepare(`SELECT p.* FROM tokens t JOIN projects p ON p.id = t.project_id
      WHERE t.hash = ? AND t.revoked_at IS NULL AND p.deleted_at IS NULL`).get(hash) as Row | undefined;
    return r ? toProject(r) : null;
  }

  async tokensOf(projectId: string) {
    return (this.db.prepare('SELECT id, label, created_at, revoked_at FROM tokens WHERE project_id = ? ORDER BY created_at, id').all(projectId) as Row[]).map(toTokenInfo);
  }

  async revokeTokens(projectId: string, ids: string[] | null, at: number) {
    return this.write(() => {
      const live = (this.db.prepare('SELECT id FROM tokens WHERE project_id = ? AND revoked_at IS NULL').all(projectId) as Row[]).map((r) => r.id as string);
      const revoked = ids === null ? live : live.filter((id) => ids.includes(id));
      const q = this.db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ?');
      for (const id of revoked) q.run(at, id);
      return revoked;
    });
  }

  async addOperatorToken(t: { hash: string; createdAt: number }) {
    return this.write(() => this.db.prepare(`INSERT INTO operator_tokens (id, hash, created_at) VALUES ('operator', ?, ?) ON CONFLICT DO NOTHING`).run(t.hash, t.createdAt).changes === 1);
  }

  async replaceOperatorToken(t: { hash: string; createdAt: number }) {
    await this.write(() => this.db.prepare(`INSERT INTO operator_tokens (id, hash, created_at) VALUES ('operator', ?, ?)
      ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, created_at = excluded.created_at`).run(t.hash, t.createdAt));
  }

  async isOperatorTokenHash(hash: string) {
    return this.db.prepare('SELECT 1 FROM operator_tokens WHERE hash = ?').get(hash) !== undefined;
  }

  async recordBlob(b: { hash: string; bytes: number; kind: string; createdAt: number }) {
    // A blob first uploaded privately becomes public once a job uses it as a model or weights.
    await this.write(() => this.db.prepare(`INSERT INTO blobs (hash, bytes, kind, created_at) VALUES (?, ?, ?, ?)
      ON CONFLICT(hash) DO UPDATE SET kind = excluded.kind WHERE excluded.kind IN ('model', 'weights')`).run(b.hash, b.bytes, b.kind, b.createdAt));
  }

  async blobKind(hash: string) {
    const r = this.db.prepare('SELECT kind FROM blobs WHERE hash = ?').get(hash) as Row | undefined;
    return r ? (r.kind as string) : null;
  }

  async grantBlob(projectId: string, hash: string, at: number) {
    await this.write(() => this.db.prepare('INSERT INTO project_blobs (project_id, hash, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').run(projectId, hash, at));
  }

  async projectHasBlob(projectId: string, hash: string) {
    return this.db.prepare('SELECT 1 FROM project_blobs WHERE project_id = ? AND hash = ?').get(projectId, hash) !== undefined;
  }

  async addInvite(i: InviteRow & { hash: string }) {
    await this.write(() => this.db.prepare('INSERT INTO project_invites (id, project_id, hash, label, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(i.id, i.projectId, i.hash, i.label, i.createdAt, i.revokedAt));
  }

  async inviteByHash(hash: string) {
    const r = this.db.prepare('SELECT * FROM project_invites WHERE hash = ?').get(hash) as Row | undefined;
    return r ? toInvite(r) : null;
  }

  async invitesOf(projectId: string) {
    return (this.db.prepare(`SELECT i.*, (SELECT COUNT(*) FROM project_members m WHERE m.invite_id = i.id AND m.ended_at IS NULL) AS members
      FROM project_invites i WHERE i.project_id = ? ORDER BY i.created_at, i.id`).all(projectId) as Row[]).map((r) => ({ ...toInvite(r), members: Number(r.members) }));
  }

  async revokeInvite(projectId: string, inviteId: string, at: number) {
    return this.write(() => this.db.prepare('UPDATE project_invites SET revoked_at = ? WHERE id = ? AND project_id = ? AND revoked_at IS NULL').run(at, inviteId, projectId).changes > 0);
  }

  async membership(projectId: string, volunteerId: string) {
    const r = this.db.prepare(`SELECT ${MEMBERSHIP_COLS} FROM project_members m JOIN project_invites i ON i.id = m.invite_id
      WHERE m.project_id = ? AND m.volunteer_id = ?`).get(projectId, volunteerId) as Row | undefined;
    return r ? toMembership(r) : null;
  }

  async joinGroup(j: { projectId: string; volunteerId: string; inviteId: string; inviteCreatedAt: number; at: number }) {
    return this.write(() => this.db.prepare(`INSERT INTO project_members (project_id, volunteer_id, invite_id, joined_at) VALUES (@projectId, @volunteerId, @inviteId, @at)
      ON CONFLICT (project_id, volunteer_id) DO UPDATE SET invite_id = excluded.invite_id,
        joined_at = CASE WHEN project_members.ended_at IS NULL THEN project_members.joined_at ELSE excluded.joined_at END, ended_at = NULL, ended_by = NULL
      WHERE project_members.ended_by IS NULL OR project_members.ended_by = 'left' OR project_members.ended_at < @inviteCreatedAt`).run(j).changes > 0);
  }

  async endMembership(projectId: string, volunteerId: string, by: 'left' | 'removed', at: number) {
    return this.write(() => this.db.prepare('UPDATE project_members SET ended_at = ?, ended_by = ? WHERE project_id = ? AND volunteer_id = ? AND ended_at IS NULL')
      .run(at, by, projectId, volunteerId).changes > 0);
  }

  async membersOf(projectId: string) {
    return (this.db.prepare(`SELECT ${MEMBERSHIP_COLS}, v.account FROM project_members m JOIN project_invites i ON i.id = m.invite_id
      JOIN volunteers v ON v.id = m.volunteer_id WHERE m.project_id = ? ORDER BY m.joined_at DESC, m.volunteer_id`).all(projectId) as Row[])
      .map((r) => ({ ...toMembership(r), account: r.account as string }));
  }

  async groupsOf(volunteerId: string) {
    return (this.s.groupsOf!.all(volunteerId) as Row[]).map((r) => r.project_id as string);
  }

  async blobIsPrivate(hash: string) {
    const r = this.db.prepare(`SELECT EXISTS(SELECT 1 FROM project_blobs b JOIN projects p ON p.id = b.project_id WHERE b.hash = ? AND p.private = 1) AS priv,
      EXISTS(SELECT 1 FROM project_blobs b JOIN projects p ON p.id = b.project_id WHERE b.hash = ? AND p.private = 0 AND p.deleted_at IS NULL) AS pub`).get(hash, hash) as Row;
    return r.priv === 1 && r.pub === 0;
  }

  async createVolunteer(v: Volunteer) {
    await this.write(() => this.db.prepare(`INSERT INTO volunteers (id, secret_hash, wallet, account, address, numeric_class, capabilities, created_at, last_seen)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(v.id, v.secretHash, v.wallet, v.account, v.address, v.numericClass, JSON.stringify(v.capabilities), v.createdAt, v.lastSeen));
  }

  async getVolunteer(id: string) {
    const r = this.db.prepare('SELECT * FROM volunteers WHERE id = ?').get(id) as Row | undefined;
    return r ? toVolunteer(r) : null;
  }

  async updateVolunteer(id: string, patch: Partial<Pick<Volunteer, 'wallet' | 'account' | 'address' | 'numericClass' | 'capabilities' | 'lastSeen'>>) {
    const cols: Record<string, string> = { wallet: 'wallet', account: 'account', address: 'address', numericClass: 'numeric_class', capabilities: 'capabilities', lastSeen: 'last_seen' };
    const sets: string[] = [];
    const vals: unknown[] = [];
    for (const [k, v] of Object.entries(patch)) {
      sets.push(`${cols[k]} = ?`);
      vals.push(k === 'capabilities' ? JSON.stringify(v) : v);
    }
    if (sets.length) await this.write(() => this.db.prepare(`UPDATE volunteers SET ${sets.join(', ')} WHERE id = ?`).run(...vals, id));
  }

  async createJob(job: Job, shards: Shard[], submission?: SubmissionKey) {
    const insertShard = this.db.prepare(`INSERT INTO shards (id, job_id, project_id, job_created, idx, rec_start, rec_end, state, wanted, max_total, homogeneous, priority, gflops)
      VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?)`);
    return this.write((): KeyedJob | null => {
      // One writer, and this runs whole: no other insert can slip between the look-up and the insert.
      const taken = submission ? this.keyedJob(job.projectId, submission.key) : null;
      if (taken) return taken;
      this.db.prepare(`INSERT INTO jobs (id, project_id, kind, state, spec, created_at, round, progress, name, tags, priority, submission_key, submission_fingerprint)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(job.id, job.projectId, job.kind, job.state, JSON.stringify(job.spec), job.createdAt, job.progress?.round ?? 0, job.progress ? JSON.stringify(job.progress) : null,
          job.name ?? null, job.tags ? JSON.stringify(job.tags) : null, job.priority ?? 0, submission?.key ?? null, submission?.fingerprint ?? null);
      for (const s of shards) {
        insertShard.run(s.id, job.id, job.projectId, job.createdAt, s.index, s.start, s.end, s.wanted, job.spec.limits.maxTotalCopies, job.spec.homogeneous ? 1 : 0,
          job.priority ?? 0, shardGflops(job.spec, s));
      }
      this.hot.markStale();
      return null;
    });
  }

  async jobBySubmissionKey(projectId: string, key: string) {
    return this.keyedJob(projectId, key);
  }

  private keyedJob(projectId: string, key: string): KeyedJob | null {
    const r = this.db.prepare('SELECT id, submission_fingerprint FROM jobs WHERE project_id = ? AND submission_key = ?').get(projectId, key) as Row | undefined;
    return r ? { jobId: r.id as string, fingerprint: r.submission_fingerprint as string } : null;
  }

  async advanceRound(jobId: string, fromRound: number, progress: TrainProgress, nextShards: Shard[]) {
    const job = this.job(jobId);
    if (!job) return false;
    const insertShard = this.db.prepare(`INSERT INTO shards (id, job_id, project_id, job_created, idx, rec_start, rec_end, state, wanted, max_total, homogeneous, priority, gflops)
      VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?)`);
    this.jobCache.delete(jobId);
    const dropped: string[] = [];
    const advanced = await this.write(() => {
      this.hot.evictJob(jobId);
      const r = this.db.prepare(`UPDATE jobs SET round = ?, progress = ? WHERE id = ? AND round = ? AND state = 'running'`)
        .run(progress.round, JSON.stringify(progress), jobId, fromRound);
      if (r.changes === 0) return false;
      this.db.prepare(`UPDATE copies SET state = 'cancelled', reason = 'round closed without it' WHERE job_id = ? AND state IN ('assigned','running')
        AND shard_id IN (SELECT id FROM shards WHERE job_id = ? AND state = 'open')`).run(jobId, jobId);
      this.db.prepare(`UPDATE shards SET state = 'cancelled' WHERE job_id = ? AND state = 'open'`).run(jobId);
      // A closed round's gradients are folded into the checkpoint: drop them rather than keep megabytes per round.
      const { from, to } = kindOf(job.spec).roundShards(job.spec, fromRound);
      const ofRounds = `shard_id IN (SELECT id FROM shards WHERE job_id = ? AND idx >= ? AND idx < ?)`;
      for (const f of this.db.prepare(`SELECT result_file AS f FROM copies WHERE result_file IS NOT NULL AND ${ofRounds}`).all(jobId, from, to) as Row[]) dropped.push(f.f as string);
      this.db.prepare(`UPDATE copies SET result = NULL, result_file = NULL WHERE (result IS NOT NULL OR result_file IS NOT NULL) AND ${ofRounds}`).run(jobId, from, to);
      for (const s of nextShards) {
        insertShard.run(s.id, jobId, job.projectId, job.createdAt, s.index, s.start, s.end, s.wanted, job.spec.limits.maxTotalCopies, job.spec.homogeneous ? 1 : 0,
          job.priority ?? 0, shardGflops(job.spec, s));
      }
      return true;
    });
    // After the commit: a crash before it leaves the files named by the rows that still hold them.
    if (dropped.length) await this.dropResultFiles(dropped);
    return advanced;
  }

  async canonicalResultsOf(shardIds: string[]) {
    const out = new Map<string, Uint8Array>();
    const q = this.db.prepare(`SELECT s.id, c.result, c.result_file FROM shards s JOIN copies c ON c.id = s.canonical_copy_id WHERE s.id = ?`);
    const rows = shardIds.map((id) => q.get(id) as Row | undefined).filter((r): r is Row => r !== undefined);
    for (const r of rows) {
      const bytes = await this.readResult(r);
      if (bytes) out.set(r.id as string, bytes);
    }
    return out;
  }

  async getJob(id: string) {
    return this.job(id);
  }

  /** Specs never change after creation, so running jobs are cached; state is re-read. */
  /**
   * One process owns an SQLite file, and every change to a job row goes
   * through finishJob/advanceRound, which drop the cached copy: so the cache
   * is authoritative and the hot path reads no job row.
   */
  /** A re-opened shard's copy budget (transitions.ts reopenedBudget); at least the results it now wants beyond those issued. */
  private reopenBudget(row: Row, jobId: string, wanted: number): number {
    const issued = Number(row.issued);
    const limits = this.job(jobId)?.spec.limits;
    return Math.max(issued + wanted, limits ? reopenedBudget({ issued, maxTotal: Number(row.max_total) }, limits) : Number(row.max_total));
  }

  private job(id: string): Job | null {
    const j = this.jobRef(id);
    return j ? { ...j } : null;
  }

  /** The cached job itself, for readers that do not keep or change it (the claim decision). */
  private jobRef(id: string): Job | null {
    const cached = this.jobCache.get(id);
    if (cached) return cached;
    const r = this.s.getJob!.get(id) as Row | undefined;
    if (!r) return null;
    const j = toJob(r);
    this.jobCache.set(id, j);
    if (this.jobCache.size > 256) this.jobCache.delete(this.jobCache.keys().next().value!);
    return j;
  }

  async listJobs(filter: { projectId?: string; states?: Job['state'][]; limit?: number }) {
    const where: string[] = [];
    const vals: unknown[] = [];
    if (filter.projectId) { where.push('project_id = ?'); vals.push(filter.projectId); }
    if (filter.states?.length) { where.push(`state IN (${filter.states.map(() => '?').join(',')})`); vals.push(...filter.states); }
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...vals, filter.limit ?? 100) as Row[]).map((r) => toJob(r));
  }

  async finishJob(id: string, state: 'completed' | 'failed' | 'cancelled', patch: { error?: string | null; resultHash?: string | null; finishedAt: number }) {
    this.jobCache.delete(id);
    return this.write(() => {
      this.hot.evictJob(id);
      const r = this.db.prepare(`UPDATE jobs SET state = ?, error = ?, result_hash = ?, finished_at = ? WHERE id = ? AND state = 'running'`)
        .run(state, patch.error ?? null, patch.resultHash ?? null, patch.finishedAt, id);
      if (r.changes === 0) return false;
      this.db.prepare(`UPDATE shards SET state = ? WHERE job_id = ? AND state = 'open'`).run(state === 'failed' ? 'failed' : 'cancelled', id);
      this.db.prepare(`UPDATE copies SET state = 'cancelled', reason = ? WHERE job_id = ? AND state IN ('assigned','running')`).run(`job ${state}`, id);
      // The coordinator's own answers of the job check nothing more.
      this.db.prepare(SPOT_SQL.forgetOwnAnswers).run(id);
      if (state !== 'completed') this.db.prepare(REVIEW_SQL.closeJobReviews).run(patch.finishedAt, id);
      return true;
    });
  }

  async gridCounts() {
    const q = (sql: string) => this.db.prepare(sql).all() as Record<string, unknown>[];
    return gridCounts(q(GRID_COUNT_SQL.jobs), q(GRID_COUNT_SQL.shards), q(GRID_COUNT_SQL.queue)[0]!.n);
  }

  async jobCounts(jobId: string): Promise<JobCounts> {
    const shards = { total: 0, open: 0, validated: 0, failed: 0 };
    for (const r of this.s.countShards!.all(jobId) as Row[]) {
      shards.total += r.n as number;
      if (r.state === 'open') shards.open = r.n as number;
      if (r.state === 'validated') shards.validated = r.n as number;
      if (r.state === 'failed') shards.failed = r.n as number;
    }
    const copies = { valid: 0, invalid: 0, pending: 0, expired: 0, error: 0 };
    for (const r of this.s.countCopies!.all(jobId) as Row[]) {
      const n = r.n as number;
      if (r.outcome === 'valid') copies.valid += n;
      else if (r.outcome === 'invalid') copies.invalid += n;
      else if (r.state === 'expired') copies.expired += n;
      else if (r.state === 'error') copies.error += n;
      else if (r.state !== 'cancelled') copies.pending += n;
    }
    const credit = (this.s.jobCredit!.get(jobId) as Row).c as number;
    return { shards, copies, credit };
  }

  async shardsWithUnjudgedResults() {
    return (this.db.prepare(`SELECT DISTINCT shard_id FROM copies WHERE state = 'returned' AND outcome = 'pending'`).all() as Row[]).map((r) => r.shard_id as string);
  }

  async shardsLeft(jobId: string) {
    const r = this.s.shardsLeft!.get(jobId, jobId) as Row;
    return { open: r.open === 1, failed: r.failed === 1 };
  }

  async shardsOf(jobId: string, range?: { from: number; to: number }) {
    const rows = range
      ? this.db.prepare('SELECT * FROM shards WHERE job_id = ? AND idx >= ? AND idx < ? ORDER BY idx').all(jobId, range.from, range.to)
      : this.db.prepare('SELECT * FROM shards WHERE job_id = ? ORDER BY idx').all(jobId);
    return (rows as Row[]).map(toShard);
  }

  async getShard(id: string) {
    const e = this.hot.get(id);
    if (e) return shardOf(e.row);
    const r = this.s.getShard!.get(id) as Row | undefined;
    return r ? toShard(r) : null;
  }

  /** A shard and its copies, from memory or read into it. */
  private entry(shardId: string): HotEntry | null {
    const held = this.hot.get(shardId);
    if (held) return held;
    const r = this.s.getShard!.get(shardId) as Row | undefined;
    if (!r) return null;
    return this.hot.add(toShardRow(r), (this.s.copiesOfShard!.all(shardId) as Row[]).map(toCopy));
  }

  /**
   * Reads each project's first page of wanting shards (highest priority,
   * oldest job first) and their copies: two queries per project with work.
   * Per project, so that one project's long queue never hides another's
   * work from the fair-share choice.
   */
  private refillQueue(): void {
    const ids: string[] = [];
    let complete = true;
    for (const p of this.s.projectsWithWork!.all() as Row[]) {
      const rows = this.s.wanting!.all(p.id, QUEUE_PAGE, 0) as Row[];
      const copies = new Map<string, Copy[]>();
      for (const r of this.s.wantingCopies!.all(p.id, QUEUE_PAGE, 0) as Row[]) {
        const c = toCopy(r);
        const list = copies.get(c.shardId);
        if (list) list.push(c);
        else copies.set(c.shardId, [c]);
      }
      for (const r of rows) this.hot.add(toShardRow(r), copies.get(r.id as string) ?? []);
      ids.push(...rows.map((r) => r.id as string));
      if (rows.length >= QUEUE_PAGE) complete = false;
    }
    this.hot.refilled(ids, complete);
  }

  /**
   * The projects to offer work from, in fair-share order (fair-share.ts);
   * null when there is nothing to choose between (one project with work and
   * no cap), so a coordinator of one project pays one indexed query per claim.
   */
  private projectOrder(req: ClaimRequest): string[] | null {
    const withWork = (this.s.projectsWithWork!.all() as Row[]).map(activeProject);
    // A private project's work goes only to its group (eligibility.ts); the groups are read only when one has work.
    const groups = new Set(withWork.some((p) => p.private) ? (this.s.groupsOf!.all(req.volunteer.id) as Row[]).map((r) => r.project_id as string) : []);
    const served = withWork.filter((p) => mayServeProject(p, groups));
    let active = served;
    if (req.projectId) active = active.filter((p) => p.id === req.projectId);
    // Null (any shard of the queue) only when no project with work is withheld from this volunteer.
    if (served.length === withWork.length && active.length <= 1 && active.every((p) => p.maxInFlight <= 0)) return active.length ? null : [];
    const charged = new Map<string, number>();
    for (const r of this.s.validatedSince!.all(req.now - FAIR_SHARE_WINDOW_MS) as Row[]) charged.set(r.project_id as string, Number(r.g));
    const inFlight = new Map<string, { n: number; g: number }>();
    for (const r of this.s.inFlightByProject!.all() as Row[]) inFlight.set(r.project_id as string, { n: Number(r.n), g: Number(r.g) });
    const loads: ProjectLoad[] = active.map((p) => ({
      ...p, charged: (charged.get(p.id) ?? 0) + (inFlight.get(p.id)?.g ?? 0), inFlight: inFlight.get(p.id)?.n ?? 0,
    }));
    return fairShareOrder(loads, active.map((p) => p.id));
  }

  async claimCopy(req: ClaimRequest): Promise<Claimed | null> {
    const copyId = newId();
    return this.writeLean((): Claimed | null => {
      if (this.hot.needsRefill()) this.refillQueue();
      // Choose the project first (fair share), then the shard within it.
      const order = this.projectOrder(req);
      // Refusals that hold for a whole job are decided once per job, not per shard (claim.ts jobRefusal).
      const refused = jobRefusals(req.volunteer, req.trust);
      for (const projectId of order ?? [req.projectId]) {
        if (this.refusedByEveryJob(projectId, refused)) continue;
        const claimed = this.claimAmong(this.hot.candidates(), { ...req, projectId }, copyId, refused);
        if (claimed) return claimed;
      }
      if (this.hot.exhaustive) return null;
      // The queue holds one page per project, and this volunteer could take nothing in it: read further.
      const wanting = req.trust?.policy.oneCopyAtATime === true ? this.s.wantingNotHeld! : this.s.wanting!;
      for (const projectId of order ?? (this.s.projectsWithWork!.all() as Row[]).map((r) => r.id as string)) {
        if (req.projectId && projectId !== req.projectId) continue;
        if (this.refusedByEveryJob(projectId, refused)) continue;
        for (const [limit, offset] of CLAIM_PAGES) {
          const page = wanting.all(projectId, limit, offset) as Row[];
          // A refused job's shards are not read into memory with their copies only to be refused.
          const open = page.filter((r) => !refused(this.jobRef(r.job_id as string), r.homogeneous === 1));
          const claimed = this.claimAmong(open.map((r) => r.id as string), req, copyId, refused);
          if (claimed) return claimed;
          if (page.length < limit) break;
        }
      }
      return null;
    });
  }

  /**
   * Whether every running job (of the project, or of every project) refuses the volunteer whatever the shard:
   * only a running job's shards can be granted, so none of the queue can be, and none is read. A host refused
   * by its class asks again every few seconds; deciding each shard of the queue for it cost more than a grant.
   */
  private refusedByEveryJob(projectId: string | undefined, refused: JobRefusals): boolean {
    const rows = (projectId ? this.s.runningJobsOf!.all(projectId) : this.s.runningJobs!.all()) as Row[];
    return rows.every((r) => {
      const job = this.jobRef(r.id as string);
      return refused(job, job?.spec.homogeneous === true) !== null;
    });
  }

  /**
   * A copy of the first of these shards (in queue order) the volunteer may take; with `req.draw`, of one
   * drawn among the first PICK_WINDOW it may take (pick.ts), so the queue's head is not whoever asks next.
   */
  private claimAmong(ids: Iterable<string>, req: ClaimRequest, copyId: string, refused: JobRefusals): Claimed | null {
    if (!req.draw) {
      for (const id of ids) {
        const claimed = this.claimAt(id, req, copyId, refused);
        if (claimed) return claimed;
      }
      return null;
    }
    const eligible: Pickable[] = [];
    for (const id of ids) {
      const e = this.entry(id);
      if (!e || (req.projectId && e.row.projectId !== req.projectId)) continue;
      if (refused(this.jobRef(e.row.jobId), e.row.homogeneous)) continue;
      if (this.decideIn(e, req, copyId).take !== true) continue;
      const job = this.jobRef(e.row.jobId);
      eligible.push({ id, priority: job?.priority ?? 0, ordered: job?.kind !== 'inference' });
      if (eligible.length >= PICK_WINDOW) break;
    }
    for (const { id } of pickOrder(eligible, req.draw)) {
      const claimed = this.claimAt(id, req, copyId, refused);
      if (claimed) return claimed;
    }
    return null;
  }

  /** A copy of this shard for the volunteer, if the shard is in its project (when it asked for one) and it may take it. */
  private claimAt(shardId: string, req: ClaimRequest, copyId: string, refused: JobRefusals): Claimed | null {
    const e = this.entry(shardId);
    if (!e || (req.projectId && e.row.projectId !== req.projectId)) return null;
    if (refused(this.jobRef(e.row.jobId), e.row.homogeneous)) return null;
    return this.claimIn(e, req, copyId);
  }

  /** The claim decision for this shard, with the round count read when it asks for it. */
  private decideIn(e: HotEntry, req: ClaimRequest, copyId: string) {
    const input = { shard: e.row, copies: e.copies, job: this.jobRef(e.row.jobId), volunteer: req.volunteer, rules: req.rules, now: req.now, copyId, ...this.claimTrust(req) };
    const d = decideClaim(input);
    if (d.take !== 'count') return d;
    const held = (this.s.heldInRange!.get(d.jobId, d.from, d.to, req.volunteer.id) as Row).n as number;
    return decideClaim({ ...input, heldInRound: held });
  }

  private claimIn(e: HotEntry, req: ClaimRequest, copyId: string): Claimed | null {
    const shard = e.row;
    const d = this.decideIn(e, req, copyId);
    if (d.take !== true) return null;
    const { copy } = d;
    this.s.insertCopy!.run({ ...copy, solo: copy.solo ? 1 : 0, spot: 0, review: 0 });
    this.s.issue!.run(shard.id);
    if (d.wanted !== shard.wanted) {
      this.s.setWanted!.run(d.wanted, shard.id);
      shard.wanted = d.wanted;
    }
    shard.alive++;
    shard.issued++;
    this.hot.addCopy(e, copy);
    return { job: { ...this.jobRef(shard.jobId)! }, shard: shardOf(shard), copy: { ...copy } };
  }

  /** A copy as it is now: from memory when its shard is held, else from its row. */
  private copyNow(copyId: string): Copy | null {
    const held = this.hot.copy(copyId);
    if (held) return held;
    const r = this.s.getCopy!.get(copyId) as Row | undefined;
    return r ? toCopy(r) : null;
  }

  async ackCopy(copyId: string, volunteerId: string, deadline: number) {
    return this.writeLean(() => {
      const r = this.s.ack!.run(deadline, copyId, volunteerId);
      if (r.changes === 0) return null;
      const held = this.hot.copy(copyId);
      if (held) {
        held.state = 'running';
        held.deadline = deadline;
      }
      return { ...this.copyNow(copyId)! };
    });
  }

  async extendLeases(volunteerId: string, copyIds: string[], now: number) {
    const extended: string[] = [];
    const lost: { copyId: string; reason: string }[] = [];
    return this.write(() => {
      for (const id of copyIds) {
        const c = this.copyNow(id);
        if (!c || c.volunteerId !== volunteerId) { lost.push({ copyId: id, reason: 'not your copy' }); continue; }
        const job = this.job(c.jobId);
        const refused = heartbeatRefusal(c, job?.spec ?? null, now);
        if (refused) { lost.push({ copyId: id, reason: refused }); continue; }
        const deadline = job ? leaseDeadline(job.spec, c.assignedAt, now) : now + 60_000;
        this.s.extend!.run(deadline, id, volunteerId);
        c.deadline = deadline;
        extended.push(id);
      }
      return { extended, lost };
    });
  }

  async getCopy(id: string) {
    const c = this.copyNow(id);
    return c ? { ...c } : null;
  }

  async saveResult(copyId: string, volunteerId: string, encoded: Uint8Array, computeMs: number, now: number, rules: ReadonlySet<DistinctRule>): Promise<ResultWrite> {
    let file: string | null = null;
    if (this.resultsDir && encoded.byteLength > RESULT_FILE_ABOVE_BYTES) {
      // Named per upload, not per copy: a duplicate upload must not overwrite the result already recorded.
      file = `${copyId}.${randomBytes(6).toString('hex')}`;
      await writeFile(join(this.resultsDir, file), encoded);
    }
    let write: ResultWrite;
    try {
      write = await this.writeLean((): ResultWrite => {
        const e = this.hot.ofCopy(copyId);
        const held = this.hot.copy(copyId);
        if (e && held && held.volunteerId === volunteerId && (held.state === 'assigned' || held.state === 'running')
          && (e.row.state === 'open' || e.row.state === 'validated')) {
          // In flight with its sender, its shard still taking results: known from memory, one UPDATE by key.
          this.s.saveResult!.run(file ? null : encoded, file, computeMs, now, copyId);
          held.state = 'returned';
          held.returnedAt = now;
          if (!file) this.hot.keepResult(e, copyId, encoded);
          return 'accepted';
        }
        // Anything unusual is decided by the rows; the shard is read into memory again afterwards.
        if (e) this.hot.evict(e.row.id);
        if (this.s.saveInFlight!.run(file ? null : encoded, file, computeMs, now, copyId, volunteerId).changes === 1) return 'accepted';
        const c = this.s.getCopy!.get(copyId) as Row | undefined;
        if (!c || c.volunteer_id !== volunteerId) return 'not_assigned';
        if (c.state === 'returned') return 'duplicate';
        if (c.state === 'cancelled') return 'gone';
        const shard = this.s.getShard!.get(c.shard_id) as Row;
        if (shard.state === 'failed' || shard.state === 'cancelled') return 'gone';
        if (c.state === 'expired' || c.state === 'error') {
          // A late result (expired or errored copy) still counts: it revives the copy, unless it would be a second
          // vote beside a live copy of the same volunteer, wallet or address. Decided in this write's transaction,
          // which no claim can interleave with.
          const refused = lateRefusal(copyId, (this.s.copiesOfShard!.all(c.shard_id) as Row[]).map(toCopy), rules);
          if (refused) return refused;
          this.s.revive!.run(c.shard_id);
        }
        this.s.saveResult!.run(file ? null : encoded, file, computeMs, now, copyId);
        return 'accepted';
      });
    } catch (e) {
      if (file) await this.dropResultFiles([file]);
      throw e;
    }
    if (write !== 'accepted' && file) await this.dropResultFiles([file]);
    return write;
  }

  private async readResult(r: Row): Promise<Uint8Array | null> {
    if (r.result_file == null) return (r.result as Uint8Array | null) ?? null;
    try {
      return await readFile(join(this.resultsDir!, r.result_file as string));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null; // dropped meanwhile (a closed training round)
      throw e;
    }
  }

  private async dropResultFiles(files: string[]): Promise<void> {
    await Promise.all(files.map((f) => unlink(join(this.resultsDir!, f)).catch(() => {})));
  }

  /** Result files no row names: written for an upload the coordinator died before recording. */
  private sweepResultFiles(): Promise<void> {
    if (!this.resultsDir) return Promise.resolve();
    // Listed now, before any upload can write a file its row does not name yet.
    const named = new Set((this.db.prepare('SELECT result_file AS f FROM copies WHERE result_file IS NOT NULL').all() as Row[]).map((r) => r.f as string));
    return this.dropResultFiles(readdirSync(this.resultsDir).filter((f) => !named.has(f)));
  }

  async failCopy(copyId: string, volunteerId: string, reason: string, now: number, rules: ReadonlySet<DistinctRule>) {
    return this.write(() => {
      const c = this.s.getCopy!.get(copyId) as Row | undefined;
      if (!c) return false;
      const r = this.s.fail!.run(reason, now, copyId, volunteerId);
      if (r.changes === 0) return false;
      this.s.shardError!.run(c.shard_id);
      this.refund(c.shard_id as string, [copyId], rules);
      this.hot.evict(c.shard_id as string);
      this.hot.wantsAgain(c.shard_id as string);
      return true;
    });
  }

  async releaseCopy(copyId: string, volunteerId: string, rules: ReadonlySet<DistinctRule>) {
    return this.write(() => {
      const c = this.s.getCopy!.get(copyId) as Row | undefined;
      if (!c || c.volunteer_id !== volunteerId || c.state !== 'assigned') return false;
      this.db.prepare(`UPDATE copies SET state = 'cancelled', reason = 'handed back unstarted' WHERE id = ?`).run(copyId);
      this.s.unalive!.run(c.shard_id);
      this.refund(c.shard_id as string, [copyId], rules);
      this.hot.evict(c.shard_id as string);
      this.hot.wantsAgain(c.shard_id as string);
      return true;
    });
  }

  async expireCopies(now: number, rules: ReadonlySet<DistinctRule>) {
    return this.write(() => {
      const due = (this.s.dueCopies!.all(now) as Row[]).map(toCopy);
      const ended = new Map<string, string[]>();
      for (const c of due) {
        const reason = expiryReason(c, this.job(c.jobId)?.spec ?? null);
        this.s.expire!.run(reason, c.id);
        this.s.shardError!.run(c.shardId);
        this.hot.evict(c.shardId);
        this.hot.wantsAgain(c.shardId);
        c.state = 'expired';
        c.reason = reason;
        ended.set(c.shardId, [...(ended.get(c.shardId) ?? []), c.id]);
      }
      for (const [shardId, ids] of ended) this.refund(shardId, ids, rules);
      return due;
    });
  }

  /** Gives the shard's copy budget back what these just-ended copies of dependent sources took from it. */
  private refund(shardId: string, ended: string[], rules: ReadonlySet<DistinctRule>): void {
    const copies = (this.s.copiesOfShard!.all(shardId) as Row[]).map(toCopy);
    const n = budgetRefunds(copies, ended, rules);
    if (n > 0) this.s.refund!.run(n, shardId);
  }

  async setShardFailed(shardId: string) {
    await this.write(() => {
      this.db.prepare(`UPDATE shards SET state = 'failed' WHERE id = ? AND state = 'open'`).run(shardId);
      this.hot.evict(shardId);
    });
  }

  async shardResults(shardId: string): Promise<ShardResults | null> {
    const e = this.entry(shardId);
    if (!e) return null;
    const shard = { ...shardOf(e.row), maxTotal: e.row.maxTotal };
    const job = this.job(shard.jobId);
    if (!job) return null;
    const copies = e.copies.map((c) => ({ ...c }));
    const kept = new Map(e.results);
    const results = async (ids: readonly string[]) => {
      if (ids.every((id) => kept.has(id))) return new Map(ids.map((id) => [id, kept.get(id)!]));
      const want = new Set(ids);
      const out = new Map<string, Uint8Array>();
      for (const r of this.s.results!.all(shardId) as Row[]) {
        if (!want.has(r.id as string)) continue;
        const bytes = await this.readResult(r);
        if (bytes) out.set(r.id as string, bytes);
      }
      return out;
    };
    return { job, shard, copies, results };
  }

  async applyValidation(w: ValidationWrite) {
    return this.writeLean(() => {
      const e = this.hot.get(w.shardId);
      const at = Date.now();
      const moves = new Map<string, ReputationMove>();
      for (const j of w.judgements) {
        const r = this.s.judge!.run(j.outcome, j.reason, j.credit, j.unchecked ? 1 : 0, j.copyId);
        if (!r.changes) continue;
        const held = e?.copies.find((c) => c.id === j.copyId);
        if (held) Object.assign(held, { outcome: j.outcome, reason: j.reason, credit: j.credit }, j.unchecked ? { unchecked: true } : {});
        if (j.reputation) {
          // With the judgement, once: a judgement repeated finds the copy no longer pending and changes nothing.
          const c = held ?? this.copyNow(j.copyId)!;
          this.applyReputation([{ volunteerId: c.volunteerId, numericClass: c.numericClass, event: j.reputation, seen: j.seen ?? null, jobId: c.jobId }], at, moves);
        }
        if (j.outcome === 'invalid') {
          this.s.unalive!.run(w.shardId);
          if (e) e.row.alive--;
          this.hot.wantsAgain(w.shardId);
        }
      }
      if (this.s.setShard!.run(w.shard.state, w.shard.wanted, w.shard.canonicalCopyId, w.shardId).changes) {
        if (w.shard.state === 'open' && (!e || w.shard.wanted > e.row.wanted)) this.hot.wantsAgain(w.shardId);
        if (e) Object.assign(e.row, { state: w.shard.state, wanted: w.shard.wanted, canonicalCopyId: w.shard.canonicalCopyId });
      }
      if (e && e.row.state !== 'open') this.hot.dropResults(e);
      for (const c of w.credits) this.s.credit!.run(c.copyId, c.account, c.amount, c.jobId, c.projectId, at, payableAt(at, w.holdMs ?? 0));
      return { reputations: [...moves.values()] };
    });
  }

  async canonicalResults(jobId: string) {
    const rows = this.db.prepare(`SELECT c.result, c.result_file FROM shards s JOIN copies c ON c.id = s.canonical_copy_id WHERE s.job_id = ? ORDER BY s.idx`).all(jobId) as Row[];
    const out: Uint8Array[] = [];
    for (const r of rows) {
      const bytes = await this.readResult(r);
      if (!bytes) throw new Error(`job ${jobId}: a canonical result is missing`);
      out.push(bytes);
    }
    return out;
  }

  async shortenLeases(volunteerId: string, deadline: number) {
    return this.write(() => {
      for (const r of this.s.inFlightShards!.all(volunteerId) as Row[]) this.hot.evict(r.shard_id as string);
      return this.db.prepare(`UPDATE copies SET deadline = MIN(deadline, ?) WHERE volunteer_id = ? AND state IN ('assigned','running')`).run(deadline, volunteerId).changes;
    });
  }

  async copiesInFlight(volunteerId: string) {
    return (this.s.inFlight!.all(volunteerId) as Row[]).map(toCopy);
  }

  /** Whether the project's work may go to this volunteer: a private project's only to its group (eligibility.ts). */
  private serves(projectId: string, volunteerId: string): boolean {
    const p = this.s.projectPrivate!.get(projectId) as Row | undefined;
    if (!p) return false;
    const isPrivate = p.private === 1;
    const groups = new Set(isPrivate ? (this.s.groupsOf!.all(volunteerId) as Row[]).map((r) => r.project_id as string) : []);
    return mayServeProject({ id: projectId, private: isPrivate }, groups);
  }

  async knownAnswerShards(limit: number) {
    return (this.db.prepare(SPOT_SQL.knownAnswers).all(limit) as Row[]).map(toKnownAnswer);
  }

  async saveOwnAnswer(a: OwnAnswerRow) {
    return this.write(() => {
      // Kept only while its job runs (finishJob deletes a job's answers): an answer computed as its job ended is not kept.
      if (!this.db.prepare(`SELECT 1 FROM jobs WHERE id = ? AND state = 'running'`).get(a.jobId)) return false;
      this.db.prepare(SPOT_SQL.saveOwnAnswer).run(a.shardId, a.jobId, a.projectId, a.numericClass, Buffer.from(a.encoded.buffer, a.encoded.byteOffset, a.encoded.byteLength), a.at);
      return true;
    });
  }

  async ownAnswers(limit: number) {
    return (this.db.prepare(SPOT_SQL.ownAnswers).all(limit) as Row[]).map(toOwnAnswer);
  }

  async issueSpotCopy(shardId: string, volunteer: ClaimRequest['volunteer'], now: number): Promise<Claimed | null> {
    const copyId = newId();
    return this.writeLean((): Claimed | null => {
      const e = this.entry(shardId);
      // A spot check never carries a private project's shard outside its group.
      if (!e || !this.serves(e.row.projectId, volunteer.id)) return null;
      const job = this.jobRef(e.row.jobId);
      const d = decideSpotCopy({ shard: e.row, copies: e.copies, job, volunteer, now, copyId });
      if (!d.take) return null;
      this.s.insertCopy!.run({ ...d.copy, solo: 0, spot: 1, review: 0 });
      this.s.issue!.run(shardId);
      e.row.alive++;
      e.row.issued++;
      this.hot.addCopy(e, d.copy);
      return { job: { ...job! }, shard: shardOf(e.row), copy: { ...d.copy } };
    });
  }

  async soloResults(volunteerId: string, since: number) {
    return (this.db.prepare(SPOT_SQL.soloResults).all(volunteerId, since) as Row[]).map(toSoloResult);
  }

  async reopenShards(r: { targets: readonly { shardId: string; copyId: string }[]; reason: string; now: number }) {
    return this.write(() => {
      const reopened: Reopened[] = [];
      for (const t of r.targets) {
        const row = this.s.getShard!.get(t.shardId) as Row | undefined;
        if (!row || row.state !== 'validated' || row.canonical_copy_id !== t.copyId) continue;
        const copy = this.s.getCopy!.get(t.copyId) as Row;
        this.db.prepare(`UPDATE copies SET outcome = 'invalid', reason = ?, credit = 0 WHERE id = ?`).run(r.reason, t.copyId);
        const alive = Number((this.db.prepare(SPOT_SQL.alive).get(t.shardId) as Row).n);
        const wanted = Math.max(2, Number(row.wanted));
        const jobId = row.job_id as string;
        const budget = this.reopenBudget(row, jobId, wanted);
        this.db.prepare(`UPDATE shards SET state = 'open', canonical_copy_id = NULL, wanted = ?, alive = ?, max_total = ? WHERE id = ?`)
          .run(wanted, alive, budget, t.shardId);
        const jobReopened = this.db.prepare(`UPDATE jobs SET state = 'running', finished_at = NULL, result_hash = NULL WHERE id = ? AND state = 'completed'`).run(jobId).changes === 1;
        this.jobCache.delete(jobId);
        this.hot.evictJob(jobId);
        reopened.push({ shardId: t.shardId, jobId, projectId: row.project_id as string, copyId: t.copyId, volunteerId: copy.volunteer_id as string, jobReopened });
      }
      const reversed = this.credits.reverseCredits({ copyIds: reopened.map((x) => x.copyId), reason: r.reason, now: r.now });
      return { reopened, reversed };
    });
  }

  async agreedResults(volunteerId: string, since: number) {
    return (this.db.prepare(REVIEW_SQL.agreedResults).all(volunteerId, since) as Row[]).map(toAgreedResult);
  }

  async startReviews(r: { targets: readonly { shardId: string; at: number }[]; reason: string; now: number }): Promise<Review[]> {
    return this.write(() => {
      const out: Review[] = [];
      for (const { shardId, at } of r.targets) {
        const row = this.s.getShard!.get(shardId) as Row | undefined;
        if (!row || row.state !== 'validated' || !row.canonical_copy_id) continue;
        if (!this.db.prepare(REVIEW_SQL.insert).run(shardId, row.job_id, row.project_id, row.canonical_copy_id, r.reason, r.now, at).changes) continue;
        out.push({ shardId, jobId: row.job_id as string, projectId: row.project_id as string, canonicalCopyId: row.canonical_copy_id as string, state: 'open', reason: r.reason, openedAt: r.now, resultAt: at, copyId: null });
      }
      return out;
    });
  }

  async waitingReviews(limit: number) {
    return (this.db.prepare(REVIEW_SQL.open).all(limit) as Row[]).map(toReview);
  }

  async agreements(volunteerId: string, limit: number) {
    return toAgreements(this.db.prepare(REVIEW_SQL.agreements).all(volunteerId, limit) as Row[]);
  }

  async voidAgreement(r: { shardId: string; canonicalCopyId: string; reason: string; now: number }): Promise<Voided | null> {
    return this.write((): Voided | null => {
      const row = this.s.getShard!.get(r.shardId) as Row | undefined;
      if (!row || row.state !== 'validated' || row.canonical_copy_id !== r.canonicalCopyId) return null;
      // Read again in the write: a review confirmed meanwhile (the root's copy valid) or a host's copy judged since keeps it.
      const vouchers = (this.db.prepare(REVIEW_SQL.vouchers).all(r.shardId) as Row[]).map(toVoucher);
      if (!agreementVoid(vouchers)) return null;
      const jobId = row.job_id as string;
      this.hot.evict(r.shardId);
      for (const v of vouchers) this.db.prepare(`UPDATE copies SET outcome = 'invalid', reason = ?, credit = 0 WHERE id = ?`).run(r.reason, v.copyId);
      const alive = Number((this.db.prepare(SPOT_SQL.alive).get(r.shardId) as Row).n);
      const wanted = Math.max(2, Number(row.wanted));
      this.db.prepare(`UPDATE shards SET state = 'open', canonical_copy_id = NULL, wanted = ?, alive = ?, max_total = ? WHERE id = ?`)
        .run(wanted, alive, this.reopenBudget(row, jobId, wanted), r.shardId);
      const reviewClosed = this.db.prepare(REVIEW_SQL.closeVoided).run(r.now, r.shardId).changes === 1;
      const jobReopened = this.db.prepare(`UPDATE jobs SET state = 'running', finished_at = NULL, result_hash = NULL WHERE id = ? AND state = 'completed'`).run(jobId).changes === 1;
      this.jobCache.delete(jobId);
      this.hot.evictJob(jobId);
      const reversed = this.credits.reverseCredits({ copyIds: vouchers.map((v) => v.copyId), reason: r.reason, now: r.now });
      return {
        shardId: r.shardId, jobId, projectId: row.project_id as string, copies: vouchers.map((v) => ({ copyId: v.copyId, volunteerId: v.volunteerId })),
        reversed, jobReopened, reviewClosed,
      };
    });
  }

  async reviewOf(shardId: string) {
    const r = this.db.prepare(REVIEW_SQL.one).get(shardId) as Row | undefined;
    return r ? toReview(r) : null;
  }

  async issueReviewCopy(shardId: string, volunteer: ClaimRequest['volunteer'], root: boolean, now: number): Promise<Claimed | null> {
    const copyId = newId();
    return this.write((): Claimed | null => {
      const rv = this.db.prepare(REVIEW_SQL.one).get(shardId) as Row | undefined;
      const e = this.entry(shardId);
      if (!rv || !e || !this.serves(e.row.projectId, volunteer.id)) return null;
      const review = toReview(rv);
      const job = this.jobRef(e.row.jobId);
      const d = decideReviewCopy({
        review, copyLive: review.copyLive, shard: e.row, canonicalCopyId: review.canonicalCopyId, copies: e.copies, job, volunteer, root, now, copyId,
      });
      if (!d.take) return null;
      // Outside the shard's copy budget: neither issued nor alive counts it (the shard is validated; a review is the coordinator's cost).
      this.s.insertCopy!.run({ ...d.copy, solo: 0, spot: 0, review: 1 });
      this.db.prepare('UPDATE reviews SET copy_id = ? WHERE shard_id = ?').run(d.copy.id, shardId);
      this.hot.addCopy(e, d.copy);
      return { job: { ...job! }, shard: shardOf(e.row), copy: { ...d.copy } };
    });
  }

  async settleReview(w: ReviewSettleWrite): Promise<ReviewSettled | null> {
    // The coordinator's own result, when large, goes to a file first, as a volunteer's does (saveResult); the row names it.
    const file = w.own && this.resultsDir && w.own.encoded.byteLength > RESULT_FILE_ABOVE_BYTES ? `${w.rootCopyId}.${randomBytes(6).toString('hex')}` : null;
    if (file) await writeFile(join(this.resultsDir!, file), w.own!.encoded);
    let done: ReviewSettled | null;
    try {
      done = await this.settleReviewNow(w, file);
    } catch (e) {
      if (file) await this.dropResultFiles([file]);
      throw e;
    }
    if (!done && file) await this.dropResultFiles([file]);
    return done;
  }

  private settleReviewNow(w: ReviewSettleWrite, file: string | null): Promise<ReviewSettled | null> {
    return this.write((): ReviewSettled | null => {
      const rv = this.db.prepare(REVIEW_SQL.one).get(w.shardId) as Row | undefined;
      const shard = this.s.getShard!.get(w.shardId) as Row | undefined;
      if (!rv || !shard) return null;
      const review = toReview(rv);
      if (review.state !== 'open' || shard.state !== 'validated' || shard.canonical_copy_id !== review.canonicalCopyId) return null;
      this.hot.evict(w.shardId);
      if (w.own) {
        const h = COORDINATOR_HOST;
        this.db.prepare(`INSERT INTO copies (id, shard_id, job_id, volunteer_id, account, wallet, address, numeric_class, state, outcome, assigned_at, deadline, returned_at, compute_ms, result, result_file, review)
          VALUES (?, ?, ?, ?, ?, NULL, ?, ?, 'returned', 'pending', ?, ?, ?, ?, ?, ?, 1)`)
          .run(w.rootCopyId, w.shardId, shard.job_id, h.volunteerId, h.account, h.address, w.own.numericClass, w.now, w.now, w.now, w.own.computeMs, file ? null : w.own.encoded, file);
      }
      const root = this.copyNow(w.rootCopyId);
      // Any root copy of the review may settle it: an expired one's late result as well as the one issued after it.
      if (!root || !root.review || root.shardId !== w.shardId || root.state !== 'returned' || root.outcome !== 'pending') return null;
      const at = w.now;
      // The coordinator's own copy is never credited: it is the operator's, not a volunteer's.
      const owed = w.own ? 0 : w.credit;
      this.db.prepare(`UPDATE copies SET outcome = 'valid', reason = ?, credit = ? WHERE id = ?`).run(w.reason, owed, w.rootCopyId);
      if (owed > 0) this.s.credit!.run(w.rootCopyId, root.account, owed, shard.job_id, shard.project_id, at, payableAt(at, w.holdMs));
      let moves: ReputationMove[] = [];
      let jobReopened = false;
      const overturned: string[] = [];
      if (w.outcome === 'overturned') {
        const events: ReputationEventWrite[] = [];
        for (const id of w.overturned) {
          const c = this.copyNow(id);
          if (!c || c.shardId !== w.shardId || c.outcome !== 'valid') continue;
          this.db.prepare(`UPDATE copies SET outcome = 'invalid', reason = ?, credit = 0 WHERE id = ?`).run(w.reason, id);
          events.push({ volunteerId: c.volunteerId, numericClass: c.numericClass, event: 'invalid' });
          overturned.push(id);
        }
        moves = this.applyReputation(events, at);
        this.db.prepare('UPDATE shards SET canonical_copy_id = ? WHERE id = ?').run(w.rootCopyId, w.shardId);
        const jobId = shard.job_id as string;
        jobReopened = this.db.prepare(`UPDATE jobs SET state = 'running', finished_at = NULL, result_hash = NULL WHERE id = ? AND state = 'completed'`).run(jobId).changes === 1;
        this.jobCache.delete(jobId);
        this.hot.evictJob(jobId);
      }
      this.db.prepare('UPDATE reviews SET state = ?, settled_at = ? WHERE shard_id = ?').run(w.outcome, at, w.shardId);
      const reversed = this.credits.reverseCredits({ copyIds: overturned, reason: w.reason, now: at });
      return { review: { ...review, state: w.outcome }, reversed, reputations: moves, jobReopened };
    });
  }

  async reviewCounts() {
    const out: Record<Review['state'], number> = { open: 0, confirmed: 0, overturned: 0, closed: 0 };
    for (const r of this.db.prepare(REVIEW_SQL.counts).all() as Row[]) out[r.state as Review['state']] = Number(r.n);
    return out;
  }

  async balance(account: string) {
    return ((this.s.balance!.get(account) as Row | undefined)?.b as number | undefined) ?? 0;
  }

  async accountTotals(account: string) {
    const r = this.db.prepare('SELECT balance, copies FROM balances WHERE account = ?').get(account) as Row | undefined;
    return { balance: (r?.balance as number | undefined) ?? 0, copies: (r?.copies as number | undefined) ?? 0 };
  }

  async ledger(filter: { account?: string; jobId?: string; before?: number; limit: number }): Promise<LedgerEntry[]> {
    const where: string[] = [];
    const vals: unknown[] = [];
    if (filter.before !== undefined) { where.push('seq < ?'); vals.push(filter.before); }
    if (filter.account) { where.push('account = ?'); vals.push(filter.account); }
    if (filter.jobId) { where.push('job_id = ?'); vals.push(filter.jobId); }
    const rows = this.db.prepare(`SELECT * FROM ledger ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`).all(...vals, filter.limit) as Row[];
    return rows.map((r) => ({
      seq: r.seq as number,
      copyId: r.copy_id as string, account: r.account as string, amount: r.amount as number,
      jobId: r.job_id as string, projectId: r.project_id as string, at: r.at as number,
    }));
  }

  async topAccounts(limit: number) {
    return (this.db.prepare('SELECT account, balance, copies FROM balances ORDER BY balance DESC LIMIT ?').all(limit) as Row[])
      .map((r) => ({ account: r.account as string, balance: r.balance as number, copies: r.copies as number }));
  }

  async projectBoard(projectId: string, limit: number): Promise<ProjectBoardCounts> {
    const jobs: Record<JobState, number> = { running: 0, completed: 0, failed: 0, cancelled: 0 };
    for (const r of this.db.prepare('SELECT state, COUNT(*) AS n FROM jobs WHERE project_id = ? GROUP BY state').all(projectId) as Row[]) jobs[r.state as JobState] = r.n as number;
    const shards = (this.db.prepare(`SELECT job_id, COUNT(*) AS total, SUM(CASE WHEN state = 'validated' THEN 1 ELSE 0 END) AS validated,
        SUM(CASE WHEN state = 'validated' THEN rec_end - rec_start ELSE 0 END) AS records
      FROM shards WHERE job_id IN (SELECT id FROM jobs WHERE project_id = ?) AND state <> 'cancelled' GROUP BY job_id`).all(projectId) as Row[])
      .map((r) => ({ jobId: r.job_id as string, total: r.total as number, validated: r.validated as number, validatedRecords: r.records as number }));
    // Per copy: its credit less its reversal (a copy is reversed at most once).
    const leaderboard = (this.db.prepare(`SELECT l.account AS account, SUM(l.amount + COALESCE(r.amount, 0)) AS credit,
        SUM(CASE WHEN r.copy_id IS NULL THEN 1 ELSE 0 END) AS copies
      FROM ledger l LEFT JOIN ledger_changes r ON r.copy_id = l.copy_id AND r.kind = 'reversal'
      WHERE l.job_id IN (SELECT id FROM jobs WHERE project_id = ?)
      GROUP BY l.account ORDER BY credit DESC, account LIMIT ?`).all(projectId, limit) as Row[])
      .map((r) => ({ account: r.account as string, credit: r.credit as number, copies: r.copies as number }));
    const credit = (this.db.prepare(`SELECT COALESCE(SUM(l.amount + COALESCE(r.amount, 0)), 0) AS credit
      FROM ledger l LEFT JOIN ledger_changes r ON r.copy_id = l.copy_id AND r.kind = 'reversal'
      WHERE l.job_id IN (SELECT id FROM jobs WHERE project_id = ?)`).get(projectId) as Row).credit as number;
    return { jobs, shards, leaderboard, credit };
  }

  async countCreditsForCopy(copyId: string) {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM ledger WHERE copy_id = ?').get(copyId) as Row).n as number;
  }

  private reputationRow(k: ReputationKey): Reputation | null {
    const r = this.s.reputation!.get(k.volunteerId, k.numericClass) as Row | undefined;
    return r ? toReputation(r) : null;
  }

  /** The claim's trust input, with holders' trust read from their rows (one indexed read per holder, and per holder and job for its pace, remembered for the claim). */
  private claimTrust(req: ClaimRequest): { trust?: ClaimTrust } {
    const t = req.trust;
    if (!t) return {};
    const rows = new Map<string, Reputation | null>();
    const paces = new Map<string, number | null>();
    return {
      trust: {
        ...t,
        holderTrust: (c, seen, jobId) => {
          const k = reputationKey(c);
          let r = rows.get(k);
          if (r === undefined) rows.set(k, r = this.reputationRow(c));
          if (seen === null) return resultTrust(r, null, t.policy);
          let pace = paces.get(`${jobId}\u0000${k}`);
          if (pace === undefined) paces.set(`${jobId}\u0000${k}`, pace = this.paceRow(jobId, c));
          return resultTrust(r, { pace, seen }, t.policy);
        },
      },
    };
  }

  private paceRow(jobId: string, k: ReputationKey): number | null {
    const r = this.s.pace!.get(jobId, k.volunteerId, k.numericClass) as Row | undefined;
    return r ? Number(r.pace) : null;
  }

  async paces(jobId: string, keys: readonly ReputationKey[]) {
    const out = new Map<string, number>();
    for (const k of keys) {
      const pace = this.paceRow(jobId, k);
      if (pace !== null) out.set(reputationKey(k), pace);
    }
    return out;
  }

  private putReputation(r: Reputation): void {
    this.db.prepare(`INSERT OR REPLACE INTO reputations (${REPUTATION_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(...reputationValues(r));
  }

  async reputations(keys: readonly ReputationKey[]) {
    return keys.map((k) => this.reputationRow(k)).filter((r): r is Reputation => r !== null);
  }

  /** Under the write lock: each event reads the row as the previous one left it. `moves`: each row's first before and last after. */
  private applyReputation(events: readonly ReputationEventWrite[], now: number, moves = new Map<string, ReputationMove>()): ReputationMove[] {
    for (const e of events) {
      const before = this.reputationRow(e);
      const after = applyEvent(before, e, now);
      this.putReputation(after);
      const learned = checkedPace(e);
      if (learned) this.s.learnPace!.run(learned.jobId, learned.volunteerId, learned.numericClass, learned.pace);
      const k = reputationKey(e);
      moves.set(k, { before: moves.has(k) ? moves.get(k)!.before : before, after });
    }
    return [...moves.values()];
  }

  async recordReputation(events: readonly ReputationEventWrite[], now: number) {
    return events.length ? this.write(() => this.applyReputation(events, now)) : [];
  }

  async markOperator(k: ReputationKey, now: number) {
    return this.write(() => {
      const r = this.reputationRow(k);
      const all = (this.db.prepare('SELECT * FROM reputations WHERE volunteer_id = ?').all(k.volunteerId) as Row[]).map(toReputation);
      if (!mayMarkOperator(all)) return false;
      if (!r?.operator) this.putReputation({ ...(r ?? newReputation(k.volunteerId, k.numericClass, now)), operator: true, updatedAt: now });
      return true;
    });
  }

  async classCensus() {
    const rows = this.db.prepare('SELECT numeric_class AS c, COUNT(DISTINCT address) AS n FROM volunteers GROUP BY numeric_class').all() as Row[];
    return new Map(rows.map((r) => [r.c as string, Number(r.n)]));
  }

  async trustedClassesSeen(trustAfter: number, since: number) {
    return (this.db.prepare(`SELECT DISTINCT r.numeric_class AS c FROM reputations r JOIN volunteers v ON v.id = r.volunteer_id
      WHERE (r.operator = 1 OR r.streak >= ?) AND v.last_seen >= ? ORDER BY c`).all(trustAfter, since) as Row[]).map((r) => r.c as string);
  }

  // The credit ledger beyond credits (credit-ledger.ts); its writes share the group commit.
  async accountCredit(account: string, now: number) { return this.credits.accountCredit(account, now); }
  async reverseCredits(r: { copyIds: readonly string[]; reason: string; now: number }) { return this.write(() => this.credits.reverseCredits(r)); }
  async ledgerChanges(filter: { account?: string; before?: number; limit: number }) { return this.credits.ledgerChanges(filter); }
  async claimCredit(c: WalletClaimWrite) { return this.write(() => this.credits.claimCredit(c)); }
  async closePayout(p: Parameters<CreditLedger['closePayout']>[0]) { return this.write(() => this.credits.closePayout(p)); }
  async payoutEpochs(limit: number) { return this.credits.payoutEpochs(limit); }
  async payoutEpoch(id: string) { return this.credits.payoutEpoch(id); }
  async payoutsOf(account: string) { return this.credits.payoutsOf(account); }
}

/**
 * The database file readable by its owner only, whatever the umask: created
 * 0600 before SQLite opens it (SQLite gives its -wal and -shm files the
 * database's mode), and an existing one (an older version made it 0644)
 * tightened along with its -wal and -shm files.
 */
function ownerOnly(file: string): void {
  if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
}
