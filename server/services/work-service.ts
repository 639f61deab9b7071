/**
 * The volunteer-facing half of the coordinator: identity, dispatch, leases,
 * results, validation and credit. Decisions come from the pure core
 * (server/core); this class sequences them around the store and says in the
 * log what it did and why.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type {
  AccountBalance,
  Assignment, CopyOutcome as WireOutcome, HeldCopy, HeldVerdicts, HelloReply, HelloRequest, ResultStatus, WireTensor, WorkReply,
} from '../../shared/protocol/events.ts';
import { decodeTensors, encodeTensors } from '../../shared/tensor/codec.ts';
import type { NamedTensor } from '../../shared/tensor/tensor.ts';
import { walletProblem, toChecksumAddress } from '../../shared/wallet.ts';
import { sha256 } from '../blobs/blob-store.ts';
import type { CoordinatorConfig } from '../config.ts';
import { volunteerWallets } from '../core/scheduler/embed-identity.ts';
import { connectionServes, inFlight } from '../core/scheduler/eligibility.ts';
import { leaseDeadline } from '../core/scheduler/lease.ts';
import { type ClaimedCopyFacts, type Claimant, resumeRefusal } from '../core/scheduler/resume.ts';
import { seededDraw } from '../core/scheduler/random.ts';
import { copyCredit } from '../core/credit/credit.ts';
import { copyUploadBytes } from '../core/limits/result-allowance.ts';
import type { Copy, Job, Shard } from '../core/jobs/types.ts';
import { kindOf } from '../core/jobs/kinds.ts';
import { judge, judgeLate } from '../core/trust/judge.ts';
import { judgeUnsettledReviewCopy } from '../core/trust/review.ts';
import { comparedJob, homogeneousClasses } from '../core/scheduler/claim.ts';
import type { ClassCensus, HomogeneousClasses } from '../core/trust/numeric-class.ts';
import { DEFAULT_TRUST, type TrustPolicy } from '../core/trust/policy.ts';
import { trustedCanBeHad } from '../core/trust/replication.ts';
import { copyPace, PACE_FACTOR, shardRecords } from '../core/trust/pace.ts';
import { isTrusted, resultTrust, trustChange } from '../core/trust/reputation.ts';
import { rejudgeDelayMs } from '../core/validation/rejudge.ts';
import { resultShapeProblem } from '../core/validation/result-shape.ts';
import { aliveCopies, independentErrors, shardFailure, wantedAfterNoConsensus } from '../core/scheduler/transitions.ts';
import { addressGroup } from '../core/trust/address.ts';
import { newId, newSecret } from '../store/ids.ts';
import type { CopyJudgement, EmbedSettings, LateRefusal, ReputationEventWrite, Store, Volunteer } from '../store/types.ts';
import { type ReputationMove, reputationKey } from '../store/reputation-rows.ts';
import { hashToken } from './job-service.ts';
import type { CoordinatorEvents } from './events.ts';
import { KeyedLock } from './keyed-lock.ts';
import type { JobService } from './job-service.ts';
import type { KindWorks } from './kinds.ts';
import { OWN_CLASS, SpotChecks } from './spot-checks.ts';
import { Reviews } from './reviews.ts';
import { PEER_SHARE_FRESH_MS } from './swarm-monitor.ts';
import type { BlobStore } from '../blobs/blob-store.ts';
import type { AnswerRunner } from '../models/answer-runner.ts';

export class WorkError extends Error {
  constructor(readonly code: 'bad_request' | 'unauthorized' | 'not_assigned' | 'bad_result' | 'forbidden' | 'conflict', message: string) {
    super(message);
  }
}

export interface VolunteerSession {
  volunteer: Volunteer;
  projectId?: string;
}

export function numericClass(req: HelloRequest): string {
  const v = req.capabilities.ortVersion;
  if (req.backend === 'webgpu') {
    const g = req.capabilities.gpu;
    return `webgpu/${g?.vendor || 'unknown'}/${g?.architecture || 'unknown'}/ort-${v}`;
  }
  return `wasm/ort-${v}`;
}

/** Why a late result on a dead copy was refused (the store's LateRefusal, decided by eligibility.ts lateResultClash). */
const lateRefusalText = (copyId: string, state: string, why: LateRefusal): string => why === 'superseded'
  ? `copy ${copyId} was ${state} and its shard was given to you again as another copy; this late result is not needed`
  : `copy ${copyId} was ${state} and its shard went to another volunteer with your ${why === 'shares_wallet' ? 'wallet' : 'address'}; this late result is not needed`;

/** Why a host's operator token is ignored: the log line, and the hello reply's notice (the worker prints it). */
const OPERATOR_REVOKED_NOTICE = 'operator token ignored: this host returned an invalid result or failed a spot check, so it is no longer one of the operator\'s trusted hosts, in any numeric class; it volunteers as anyone does and must earn trust by its streak. Restart the worker to register it under a new volunteer id (and replace <data>/operator-token if it may have leaked)';

/** How often a volunteer's last_seen is written while it asks for work. */
const SEEN_EVERY_MS = 15_000;
/** How long the class census read from the store serves claims (a hello here refreshes it at once). */
const CENSUS_TTL_MS = 10_000;

export class WorkService {
  private shardLock = new KeyedLock();
  /** This coordinator's draws (core/scheduler/random.ts): seeded from crypto, so volunteers cannot predict which shard a claim gets. */
  private readonly draw = seededDraw();
  private readonly trust: TrustPolicy;
  /** Volunteers with a socket on this coordinator: sockets, and the numeric class they announced. */
  private online = new Map<string, { sockets: number; numericClass: string }>();
  /** Of those, the ones trusted in their class now (kept current after each judgement that concerns them). */
  private trustedHere = new Map<string, string>();
  /** Classes of the trusted hosts connected to other coordinators on the same database, as each last told (gateway/cluster.ts). */
  private trustedElsewhere = new Map<string, { at: number; classes: string[] }>();
  /** The numeric class census (core/trust/numeric-class.ts), as last read from the store. */
  private census: { at: number; value: Promise<ClassCensus> } | null = null;

  /** Spot checks with known answers and backtracking (spot-checks.ts). */
  readonly spot: SpotChecks;
  /** Backtracking that follows agreement, settled by the root of trust (reviews.ts). */
  readonly reviews: Reviews;

  constructor(
    private readonly store: Store,
    private readonly jobs: JobService,
    private readonly kinds: KindWorks,
    private readonly events: CoordinatorEvents,
    private readonly config: CoordinatorConfig,
    private readonly log: Logger,
    known: { blobs: BlobStore; runner: AnswerRunner | null },
    trust: Partial<TrustPolicy> = {},
  ) {
    // Spot checks change reputations too (a failed check): whoever loses trust is dispatched and judged as such at once.
    const recordReputation = async (events: readonly ReputationEventWrite[], now: number) => {
      const moves = await store.recordReputation(events, now);
      this.trustMoved(moves, {});
      await this.refreshTrust(events.map((e) => e.volunteerId));
      return moves;
    };
    // Every other method runs on the store itself (bound: the store's own fields stay its own).
    const reputations = new Proxy(store, {
      get: (target, prop) => {
        if (prop === 'recordReputation') return recordReputation;
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    this.spot = new SpotChecks(
      reputations, known.blobs, kinds, events, { fraction: config.spotCheckFraction, pairWaitMs: config.spotPairWaitMs }, this.draw, known.runner,
      (shardId, fn) => this.shardLock.run(shardId, fn), log.child({ component: 'spot-checks' }),
    );
    this.trust = { ...DEFAULT_TRUST, ...trust };
    this.reviews = new Reviews(store, kinds, events, { holdMs: config.creditHoldMs }, log.child({ component: 'reviews' }));
    this.reviews.hooks = {
      trustMoved: async (moves, ids) => {
        this.trustMoved(moves, {});
        await this.refreshTrust(ids);
      },
      caught: (volunteerId, copyId) => this.spot.found(volunteerId, copyId, false),
    };
    this.spot.reviews = this.reviews;
    // The coordinator is a root of trust too: its answer runner settles the reviews no operator host is working on.
    if (config.ownReviews && known.runner) {
      this.reviews.own = { runner: known.runner, blobs: known.blobs, numericClass: OWN_CLASS, underShardLock: (shardId, fn) => this.shardLock.run(shardId, fn) };
    }
  }

  /**
   * Says what a write did to its hosts' trust (trustChange over the store's
   * moves: earned, or lost and why): a line in the log and a `trust` event
   * (metrics). `about`: the copy, shard and job that caused it, by host.
   */
  private trustMoved(moves: readonly ReputationMove[], about: Record<string, { copy: string; shard: string; job: string }>, againstKnown = false): void {
    for (const { before: was, after: now } of moves) {
      const change = trustChange(was, now, this.trust, againstKnown);
      if (!change) continue;
      const { volunteerId: volunteer, numericClass: cls } = now;
      const cause = about[volunteer] ?? {};
      if (change.change === 'earned') {
        this.log.info({ volunteer, class: cls, streak: now.streak, trustAfter: this.trust.trustAfter, ...cause }, 'host trusted: its streak of valid results reached trustAfter in this numeric class; its copies may now stand alone');
        this.events.emit('trust', { kind: 'trust-earned' });
      } else {
        this.log.warn({ volunteer, class: cls, reason: change.reason, streakWas: was?.streak, operator: was?.operator === true, ...cause },
          change.reason === 'operator_revoked'
            ? 'host lost trust: an operator\'s host returned an invalid result or failed a spot check; its operator trust is revoked for good, its solo results are re-verified'
            : change.reason === 'spot_check_failed'
              ? 'host lost trust: it failed a spot check; its copies are replicated again and its solo results re-verified'
              : 'host lost trust: it returned an invalid result; its copies are replicated again and its solo results re-verified');
        this.events.emit('trust', { kind: 'trust-lost', reason: change.reason });
      }
    }
  }

  /**
   * Numeric classes of the trusted hosts that can be had now: those connected
   * here (known exactly), and those other coordinators on the same database
   * said were connected to them, in news they send twice a second through the
   * socket.io adapter (gateway/cluster.ts), forgotten once a coordinator has
   * been silent for PEER_SHARE_FRESH_MS. So a trusted host on coordinator B
   * counts for A's claims and judgements without a round trip per claim, and
   * one that left B stops counting within a tick (a host that has just left
   * must not hold untrusted results back for long). Not the store's last_seen
   * (trustedClassesSeen): it lags a departure by up to its write interval.
   */
  private trustedClasses(now = Date.now()): string[] {
    return this.trustedClassesBesides(now)(new Set());
  }

  private trustedElsewhereClasses(now: number): Set<string> {
    const out = new Set<string>();
    for (const [from, p] of this.trustedElsewhere) {
      if (now - p.at > PEER_SHARE_FRESH_MS) this.trustedElsewhere.delete(from);
      else for (const cls of p.classes) out.add(cls);
    }
    return out;
  }

  /**
   * trustedClasses less the hosts that hold a copy of a shard (`holders`), which cannot take another: hosts on
   * other coordinators are not told by id, so each of their classes counts as one that could be had. Counted
   * once per call (a claim decides many shards): each shard costs its holders, not every trusted host.
   */
  private trustedClassesBesides(now = Date.now()): (holders: ReadonlySet<string>) => string[] {
    const here = new Map<string, number>();
    for (const cls of this.trustedHere.values()) here.set(cls, (here.get(cls) ?? 0) + 1);
    const elsewhere = this.trustedElsewhereClasses(now);
    return (holders) => {
      const left = new Map(here);
      for (const id of holders) {
        const cls = this.trustedHere.get(id);
        if (cls !== undefined) left.set(cls, left.get(cls)! - 1);
      }
      const out = new Set(elsewhere);
      for (const [cls, n] of left) if (n > 0) out.add(cls);
      return [...out];
    };
  }

  /** Classes of the trusted hosts connected here: what this coordinator tells the others. */
  trustedClassesHere(): string[] {
    return [...new Set(this.trustedHere.values())].sort();
  }

  /** Another coordinator on the same database told the classes of the trusted hosts connected to it. */
  heardTrusted(from: string, classes: readonly string[], now = Date.now()): void {
    const before = this.trustedElsewhere.get(from);
    const sorted = [...new Set(classes)].sort();
    this.trustedElsewhere.set(from, { at: now, classes: sorted });
    if ((before?.classes ?? []).join('\n') !== sorted.join('\n')) {
      this.log.info({ coordinator: from, classes: sorted }, 'trusted hosts connected to another coordinator changed');
    }
  }

  /** Whether this volunteer, connected here, is trusted in its class now. */
  trustedNow(volunteerId: string): boolean {
    return this.trustedHere.has(volunteerId);
  }

  /** Distinct address groups announcing each numeric class, from the store (every coordinator on it counts), briefly cached. */
  private classCensus(now = Date.now()): Promise<ClassCensus> {
    if (!this.census || now - this.census.at >= CENSUS_TTL_MS) {
      const value = this.store.classCensus();
      this.census = { at: now, value };
      // A failed read is not kept: the next claim reads again.
      value.catch(() => { if (this.census?.value === value) this.census = null; });
    }
    return this.census.value;
  }

  /** The trust rules' view of numeric classes for a homogeneous job (numeric-class.ts), as the claim sees it now. */
  async homogeneousClasses(job: Job): Promise<HomogeneousClasses> {
    return homogeneousClasses({ census: await this.classCensus(), trustedClasses: this.trustedClasses(), policy: this.trust }, job);
  }

  /** Re-reads whether these volunteers (those connected here) are trusted, after their reputations changed. */
  private async refreshTrust(volunteerIds: Iterable<string>): Promise<void> {
    const keys = [...new Set(volunteerIds)].flatMap((id) => {
      const o = this.online.get(id);
      return o ? [{ volunteerId: id, numericClass: o.numericClass }] : [];
    });
    if (keys.length === 0) return;
    const reps = await this.store.reputations(keys);
    for (const k of keys) {
      const r = reps.find((x) => x.volunteerId === k.volunteerId && x.numericClass === k.numericClass);
      if (isTrusted(r, this.trust)) this.trustedHere.set(k.volunteerId, k.numericClass);
      else this.trustedHere.delete(k.volunteerId);
    }
  }

  /** A socket of this volunteer left this coordinator. */
  left(s: VolunteerSession): void {
    const o = this.online.get(s.volunteer.id);
    if (!o) return;
    if (--o.sockets > 0) return;
    this.online.delete(s.volunteer.id);
    this.trustedHere.delete(s.volunteer.id);
  }

  /** Errors and expiries: counted on the host's reputation (they do not reset its streak). */
  private async recordErrors(copies: readonly { volunteerId: string; numericClass: string }[]): Promise<void> {
    const events: ReputationEventWrite[] = copies.map((c) => ({ volunteerId: c.volunteerId, numericClass: c.numericClass, event: 'error' }));
    if (events.length) await this.store.recordReputation(events, Date.now());
  }

  /** Checks reconnect credentials presented in the handshake. */
  async authenticate(volunteerId: string, secret: string): Promise<Volunteer | null> {
    const v = await this.store.getVolunteer(volunteerId);
    if (!v) return null;
    const a = Buffer.from(sha256(Buffer.from(secret)), 'hex');
    const b = Buffer.from(v.secretHash, 'hex');
    return a.length === b.length && timingSafeEqual(a, b) ? v : null;
  }

  async hello(existing: Volunteer | null, address: string, req: HelloRequest): Promise<{ session: VolunteerSession; reply: HelloReply }> {
    let wallet: string | null = null;
    if (req.wallet !== undefined && req.wallet !== '') {
      const problem = walletProblem(req.wallet);
      if (problem) throw new WorkError('bad_request', `wallet: ${problem}`);
      wallet = toChecksumAddress(req.wallet);
    }
    if (req.operatorToken !== undefined && !(await this.store.isOperatorTokenHash(hashToken(req.operatorToken)))) {
      throw new WorkError('unauthorized', 'operatorToken: not this coordinator\'s operator token (<data>/operator-token); leave it out to volunteer as anyone does');
    }
    if (!req.capabilities.backends.includes(req.backend)) {
      throw new WorkError('bad_request', `backend ${req.backend} did not pass this device's self-test (passed: ${req.capabilities.backends.join(', ') || 'none'})`);
    }
    let embed: EmbedSettings | null = null;
    if (req.projectId) embed = (await this.jobs.checkEmbed(req.projectId, req.embedOrigin)).embed;
    // Where an embed's credit goes is the project's rule, enforced here: a registered site wallet
    // wins over whatever wallet a page (or a script posing as one) names, and is no visitor's identity.
    const wallets = volunteerWallets(wallet, embed);
    const cls = numericClass(req);
    const now = Date.now();
    let secret = '';
    let volunteer: Volunteer;
    // A volunteer is recorded under its network group (its /24 or /64 by default, --address-groups):
    // the distinct-copies rule compares these, so neighbouring addresses of one host count as one.
    const client = address;
    address = addressGroup(client, this.config.addressGroups);
    if (existing) {
      volunteer = { ...existing, wallet: wallets.wallet, account: wallets.credit ?? `volunteer:${existing.id}`, address, numericClass: cls, capabilities: req.capabilities, lastSeen: now };
      await this.store.updateVolunteer(existing.id, { wallet: wallets.wallet, account: volunteer.account, address, numericClass: cls, capabilities: req.capabilities, lastSeen: now });
    } else {
      const id = newId();
      secret = newSecret();
      volunteer = {
        id, secretHash: sha256(Buffer.from(secret)), wallet: wallets.wallet, account: wallets.credit ?? `volunteer:${id}`, address,
        numericClass: cls, capabilities: req.capabilities, createdAt: now, lastSeen: now,
      };
      await this.store.createVolunteer(volunteer);
    }
    // A new announcement (class and address group) counts in the class census from its first claim on.
    if (!existing || existing.address !== address || existing.numericClass !== cls) this.census = null;
    const operatorClaim = req.operatorToken !== undefined;
    const operator = operatorClaim && await this.store.markOperator({ volunteerId: volunteer.id, numericClass: cls }, now);
    const notice = operatorClaim && !operator ? OPERATOR_REVOKED_NOTICE : null;
    if (notice) this.log.warn({ volunteer: volunteer.id, class: cls, address: client }, notice);
    const o = this.online.get(volunteer.id);
    this.online.set(volunteer.id, { sockets: (o?.sockets ?? 0) + 1, numericClass: cls });
    await this.refreshTrust([volunteer.id]);
    this.log.info({ volunteer: volunteer.id, account: volunteer.account, class: cls, address: client, group: address, resumed: !!existing, trusted: this.trustedHere.has(volunteer.id), operator }, 'volunteer joined');
    const holding = req.holding ? await this.resumeHeld(volunteer, existing !== null, req.projectId, req.holding, now) : null;
    return {
      session: { volunteer, projectId: req.projectId },
      reply: {
        volunteerId: volunteer.id,
        // The secret is only ever shown once; a resumed volunteer already holds it.
        ...(secret ? { secret } : {}),
        account: volunteer.account,
        numericClass: cls,
        ...(operatorClaim ? { operator } : {}),
        ...(notice ? { notice } : {}),
        ...(holding ? { holding } : {}),
        heartbeatMs: this.config.heartbeatMs,
        limits: { maxResultBytes: this.config.maxResultBytes },
      },
    };
  }

  /**
   * The copies a hello says its volunteer still holds (a reload, a dropped connection), each decided by
   * core/scheduler/resume.ts: one still its is acknowledged with a fresh lease, as work:ack would do, and an
   * `interrupted` one's assignment is sent again; a refused one is left exactly as it was. A volunteer new
   * with this hello holds nothing: its claims are refused unread, in the same words as anyone else's.
   */
  private async resumeHeld(volunteer: Volunteer, known: boolean, projectId: string | undefined, holding: readonly HeldCopy[], now: number): Promise<HeldVerdicts> {
    const out: HeldVerdicts = { resumed: [], refused: [], resent: [] };
    const who: Claimant = { id: volunteer.id, numericClass: volunteer.numericClass, ...(projectId ? { projectId } : {}), groups: new Set(known ? await this.store.groupsOf(volunteer.id) : []) };
    const nothing: ClaimedCopyFacts = { copy: null, job: null, shard: null, project: null, tooLate: null };
    const factsOf = async (copyId: string): Promise<ClaimedCopyFacts> => {
      const copy = known ? await this.store.getCopy(copyId) : null;
      if (!copy || copy.volunteerId !== volunteer.id) return nothing;
      const [job, shard] = await Promise.all([this.store.getJob(copy.jobId), this.store.getShard(copy.shardId)]);
      const project = job ? await this.store.getProject(job.projectId) : null;
      return { copy, job, shard, project, tooLate: job && shard ? kindOf(job.spec).tooLate(job, shard) : null };
    };
    for (const h of holding) {
      const facts = await factsOf(h.copyId);
      let why = resumeRefusal(h.copyId, who, facts, now);
      if (!why) {
        const { copy, job, shard } = facts as { copy: Copy; job: Job; shard: Shard };
        const acked = await this.store.ackCopy(copy.id, volunteer.id, leaseDeadline(job.spec, copy.assignedAt, now));
        if (acked) {
          out.resumed.push(copy.id);
          if (h.state === 'interrupted') out.resent.push(await this.assignment(job, shard, acked));
        } else {
          // It ended between the read and the write (expired, its job cancelled): refused as it is now.
          why = resumeRefusal(h.copyId, who, await factsOf(h.copyId), now) ?? `copy ${h.copyId} is no longer held for you`;
        }
      }
      if (why) out.refused.push({ copyId: h.copyId, reason: why });
    }
    if (out.resumed.length) this.log.info({ volunteer: volunteer.id, copies: out.resumed, resent: out.resent.length }, 'volunteer came back holding copies: kept for it with a fresh lease');
    if (out.refused.length) this.log.warn({ volunteer: volunteer.id, refused: out.refused }, 'refused copies a hello said it holds; they stay as they were');
    return out;
  }

  async requestWork(s: VolunteerSession): Promise<WorkReply> {
    const held = await this.store.copiesInFlight(s.volunteer.id);
    if (held.length >= this.config.maxInFlightPerVolunteer) {
      return { assignment: null, retryInMs: 5000, reason: `you hold ${held.length} copies already; finish them first` };
    }
    const now = Date.now();
    if (now - s.volunteer.lastSeen >= SEEN_EVERY_MS) {
      // What tells other coordinators on the same store that this (perhaps trusted) host is still here.
      s.volunteer.lastSeen = now;
      await this.store.updateVolunteer(s.volunteer.id, { lastSeen: now });
    }
    const [asker] = await this.store.reputations([{ volunteerId: s.volunteer.id, numericClass: s.volunteer.numericClass }]);
    // Whether a trusted host's copy stands alone is drawn from the same unpredictable stream as the shard it gets.
    const trust = {
      policy: this.trust, asker: asker ?? null, trustedClasses: this.trustedClasses(now),
      // Who holds a copy of a shard cannot check it: replication waits for a trusted host only while another can be had.
      trustedClassesBesides: this.trustedClassesBesides(now),
      census: await this.classCensus(now), draw: this.draw(),
    };
    // The operator's own hosts take a waiting review first (the coordinator's own computation settles the others: reviews.ts).
    const review = await this.reviews.maybeIssue(s.volunteer, asker?.operator === true, s.projectId, now);
    // A spot check first (a copy of a shard whose answer is known), else an ordinary claim: both look alike.
    const spot = review ? null : await this.spot.maybeIssue(s.volunteer, s.projectId, now);
    const claimed = review ?? spot ?? await this.store.claimCopy({ volunteer: s.volunteer, projectId: s.projectId, rules: this.config.distinctCopies, now, draw: this.draw, trust });
    if (!claimed) return { assignment: null, retryInMs: 5000, reason: 'no work available for you right now' };
    const { job, shard, copy } = claimed;
    if (!review) this.events.emit('trust', spot ? { kind: 'spot-issued' } : { kind: 'copy-issued', solo: copy.solo === true });
    this.events.emit('assigned', job.id);
    this.log.debug({ copy: copy.id, shard: shard.id, job: job.id, index: shard.index, volunteer: s.volunteer.id, issued: shard.issued }, 'assigned copy');
    return { assignment: await this.assignment(job, shard, copy) };
  }

  private async assignment(job: Job, shard: Shard, copy: Copy): Promise<Assignment> {
    // A signed, expiring link: the bare hash opens nothing; a private project's, a capability of this copy (blob-links.ts).
    const link = await this.jobs.blobLinker(job, copy.id);
    const payload = await this.kinds[job.kind].payload(job, shard);
    return {
      copyId: copy.id, jobId: job.id, projectId: job.projectId, kind: job.kind,
      model: { hash: job.spec.modelHash, url: link(job.spec.modelHash), bytes: job.spec.modelBytes },
      outputs: job.spec.outputs.map((o) => o.name), ackWithinMs: job.spec.limits.ackWithinMs, leaseMs: job.spec.limits.leaseMs,
      ...payload,
      feedBlobs: payload.feedBlobs.map((b) => ({ ...b, url: link(b.hash) })),
      ...(payload.weights ? {
        weights: {
          ...payload.weights, full: { ...payload.weights.full, url: link(payload.weights.full.hash) },
          deltas: payload.weights.deltas.map((d) => ({ ...d, blob: { ...d.blob, url: link(d.blob.hash) } })),
        },
      } : {}),
    };
  }

  /**
   * What the result of each copy the volunteer holds (assigned or acknowledged:
   * a result may come before its ack) can be on the wire, bytes: the upload
   * allowance its connection gets. Copies that expired, failed or were reissued
   * are no longer held: a late result larger than the small allowance is
   * refused at its frame header.
   */
  async uploadAllowances(s: VolunteerSession): Promise<number[]> {
    const held = await this.store.copiesInFlight(s.volunteer.id);
    const sizes = await Promise.all(held.map(async (copy) => {
      const [job, shard] = await Promise.all([this.store.getJob(copy.jobId), this.store.getShard(copy.shardId)]);
      if (!job || !shard) return null;
      const shaped = kindOf(job.spec).resultBytes(job.spec, shard.end - shard.start);
      return copyUploadBytes(shaped, this.config.maxResultBytes, job.spec.outputs.length);
    }));
    return sizes.filter((n): n is number => n !== null);
  }

  async ack(s: VolunteerSession, copyId: string): Promise<number> {
    const copy = await this.store.getCopy(copyId);
    if (!copy || copy.volunteerId !== s.volunteer.id) throw new WorkError('not_assigned', `copy ${copyId} is not assigned to you`);
    const job = await this.store.getJob(copy.jobId);
    const deadline = job ? leaseDeadline(job.spec, copy.assignedAt, Date.now()) : Date.now() + 60_000;
    const acked = await this.store.ackCopy(copyId, s.volunteer.id, deadline);
    if (!acked) {
      // Why, as the copy is now: the read above came before the write, and the copy may have moved since
      // (returned by a result that overtook this ack, expired, cancelled with its job).
      const current = await this.store.getCopy(copyId) ?? copy;
      throw new WorkError('conflict', `copy ${copyId} can no longer be acknowledged: it is ${current.state}${current.reason ? ` (${current.reason})` : ''}`);
    }
    return deadline;
  }

  /**
   * Which of these projects the session's connection computes for (eligibility.ts connectionServes): its
   * embed's own, and of the others the public ones and the private ones whose group its volunteer is in now.
   * An unknown project is served by no one.
   */
  async servedAmong(s: VolunteerSession, projectIds: Iterable<string>): Promise<Set<string>> {
    const wanted = [...new Set(projectIds)];
    const projects = (await Promise.all(wanted.map((id) => this.store.getProject(id)))).filter((p) => p !== null);
    const groups = new Set(projects.some((p) => p.private) ? await this.store.groupsOf(s.volunteer.id) : []);
    const who = { ...(s.projectId !== undefined ? { projectId: s.projectId } : {}), groups };
    return new Set(projects.filter((p) => connectionServes(p, who)).map((p) => p.id));
  }

  /** Balance, pending and payable now (the hold: server/core/credit/hold.ts). */
  async balanceOf(account: string): Promise<AccountBalance> {
    const c = await this.store.accountCredit(account, Date.now());
    return { account, balance: c.balance, pending: c.pending, payable: c.payable, debt: c.debt, underReview: c.underReview };
  }

  heartbeat(s: VolunteerSession, copyIds: string[]) {
    return this.store.extendLeases(s.volunteer.id, copyIds, Date.now());
  }

  async fail(s: VolunteerSession, copyId: string, error: string): Promise<void> {
    const ok = await this.store.failCopy(copyId, s.volunteer.id, `volunteer reported: ${error}`, Date.now(), this.config.distinctCopies);
    if (!ok) throw new WorkError('not_assigned', `copy ${copyId} is not in flight for you`);
    this.log.warn({ copy: copyId, volunteer: s.volunteer.id, error }, 'volunteer could not compute its copy; it will be reissued');
    const copy = (await this.store.getCopy(copyId))!;
    await this.recordErrors([copy]);
    await this.checkShardHealth(copy.shardId);
    this.events.emit('work');
  }

  async release(s: VolunteerSession, copyId: string): Promise<void> {
    if (!(await this.store.releaseCopy(copyId, s.volunteer.id, this.config.distinctCopies))) throw new WorkError('not_assigned', `copy ${copyId} is not waiting with you`);
    this.log.debug({ copy: copyId, volunteer: s.volunteer.id }, 'volunteer handed back a copy it had not started; reissuing');
    this.events.emit('work');
  }

  async submitResult(s: VolunteerSession, copyId: string, outputs: WireTensor[], computeMs: number): Promise<ResultStatus> {
    const copy = await this.store.getCopy(copyId);
    if (!copy || copy.volunteerId !== s.volunteer.id) {
      this.log.warn({ copy: copyId, volunteer: s.volunteer.id }, 'refused a result for a copy not assigned to the sender');
      throw new WorkError('not_assigned', `copy ${copyId} is not assigned to you`);
    }
    if (copy.state === 'returned') return 'duplicate';
    const [job, shard] = await Promise.all([this.store.getJob(copy.jobId), this.store.getShard(copy.shardId)]);
    if (!job || !shard) throw new WorkError('not_assigned', `copy ${copyId} belongs to no job`);
    const late = kindOf(job.spec).tooLate(job, shard);
    if (late) throw new WorkError('conflict', `copy ${copyId} ${late}; it is no longer needed`);
    const problem = resultShapeProblem(outputs, job.spec.outputs, shard.end - shard.start, job.spec.stackOutputs)
      ?? kindOf(job.spec).resultProblem(job.spec, outputs);
    if (problem) {
      this.log.warn({ copy: copyId, volunteer: s.volunteer.id, problem }, 'refused a malformed result');
      throw new WorkError('bad_result', problem);
    }
    const encoded = encodeTensors(outputs.map((o) => ({ name: o.name, dtype: o.dtype, dims: o.dims, data: o.data })));
    // A late result's clash with another live copy of its shard is decided by the store under the shard's lock
    // (lateResultClash): checked here, before the write, a sibling's claim could slip in between.
    const write = await this.store.saveResult(copyId, s.volunteer.id, encoded, computeMs, Date.now(), this.config.distinctCopies);
    if (write === 'duplicate') return 'duplicate';
    if (write === 'not_assigned') throw new WorkError('not_assigned', `copy ${copyId} is not assigned to you`);
    if (write === 'gone') throw new WorkError('conflict', `copy ${copyId} is no longer needed: its job ended (${job.state})`);
    if (write !== 'accepted') {
      this.log.warn({ copy: copyId, volunteer: s.volunteer.id, refused: write }, 'refused a late result: it would be a second vote on its shard');
      throw new WorkError('conflict', lateRefusalText(copyId, copy.state, write));
    }
    try {
      await this.validateShard(copy.shardId);
    } catch (err) {
      // The result is stored; its judgement is not. Nothing else would judge it before a restart: the reconciler will.
      this.rejudgeFailed(Date.now(), err, [copy.shardId]);
    }
    return 'accepted';
  }

  /** Copies the pace rule doubted, said once each (a lone copy is judged again when the next one returns); bounded. */
  private readonly doubted = new Set<string>();

  private doubtedOnce(copyId: string): boolean {
    if (this.doubted.has(copyId)) return false;
    if (this.doubted.size >= 10_000) this.doubted.clear();
    this.doubted.add(copyId);
    return true;
  }

  /** When stored results are to be judged again after a failed commit; null: none waiting. */
  private rejudge: { at: number; failures: number } | null = null;

  private rejudgeFailed(now: number, err: unknown, shards: string[]): void {
    const failures = (this.rejudge?.failures ?? 0) + 1;
    const delay = rejudgeDelayMs(failures);
    this.rejudge = { at: now + delay, failures };
    this.log.error({ err, shards, failures, retryInMs: delay }, 'could not commit the judgement of stored results; judging them again later');
  }

  /** Judges again the shards whose stored results a failed commit left unjudged (the reconciler calls it). */
  private async rejudgeIfDue(now: number): Promise<void> {
    if (!this.rejudge || now < this.rejudge.at) return;
    let shards: string[] = [];
    try {
      shards = await this.store.shardsWithUnjudgedResults();
      for (const shardId of shards) await this.validateShard(shardId);
    } catch (err) {
      this.rejudgeFailed(now, err, shards);
      return;
    }
    this.log.info({ shards: shards.length, failures: this.rejudge.failures }, 'judged the stored results a failed commit had left unjudged');
    this.rejudge = null;
  }

  /** Runs the validator over a shard's returned results; serialised per shard. */
  validateShard(shardId: string): Promise<void> {
    return this.shardLock.run(shardId, () => this.validateShardNow(shardId));
  }

  /** `settleTried`: a root copy of this shard's review failed to settle it; it is judged, not tried again. */
  private async validateShardNow(shardId: string, settleTried = false): Promise<void> {
    const sr = await this.store.shardResults(shardId);
    if (!sr) return;
    const { job, shard, copies } = sr;
    const spec = job.spec;
    let results = new Map<string, Uint8Array>();
    const decoded = new Map<string, NamedTensor[]>();
    const outputsOf = (id: string) => {
      let d = decoded.get(id);
      if (!d) {
        const bytes = results.get(id);
        if (!bytes) throw new WorkError('conflict', `the result of copy ${id} is no longer kept`);
        d = decodeTensors(bytes);
        decoded.set(id, d);
      }
      return d;
    };
    const kind = kindOf(spec);
    const differ = (a: string, b: string) => kind.disagreement(spec, outputsOf(a), outputsOf(b));
    const credit = copyCredit(spec.creditPerRecord, shard.end - shard.start);
    // Each returned copy's pace (pace.ts): what a checked result teaches its host's pace in the job, and what the
    // judge doubts. With the rule off (TrustPolicy.pace) no pace is learned or read: nothing is doubted.
    const records = this.trust.pace ? shardRecords(spec, shard) : null;
    const seenOf = (c: Copy) => (records === null ? null : copyPace(c, records));
    let pending = copies.filter((c) => c.state === 'returned' && c.outcome === 'pending');
    if (pending.length === 0) return;
    // Copies that disagree with the coordinator's own answer for this shard fail their spot check first.
    const failedSpot = await this.spot.judgeOwnAnswer(sr);
    if (failedSpot.length) {
      const failed = new Set(failedSpot.map((j) => j.copyId));
      // The caught hosts are untrusted from their next request on.
      await this.refreshTrust(copies.filter((c) => failed.has(c.id)).map((c) => c.volunteerId));
      for (const c of copies) if (failed.has(c.id)) Object.assign(c, { outcome: 'invalid' });
      pending = pending.filter((c) => !failed.has(c.id));
      if (pending.length === 0) return;
    }

    if (shard.state === 'validated' && !settleTried) {
      // A root of trust's copy of an open review settles it (reviews.ts): the one issued last, or an earlier one that
      // expired and came back late. Whatever else came back is judged after, against the answer as settled. Not
      // settled (another coordinator settled it meanwhile, or the answer under review is no longer the shard's): the
      // shard is read again and the root's copy judged as a review copy that came too late (judgeUnsettledReviewCopy).
      const review = await this.store.reviewOf(shard.id);
      const root = review?.state === 'open' ? pending.find((c) => c.review) : undefined;
      if (review && root) return this.validateShardNow(shardId, !(await this.reviews.settle(sr, review, root)));
    }

    const judgements: CopyJudgement[] = [];
    let next = { state: shard.state, wanted: shard.wanted, canonicalCopyId: shard.canonicalCopyId };
    if (shard.state === 'validated') {
      // A late copy: judged against the canonical result, credited if it agrees and that result was checked.
      results = await sr.results([shard.canonicalCopyId!, ...pending.map((c) => c.id)]);
      const canonicalUnchecked = copies.find((c) => c.id === shard.canonicalCopyId)?.unchecked === true;
      for (const c of pending) {
        if (c.review) {
          // A root's review copy that did not settle its review: no trust change either way (review.ts).
          const r = judgeUnsettledReviewCopy(differ(shard.canonicalCopyId!, c.id));
          judgements.push({ copyId: c.id, outcome: r.outcome, reason: r.reason, credit: r.credited ? credit : 0 });
          if (r.outcome === 'invalid') this.log.error({ shard: shard.id, job: job.id, copy: c.id, volunteer: c.volunteerId, canonical: shard.canonicalCopyId, reason: r.reason }, 'an operator host\'s review copy differs from the shard\'s settled answer: its trust is kept, but two roots (or a root and a settled review) disagree; look at this shard');
          continue;
        }
        const late = judgeLate(differ(shard.canonicalCopyId!, c.id), canonicalUnchecked);
        judgements.push({
          copyId: c.id, outcome: late.outcome, reason: late.reason, credit: late.credited ? credit : 0,
          ...(late.reputation ? { reputation: late.reputation, seen: seenOf(c)?.msPerRecord ?? null } : {}),
        });
      }
    } else if (shard.state === 'open') {
      const candidates = copies.filter((c) => c.state === 'returned' && c.outcome !== 'invalid');
      if (candidates.length < shard.wanted) {
        // One copy at a time: this return let the shard's next copy out; idle volunteers ask now, not at their next retry.
        if (this.trust.oneCopyAtATime && comparedJob(job) && !copies.some(inFlight)) this.events.emit('work');
        return;
      }
      // One result has nothing to be compared with: its bytes are not even read.
      if (candidates.length > 1) results = await sr.results(candidates.map((c) => c.id));
      // Trust as it is now: the hosts' reputations, and whether a trusted host that may compute the job can be had.
      const reps = await this.store.reputations(candidates.map((c) => ({ volunteerId: c.volunteerId, numericClass: c.numericClass })));
      const repOf = (c: Copy) => reps.find((r) => r.volunteerId === c.volunteerId && r.numericClass === c.numericClass);
      const paces = records === null ? new Map<string, number>() : await this.store.paces(job.id, candidates);
      const paceOf = (c: Copy) => paces.get(reputationKey(c)) ?? null;
      // A result far faster than its host's checked pace in this job is judged as an untrusted host's (pace.ts): it
      // never stands alone (a lone solo copy wants one more) and never outvotes a trusted result. A trusted host's
      // first result in the job counts as trusted but does not stand alone: its check teaches the pace.
      const trustOf = (c: Copy) => resultTrust(repOf(c), { pace: paceOf(c), seen: seenOf(c) }, this.trust);
      for (const c of candidates) {
        if (c.outcome !== 'pending' || trustOf(c) !== 'untrusted' || !isTrusted(repOf(c), this.trust) || !this.doubtedOnce(c.id)) continue;
        this.log.warn({ volunteer: c.volunteerId, copy: c.id, shard: shard.id, job: job.id, class: c.numericClass, seen: seenOf(c)?.msPerRecord, pace: paceOf(c), factor: PACE_FACTOR },
          'result too fast for its host: judged as an untrusted host\'s');
        this.events.emit('trust', { kind: 'too-fast' });
      }
      // A trusted host that could still take a copy of this shard: one holding a copy already cannot.
      const trustedAvailable = trustedCanBeHad(this.trustedClassesBesides()(new Set(copies.map((c) => c.volunteerId))), (cls) => kind.runsOn(spec, cls));
      const decision = judge(
        candidates.map((c) => { const t = trustOf(c); return { copyId: c.id, result: c.id, trusted: t !== 'untrusted', solo: c.solo === true, first: t === 'trusted, not alone' }; }),
        { replicas: spec.limits.replicas, trustedAvailable }, differ,
      );
      if (decision.accept) {
        next = { state: 'validated', wanted: shard.wanted, canonicalCopyId: decision.canonical };
        for (const id of decision.valid) {
          const change = decision.reputation.get(id);
          judgements.push(decision.unchecked
            // The project gets it, marked so; nobody is paid or trusted more for work nobody checked.
            ? { copyId: id, outcome: 'valid', reason: 'accepted unchecked: the job wants one result and no trusted host could check it; no credit', credit: 0, unchecked: true }
            : { copyId: id, outcome: 'valid', reason: null, credit, ...(change ? { reputation: change, seen: seenOf(copies.find((c) => c.id === id)!)?.msPerRecord ?? null } : {}) });
        }
        for (const bad of decision.invalid) judgements.push({ copyId: bad.copyId, outcome: 'invalid', reason: bad.reason, credit: 0, reputation: 'invalid' });
        this.log.debug({ shard: shard.id, job: job.id, canonical: decision.canonical, valid: decision.valid.length, invalid: decision.invalid.length, unchecked: decision.unchecked, trustedAvailable }, 'shard validated');
        if (decision.unchecked) this.log.warn({ shard: shard.id, job: job.id, copy: decision.canonical }, 'accepted a result unchecked (replicas 1, no trusted host to be had): the project gets it, no credit is given');
        const classOf = (id: string) => copies.find((c) => c.id === id)?.numericClass;
        for (const bad of decision.invalid) {
          // The numeric classes tell an operator whether this is a liar or WebGPU-vs-WASM drift (then: homogeneous jobs, or looser tolerances).
          this.log.warn({ shard: shard.id, copy: bad.copyId, class: classOf(bad.copyId), canonicalClass: classOf(decision.canonical), reason: bad.reason }, 'copy disagrees with the quorum: invalid, no credit');
        }
      } else {
        next = { ...next, wanted: Math.max(decision.wanted, wantedAfterNoConsensus(candidates.length)) };
        this.log.warn({ shard: shard.id, job: job.id, results: candidates.length, classes: candidates.map((c) => c.numericClass), trusted: candidates.filter((c) => trustOf(c) !== 'untrusted').length, trustedAvailable, reason: decision.reason }, 'no consensus: issuing one more copy');
      }
    } else {
      return;
    }

    const byId = new Map(copies.map((c) => [c.id, c]));
    const applied = await this.store.applyValidation({
      shardId,
      shard: next,
      judgements,
      holdMs: this.config.creditHoldMs,
      // An unchecked result earns nothing, so it writes no ledger row at all.
      credits: judgements.filter((j) => j.outcome === 'valid' && j.credit > 0).map((j) => ({
        copyId: j.copyId, account: byId.get(j.copyId)!.account, amount: j.credit, jobId: job.id, projectId: job.projectId,
      })),
    });
    const judged = judgements.filter((j) => j.reputation).map((j) => byId.get(j.copyId)!);
    this.trustMoved(applied.reputations, Object.fromEntries(judged.map((c) => [c.volunteerId, { copy: c.id, shard: shard.id, job: job.id }])), shard.state === 'validated');
    // The copies issued as spot checks, and only those, count as checks passed or failed: a late copy of a
    // validated shard is judged against the same canonical result, but a volunteer's late result is no check.
    for (const j of judgements) if (byId.get(j.copyId)!.spot) this.events.emit('trust', { kind: 'spot-judged', passed: j.outcome === 'valid' });
    // Any invalid result: its host's results accepted on its word alone are re-verified (backtracking).
    // A late copy of a validated shard was judged against a known answer: a spot check.
    // Only an invalid result that counts against its host (not one that merely differs from an unchecked canonical result).
    for (const j of judgements) if (j.outcome === 'invalid' && j.reputation === 'invalid') this.spot.found(byId.get(j.copyId)!.volunteerId, j.copyId, shard.state === 'validated');
    // Whoever just earned or lost trust is dispatched as such from the next request on.
    await this.refreshTrust(judgements.filter((j) => j.reputation).map((j) => byId.get(j.copyId)!.volunteerId));
    const accounts = new Set<string>();
    for (const j of judgements) {
      const c = byId.get(j.copyId)!;
      const o: WireOutcome = { copyId: c.id, jobId: job.id, outcome: j.outcome, credit: j.credit, ...(j.reason ? { reason: j.reason } : {}) };
      this.events.emit('outcome', c.volunteerId, o);
      if (j.outcome === 'valid' && j.credit > 0) accounts.add(c.account);
    }
    for (const a of accounts) this.events.emit('credited', a);
    const valid = judgements.filter((j) => j.outcome === 'valid').length;
    if (judgements.length) {
      this.events.emit('validated', { jobId: job.id, projectId: job.projectId, flops: valid ? spec.flopsPerRecord * (shard.end - shard.start) : 0, valid, invalid: judgements.length - valid });
    }
    if (next.state === 'validated' && shard.state === 'open') {
      await this.kinds[job.kind].progress(job.id);
    }
    else if (next.state === 'open') {
      await this.checkShardHealth(shardId);
      this.events.emit('work');
    }
    this.events.emit('job', job.id, job.projectId);
  }

  /** Fails the shard, and so its job, when it has used up its error or copy limits. */
  private async checkShardHealth(shardId: string): Promise<void> {
    const sr = await this.store.shardResults(shardId);
    if (!sr || sr.shard.state !== 'open') return;
    // The error budget counts independent sources, not copies: one group's failures cannot fail a job.
    const errors = independentErrors(sr.copies, this.config.distinctCopies);
    const why = shardFailure({ ...sr.shard, errors }, aliveCopies(sr.copies), sr.job.spec.limits);
    if (!why) return;
    await this.store.setShardFailed(shardId, why);
    this.log.error({ shard: shardId, job: sr.job.id, reason: why }, 'shard failed: failing its job');
    await this.jobs.fail(sr.job.id, `shard ${sr.shard.index} failed: ${why}`);
  }

  /** A disconnected volunteer has a short grace to come back before its copies are reissued. */
  async disconnected(s: VolunteerSession, graceMs: number): Promise<void> {
    const n = await this.store.shortenLeases(s.volunteer.id, Date.now() + graceMs);
    if (n) this.log.info({ volunteer: s.volunteer.id, copies: n, graceMs }, 'volunteer disconnected holding copies: reissuing them unless it returns in time');
  }

  /** The reconciler: expire overdue copies, tell their holders, reissue or fail. */
  async reconcile(now = Date.now()): Promise<void> {
    await this.rejudgeIfDue(now);
    // Not awaited: one shard's computation may take up to the runner's time limit; it runs one at a time and catches its own errors.
    void this.reviews.settleOwnNext();
    for (const kind of Object.values(this.kinds)) await kind.tick?.(now);
    const expired = await this.store.expireCopies(now, this.config.distinctCopies);
    if (expired.length === 0) return;
    const shards = new Set<string>();
    for (const c of expired) {
      this.log.warn({ copy: c.id, shard: c.shardId, volunteer: c.volunteerId, reason: c.reason }, 'copy expired; its shard will be reissued');
      this.events.emit('outcome', c.volunteerId, { copyId: c.id, jobId: c.jobId, outcome: 'expired', reason: c.reason ?? 'expired', credit: 0 });
      shards.add(c.shardId);
    }
    await this.recordErrors(expired);
    for (const id of shards) await this.checkShardHealth(id);
    this.events.emit('work');
  }
}
