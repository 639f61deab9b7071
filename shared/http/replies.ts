/**
 * What the HTTP API answers, as valibot schemas. The coordinator's routes are
 * typed by them, the typed client (client.ts) parses every reply with them, and
 * the OpenAPI document describes them; the socket protocol's types
 * (shared/protocol/events.ts) are checked against the shared parts below.
 * Objects are not strict: a newer coordinator may add fields, and an older
 * client parsing its replies keeps working (unknown fields are dropped).
 */
import * as v from 'valibot';
import type { AccountBalance, JobSummary, SwarmStats } from '../protocol/events.ts';
import { DTYPES } from '../tensor/dtypes.ts';
import { UPDATE_FORMATS } from '../training/update-codec.ts';
import { WEIGHTS_FORMATS } from '../training/weights-delta.ts';
import { LR_SCHEDULES } from '../training/lr-schedule.ts';

const int = v.pipe(v.number(), v.integer());
const nonNegInt = v.pipe(v.number(), v.integer(), v.minValue(0));
const text = v.string();

/** Every refusal (4xx) and failure (5xx): a sentence for people and a code for programs. */
export const ErrorReplySchema = v.object({ error: text, code: text });

export const BackendSchema = v.picklist(['webgpu', 'wasm']);
export const JobKindSchema = v.picklist(['inference', 'train']);
export const JobStateSchema = v.picklist(['running', 'completed', 'failed', 'cancelled']);

export const JobSummarySchema = v.object({
  id: text,
  projectId: text,
  kind: JobKindSchema,
  state: JobStateSchema,
  /** What its project calls it, its labels (key=value tags) and its priority within the project. */
  name: v.optional(text),
  tags: v.optional(v.record(text, text)),
  priority: v.optional(int),
  shards: v.object({ total: nonNegInt, validated: nonNegInt, failed: nonNegInt }),
  copies: v.object({ valid: nonNegInt, invalid: nonNegInt, pending: nonNegInt, expired: nonNegInt, error: nonNegInt }),
  /** Credit granted for the job's validated copies. */
  credit: v.number(),
  createdAt: int,
  finishedAt: v.nullable(int),
  error: v.nullable(text),
  train: v.optional(v.object({ round: nonNegInt, rounds: nonNegInt, loss: v.nullable(v.number()), accuracy: v.nullable(v.number()) })),
  /** The backends that may compute it, when not every one may, and why. */
  backends: v.optional(v.array(BackendSchema)),
  backendNotes: v.optional(v.array(text)),
  /** Why its shards are not being computed now (absent while they are, or once it is finished). */
  waiting: v.optional(v.object({ code: v.picklist(['no_volunteers', 'excluded', 'busy', 'copy_in_flight']), message: text })),
}) satisfies v.GenericSchema<unknown, JobSummary>;

export const OutputSpecSchema = v.object({
  name: text,
  dtype: v.picklist(DTYPES),
  /** Expected dims; null where the graph leaves a dim free. */
  dims: v.nullable(v.array(v.nullable(int))),
});

export const RoundRecordSchema = v.object({
  round: nonNegInt,
  epoch: nonNegInt,
  loss: v.number(),
  accuracy: v.nullable(v.number()),
  evalLoss: v.nullable(v.number()),
  shards: nonNegInt,
  aggregateMs: v.number(),
  at: int,
});

const summary = JobSummarySchema.entries;

/**
 * How a training job trains: synchronous rounds (localSteps 1, fp32), or H local steps with changes sent up in
 * `updateFormat`; full weights go down to a volunteer with no usable version in `weightsFormat` (fp32 for synchronous
 * rounds), the others get the round's change in the update format; `lrSchedule`: the volunteers' inner lr over the run.
 */
const trainingMode = {
  localSteps: v.pipe(int, v.minValue(1)), updateFormat: v.picklist(UPDATE_FORMATS), weightsFormat: v.picklist(WEIGHTS_FORMATS), lrSchedule: v.optional(v.picklist(LR_SCHEDULES)),
};

/** The reply to a job's submission: its summary, the plan the coordinator made, and what to warn the submitter about. */
export const JobCreatedSchema = v.variant('kind', [
  v.object({
    ...summary,
    kind: v.literal('inference'),
    records: nonNegInt,
    shardSize: nonNegInt,
    replicas: nonNegInt,
    flopsPerRecord: v.number(),
    creditPerShard: v.number(),
    outputs: v.array(OutputSpecSchema),
    warnings: v.array(text),
  }),
  v.object({
    ...summary,
    kind: v.literal('train'),
    rounds: nonNegInt,
    flopsPerRecord: v.number(),
    ...trainingMode,
    warnings: v.array(text),
  }),
]);

/** A job's status (GET /api/v1/jobs/:id): its summary and what its kind tells beyond it. */
export const JobStatusSchema = v.variant('kind', [
  v.object({ ...summary, kind: v.literal('inference'), records: nonNegInt, outputs: v.array(OutputSpecSchema) }),
  v.object({ ...summary, kind: v.literal('train'), records: nonNegInt, heldOut: nonNegInt, ...trainingMode, history: v.array(RoundRecordSchema) }),
]);

export const JobListSchema = v.object({ jobs: v.array(JobSummarySchema) });

export const OkSchema = v.object({ ok: v.literal(true) });

export const EmbedSettingsReplySchema = v.object({
  allowedOrigins: v.array(text),
  defaultIntensity: v.number(),
  creditTo: v.picklist(['site', 'visitor']),
  siteWallet: v.optional(v.nullable(text)),
});

/** The project a token belongs to. */
export const ProjectReplySchema = v.object({ id: text, name: text, embed: EmbedSettingsReplySchema });
export const EmbedUpdatedSchema = v.object({ ok: v.literal(true), embed: EmbedSettingsReplySchema });

export const BlobStoredSchema = v.object({ hash: text, bytes: nonNegInt });

export const OutputListSchema = v.object({
  outputs: v.array(v.object({ index: nonNegInt, name: text, dtype: v.picklist(DTYPES), dims: v.array(nonNegInt), bytes: nonNegInt })),
});

export const SwarmStatsSchema = v.object({
  at: int,
  volunteers: v.object({ total: nonNegInt, byBackend: v.record(v.string(), nonNegInt) }),
  activeJobs: nonNegInt,
  /** Validated shards and GFLOP per second over the last minute. */
  shardsPerMin: v.number(),
  gflopsPerSec: v.number(),
}) satisfies v.GenericSchema<unknown, SwarmStats>;

/** The swarm's public view: its numbers and every project's running jobs (at most 50), with their project's name. */
export const SwarmReplySchema = v.object({
  ...SwarmStatsSchema.entries,
  jobs: v.array(v.object({ ...summary, projectName: text })),
});

/** What anyone may know of a project: its name and embed settings (an embed frame reads them). */
export const PublicProjectSchema = v.object({
  id: text,
  name: text,
  embed: v.object({
    creditTo: v.picklist(['site', 'visitor']),
    allowedOrigins: v.array(text),
    defaultIntensity: v.number(),
    siteWallet: v.nullable(text),
    /** How long a visitor's confirmation in the frame is remembered. */
    consentHours: v.number(),
  }),
});

export const EmbedInfoSchema = v.object({
  project: v.object({ id: text, name: text }),
  jobs: v.array(v.object({ id: text, kind: JobKindSchema })),
  defaultIntensity: v.number(),
  creditTo: v.picklist(['site', 'visitor']),
  consentHours: v.number(),
  frame: text,
});

export const LedgerEntrySchema = v.object({
  /** Position in the append-only ledger, for paging (`before`). */
  seq: int,
  copyId: text,
  account: text,
  amount: v.number(),
  jobId: text,
  projectId: text,
  at: int,
});

export const LedgerChangeSchema = v.object({
  seq: int,
  kind: v.picklist(['reversal', 'claim_out', 'claim_in', 'payout']),
  account: text,
  /** Signed: a reversal, a claim_out and a payout take credit away. */
  amount: v.number(),
  copyId: v.nullable(text),
  ref: v.nullable(text),
  /** Why, in words the volunteer reads. */
  reason: text,
  payableAt: int,
  at: int,
});

/** An account's credit (pending: still in its hold; payable: past it, not yet paid), its ledger page and later changes. */
export const StatementSchema = v.object({
  account: text,
  balance: v.number(),
  pending: v.number(),
  payable: v.number(),
  debt: v.pipe(v.number(), v.minValue(0)),
  underReview: v.optional(v.number()),
  copies: nonNegInt,
  entries: v.array(LedgerEntrySchema),
  changes: v.array(LedgerChangeSchema),
}) satisfies v.GenericSchema<unknown, AccountBalance & { copies: number }>;

export const LedgerTopSchema = v.object({ accounts: v.array(v.object({ account: text, balance: v.number(), copies: nonNegInt })) });

export const PayoutEpochSchema = v.object({
  id: text,
  root: text,
  /** Micro-credits (uint256, decimal). */
  totalUnits: text,
  accounts: nonNegInt,
  at: int,
});

/** An epoch with its @openzeppelin/merkle-tree StandardMerkleTree dump and every wallet's proof. */
export const PayoutEpochFullSchema = v.object({
  ...PayoutEpochSchema.entries,
  tree: v.object({
    format: text,
    leafEncoding: v.array(text),
    tree: v.array(text),
    values: v.array(v.object({ value: v.array(text), treeIndex: nonNegInt })),
  }),
  leaves: v.array(v.object({ account: text, amount: text, index: nonNegInt })),
  proofs: v.array(v.object({ account: text, amount: text, index: nonNegInt, proof: v.array(text) })),
});

/** Closing a payout epoch: the epoch, or null and why when no wallet has payable credit. */
export const PayoutClosedSchema = v.object({ epoch: v.nullable(PayoutEpochFullSchema), reason: v.optional(text) });
export const PayoutEpochListSchema = v.object({ epochs: v.array(PayoutEpochSchema) });

export const ClaimReplySchema = v.object({ from: text, wallet: text, movedPayable: v.number(), movedPending: v.number() });

export const WalletPayoutsSchema = v.object({
  account: text,
  payouts: v.array(v.object({ epochId: text, root: text, at: int, amount: text, index: nonNegInt, account: text, proof: v.array(text) })),
});

export const HealthSchema = v.object({ ok: v.literal(true), store: v.picklist(['sqlite', 'postgres']) });
export const NotReadySchema = v.object({ ok: v.literal(false), store: v.picklist(['sqlite', 'postgres']), code: text, error: text });

/** A JSON document (the OpenAPI description). */
export const DocumentSchema = v.record(v.string(), v.unknown());

/** A project's public page: what it is, how far its work is, the compute validated for it and who contributed most. */
export const ProjectBoardSchema = v.object({
  project: v.object({ id: text, name: text, description: v.nullable(text) }),
  jobs: v.object({ running: nonNegInt, completed: nonNegInt, failed: nonNegInt, cancelled: nonNegInt }),
  /** Over all its jobs (cancelled shards left out). */
  shards: v.object({ total: nonNegInt, validated: nonNegInt }),
  /** FLOPs of its validated shards (each counted once, however many copies computed it). */
  validatedFlops: v.number(),
  /** Credit granted for its copies, reversals taken off. */
  credit: v.number(),
  /** Accounts by that credit, most first (at most 50). */
  leaderboard: v.array(v.object({ rank: v.pipe(v.number(), v.integer(), v.minValue(1)), account: text, credit: v.number(), copies: nonNegInt })),
  at: int,
});
export type ProjectBoard = v.InferOutput<typeof ProjectBoardSchema>;
