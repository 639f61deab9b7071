/**
 * The HTTP API, route by route: method, path, who may call it, what it takes
 * and what it answers. One table serves three readers: the coordinator
 * registers its routes from it and validates requests with its schemas
 * (server/http/serve-route.ts), the typed client calls it (client.ts), and
 * the OpenAPI document is generated from it (openapi.ts). A route added
 * anywhere else is missing from the document, which a test notices.
 */
import type * as v from 'valibot';
import * as Q from './requests.ts';
import * as R from './replies.ts';
import * as O from './operator.ts';
import { API_BASE } from './version.ts';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type Schema = v.GenericSchema;

/** A body that is not JSON: raw bytes, Prometheus text, or nothing at all. */
export type NonJson = 'binary' | 'text' | 'empty';

export interface RouteSpec {
  method: Method;
  /** Fastify's form: `/api/v1/jobs/:id`. */
  path: string;
  /**
   * `project`: a project's API token; `operator`: the coordinator's operator token; `group`: either, the
   * project's for its own group only (all Authorization: Bearer).
   */
  auth: 'none' | 'project' | 'operator' | 'group';
  summary: string;
  tag: 'project' | 'public' | 'credit' | 'operations' | 'operator' | 'group';
  params?: Schema;
  query?: Schema;
  /** Request headers the route reads (names in lower case, as Node gives them); others pass untouched. */
  headers?: Schema;
  body?: Schema | 'binary';
  /** The success status and its body. */
  status: number;
  reply: Schema | NonJson;
  /** Other documented answers besides errors (e.g. 503 from /readyz). */
  also?: Record<number, { description: string; reply: Schema | NonJson }>;
}

const route = <const T extends RouteSpec>(r: T): T => r;
const api = (p: string) => `${API_BASE}${p}`;

export const ROUTES = {
  health: route({ method: 'GET', path: '/healthz', auth: 'none', tag: 'operations', summary: 'Liveness: the process answers', status: 200, reply: R.HealthSchema }),
  ready: route({
    method: 'GET', path: '/readyz', auth: 'none', tag: 'operations', summary: 'Readiness: the store answers a real query within 2 s', status: 200, reply: R.HealthSchema,
    also: { 503: { description: 'the store is not ready', reply: R.NotReadySchema } },
  }),
  metrics: route({ method: 'GET', path: '/metrics', auth: 'none', tag: 'operations', summary: 'Prometheus metrics', status: 200, reply: 'text' }),
  openapi: route({ method: 'GET', path: api('/openapi.json'), auth: 'none', tag: 'public', summary: 'This document (OpenAPI 3.1)', status: 200, reply: R.DocumentSchema }),

  project: route({ method: 'GET', path: api('/project'), auth: 'project', tag: 'project', summary: 'The project the token belongs to', status: 200, reply: R.ProjectReplySchema }),
  setEmbed: route({
    method: 'PUT', path: api('/project/embed'), auth: 'project', tag: 'project', summary: 'Who may embed the project\'s compute frame, and where embed credit goes',
    body: Q.EmbedSettingsSchema, status: 200, reply: R.EmbedUpdatedSchema,
  }),
  hasBlob: route({
    method: 'HEAD', path: api('/blobs/:hash'), auth: 'project', tag: 'project', summary: 'Whether this project uploaded these bytes (200) or not (404)',
    params: Q.HashParamsSchema, status: 200, reply: 'empty', also: { 404: { description: 'this project did not upload these bytes', reply: 'empty' } },
  }),
  putBlob: route({
    method: 'PUT', path: api('/blobs/:hash'), auth: 'project', tag: 'project', summary: 'Uploads bytes under their SHA-256 (a model, inputs, training data)',
    params: Q.HashParamsSchema, body: 'binary', status: 201, reply: R.BlobStoredSchema,
  }),
  createJob: route({
    method: 'POST', path: api('/jobs'), auth: 'project', tag: 'project',
    summary: 'Submits an inference job (kind omitted or "inference") or a training job (kind "train"); with an Idempotency-Key, safe to send again',
    headers: Q.SubmitHeadersSchema, body: Q.JobRequestSchema, status: 201, reply: R.JobCreatedSchema,
  }),
  jobs: route({ method: 'GET', path: api('/jobs'), auth: 'project', tag: 'project', summary: 'The project\'s latest jobs (at most 200), newest first', status: 200, reply: R.JobListSchema }),
  job: route({ method: 'GET', path: api('/jobs/:id'), auth: 'project', tag: 'project', summary: 'A job\'s status', params: Q.IdParamsSchema, status: 200, reply: R.JobStatusSchema }),
  cancelJob: route({ method: 'DELETE', path: api('/jobs/:id'), auth: 'project', tag: 'project', summary: 'Cancels a running job', params: Q.IdParamsSchema, status: 200, reply: R.OkSchema }),
  model: route({
    method: 'GET', path: api('/jobs/:id/model'), auth: 'project', tag: 'project', summary: 'A completed training job\'s trained model (ONNX)',
    params: Q.IdParamsSchema, status: 200, reply: 'binary',
  }),
  outputs: route({
    method: 'GET', path: api('/jobs/:id/outputs'), auth: 'project', tag: 'project', summary: 'A completed inference job\'s outputs: names, types and shapes',
    params: Q.IdParamsSchema, status: 200, reply: R.OutputListSchema,
  }),
  output: route({
    method: 'GET', path: api('/jobs/:id/outputs/:index'), auth: 'project', tag: 'project', summary: 'One output tensor as TensorProto (pb, default), .npy or the tensors codec',
    params: Q.OutputParamsSchema, query: Q.OutputQuerySchema, status: 200, reply: 'binary',
  }),

  blob: route({
    method: 'GET', path: '/blobs/:hash', auth: 'none', tag: 'public', summary: 'A model or weight set, through the signed, expiring link an assignment carries',
    params: Q.BlobParamsSchema, query: Q.BlobLinkQuerySchema, status: 200, reply: 'binary',
    also: { 304: { description: 'not modified (If-None-Match)', reply: 'empty' } },
  }),
  swarm: route({ method: 'GET', path: api('/swarm'), auth: 'none', tag: 'public', summary: 'The swarm: volunteers, throughput and every project\'s running jobs', status: 200, reply: R.SwarmReplySchema }),
  publicProject: route({
    method: 'GET', path: api('/projects/:id'), auth: 'none', tag: 'public', summary: 'What anyone may know of a project (an embed frame reads it)',
    params: Q.IdParamsSchema, status: 200, reply: R.PublicProjectSchema,
  }),
  projectBoard: route({
    method: 'GET', path: api('/projects/:ref/board'), auth: 'none', tag: 'public',
    summary: 'A project\'s public page (by id or name): description, progress, validated compute, contributors by validated credit',
    params: Q.ProjectRefParamsSchema, status: 200, reply: R.ProjectBoardSchema,
  }),
  embed: route({
    method: 'GET', path: api('/embed/:projectId'), auth: 'none', tag: 'public', summary: 'What an embedding page needs; refused (403) to origins the project does not allow',
    params: Q.ProjectIdParamsSchema, status: 200, reply: R.EmbedInfoSchema,
  }),

  account: route({
    method: 'GET', path: api('/accounts/:account'), auth: 'none', tag: 'credit', summary: 'An account\'s balance (pending, payable), its ledger page and later changes',
    params: Q.AccountParamsSchema, query: Q.StatementQuerySchema, status: 200, reply: R.StatementSchema,
  }),
  ledger: route({ method: 'GET', path: api('/ledger'), auth: 'none', tag: 'credit', summary: 'The accounts with the most credit (at most 100)', status: 200, reply: R.LedgerTopSchema }),
  claim: route({
    method: 'POST', path: api('/claims'), auth: 'none', tag: 'credit', summary: 'A wallet takes a volunteer:<id> account\'s credit (volunteer secret and SIWE signature)',
    body: Q.ClaimRequestSchema, status: 200, reply: R.ClaimReplySchema,
  }),
  closePayout: route({
    method: 'POST', path: api('/payouts'), auth: 'operator', tag: 'credit', summary: 'Closes a payout epoch (the operator token only)',
    status: 201, reply: R.PayoutClosedSchema, also: { 200: { description: 'nothing to pay: epoch is null and reason says why', reply: R.PayoutClosedSchema } },
  }),
  payouts: route({ method: 'GET', path: api('/payouts'), auth: 'none', tag: 'credit', summary: 'The latest payout epochs', status: 200, reply: R.PayoutEpochListSchema }),
  payout: route({
    method: 'GET', path: api('/payouts/:id'), auth: 'none', tag: 'credit', summary: 'A payout epoch with its Merkle tree and every wallet\'s proof',
    params: Q.IdParamsSchema, status: 200, reply: R.PayoutEpochFullSchema,
  }),
  walletPayouts: route({
    method: 'GET', path: api('/accounts/:account/payouts'), auth: 'none', tag: 'credit', summary: 'Every epoch that paid a wallet, with its proof',
    params: Q.WalletParamsSchema, status: 200, reply: R.WalletPayoutsSchema,
  }),

  // The operator's (issue 15): projects and their tokens.
  operatorProjects: route({ method: 'GET', path: api('/operator/projects'), auth: 'operator', tag: 'operator', summary: 'Every live project: settings, running jobs, tokens', status: 200, reply: O.ProjectListSchema }),
  createProject: route({
    method: 'POST', path: api('/operator/projects'), auth: 'operator', tag: 'operator', summary: 'Creates a project; the reply holds its first API token (shown once)',
    body: O.CreateProjectSchema, status: 201, reply: O.ProjectCreatedSchema,
  }),
  operatorProject: route({ method: 'GET', path: api('/operator/projects/:project'), auth: 'operator', tag: 'operator', summary: 'One project: settings, running jobs, tokens', params: O.ProjectParamsSchema, status: 200, reply: O.OperatorProjectSchema }),
  updateProject: route({
    method: 'PATCH', path: api('/operator/projects/:project'), auth: 'operator', tag: 'operator', summary: 'Changes a project\'s description, weight, privacy or cap on copies in flight',
    params: O.ProjectParamsSchema, body: O.ProjectSettingsPatchSchema, status: 200, reply: O.OperatorProjectSchema,
  }),
  deleteProject: route({
    method: 'DELETE', path: api('/operator/projects/:project'), auth: 'operator', tag: 'operator', summary: 'Deletes a project (409 while a job of it runs); its tokens stop working',
    params: O.ProjectParamsSchema, status: 200, reply: O.ProjectDeletedSchema,
  }),
  createToken: route({
    method: 'POST', path: api('/operator/projects/:project/tokens'), auth: 'operator', tag: 'operator', summary: 'Issues another API token for the project (shown once)',
    params: O.ProjectParamsSchema, body: O.CreateTokenSchema, status: 201, reply: O.TokenIssuedSchema,
  }),
  rotateToken: route({
    method: 'POST', path: api('/operator/projects/:project/tokens/rotate'), auth: 'operator', tag: 'operator', summary: 'Issues a new token and revokes every other token of the project',
    params: O.ProjectParamsSchema, status: 201, reply: O.TokenIssuedSchema,
  }),
  revokeToken: route({
    method: 'DELETE', path: api('/operator/projects/:project/tokens/:token'), auth: 'operator', tag: 'operator', summary: 'Revokes one token: refused from its next request on, on every coordinator',
    params: O.TokenParamsSchema, status: 200, reply: O.TokenRevokedSchema,
  }),

  // Private swarms (issue 15): a project's invite codes and its group; the project's token or the operator's.
  createInvite: route({
    method: 'POST', path: api('/projects/:project/invites'), auth: 'group', tag: 'group',
    summary: 'A new invite code to the project\'s group (shown once) and the contributor page link that joins by it',
    params: O.ProjectParamsSchema, body: O.CreateInviteSchema, status: 201, reply: O.InviteCreatedSchema,
  }),
  invites: route({
    method: 'GET', path: api('/projects/:project/invites'), auth: 'group', tag: 'group', summary: 'The project\'s invite codes (never the codes themselves) and who joined by each',
    params: O.ProjectParamsSchema, status: 200, reply: O.InviteListSchema,
  }),
  revokeInvite: route({
    method: 'DELETE', path: api('/projects/:project/invites/:invite'), auth: 'group', tag: 'group',
    summary: 'Revokes an invite code: nobody joins by it any more, and those who joined by it are out of the group at once',
    params: O.InviteParamsSchema, status: 200, reply: O.InviteRevokedSchema,
  }),
  members: route({
    method: 'GET', path: api('/projects/:project/members'), auth: 'group', tag: 'group', summary: 'Everyone who joined the project\'s group, and where each stands',
    params: O.ProjectParamsSchema, status: 200, reply: O.MemberListSchema,
  }),
  removeMember: route({
    method: 'DELETE', path: api('/projects/:project/members/:volunteer'), auth: 'group', tag: 'group',
    summary: 'Removes a volunteer from the group: no more of the project\'s work from its next request on, and no rejoining by an older invite',
    params: O.MemberParamsSchema, status: 200, reply: O.MemberRemovedSchema,
  }),
} as const satisfies Record<string, RouteSpec>;

export type RouteName = keyof typeof ROUTES;
type Json<S> = S extends Schema ? S : never;
/** What a route answers on success, as the client receives it. */
export type ReplyOf<T extends RouteSpec> = T['reply'] extends Schema ? v.InferOutput<Json<T['reply']>> : T['reply'] extends 'binary' ? Uint8Array : T['reply'] extends 'text' ? string : void;
/** What a route's handler must produce (before parsing). */
export type ReplyIn<T extends RouteSpec> = T['reply'] extends Schema ? v.InferInput<Json<T['reply']>> : unknown;
export type BodyOf<T extends RouteSpec> = T['body'] extends Schema ? v.InferInput<T['body']> : T['body'] extends 'binary' ? Uint8Array : undefined;
export type ParamsOf<T extends RouteSpec> = T['params'] extends Schema ? v.InferOutput<T['params']> : Record<string, never>;
export type QueryOf<T extends RouteSpec> = T['query'] extends Schema ? v.InferOutput<T['query']> : Record<string, never>;
export type HeadersOf<T extends RouteSpec> = T['headers'] extends Schema ? v.InferOutput<T['headers']> : Record<string, never>;
