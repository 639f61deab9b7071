/**
 * What clients send the HTTP API: bodies, path parameters and query strings.
 * The coordinator validates every request against these before a route runs
 * (server/http/serve-route.ts); the typed client and the OpenAPI document are
 * made from the same schemas (routes.ts).
 */
import * as v from 'valibot';
import { BOUNDS } from './bounds.ts';
import { LR_SCHEDULES } from '../training/lr-schedule.ts';
import { UPDATE_FORMATS } from '../training/update-codec.ts';
import { WEIGHTS_FORMATS } from '../training/weights-delta.ts';
import { IDEMPOTENCY_HEADER, IdempotencyKeySchema } from './idempotency.ts';

export const HashSchema = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'must be a lowercase SHA-256 hex digest'));
const positiveInt = (max: number) => v.pipe(v.number(), v.integer('must be an integer'), v.minValue(1, 'must be >= 1'), v.maxValue(max, `must be <= ${max}`));
const nonNegative = v.pipe(v.number(), v.finite(), v.minValue(0, 'must be >= 0'));

const fileRef = v.strictObject({ blob: HashSchema, format: v.picklist(['npy', 'pb', 'tensors'], 'format must be npy, pb or tensors') });
/** What a project calls a job (issue 15): shown in `tabgrid jobs`, `status` and its dashboard. */
export const JobMetaEntries = {
  name: v.optional(v.pipe(v.string(), v.minLength(1, 'name: at least one character'), v.maxLength(200, 'name: at most 200 characters'))),
  /** Labels: key=value tags (`labels` is a training job's targets). */
  tags: v.optional(v.pipe(
    v.record(
      v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/, 'a tag key is 1 to 63 letters, digits, dots, slashes, dashes or underscores')),
      v.pipe(v.string(), v.maxLength(256, 'a tag value is at most 256 characters')),
    ),
    v.check((r) => Object.keys(r).length <= 32, 'at most 32 tags'),
  )),
  /** Within the project, shards of higher-priority jobs go out first (default 0). */
  priority: v.optional(v.pipe(v.number(), v.integer('priority must be an integer'), v.minValue(-1000, 'priority must be >= -1000'), v.maxValue(1000, 'priority must be <= 1000'))),
};

const fraction = (open: boolean) => v.pipe(v.number(), v.minValue(open ? 0 : 1e-9), v.maxValue(1));

export const CreateTrainJobSchema = v.strictObject({
  kind: v.literal('train'),
  ...JobMetaEntries,
  model: HashSchema,
  data: fileRef,
  labels: fileRef,
  loss: v.picklist(['cross-entropy', 'mse'], 'loss must be cross-entropy or mse'),
  optimizer: v.optional(v.picklist(['sgd', 'adam'], 'optimizer must be sgd or adam'), 'adam'),
  lr: v.optional(v.pipe(v.number(), v.finite(), v.minValue(0), v.maxValue(10))),
  momentum: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1))),
  batch: v.optional(positiveInt(BOUNDS.batch[1])),
  epochs: v.optional(positiveInt(BOUNDS.epochs[1])),
  shardsPerRound: v.optional(positiveInt(BOUNDS.shardsPerRound[1])),
  replicas: v.optional(positiveInt(BOUNDS.replicas[1])),
  aggregate: v.optional(v.picklist(['mean', 'trimmed-mean', 'median'], 'aggregate must be mean, trimmed-mean or median')),
  trim: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(0.49))),
  evalFraction: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(0.9))),
  seed: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  minFraction: v.optional(fraction(false)),
  roundDeadlineSeconds: v.optional(positiveInt(BOUNDS.roundDeadlineSeconds[1])),
  targetAccuracy: v.optional(fraction(true)),
  maxRelL2: v.optional(nonNegative),
  minCosine: v.optional(v.pipe(v.number(), v.minValue(-1), v.maxValue(1))),
  leaseSeconds: v.optional(positiveInt(BOUNDS.leaseSeconds[1])),
  /** The job fails if not finished this many seconds after submission (at most 30 days). */
  deadlineSeconds: v.optional(positiveInt(BOUNDS.deadlineSeconds[1])),
  maxShardsPerVolunteer: v.optional(v.pipe(v.number(), v.integer(), v.minValue(BOUNDS.maxShardsPerVolunteer[0]), v.maxValue(BOUNDS.maxShardsPerVolunteer[1]))),
  /** Inner optimizer steps per shard (local-steps training); 1 = synchronous rounds. */
  localSteps: v.optional(positiveInt(BOUNDS.localSteps[1])),
  updateFormat: v.optional(v.picklist(UPDATE_FORMATS, 'updateFormat must be fp32, fp16 or int8')),
  /** Full weights sent to a volunteer with no usable version (local-steps training); deltas go in updateFormat. */
  weightsFormat: v.optional(v.picklist(WEIGHTS_FORMATS, 'weightsFormat must be fp32 or fp16')),
  outerLr: v.optional(v.pipe(v.number(), v.finite(), v.minValue(0), v.maxValue(10))),
  outerMomentum: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(0.999))),
  /**
   * The volunteers' inner lr over the run (local-steps training): cosine (default there) warms up over
   * lrWarmup of the run's inner steps, then decays along a cosine to 0; constant keeps lr throughout.
   */
  lrSchedule: v.optional(v.picklist(LR_SCHEDULES, 'lrSchedule must be constant or cosine')),
  /** Share of the run's inner steps the cosine schedule warms up over (default 0.05). */
  lrWarmup: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(0.5))),
  /** Decoupled (AdamW) or L2 (SGD) weight decay of the optimizer volunteers step. */
  weightDecay: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1))),
});

export const CreateJobSchema = v.strictObject({
  kind: v.optional(v.literal('inference'), 'inference'),
  ...JobMetaEntries,
  model: HashSchema,
  inputs: v.pipe(v.array(v.strictObject({
    name: v.optional(v.pipe(v.string(), v.maxLength(256))),
    blob: HashSchema,
    format: v.picklist(['npy', 'pb', 'tensors'], 'format must be npy, pb or tensors'),
  })), v.maxLength(64)),
  shardSize: v.optional(positiveInt(BOUNDS.shardSize[1])),
  replicas: v.optional(positiveInt(BOUNDS.replicas[1])),
  rtol: v.optional(nonNegative),
  atol: v.optional(nonNegative),
  maxErrorCopies: v.optional(v.pipe(v.number(), v.integer(), v.minValue(BOUNDS.maxErrorCopies[0]), v.maxValue(BOUNDS.maxErrorCopies[1]))),
  maxTotalCopies: v.optional(positiveInt(BOUNDS.maxTotalCopies[1])),
  leaseSeconds: v.optional(positiveInt(BOUNDS.leaseSeconds[1])),
  /** The job fails if not finished this many seconds after submission (at most 30 days). */
  deadlineSeconds: v.optional(positiveInt(BOUNDS.deadlineSeconds[1])),
  homogeneous: v.optional(v.boolean()),
  /** Backends that may compute the job (default: any that computes its model right). */
  backends: v.optional(v.pipe(v.array(v.picklist(['webgpu', 'wasm'], 'backends are webgpu and wasm')), v.minLength(1, 'backends: name at least one'), v.maxLength(2))),
});

/** A job submission: an inference job (kind omitted or "inference") or a training job (kind "train"). */
export const JobRequestSchema = v.variant('kind', [CreateTrainJobSchema, CreateJobSchema]);
/** The headers a job submission may carry besides the usual ones (names as Node gives them: lower case). */
export const SubmitHeadersSchema = v.object({ [IDEMPOTENCY_HEADER]: v.optional(IdempotencyKeySchema) });

export const EmbedSettingsSchema = v.strictObject({
  allowedOrigins: v.pipe(v.array(v.pipe(v.string(), v.url('must be an origin like https://example.org'), v.maxLength(256))), v.maxLength(100)),
  defaultIntensity: v.pipe(v.number(), v.minValue(0.05), v.maxValue(1)),
  creditTo: v.picklist(['site', 'visitor']),
  siteWallet: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(64)))),
});


export const CreateProjectSchema = v.strictObject({ name: v.pipe(v.string(), v.minLength(1), v.maxLength(100)) });

/** A volunteer:<id> account's credit taken by a wallet: the volunteer's secret and the wallet's SIWE signature. */
export const ClaimRequestSchema = v.strictObject({
  volunteerId: v.pipe(v.string(), v.minLength(6), v.maxLength(64)),
  secret: v.pipe(v.string(), v.minLength(1), v.maxLength(256)),
  message: v.pipe(v.string(), v.minLength(1), v.maxLength(4096)),
  signature: v.pipe(v.string(), v.maxLength(200)),
});

// Path parameters and query strings arrive as text; numbers in them are checked as digits and read by the route.
const idParam = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, 'not a valid id'));
const digits = (what: string) => v.pipe(v.string(), v.regex(/^[0-9]{1,15}$/, `${what} must be a non-negative integer`));

export const HashParamsSchema = v.strictObject({ hash: v.pipe(v.string(), v.maxLength(64), v.regex(/^[0-9a-f]{64}$/, 'blob id must be the lowercase SHA-256 hex digest of its bytes')) });
/** A public blob is fetched by hash with the signed, expiring link its assignment carries. */
export const BlobParamsSchema = v.strictObject({ hash: v.pipe(v.string(), v.maxLength(200)) });
export const BlobLinkQuerySchema = v.object({
  until: v.optional(v.pipe(v.string(), v.maxLength(32))),
  sig: v.optional(v.pipe(v.string(), v.maxLength(200))),
  /** A private project's blob: the copy whose assignment carried this capability (server/blobs/blob-links.ts). */
  copy: v.optional(v.pipe(v.string(), v.maxLength(64))),
});
export const IdParamsSchema = v.strictObject({ id: idParam });
export const OutputParamsSchema = v.strictObject({ id: idParam, index: digits('the output index') });
export const OutputQuerySchema = v.object({ format: v.optional(v.picklist(['pb', 'npy', 'tensors'], 'format must be pb, npy or tensors')) });
/** A project by its id or its name. */
export const ProjectRefParamsSchema = v.strictObject({ ref: v.pipe(v.string(), v.minLength(1), v.maxLength(100)) });
export const ProjectIdParamsSchema = v.strictObject({ projectId: idParam });
/** An account is a wallet address (0x + 40 hex) or volunteer:<id>. */
export const AccountParamsSchema = v.strictObject({
  account: v.pipe(v.string(), v.regex(/^(0x[0-9a-fA-F]{40}|volunteer:[A-Za-z0-9_-]{6,64})$/, 'an account is a wallet address (0x + 40 hex) or volunteer:<id>')),
});
export const WalletParamsSchema = v.strictObject({
  account: v.pipe(v.string(), v.regex(/^0x[0-9a-fA-F]{40}$/, 'payouts go to wallets only: give an address (0x + 40 hex)')),
});
export const StatementQuerySchema = v.object({
  /** Ledger entries before this sequence number (paging back). */
  before: v.optional(digits('before')),
  /** 1..1000 entries (100 by default). */
  limit: v.optional(digits('limit')),
});
export const NoQuerySchema = v.object({});

