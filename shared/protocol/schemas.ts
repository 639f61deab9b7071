/**
 * Runtime validation of everything a volunteer or a page sends. Sockets and
 * HTTP handlers call `validate()` at the edge; the core only ever sees values
 * that passed, typed as in `events.ts`.
 */
import * as v from 'valibot';
import { DTYPES } from '../tensor/dtypes.ts';
import { tensorProblem } from '../tensor/tensor.ts';
import { INVITE_CODE, INVITE_CODE_PROBLEM } from './invite.ts';
import {
  type HandshakeAuth, type HeldJobs, type HelloRequest, type JoinRequest, type LeaveRequest, MAX_HELD_IN_HELLO, type ResultUpload, type WireTensor,
} from './events.ts';
import { MAX_WIRE_TENSORS } from './wire-parser.ts';

export const ID_PATTERN = /^[A-Za-z0-9_-]{6,64}$/;
const id = (what: string) => v.pipe(v.string(`${what} must be a string`), v.regex(ID_PATTERN, `${what} is not a valid id`));
const shortText = (max: number) => v.pipe(v.string(), v.maxLength(max, `longer than ${max} characters`));

const bytes = v.custom<Uint8Array>((x) => x instanceof Uint8Array, 'data must be binary (Uint8Array), not JSON');

export const WireTensorSchema = v.pipe(
  v.strictObject({
    name: shortText(256),
    dtype: v.picklist(DTYPES, 'unsupported dtype'),
    dims: v.pipe(v.array(v.pipe(v.number(), v.safeInteger('dims must be integers'), v.minValue(0, 'dims must be >= 0'))), v.maxLength(16, 'rank above 16')),
    data: bytes,
  }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const problem = tensorProblem(dataset.value);
    if (problem) addIssue({ message: `tensor ${JSON.stringify(dataset.value.name)}: ${problem}` });
  }),
) satisfies v.GenericSchema<unknown, WireTensor>;

export const HandshakeAuthSchema = v.object({
  protocol: v.pipe(v.number('protocol version missing'), v.integer()),
  volunteerId: v.optional(id('volunteerId')),
  secret: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{16,128}$/, 'secret is malformed'))),
}) satisfies v.GenericSchema<unknown, HandshakeAuth>;

const BackendSchema = v.picklist(['webgpu', 'wasm'], 'backend must be webgpu or wasm');

export const CapabilitiesSchema = v.strictObject({
  agent: v.picklist(['browser', 'node']),
  backends: v.pipe(v.array(BackendSchema), v.maxLength(4)),
  ortVersion: shortText(32),
  gpu: v.optional(v.strictObject({
    vendor: shortText(128),
    architecture: shortText(128),
    features: v.pipe(v.array(shortText(64)), v.maxLength(64)),
    maxStorageBufferBindingSize: v.pipe(v.number(), v.minValue(0)),
    maxBufferSize: v.pipe(v.number(), v.minValue(0)),
  })),
  threads: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1024))),
  crossOriginIsolated: v.optional(v.boolean()),
  memoryMB: v.optional(v.pipe(v.number(), v.minValue(0))),
  userAgent: v.optional(shortText(512)),
});

const HeldCopySchema = v.strictObject({
  copyId: id('copyId'),
  state: v.picklist(['computing', 'kept', 'interrupted'], 'state must be computing, kept or interrupted'),
});

export const HelloRequestSchema = v.strictObject({
  wallet: v.optional(shortText(64)),
  backend: BackendSchema,
  capabilities: CapabilitiesSchema,
  projectId: v.optional(id('projectId')),
  embedOrigin: v.optional(shortText(256)),
  operatorToken: v.optional(shortText(128)),
  holding: v.optional(v.pipe(
    v.array(HeldCopySchema),
    v.maxLength(MAX_HELD_IN_HELLO, `at most ${MAX_HELD_IN_HELLO} copies`),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const seen = new Set<string>();
      for (const h of dataset.value) {
        if (seen.has(h.copyId)) addIssue({ message: `copy ${h.copyId} is listed more than once` });
        seen.add(h.copyId);
      }
    }),
  )),
}) satisfies v.GenericSchema<unknown, HelloRequest>;

export const EmptySchema = v.optional(v.strictObject({}), {});

export const CopyRefSchema = v.strictObject({ copyId: id('copyId') });

export const HeartbeatSchema = v.strictObject({
  copyIds: v.pipe(v.array(id('copyId')), v.maxLength(64, 'at most 64 copies per heartbeat')),
});

export const ResultUploadSchema = v.strictObject({
  copyId: id('copyId'),
  outputs: v.pipe(v.array(WireTensorSchema), v.maxLength(MAX_WIRE_TENSORS, `at most ${MAX_WIRE_TENSORS} outputs`)),
  computeMs: v.pipe(v.number(), v.finite(), v.minValue(0)),
  next: v.optional(v.boolean()),
}) satisfies v.GenericSchema<unknown, ResultUpload>;

export const FailSchema = v.strictObject({ copyId: id('copyId'), error: shortText(2000) });

export const WatchSchema = v.strictObject({
  topic: v.pipe(v.string(), v.regex(/^(swarm|project:[A-Za-z0-9_-]{6,64}|board:[A-Za-z0-9_-]{6,64}|account:[A-Za-z0-9_:-]{6,80})$/, 'unknown topic')),
  /** A project's API token: project topics show that project's jobs to its owners only. */
  token: v.optional(v.pipe(v.string(), v.maxLength(200))),
});

export { INVITE_CODE, INVITE_CODE_PROBLEM, inviteCodeOf } from './invite.ts';

export const JoinSchema = v.strictObject({
  code: v.pipe(v.string('invite code must be a string'), v.maxLength(100, 'invite code is malformed: too long'), v.regex(INVITE_CODE, INVITE_CODE_PROBLEM)),
}) satisfies v.GenericSchema<unknown, JoinRequest>;

export const LeaveSchema = v.strictObject({ projectId: id('projectId') }) satisfies v.GenericSchema<unknown, LeaveRequest>;

/** A volunteer keeps the weights of at most this many jobs (a tab: 4 in IndexedDB, 4 in memory). */
export const MAX_HELD_JOBS = 16;
/** `jobs:held` from a volunteer, and `jobs:ended` from the coordinator (which the volunteer checks as well). */
export const HeldJobsSchema = v.strictObject({
  jobIds: v.pipe(v.array(id('jobIds')), v.maxLength(MAX_HELD_JOBS, `at most ${MAX_HELD_JOBS} jobs`)),
}) satisfies v.GenericSchema<unknown, HeldJobs>;

export const UnwatchSchema = v.strictObject({ topic: v.pipe(v.string(), v.maxLength(100)) });

export class ValidationError extends Error {
  override name = 'ValidationError';
}

/** Parses `input` or throws a ValidationError whose message says which field is wrong and why. */
export function validate<S extends v.GenericSchema>(schema: S, input: unknown, what: string): v.InferOutput<S> {
  const r = v.safeParse(schema, input);
  if (r.success) return r.output;
  const first = r.issues.slice(0, 3).map((i) => {
    const path = i.path?.map((p) => String(p.key)).join('.');
    return path ? `${path}: ${i.message}` : i.message;
  });
  throw new ValidationError(`invalid ${what}: ${first.join('; ')}`);
}
