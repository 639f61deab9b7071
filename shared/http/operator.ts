/**
 * The operator's HTTP API (issue 15): projects, their tokens and settings.
 * Requests are validated with these schemas at the edge; replies have these
 * shapes, which the CLI (`tabgrid project ...`) reads.
 */
import * as v from 'valibot';

/** How a project is named in URLs (/p/NAME), the CLI and the dashboards: a short slug. */
export const PROJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const ProjectNameSchema = v.pipe(
  v.string('a project name is a string'),
  v.regex(PROJECT_NAME, 'a project name is 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit'),
);

const weight = v.pipe(v.number('weight must be a number'), v.finite(), v.minValue(0.01, 'weight must be >= 0.01'), v.maxValue(10_000, 'weight must be <= 10000'));
const maxInFlight = v.pipe(v.number(), v.integer('maxInFlight must be an integer'), v.minValue(0, 'maxInFlight must be >= 0 (0: no cap)'), v.maxValue(1_000_000));
const description = v.pipe(v.string(), v.maxLength(2000, 'description: at most 2000 characters'));
const label = v.pipe(v.string(), v.maxLength(100, 'label: at most 100 characters'));

export const ProjectSettingsPatchSchema = v.strictObject({
  description: v.optional(description),
  /** Share of the swarm relative to the other projects with work (default 1). */
  weight: v.optional(weight),
  /** Jobs go only to volunteers who joined the project's group. */
  private: v.optional(v.boolean()),
  /** Most copies of the project's shards in flight at once (0: no cap). */
  maxInFlight: v.optional(maxInFlight),
});

export const CreateProjectSchema = v.strictObject({ name: ProjectNameSchema, ...ProjectSettingsPatchSchema.entries });
export const CreateTokenSchema = v.strictObject({ label: v.optional(label) });
export const ProjectParamsSchema = v.strictObject({ project: v.pipe(v.string(), v.maxLength(100)) });
export const TokenParamsSchema = v.strictObject({ project: v.pipe(v.string(), v.maxLength(100)), token: v.pipe(v.string(), v.maxLength(100)) });

const int = v.pipe(v.number(), v.integer());

export const TokenInfoSchema = v.object({ id: v.string(), label: v.string(), createdAt: int, revokedAt: v.nullable(int) });

export const OperatorProjectSchema = v.object({
  id: v.string(),
  name: v.string(),
  description: v.string(),
  weight: v.number(),
  private: v.boolean(),
  maxInFlight: int,
  createdAt: int,
  /** Jobs running now (a project with running jobs cannot be deleted). */
  running: int,
  tokens: v.array(TokenInfoSchema),
});

export const ProjectCreatedSchema = v.object({ project: OperatorProjectSchema, token: v.string(), tokenId: v.string() });
export const ProjectListSchema = v.object({ projects: v.array(OperatorProjectSchema) });
/** A new token, shown once; `revoked`: the tokens a rotation revoked. */
export const TokenIssuedSchema = v.object({ project: v.string(), token: v.string(), tokenId: v.string(), revoked: v.array(v.string()) });
export const TokenRevokedSchema = v.object({ project: v.string(), revoked: v.array(v.string()) });
export const ProjectDeletedSchema = v.object({ project: v.string(), deleted: v.literal(true) });

export type OperatorProject = v.InferOutput<typeof OperatorProjectSchema>;
export type TokenInfoReply = v.InferOutput<typeof TokenInfoSchema>;

// Private swarms (issue 15): a project's invite codes and its group, managed by the project's token or the operator's.

export const CreateInviteSchema = v.strictObject({ label: v.optional(label) });
export const InviteParamsSchema = v.strictObject({ project: v.pipe(v.string(), v.maxLength(100)), invite: v.pipe(v.string(), v.maxLength(100)) });
export const MemberParamsSchema = v.strictObject({ project: v.pipe(v.string(), v.maxLength(100)), volunteer: v.pipe(v.string(), v.maxLength(100)) });

export const InviteInfoSchema = v.object({
  id: v.string(),
  label: v.string(),
  createdAt: int,
  revokedAt: v.nullable(int),
  /** Volunteers in the group by this invite now. */
  members: int,
});

/** A new invite code, shown once, and the contributor page's link that joins by it. */
export const InviteCreatedSchema = v.object({ project: v.string(), invite: InviteInfoSchema, code: v.string(), link: v.string() });
export const InviteListSchema = v.object({ project: v.string(), private: v.boolean(), invites: v.array(InviteInfoSchema) });
export const InviteRevokedSchema = v.object({ project: v.string(), invite: InviteInfoSchema });

export const MemberInfoSchema = v.object({
  volunteerId: v.string(),
  /** Where its credit goes: a wallet, or volunteer:<id>. */
  account: v.string(),
  inviteId: v.string(),
  joinedAt: int,
  endedAt: v.nullable(int),
  state: v.picklist(['member', 'left', 'removed', 'invite revoked']),
});
export const MemberListSchema = v.object({ project: v.string(), members: v.array(MemberInfoSchema) });
export const MemberRemovedSchema = v.object({ project: v.string(), member: MemberInfoSchema });

export type InviteInfoReply = v.InferOutput<typeof InviteInfoSchema>;
export type MemberInfoReply = v.InferOutput<typeof MemberInfoSchema>;
