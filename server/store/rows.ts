/**
 * Rows to plain data, for both stores: the tables have the same columns in
 * SQLite and PostgreSQL. The drivers differ only in what a value arrives as:
 * PostgreSQL BIGINT as a string (every one of ours is a millisecond
 * timestamp, a record offset or a count, far below 2^53), BOOLEAN as a
 * boolean where SQLite has 0/1; JSON columns are text in both.
 */
import type { Agreement, Review, Voucher } from '../core/trust/review.ts';
import type { ClaimableShard } from '../core/scheduler/claim.ts';
import type { Copy, Job, Shard, TrainProgress } from '../core/jobs/types.ts';
import { type DistinctRule, lateResultClash } from '../core/scheduler/eligibility.ts';
import type { GridCounts, LateRefusal, Project, ProjectSettings, Volunteer } from './types.ts';
import type { InviteRow, MembershipRow } from '../core/groups/membership.ts';

export type Row = Record<string, unknown>;

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown): string | null => (v as string | null) ?? null;

/** The columns of a copy that `toCopy` reads (never the result itself). */
export const COPY_COLS = 'id, shard_id, job_id, volunteer_id, account, wallet, address, numeric_class, state, outcome, assigned_at, deadline, returned_at, reason, credit, solo, unchecked, spot, review';

/** A shard row: the shard, the dispatcher's counters, and the columns the queue sorts and filters by. */
export interface ShardRow extends ClaimableShard {
  projectId: string;
  jobCreated: number;
}

export const toProject = (r: Row): Project => ({
  id: r.id as string, name: r.name as string, createdAt: num(r.created_at), embed: JSON.parse(r.embed as string),
  description: (r.description as string | undefined) ?? '', weight: num(r.weight ?? 1),
  private: r.private === true || r.private === 1, maxInFlight: num(r.max_in_flight ?? 0),
});

export const toInvite = (r: Row): InviteRow => ({
  id: r.id as string, projectId: r.project_id as string, label: r.label as string, createdAt: num(r.created_at), revokedAt: numOrNull(r.revoked_at),
});

export const toMembership = (r: Row): MembershipRow & { inviteRevoked: boolean } => ({
  projectId: r.project_id as string, volunteerId: r.volunteer_id as string, inviteId: r.invite_id as string, joinedAt: num(r.joined_at),
  endedAt: numOrNull(r.ended_at), endedBy: (r.ended_by as MembershipRow['endedBy'] | null) ?? null, inviteRevoked: r.invite_revoked_at !== null && r.invite_revoked_at !== undefined,
});

/** A membership row with its invite's revocation, as both stores read it (`?` placeholders). */
export const MEMBERSHIP_COLS = 'm.project_id, m.volunteer_id, m.invite_id, m.joined_at, m.ended_at, m.ended_by, i.revoked_at AS invite_revoked_at';

export const toTokenInfo = (r: Row) => ({ id: r.id as string, label: r.label as string, createdAt: num(r.created_at), revokedAt: numOrNull(r.revoked_at) });

export const toVolunteer = (r: Row): Volunteer => ({
  id: r.id as string, secretHash: r.secret_hash as string, wallet: str(r.wallet),
  account: r.account as string, address: r.address as string, numericClass: r.numeric_class as string,
  capabilities: JSON.parse(r.capabilities as string), createdAt: num(r.created_at), lastSeen: num(r.last_seen),
});

/** `spec`: the job's spec when the caller already holds it (specs never change), so the row need not carry it. */
export const toJob = (r: Row, spec: Job['spec'] = JSON.parse(r.spec as string)): Job => ({
  id: r.id as string, projectId: r.project_id as string, kind: r.kind as Job['kind'], state: r.state as Job['state'],
  spec, createdAt: num(r.created_at), finishedAt: numOrNull(r.finished_at),
  error: str(r.error), resultHash: str(r.result_hash),
  progress: r.progress ? JSON.parse(r.progress as string) as TrainProgress : null,
  ...(r.name ? { name: r.name as string } : {}),
  ...(r.tags ? { tags: JSON.parse(r.tags as string) as Record<string, string> } : {}),
  ...(r.priority ? { priority: num(r.priority) } : {}),
});

export const toShard = (r: Row): Shard => ({
  id: r.id as string, jobId: r.job_id as string, index: num(r.idx), start: num(r.rec_start), end: num(r.rec_end),
  state: r.state as Shard['state'], wanted: num(r.wanted), canonicalCopyId: str(r.canonical_copy_id),
  errors: num(r.errors), issued: num(r.issued),
});

export const toShardRow = (r: Row): ShardRow => ({
  ...toShard(r), alive: num(r.alive), maxTotal: num(r.max_total), homogeneous: r.homogeneous === true || r.homogeneous === 1,
  projectId: r.project_id as string, jobCreated: num(r.job_created),
});

/** The Shard alone, without the dispatcher's columns. */
export const shardOf = (r: ShardRow): Shard => ({
  id: r.id, jobId: r.jobId, index: r.index, start: r.start, end: r.end, state: r.state,
  wanted: r.wanted, canonicalCopyId: r.canonicalCopyId, errors: r.errors, issued: r.issued,
});

export const toCopy = (r: Row): Copy => ({
  id: r.id as string, shardId: r.shard_id as string, jobId: r.job_id as string, volunteerId: r.volunteer_id as string,
  account: r.account as string, wallet: str(r.wallet), address: r.address as string,
  numericClass: r.numeric_class as string, state: r.state as Copy['state'], outcome: r.outcome as Copy['outcome'],
  assignedAt: num(r.assigned_at), deadline: num(r.deadline), returnedAt: numOrNull(r.returned_at),
  reason: str(r.reason), credit: num(r.credit),
  // Set only when true, so a copy reads back as the claim made it.
  ...(r.solo === 1 || r.solo === true ? { solo: true } : {}),
  ...(r.unchecked === 1 || r.unchecked === true ? { unchecked: true } : {}),
  ...(r.spot === 1 || r.spot === true ? { spot: true } : {}),
  ...(r.review === 1 || r.review === true ? { review: true } : {}),
});

/** The grid-wide counts for /metrics, the same SQL on both stores (no parameters). */
export const GRID_COUNT_SQL = {
  jobs: 'SELECT state, COUNT(*) AS n FROM jobs GROUP BY state',
  shards: `SELECT s.state, COUNT(*) AS n FROM shards s JOIN jobs j ON j.id = s.job_id WHERE j.state = 'running' GROUP BY s.state`,
  queue: `SELECT COALESCE(SUM(s.wanted - s.alive), 0) AS n FROM shards s JOIN jobs j ON j.id = s.job_id
          WHERE j.state = 'running' AND s.state = 'open' AND s.alive < s.wanted AND s.issued < s.max_total`,
} as const;

/** Folds GROUP BY rows into counts with every state present (0 where none). */
export function gridCounts(jobs: Record<string, unknown>[], shards: Record<string, unknown>[], queue: unknown): GridCounts {
  const out: GridCounts = {
    jobs: { running: 0, completed: 0, failed: 0, cancelled: 0 },
    shards: { open: 0, validated: 0, failed: 0, cancelled: 0 },
    queue: Number(queue),
  };
  for (const r of jobs) out.jobs[r.state as keyof GridCounts['jobs']] = Number(r.n);
  for (const r of shards) out.shards[r.state as keyof GridCounts['shards']] = Number(r.n);
  return out;
}

/** SET clauses (with `?` placeholders) for the settings a patch changes. */
export function projectPatch(patch: Partial<ProjectSettings>): { sets: string[]; vals: (string | number | boolean)[] } {
  const cols: Record<keyof ProjectSettings, string> = { description: 'description', weight: 'weight', private: 'private', maxInFlight: 'max_in_flight' };
  const sets: string[] = [];
  const vals: (string | number | boolean)[] = [];
  for (const k of Object.keys(cols) as (keyof ProjectSettings)[]) {
    if (patch[k] === undefined) continue;
    sets.push(`${cols[k]} = ?`);
    vals.push(patch[k]);
  }
  return { sets, vals };
}

/**
 * What fair share reads (server/core/scheduler/fair-share.ts), in both
 * stores' SQL (`?` placeholders; the PostgreSQL store numbers them).
 */
export const FAIR_SHARE_SQL = {
  /** Live projects with a shard that wants a copy (one probe of shards_wanting_project each). */
  projectsWithWork: `SELECT p.id, p.weight, p.max_in_flight, p.private FROM projects p WHERE p.deleted_at IS NULL AND EXISTS
    (SELECT 1 FROM shards s WHERE s.project_id = p.id AND s.state = 'open' AND s.alive < s.wanted AND s.issued < s.max_total) ORDER BY p.created_at`,
  /** Validated credit (GFLOP) per project since a time. */
  validatedSince: `SELECT project_id, SUM(amount) AS g FROM ledger WHERE at >= ? GROUP BY project_id`,
  /** Copies in flight per project and the GFLOP they stand for. */
  inFlightByProject: `SELECT s.project_id, COUNT(*) AS n, SUM(s.gflops) AS g FROM copies c JOIN shards s ON s.id = c.shard_id
    WHERE c.state IN ('assigned','running') GROUP BY s.project_id`,
};

export const activeProject = (r: Row) => ({
  id: r.id as string, weight: num(r.weight), maxInFlight: num(r.max_in_flight), private: r.private === true || r.private === 1,
});

/**
 * Whether a late result on copy `copyId` (expired or errored, one of `copies`, all of its shard's copies read
 * under the shard's lock) is refused: lateResultClash's decision in the store's words. Both stores call it.
 */
export function lateRefusal(copyId: string, copies: readonly Copy[], rules: ReadonlySet<DistinctRule>): LateRefusal | null {
  const late = copies.find((c) => c.id === copyId);
  const clash = late ? lateResultClash(late, copies, rules) : null;
  return clash === null ? null : clash === 'volunteer' ? 'superseded' : `shares_${clash}`;
}

/** The reason a spot check's passing copy is judged with (spot-check.ts judgeAgainstKnown): such a copy was not accepted alone. */
export const SPOT_PASS_PREFIX = 'spot check passed';

/**
 * What spot checks and backtracking read (server/core/trust/spot-check.ts),
 * in both stores' SQL (`?` placeholders, numbered by the PostgreSQL store).
 */
export const SPOT_SQL = {
  /**
   * Validated shards of running inference jobs whose agreeing (valid) results include one from an operator's
   * host (answerKnown in spot-check.ts): agreement among volunteers alone may be colluders agreeing on a lie.
   */
  knownAnswers: `SELECT s.id, s.job_id, s.project_id FROM shards s JOIN jobs j ON j.id = s.job_id
    WHERE j.state = 'running' AND j.kind = 'inference' AND s.state = 'validated'
      AND EXISTS (SELECT 1 FROM copies c JOIN reputations r ON r.volunteer_id = c.volunteer_id AND r.numeric_class = c.numeric_class
        WHERE c.shard_id = s.id AND c.outcome = 'valid' AND r.operator = 1)
    ORDER BY s.job_created DESC, s.idx DESC LIMIT ?`,
  /** A volunteer's results accepted alone since a time (rare: read once a host is caught). */
  soloResults: `SELECT c.id, c.shard_id, c.volunteer_id, c.numeric_class, c.returned_at FROM copies c
    JOIN shards s ON s.canonical_copy_id = c.id
    WHERE c.volunteer_id = ? AND c.outcome = 'valid' AND s.state = 'validated' AND c.returned_at >= ?
      AND (c.reason IS NULL OR c.reason NOT LIKE '${SPOT_PASS_PREFIX}%')
      -- A root review copy is the shard ground truth, not a volunteer word: never re-opened to volunteers (review.ts).
      AND c.review = 0
      AND NOT EXISTS (SELECT 1 FROM copies o WHERE o.shard_id = s.id AND o.id <> c.id AND o.outcome = 'valid')
    ORDER BY c.returned_at`,
  /** The coordinator's own answers (known_answers) of running jobs, newest first. */
  ownAnswers: `SELECT a.shard_id, a.job_id, a.project_id, a.numeric_class, a.result FROM known_answers a JOIN jobs j ON j.id = a.job_id
    WHERE j.state = 'running' ORDER BY a.at DESC LIMIT ?`,
  saveOwnAnswer: `INSERT INTO known_answers (shard_id, job_id, project_id, numeric_class, result, at) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (shard_id) DO NOTHING`,
  /** A job's own answers are of no more use once it ended (finishJob, in its transaction). */
  forgetOwnAnswers: `DELETE FROM known_answers WHERE job_id = ?`,
  /** The copies that still count toward a shard's quorum (claim.ts ClaimableShard.alive). */
  alive: `SELECT COUNT(*) AS n FROM copies WHERE shard_id = ? AND (state IN ('assigned','running') OR (state = 'returned' AND outcome <> 'invalid'))`,
};

/** One of the coordinator's own answers, as stored (spot-checks.ts keeps them in memory too). */
export interface OwnAnswerRow {
  shardId: string;
  jobId: string;
  projectId: string;
  /** The class of the computation (the coordinator's onnxruntime-web, WASM). */
  numericClass: string;
  /** The outputs, tensor codec. */
  encoded: Uint8Array;
  at: number;
}

export const toOwnAnswer = (r: Row): Omit<OwnAnswerRow, 'at'> => ({
  shardId: r.shard_id as string, jobId: r.job_id as string, projectId: r.project_id as string, numericClass: r.numeric_class as string,
  encoded: new Uint8Array(r.result as Uint8Array),
});

export const toKnownAnswer = (r: Row) => ({ shardId: r.id as string, jobId: r.job_id as string, projectId: r.project_id as string, source: 'validated' as const });
export const toSoloResult = (r: Row) => ({
  copyId: r.id as string, shardId: r.shard_id as string, volunteerId: r.volunteer_id as string, numericClass: r.numeric_class as string, at: num(r.returned_at),
});

/**
 * Reviews (server/core/trust/review.ts): a caught host's results accepted on agreement, re-verified by the
 * root of trust, in both stores' SQL (`?` placeholders, numbered by the PostgreSQL store).
 */
export const REVIEW_SQL = {
  /**
   * A job that failed or was cancelled: its open reviews close (finishJob, in its transaction). Nothing will settle
   * them (no root copy is issued for an ended job), and an open review would hold its credit pending for ever;
   * closed, that credit follows the normal hold. A completed job keeps its reviews: an overturn runs it again.
   */
  closeJobReviews: `UPDATE reviews SET state = 'closed', settled_at = ? WHERE job_id = ? AND state = 'open'`,
  /**
   * A volunteer's valid results on validated shards that another valid result agreed with, returned since a
   * time (rare: read once a host is caught), with whether the root agreed already (an operator host's valid
   * result, or the coordinator's own answer) and whether the shard's answer was reviewed already (a review closed
   * on another answer, a voided one, is not this answer's).
   */
  agreedResults: `SELECT c.id, c.shard_id, c.job_id, c.volunteer_id, c.returned_at, j.kind,
      CASE WHEN EXISTS (SELECT 1 FROM copies o JOIN reputations r ON r.volunteer_id = o.volunteer_id AND r.numeric_class = o.numeric_class
          WHERE o.shard_id = s.id AND o.outcome = 'valid' AND r.operator = 1)
        OR EXISTS (SELECT 1 FROM known_answers k WHERE k.shard_id = s.id) THEN 1 ELSE 0 END AS root_agreed,
      CASE WHEN EXISTS (SELECT 1 FROM reviews rv WHERE rv.shard_id = s.id AND (rv.state <> 'closed' OR rv.canonical_copy_id = s.canonical_copy_id))
        THEN 1 ELSE 0 END AS reviewed
    FROM copies c JOIN shards s ON s.id = c.shard_id JOIN jobs j ON j.id = s.job_id
    WHERE c.volunteer_id = ? AND c.outcome = 'valid' AND s.state = 'validated' AND c.returned_at >= ?
      AND EXISTS (SELECT 1 FROM copies o WHERE o.shard_id = s.id AND o.id <> c.id AND o.outcome = 'valid')
    ORDER BY c.returned_at`,
  /**
   * Open reviews in the order the root takes them (review.ts reviewOrder: unvouched first, then the newest answers), with
   * whether their root copy is still live and whether a host not caught since it agreed (caughtSince; no reputation row:
   * never judged, never caught), or an operator's, vouches for the answer. Not "trusted now": careful and on-off hosts
   * earn their trust again after a catch, and their lies would stay vouched for.
   */
  open: `SELECT * FROM (SELECT rv.*, CASE WHEN rc.state IN ('assigned','running','returned') THEN 1 ELSE 0 END AS copy_live,
        CASE WHEN EXISTS (SELECT 1 FROM copies o LEFT JOIN reputations r ON r.volunteer_id = o.volunteer_id AND r.numeric_class = o.numeric_class
          WHERE o.shard_id = rv.shard_id AND o.outcome = 'valid'
            AND (r.operator = 1 OR r.last_invalid_at IS NULL OR r.last_invalid_at < o.returned_at)) THEN 1 ELSE 0 END AS vouched
      FROM reviews rv LEFT JOIN copies rc ON rc.id = rv.copy_id WHERE rv.state = 'open') w
    ORDER BY vouched, result_at DESC, shard_id LIMIT ?`,
  /**
   * A caught host's agreements (its valid copy on a validated shard of a running or completed inference job, another
   * valid copy beside it), the newest `?` of them, each with every valid copy of its shard: one row per voucher
   * (review.ts Voucher). The root: an operator's host, a root's review copy (the operator's host or the
   * coordinator's own computation), or a shard the coordinator computed itself (its copies agreed with it).
   */
  agreements: `SELECT a.shard_id, a.job_id, a.canonical_copy_id, a.mine, o.id AS copy_id, o.volunteer_id, o.returned_at, r.last_invalid_at,
      CASE WHEN o.review = 1 OR r.operator = 1 OR EXISTS (SELECT 1 FROM known_answers k WHERE k.shard_id = a.shard_id) THEN 1 ELSE 0 END AS root
    FROM (SELECT s.id AS shard_id, s.job_id, s.canonical_copy_id, c.id AS mine, c.returned_at AS mine_at, s.idx
        FROM copies c JOIN shards s ON s.id = c.shard_id JOIN jobs j ON j.id = s.job_id
        WHERE c.volunteer_id = ? AND c.outcome = 'valid' AND s.state = 'validated' AND j.kind = 'inference' AND j.state IN ('running', 'completed')
          AND EXISTS (SELECT 1 FROM copies o WHERE o.shard_id = s.id AND o.id <> c.id AND o.outcome = 'valid')
        ORDER BY c.returned_at DESC, s.idx DESC, s.id LIMIT ?) a
      JOIN copies o ON o.shard_id = a.shard_id AND o.outcome = 'valid'
      LEFT JOIN reputations r ON r.volunteer_id = o.volunteer_id AND r.numeric_class = o.numeric_class
    ORDER BY a.mine_at DESC, a.idx DESC, a.shard_id, o.returned_at, o.id`,
  /** One shard's vouchers, as agreements reads them: voidAgreement checks them again in its write. */
  vouchers: `SELECT o.id AS copy_id, o.volunteer_id, o.returned_at, r.last_invalid_at,
      CASE WHEN o.review = 1 OR r.operator = 1 OR EXISTS (SELECT 1 FROM known_answers k WHERE k.shard_id = o.shard_id) THEN 1 ELSE 0 END AS root
    FROM copies o LEFT JOIN reputations r ON r.volunteer_id = o.volunteer_id AND r.numeric_class = o.numeric_class
    WHERE o.shard_id = ? AND o.outcome = 'valid' ORDER BY o.returned_at, o.id`,
  /** A voided shard's open review closes: the answer it was reviewing is gone (voidAgreement, in its write). */
  closeVoided: `UPDATE reviews SET state = 'closed', settled_at = ? WHERE shard_id = ? AND state = 'open'`,
  /**
   * Each answer is reviewed once: a shard's review row is opened again only when it was closed on another answer
   * (voidAgreement closed it and others recomputed the shard since), so the new answer may be reviewed in its turn.
   */
  insert: `INSERT INTO reviews (shard_id, job_id, project_id, canonical_copy_id, state, reason, opened_at, result_at, copy_id, settled_at)
    VALUES (?, ?, ?, ?, 'open', ?, ?, ?, NULL, NULL)
    ON CONFLICT (shard_id) DO UPDATE SET canonical_copy_id = excluded.canonical_copy_id, state = 'open', reason = excluded.reason,
      opened_at = excluded.opened_at, result_at = excluded.result_at, copy_id = NULL, settled_at = NULL
    WHERE reviews.state = 'closed' AND reviews.canonical_copy_id <> excluded.canonical_copy_id`,
  one: `SELECT rv.*, CASE WHEN rc.state IN ('assigned','running','returned') THEN 1 ELSE 0 END AS copy_live
    FROM reviews rv LEFT JOIN copies rc ON rc.id = rv.copy_id WHERE rv.shard_id = ?`,
  counts: `SELECT state, COUNT(*) AS n FROM reviews GROUP BY state`,
};

/**
 * The copies whose credit is under review: every valid copy of a shard with an open review. Their credit
 * stays pending, past its hold, until the review settles (both stores' balance and payout queries).
 */
export const UNDER_REVIEW = `SELECT c.id FROM reviews rv JOIN copies c ON c.shard_id = rv.shard_id WHERE rv.state = 'open' AND c.outcome = 'valid'`;

export const toReview = (r: Row) => ({
  shardId: r.shard_id as string, jobId: r.job_id as string, projectId: r.project_id as string, canonicalCopyId: r.canonical_copy_id as string,
  state: r.state as Review['state'], reason: r.reason as string, openedAt: num(r.opened_at), resultAt: num(r.result_at), copyId: str(r.copy_id),
  copyLive: num(r.copy_live) === 1, vouched: num(r.vouched) === 1,
});

/** A voucher row (REVIEW_SQL.agreements, vouchers) as review.ts reads it. */
export const toVoucher = (r: Row): Voucher => ({
  copyId: r.copy_id as string, volunteerId: r.volunteer_id as string, at: num(r.returned_at), root: num(r.root) === 1,
  lastCaughtAt: r.last_invalid_at === null || r.last_invalid_at === undefined ? null : num(r.last_invalid_at),
});

/** REVIEW_SQL.agreements' rows (one per voucher, an agreement's together, in order) as agreements. */
export function toAgreements(rows: readonly Row[]): Agreement[] {
  const out: Agreement[] = [];
  for (const r of rows) {
    let a = out.at(-1);
    if (!a || a.shardId !== r.shard_id) {
      a = { shardId: r.shard_id as string, jobId: r.job_id as string, canonicalCopyId: r.canonical_copy_id as string, copyId: r.mine as string, vouchers: [] };
      out.push(a);
    }
    a.vouchers.push(toVoucher(r));
  }
  return out;
}

export const toAgreedResult = (r: Row) => ({
  copyId: r.id as string, shardId: r.shard_id as string, jobId: r.job_id as string, volunteerId: r.volunteer_id as string, at: num(r.returned_at),
  kind: r.kind as 'inference' | 'train', rootAgreed: num(r.root_agreed) === 1, reviewed: num(r.reviewed) === 1,
});
