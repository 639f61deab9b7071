/**
 * The coordinator's persistence boundary. Every method is asynchronous and
 * atomic on its own, so nothing above it assumes a synchronous, single-process
 * database: the SQLite store implements it for one machine, a PostgreSQL store
 * for coordinators that scale out.
 */
import type { Copy, CopyOutcome, Job, Shard, ShardState, TrainProgress } from '../core/jobs/types.ts';
import type { DistinctRule, VolunteerIdentity } from '../core/scheduler/eligibility.ts';
import type { ClaimTrust } from '../core/scheduler/claim.ts';
import type { JobState } from '../../shared/protocol/events.ts';
import type { CreditLedger, ReversedCredit } from './credit-types.ts';
import type { KnownAnswer, SoloResult } from '../core/trust/spot-check.ts';
import type { AgreedResult, Agreement, Review } from '../core/trust/review.ts';
import type { InviteRow, MembershipRow } from '../core/groups/membership.ts';
import type { Reputation } from '../core/trust/reputation.ts';
import type { ReputationEventWrite, ReputationKey, ReputationMove } from './reputation-rows.ts';
import type { OwnAnswerRow } from './rows.ts';
import type { KeyedJob, SubmissionKey } from '../core/jobs/submission.ts';

export type { ReputationEventWrite, ReputationKey, ReputationMove } from './reputation-rows.ts';

export interface EmbedSettings {
  /** Origins allowed to embed this project's compute frame; empty = any. */
  allowedOrigins: string[];
  defaultIntensity: number;
  /** `site`: credit the site's wallet; `visitor`: the visitor may enter their own. */
  creditTo: 'site' | 'visitor';
  /** With creditTo `site`: the one wallet embeds are credited to, whatever a page claims (null: the page's data-wallet). */
  siteWallet?: string | null;
}

/** What the operator sets on a project (issue 15). */
export interface ProjectSettings {
  description: string;
  /** Its share of the swarm's compute, relative to the other projects with work (fair-share.ts). */
  weight: number;
  /** A private project's jobs go only to volunteers in its group. */
  private: boolean;
  /** Most copies of its shards in flight at once; 0 = no cap. */
  maxInFlight: number;
}

export const DEFAULT_PROJECT_SETTINGS: ProjectSettings = { description: '', weight: 1, private: false, maxInFlight: 0 };

export interface Project extends ProjectSettings {
  id: string;
  name: string;
  createdAt: number;
  embed: EmbedSettings;
}

/** A project as created: settings not given take DEFAULT_PROJECT_SETTINGS. */
export type NewProject = Omit<Project, keyof ProjectSettings> & Partial<ProjectSettings>;

export interface TokenInfo {
  id: string;
  label: string;
  createdAt: number;
  revokedAt: number | null;
}

export type ProjectDeletion = 'deleted' | 'running' | 'gone';

/** A private project's group member as the project sees it (server/core/groups/membership.ts). */
export interface MemberRow extends MembershipRow {
  /** The account its credit goes to (a wallet, or volunteer:<id>). */
  account: string;
  inviteRevoked: boolean;
}

export interface Volunteer extends VolunteerIdentity {
  secretHash: string;
  account: string;
  capabilities: unknown;
  createdAt: number;
  lastSeen: number;
}

export interface ClaimRequest {
  volunteer: VolunteerIdentity & { account: string };
  projectId?: string;
  rules: ReadonlySet<DistinctRule>;
  now: number;
  /**
   * Uniform draws in [0, 1): the shard is picked at random among the first eligible ones of the top priority
   * (core/scheduler/pick.ts), so which shard a request gets is not predictable from its timing. Without it,
   * queue order (the store contract's tests, which fix an order by construction).
   */
  draw?: () => number;
  /** Adaptive replication's inputs (core/scheduler/claim.ts ClaimTrust); the store tells who holds trust. Absent: plain replication. */
  trust?: Omit<ClaimTrust, 'holderTrust'>;
}

export interface Claimed {
  job: Job;
  shard: Shard;
  copy: Copy;
}

export interface ShardResults {
  job: Job;
  /** With its copy budget (`max_total`: the job's maxTotalCopies, raised when a recomputation re-opened it). */
  shard: Shard & { maxTotal: number };
  copies: Copy[];
  /**
   * Encoded outputs (tensor codec) of these returned copies, by copy id; read
   * only when asked, since they can be large and a shard with one result has
   * nothing to compare. A copy whose result was dropped (a closed training
   * round) is missing from the map.
   */
  results(copyIds: readonly string[]): Promise<Map<string, Uint8Array>>;
}

export interface CopyJudgement {
  copyId: string;
  outcome: Exclude<CopyOutcome, 'pending'>;
  reason: string | null;
  credit: number;
  /** Accepted on no trusted or independent word (core/trust/judge.ts): marked so on the copy. */
  unchecked?: boolean;
  /** What the judgement does to the copy's host's reputation, applied with it (only if the copy was still pending). */
  reputation?: ReputationEventWrite['event'];
  /** The copy's pace (core/trust/pace.ts), written with a `valid` reputation event: its host's pace in the copy's job after a checked result. */
  seen?: number | null;
}

export interface ValidationWrite {
  shardId: string;
  shard: { state: ShardState; wanted: number; canonicalCopyId: string | null };
  judgements: CopyJudgement[];
  /** How long these credits stay pending before they are payable (the coordinator's `--credit-hold`; 0 when absent). */
  holdMs?: number;
  /** Ledger rows; the store inserts each copy's credit at most once. */
  credits: { copyId: string; account: string; amount: number; jobId: string; projectId: string }[];
}

export interface JobCounts {
  shards: { total: number; open: number; validated: number; failed: number };
  copies: { valid: number; invalid: number; pending: number; expired: number; error: number };
  credit: number;
}

/** What the whole grid holds now, for /metrics. */
export interface GridCounts {
  jobs: Record<JobState, number>;
  /** Shards of running jobs, by state. */
  shards: Record<ShardState, number>;
  /** Copies the running jobs' open shards want and nobody holds yet (the dispatch queue). */
  queue: number;
}

export interface LedgerEntry {
  /** Position in the append-only ledger, for paging (`before`). */
  seq: number;
  copyId: string;
  account: string;
  amount: number;
  jobId: string;
  projectId: string;
  at: number;
}

/** What a project's public page shows, as the store counts it. */
export interface ProjectBoardCounts {
  jobs: Record<JobState, number>;
  /** Per job: its shards (cancelled ones left out), those validated, and the records they cover. */
  shards: { jobId: string; total: number; validated: number; validatedRecords: number }[];
  /**
   * Accounts by the credit they earned on the project's copies, reversals
   * taken off (the account that computed the copy, even if the credit was
   * since claimed by a wallet), most first; `copies` counts the unreversed ones.
   */
  leaderboard: { account: string; credit: number; copies: number }[];
  /** All the credit granted for the project's copies, reversals taken off. */
  credit: number;
}

/** A review as the store reads it, with whether its root copy is still live (assigned, running or returned). */
export type ReviewRow = Review & { copyLive: boolean; vouched: boolean };

export interface ReviewSettleWrite {
  shardId: string;
  rootCopyId: string;
  outcome: 'confirmed' | 'overturned';
  reason: string;
  now: number;
  /** The credit hold of the root copy's own credit. */
  holdMs: number;
  /** The root copy's credit (0: none). */
  credit: number;
  /** Overturned: the copies that agreed on the overturned answer. */
  overturned: readonly string[];
  /**
   * The coordinator's own computation settles it (review.ts COORDINATOR_HOST), not a root host's copy: its result is
   * written as a returned review copy `rootCopyId` held by the coordinator, in the same transaction as the
   * settlement (nothing is written when the review is not settled), and never credited (`credit` is not used).
   */
  own?: { encoded: Uint8Array; computeMs: number; numericClass: string };
}

export interface ReviewSettled {
  review: Review;
  reversed: ReversedCredit[];
  reputations: ReputationMove[];
  /** The job had completed: it runs again until its outputs are assembled again. */
  jobReopened: boolean;
}

/** A validated shard re-opened by backtracking (Store.reopenShards). */
export interface Reopened {
  shardId: string;
  jobId: string;
  projectId: string;
  /** The copy whose acceptance was undone, and its volunteer. */
  copyId: string;
  volunteerId: string;
  /** The job had completed on it: it runs again, and completes again with the outputs recomputed. */
  jobReopened: boolean;
}

/** A void agreement re-opened (Store.voidAgreement). */
export interface Voided {
  shardId: string;
  jobId: string;
  projectId: string;
  /** Every copy that had agreed on the answer, invalid now. */
  copies: { copyId: string; volunteerId: string }[];
  reversed: ReversedCredit[];
  /** The job had completed on it: it runs again, and completes again with the shard recomputed. */
  jobReopened: boolean;
  /** An open review of the shard closed with it. */
  reviewClosed: boolean;
}

/**
 * A late result on a dead copy that may not revive it (lateResultClash,
 * eligibility.ts), decided under the shard's lock so that no claim can slip
 * between the check and the write: 'superseded', its volunteer was given the
 * shard again and holds that copy now; 'shares_wallet' / 'shares_address',
 * another live copy of the shard shares its wallet or client address (the
 * distinct-copies rules). One volunteer, wallet or address never has two
 * votes on one shard.
 */
export type LateRefusal = 'superseded' | `shares_${DistinctRule}`;

export type ResultWrite = 'accepted' | 'duplicate' | 'not_assigned' | 'gone' | LateRefusal;

export interface Store extends CreditLedger {
  readonly kind: 'sqlite' | 'postgres';
  close(): Promise<void>;

  /** Refused (throws) when a live project already has the name. */
  createProject(p: NewProject): Promise<void>;
  /** A project by id, deleted ones included (their jobs and credit stay). */
  getProject(id: string): Promise<Project | null>;
  /** A live project by its name. */
  projectByName(name: string): Promise<Project | null>;
  /** Live projects, oldest first. */
  listProjects(): Promise<Project[]>;
  setEmbedSettings(projectId: string, embed: EmbedSettings): Promise<void>;
  updateProject(projectId: string, patch: Partial<ProjectSettings>): Promise<void>;
  /**
   * Deletes a live project in one step, refused while any of its jobs runs:
   * its tokens are revoked and its name is free again; jobs, blobs and ledger
   * rows stay (the ledger is append-only).
   */
  deleteProject(projectId: string, at: number): Promise<ProjectDeletion>;
  addToken(t: { id: string; projectId: string; hash: string; label: string; createdAt: number }): Promise<void>;
  /** The live project of a token that is not revoked; read from the database every time, so a revocation holds at once everywhere. */
  projectByTokenHash(hash: string): Promise<Project | null>;
  tokensOf(projectId: string): Promise<TokenInfo[]>;
  /** Revokes these tokens of the project (all of them when `ids` is null); returns the ids revoked now. */
  revokeTokens(projectId: string, ids: string[] | null, at: number): Promise<string[]>;
  /** Records the coordinator's operator credential unless one exists; true when this one was recorded. */
  addOperatorToken(t: { hash: string; createdAt: number }): Promise<boolean>;
  isOperatorTokenHash(hash: string): Promise<boolean>;
  /** Replaces the operator credential (a lost token: `tabgrid operator token reset`); the old one is refused from now on. */
  replaceOperatorToken(t: { hash: string; createdAt: number }): Promise<void>;

  // Private swarms (issue 15): invite codes and groups (server/core/groups/membership.ts).
  addInvite(i: InviteRow & { hash: string }): Promise<void>;
  /** The invite whose code hashes to this, revoked or not; null when none does. */
  inviteByHash(hash: string): Promise<InviteRow | null>;
  invitesOf(projectId: string): Promise<(InviteRow & { members: number })[]>;
  /** Revokes one invite of the project; false when it has none by that id or it was revoked already. */
  revokeInvite(projectId: string, inviteId: string, at: number): Promise<boolean>;
  /** The volunteer's membership of the project, whatever its state, and whether its invite was revoked. */
  membership(projectId: string, volunteerId: string): Promise<(MembershipRow & { inviteRevoked: boolean }) | null>;
  /**
   * Joins (or rejoins) the group by this invite. Refused (false) when the project removed the volunteer at or
   * after `inviteCreatedAt`, so a removal that happens during a join is not undone by it.
   */
  joinGroup(j: { projectId: string; volunteerId: string; inviteId: string; inviteCreatedAt: number; at: number }): Promise<boolean>;
  /** Ends a standing membership, by the volunteer (`left`) or the project (`removed`); false when there was none. */
  endMembership(projectId: string, volunteerId: string, by: 'left' | 'removed', at: number): Promise<boolean>;
  /** Every membership the project's group has had, newest first. */
  membersOf(projectId: string): Promise<MemberRow[]>;
  /** The live projects whose group the volunteer is in now (joined, not ended, invite not revoked). */
  groupsOf(volunteerId: string): Promise<string[]>;
  /**
   * Whether a blob is a private project's: some project holds it and no live public project does. Such a
   * blob opens only with a per-assignment capability (server/blobs/blob-links.ts), never the hash link.
   */
  blobIsPrivate(hash: string): Promise<boolean>;

  recordBlob(b: { hash: string; bytes: number; kind: string; createdAt: number }): Promise<void>;
  blobKind(hash: string): Promise<string | null>;
  /** Records that a project uploaded (or was given by its own job) these bytes; idempotent. */
  grantBlob(projectId: string, hash: string, at: number): Promise<void>;
  /** Whether a project uploaded these bytes: a project sees and uses only its own blobs. */
  projectHasBlob(projectId: string, hash: string): Promise<boolean>;

  createVolunteer(v: Volunteer): Promise<void>;
  getVolunteer(id: string): Promise<Volunteer | null>;
  updateVolunteer(id: string, patch: Partial<Pick<Volunteer, 'wallet' | 'account' | 'address' | 'numericClass' | 'capabilities' | 'lastSeen'>>): Promise<void>;

  /**
   * Writes the job and its shards in one step. With `submission` (its request's Idempotency-Key,
   * core/jobs/submission.ts) the key is kept with the job; if a job of the project holds that key already
   * (a repeat that raced the first, on this coordinator or another), nothing is written and that job is
   * returned. Null: written.
   */
  createJob(job: Job, shards: Shard[], submission?: SubmissionKey): Promise<KeyedJob | null>;
  /** The project's job made with this Idempotency-Key, and its request's fingerprint; null when none holds it. */
  jobBySubmissionKey(projectId: string, key: string): Promise<KeyedJob | null>;
  getJob(id: string): Promise<Job | null>;
  listJobs(filter: { projectId?: string; states?: JobState[]; limit?: number }): Promise<Job[]>;
  /** Moves a running job to a final state; false if it was not running. Open shards close with it. */
  finishJob(id: string, state: Exclude<JobState, 'running'>, patch: { error?: string | null; resultHash?: string | null; finishedAt: number }): Promise<boolean>;
  jobCounts(jobId: string): Promise<JobCounts>;
  /** Jobs by state, running jobs' shards by state, and the copies waiting to be handed out. */
  gridCounts(): Promise<GridCounts>;
  /** Cheap completion check: whether any shard of the job is still open, and whether any failed. */
  shardsLeft(jobId: string): Promise<{ open: boolean; failed: boolean }>;
  /** Shards holding returned results nobody has judged yet (a crash between storing and validating). */
  shardsWithUnjudgedResults(): Promise<string[]>;
  /** Shards of a job in index order; `range` limits them to indexes [from, to). */
  shardsOf(jobId: string, range?: { from: number; to: number }): Promise<Shard[]>;
  /**
   * Closes a training round atomically: checkpoints the progress (only if the
   * job is still at `fromRound`, so two coordinators never both advance it),
   * cancels the round's unfinished shards and opens the next round's.
   */
  advanceRound(jobId: string, fromRound: number, progress: TrainProgress, nextShards: Shard[]): Promise<boolean>;
  /** Encoded canonical outputs of the given validated shards, by shard id. */
  canonicalResultsOf(shardIds: string[]): Promise<Map<string, Uint8Array>>;
  getShard(id: string): Promise<Shard | null>;

  /** Atomically picks a shard the volunteer may take and issues it a copy. */
  claimCopy(req: ClaimRequest): Promise<Claimed | null>;
  ackCopy(copyId: string, volunteerId: string, deadline: number): Promise<Copy | null>;
  /** Heartbeats: each copy the volunteer holds within its lease gets a fresh one; the others are lost, and why (lease.ts heartbeatRefusal). */
  extendLeases(volunteerId: string, copyIds: string[], now: number): Promise<{ extended: string[]; lost: { copyId: string; reason: string }[] }>;
  getCopy(id: string): Promise<Copy | null>;
  /**
   * Idempotent: a second upload of the same copy is a duplicate and changes nothing. A late result (expired or
   * errored copy) revives its copy unless `rules` (the distinct-copies rules) or its own volunteer's new copy
   * make it a second vote (LateRefusal).
   */
  saveResult(copyId: string, volunteerId: string, encoded: Uint8Array, computeMs: number, now: number, rules: ReadonlySet<DistinctRule>): Promise<ResultWrite>;
  /**
   * The copy ends without a result. Here and in releaseCopy and expireCopies, `rules` (the distinct-copies
   * rules) say which ended copies go back to the shard's copy budget: those of a source that had already
   * lost one (budgetRefunds in core/scheduler/transitions.ts), decided under the same lock as the change.
   * Every copy write takes the coordinator's rules, never a default: a caller that left them out would
   * judge with the same-volunteer check alone (NO_RULES, `--distinct-copies none`) without saying so.
   */
  failCopy(copyId: string, volunteerId: string, reason: string, now: number, rules: ReadonlySet<DistinctRule>): Promise<boolean>;
  /** A copy handed back unstarted: cancelled without counting as an error. */
  releaseCopy(copyId: string, volunteerId: string, rules: ReadonlySet<DistinctRule>): Promise<boolean>;
  /** Marks copies past their deadline expired and returns them. */
  expireCopies(now: number, rules: ReadonlySet<DistinctRule>): Promise<Copy[]>;
  setShardFailed(shardId: string, reason: string): Promise<void>;
  shardResults(shardId: string): Promise<ShardResults | null>;
  /** Returns what the judgements' reputation events did to their hosts (one move per host and class changed). */
  applyValidation(w: ValidationWrite): Promise<{ reputations: ReputationMove[] }>;
  canonicalResults(jobId: string): Promise<Uint8Array[]>;
  /** On disconnect: the volunteer's copies keep a short grace instead of their full lease. */
  shortenLeases(volunteerId: string, deadline: number): Promise<number>;
  /** Copies a volunteer holds in flight (for resuming after a reconnect). */
  copiesInFlight(volunteerId: string): Promise<Copy[]>;

  // Spot checks and backtracking (server/core/trust/spot-check.ts).
  /** Validated shards of running inference jobs whose agreeing valid results include an operator host's (answerKnown), newest first. */
  knownAnswerShards(limit: number): Promise<KnownAnswer[]>;
  /**
   * Keeps one of the coordinator's own answers (spot checks), so a restart keeps it; a shard's first is kept.
   * False: its job no longer runs, nothing kept (finishJob deletes a job's answers as it ends it).
   */
  saveOwnAnswer(a: OwnAnswerRow): Promise<boolean>;
  /** The coordinator's own answers of running jobs, newest first (finishJob deleted those of jobs that ended). */
  ownAnswers(limit: number): Promise<Omit<OwnAnswerRow, 'at'>[]>;
  /** Issues the volunteer a copy of this shard beside the claim path (decideSpotCopy decides); null when refused. */
  issueSpotCopy(shardId: string, volunteer: ClaimRequest['volunteer'], now: number): Promise<Claimed | null>;
  /**
   * The volunteer's results accepted on its word alone (the canonical and only valid copy of a validated
   * shard, not confirmed by a spot check's known answer), returned at or after `since`.
   */
  soloResults(volunteerId: string, since: number): Promise<SoloResult[]>;
  /**
   * Backtracking, in one transaction: each validated shard whose canonical copy is the target's goes back to
   * open (wanting at least two new results), the copy becomes invalid with `reason`, its credit is reversed by
   * new ledger rows with `reason`, and a job that had completed runs again. Targets no longer so are skipped.
   */
  reopenShards(r: { targets: readonly { shardId: string; copyId: string }[]; reason: string; now: number }): Promise<{ reopened: Reopened[]; reversed: ReversedCredit[] }>;

  // Reviews: backtracking that follows agreement, settled by the root of trust (server/core/trust/review.ts).
  /** The volunteer's valid results, returned at or after `since`, on validated shards where another valid result agreed with it. */
  agreedResults(volunteerId: string, since: number): Promise<AgreedResult[]>;
  /**
   * Opens a review of each target shard that is validated, its answer under review being its canonical copy;
   * a shard reviewed before (or under review) is skipped: each answer is reviewed once (a review closed on another
   * answer, one voided since, is opened again on the new one). Returns those opened.
   */
  startReviews(r: { targets: readonly { shardId: string; at: number }[]; reason: string; now: number }): Promise<Review[]>;
  /**
   * Open reviews in the order the root takes them (review.ts reviewOrder), with whether the root copy issued for each
   * is still live and whether a host not caught since it agreed (caughtSince), or an operator's, vouches for its answer.
   */
  waitingReviews(limit: number): Promise<ReviewRow[]>;
  /**
   * The volunteer's newest `limit` agreements (its valid copy on a validated shard of a running or completed
   * inference job, another valid copy agreeing), each with every valid copy of its shard as a voucher (review.ts
   * Voucher: the host's last catch in the copy's class from its reputation). Read once a host is caught.
   */
  agreements(volunteerId: string, limit: number): Promise<Agreement[]>;
  /**
   * Voids an agreement no uncaught host vouches for, in one transaction (the caller holds the shard's lock): when
   * the shard is still validated with `canonicalCopyId` and its vouchers read now are void (agreementVoid), it goes
   * back to open (wanting at least two new results), every valid copy becomes invalid with `reason`, their credit is
   * reversed by new ledger rows with `reason`, its open review closes, and a job that had completed runs again.
   * Null, nothing changed: the shard is no longer so, or someone uncaught (or the root) vouches for it.
   */
  voidAgreement(r: { shardId: string; canonicalCopyId: string; reason: string; now: number }): Promise<Voided | null>;
  reviewOf(shardId: string): Promise<ReviewRow | null>;
  /** Issues a root host the review's copy (decideReviewCopy decides), outside the shard's copy budget; null when refused. */
  issueReviewCopy(shardId: string, volunteer: ClaimRequest['volunteer'], root: boolean, now: number): Promise<Claimed | null>;
  /**
   * Settles a review in one transaction (settleReview decides): the root's copy is judged valid and credited;
   * overturned, it becomes the shard's canonical copy, each overturned copy is invalid with the reason, its credit
   * reversed by new ledger rows and its host's reputation takes an `invalid` event, and a completed job runs again
   * (its outputs are assembled again). Null when the review is not open with this root copy, or the shard's answer
   * is no longer the one under review. With `own`, the coordinator's result is kept as its copy in the same
   * transaction: the output is read from it from then on, after a restart too.
   */
  settleReview(w: ReviewSettleWrite): Promise<ReviewSettled | null>;
  /** Reviews by state (metrics, dashboards). */
  reviewCounts(): Promise<Record<Review['state'], number>>;

  balance(account: string): Promise<number>;
  /** Newest first; `before` pages back from a sequence number. */
  ledger(filter: { account?: string; jobId?: string; before?: number; limit: number }): Promise<LedgerEntry[]>;
  accountTotals(account: string): Promise<{ balance: number; copies: number }>;
  topAccounts(limit: number): Promise<{ account: string; balance: number; copies: number }[]>;
  projectBoard(projectId: string, limit: number): Promise<ProjectBoardCounts>;
  countCreditsForCopy(copyId: string): Promise<number>;

  /** Reputations of these hosts, each in its numeric class; a host with no row yet (a new host) is left out. */
  reputations(keys: readonly ReputationKey[]): Promise<Reputation[]>;
  /** These hosts' paces in one job (core/trust/pace.ts), by reputationKey; a host with no checked result there is left out. */
  paces(jobId: string, keys: readonly ReputationKey[]): Promise<Map<string, number>>;
  /** Applies the events in order, atomically (afterEvent, core/trust/reputation.ts); a host with no row starts from newReputation. */
  recordReputation(events: readonly ReputationEventWrite[], now: number): Promise<ReputationMove[]>;
  /**
   * Marks a host the operator runs, trusted from the start in this class; idempotent, its counts kept.
   * Never overrides a revocation (Reputation.operatorRevoked): then it changes nothing and returns false.
   */
  markOperator(key: ReputationKey, now: number): Promise<boolean>;
  /** Numeric classes in which a host seen (volunteers.last_seen) since `since` is trusted: an operator's, or a streak of `trustAfter`. */
  trustedClassesSeen(trustAfter: number, since: number): Promise<string[]>;
  /**
   * The numeric class census (core/trust/numeric-class.ts): per class, the distinct address groups of the
   * volunteers that announced it (each volunteer as its last hello left it), over every volunteer ever
   * recorded, so it outlives restarts and is one census for every coordinator on the database.
   */
  classCensus(): Promise<Map<string, number>>;
}
