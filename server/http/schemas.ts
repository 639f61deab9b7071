/** Request bodies of the HTTP API, validated at the edge like socket events. */
import * as v from 'valibot';

const hash = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'must be a lowercase SHA-256 hex digest'));
const positiveInt = (max: number) => v.pipe(v.number(), v.integer('must be an integer'), v.minValue(1, 'must be >= 1'), v.maxValue(max, `must be <= ${max}`));
const nonNegative = v.pipe(v.number(), v.finite(), v.minValue(0, 'must be >= 0'));

export const CreateJobSchema = v.strictObject({
  kind: v.optional(v.literal('inference'), 'inference'),
  model: hash,
  inputs: v.pipe(v.array(v.strictObject({
    name: v.optional(v.pipe(v.string(), v.maxLength(256))),
    blob: hash,
    format: v.picklist(['npy', 'pb', 'tensors'], 'format must be npy, pb or tensors'),
  })), v.maxLength(64)),
  shardSize: v.optional(positiveInt(1_000_000)),
  replicas: v.optional(positiveInt(9)),
  rtol: v.optional(nonNegative),
  atol: v.optional(nonNegative),
  maxErrorCopies: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(100))),
  maxTotalCopies: v.optional(positiveInt(100)),
  leaseSeconds: v.optional(positiveInt(86_400)),
  homogeneous: v.optional(v.boolean()),
});

export const EmbedSettingsSchema = v.strictObject({
  allowedOrigins: v.pipe(v.array(v.pipe(v.string(), v.url('must be an origin like https://example.org'), v.maxLength(256))), v.maxLength(100)),
  defaultIntensity: v.pipe(v.number(), v.minValue(0.05), v.maxValue(1)),
  creditTo: v.picklist(['site', 'visitor']),
});

export const CreateProjectSchema = v.strictObject({ name: v.pipe(v.string(), v.minLength(1), v.maxLength(100)) });
