/**
 * Keeps, for each running job, why its shards are not being computed (if they
 * are not), so job status, the CLI and the project dashboard can say it and
 * the log says it once per change instead of never. The judgement is the pure
 * whyWaiting() (core/scheduler/why-waiting.ts); this gathers its inputs: the
 * volunteers connected here and a sample of the job's shards that want a copy.
 */
import type { Logger } from 'pino';
import type { CoordinatorConfig } from '../config.ts';
import { comparedJob, wanting } from '../core/scheduler/claim.ts';
import type { CopyIdentity, VolunteerIdentity } from '../core/scheduler/eligibility.ts';
import { aliveCopies } from '../core/scheduler/transitions.ts';
import { type JobForDiagnosis, type RosterEntry, submissionWarnings, type WaitReason, whyWaiting } from '../core/scheduler/why-waiting.ts';
import { kindOf } from '../core/jobs/kinds.ts';
import type { Job } from '../core/jobs/types.ts';
import type { HomogeneousClasses } from '../core/trust/numeric-class.ts';
import type { Store } from '../store/types.ts';

/** A job that got a copy assigned this recently is being served: nothing to explain. */
const SERVED_WITHIN_MS = 3_000;
/** Shards read per job per pass, and how many of those that want a copy are judged. */
const SCAN_SHARDS = 512;
const SAMPLE_WANTING = 16;

export interface Connected {
  volunteer: VolunteerIdentity;
  projectId: string | null;
}

/** What the trust rules on numeric classes need (services/work-service.ts): who is trusted, and the classes' standing for a job. */
export interface ClassTrust {
  trusted(volunteerId: string): boolean;
  classes(job: Job): Promise<HomogeneousClasses>;
}

/** `oneCopyAtATime`: the coordinator's policy (config.trust); it holds for jobs whose results are compared (claim.ts comparedJob). */
export function jobForDiagnosis(job: Job, oneCopyAtATime: boolean): JobForDiagnosis {
  const backends = kindOf(job.spec).backends(job.spec);
  return {
    projectId: job.projectId,
    ...(backends ? { backends } : {}),
    homogeneous: job.spec.homogeneous,
    replicas: job.spec.limits.replicas,
    oneCopyAtATime: oneCopyAtATime && comparedJob(job),
  };
}

export class WaitWatch {
  private reasons = new Map<string, WaitReason>();
  private lastAssigned = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly connected: () => Iterable<Connected>,
    private readonly config: Pick<CoordinatorConfig, 'distinctCopies' | 'maxInFlightPerVolunteer'> & { trust: Pick<CoordinatorConfig['trust'], 'oneCopyAtATime'> },
    private readonly log: Logger,
    /** Volunteers connected to other coordinators on the same database (their copies we do not see). */
    private readonly elsewhere: () => number = () => 0,
    /** The reason for this job changed (dashboards refresh). */
    private readonly changed: (job: Job) => void = () => {},
    /** The trust rules on numeric classes, for homogeneous jobs; absent: not applied. */
    private readonly trust: ClassTrust | null = null,
  ) {}

  assigned(jobId: string, now = Date.now()): void {
    this.lastAssigned.set(jobId, now);
  }

  /** The latest judgement for a running job; null while it is being served. */
  reason(jobId: string): WaitReason | null {
    return this.reasons.get(jobId) ?? null;
  }

  private async roster(): Promise<RosterEntry[]> {
    const out: RosterEntry[] = [];
    for (const c of this.connected()) {
      out.push({
        ...c.volunteer, projectId: c.projectId, inFlight: (await this.store.copiesInFlight(c.volunteer.id)).length,
        trusted: this.trust?.trusted(c.volunteer.id) ?? false,
      });
    }
    return out;
  }

  /** What a submitter should know about the connected swarm before the job waits on it. */
  async warnings(job: Job): Promise<string[]> {
    if (this.elsewhere() > 0) return [];
    return submissionWarnings(jobForDiagnosis(job, this.config.trust.oneCopyAtATime), await this.roster(), this.config.distinctCopies);
  }

  /** Shards of the job that want a copy now (a sample), each with the copies it has. */
  private async wantingSample(job: Job): Promise<CopyIdentity[][]> {
    const out: CopyIdentity[][] = [];
    for (let from = 0; from < SCAN_SHARDS && out.length < SAMPLE_WANTING; from += 128) {
      const page = await this.store.shardsOf(job.id, { from, to: from + 128 });
      for (const s of page) {
        if (s.state !== 'open' || s.issued >= job.spec.limits.maxTotalCopies) continue;
        const r = await this.store.shardResults(s.id);
        if (!r) continue;
        const shard = { ...r.shard, alive: aliveCopies(r.copies), maxTotal: job.spec.limits.maxTotalCopies, homogeneous: job.spec.homogeneous };
        if (wanting(shard)) out.push(r.copies);
        if (out.length >= SAMPLE_WANTING) break;
      }
      if (page.length < 128) break;
    }
    return out;
  }

  /** One pass over the running jobs (the reconciler calls it): judge, remember, log what changed. */
  async pass(now = Date.now()): Promise<void> {
    const running = await this.store.listJobs({ states: ['running'], limit: 100 });
    const live = new Set(running.map((j) => j.id));
    for (const id of this.reasons.keys()) if (!live.has(id)) this.reasons.delete(id);
    for (const id of this.lastAssigned.keys()) if (!live.has(id)) this.lastAssigned.delete(id);
    let roster: RosterEntry[] | null = null;
    for (const job of running) {
      let reason: WaitReason | null = null;
      const served = now - (this.lastAssigned.get(job.id) ?? 0) < SERVED_WITHIN_MS;
      // Volunteers of other coordinators may be serving it: this one cannot tell why it waits.
      if (!served && this.elsewhere() === 0) {
        const sample = await this.wantingSample(job);
        if (sample.length > 0) {
          roster ??= await this.roster();
          const classes = job.spec.homogeneous && this.trust ? await this.trust.classes(job) : undefined;
          reason = whyWaiting(jobForDiagnosis(job, this.config.trust.oneCopyAtATime), sample, roster, this.config.distinctCopies, this.config.maxInFlightPerVolunteer, classes);
        }
      }
      const before = this.reasons.get(job.id);
      if (reason) this.reasons.set(job.id, reason);
      else this.reasons.delete(job.id);
      if (reason?.message !== before?.message) this.changed(job);
      if (reason && reason.message !== before?.message) {
        this.log.info({ job: job.id, code: reason.code, connected: reason.connected, excluded: reason.excluded, busy: reason.busy, heldBack: reason.heldBack }, `job waits: ${reason.message}`);
      } else if (!reason && before) {
        this.log.info({ job: job.id }, 'job no longer waits');
      }
    }
  }
}
