/**
 * The typed client of a tabgrid coordinator's HTTP API, for Node (20+) and
 * browsers alike (fetch and Web Crypto only). Each method is a route of the
 * contract (routes.ts); every JSON reply is parsed with the route's schema,
 * so a coordinator that answers outside the contract is an error here, not a
 * surprise three calls later.
 *
 *   import { TabgridClient } from 'tabgrid/client';
 *   const api = new TabgridClient('http://127.0.0.1:8080', process.env.TABGRID_TOKEN);
 *   const model = await api.uploadBlob(modelBytes);
 */
import * as v from 'valibot';
import type { BodyOf, Method, ReplyOf, RouteSpec } from './routes.ts';
import { ROUTES } from './routes.ts';
import { IDEMPOTENCY_HEADER, newIdempotencyKey } from './idempotency.ts';

export { ROUTES } from './routes.ts';
export type { ReplyOf, BodyOf, RouteSpec } from './routes.ts';
export { newIdempotencyKey } from './idempotency.ts';

/** The coordinator refused or failed a request: its HTTP status, its error code and its sentence (`reason`). */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(readonly status: number, readonly code: string, message: string, readonly reason: string = message) {
    super(message);
  }
}

/** The coordinator could not be reached at all (refused, reset, DNS): worth retrying. */
export class Unreachable extends Error {
  override name = 'Unreachable';
}

/** A reply that does not match the contract (a coordinator of another version, or a proxy's page). */
export class ContractError extends Error {
  override name = 'ContractError';
}

/**
 * Failures of a request on a connection closed under it, before any reply: the coordinator closed an idle keep-alive
 * socket just as the request went out on it ("other side closed"), or reset it.
 */
const STALE_CONNECTION: ReadonlySet<string> = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);
/**
 * Methods a second attempt cannot apply twice: reads, and PUT, whose every route here is keyed by design (a blob by
 * its SHA-256, a project's embed settings replaced whole). Any other request is repeatable only when it carries an
 * Idempotency-Key (a job submission: createJob makes one per submission); otherwise it is sent once.
 */
const REPEATABLE: ReadonlySet<Method> = new Set<Method>(['GET', 'HEAD', 'PUT']);
/** Attempts of a repeatable request whose connection was closed under it: each takes a fresh socket. */
export const STALE_ATTEMPTS = 3;

/**
 * One request, sent again (at most STALE_ATTEMPTS in all) when it failed before any reply on a connection that was
 * closed under it and the request is safe to repeat (by its method, or its Idempotency-Key); any other failure, or
 * the last, is Unreachable. Node's fetch reuses idle keep-alive sockets; one the coordinator (or a proxy) closed as the request went out fails with "other
 * side closed" (UND_ERR_SOCKET) or a reset, and the next attempt takes a fresh socket. A POST or DELETE without an
 * Idempotency-Key is never sent twice: the coordinator may have applied it; with one, the coordinator answers a repeat
 * with what the first made. The one retry rule of everything that calls the coordinator over HTTP:
 * this client, and `tabgrid worker --node` fetching a shard's blobs (a shard's compute blocks that process's event
 * loop for seconds, so its idle sockets are often closed under it).
 */
export async function fetchRetryingStale(server: string, method: Method, url: URL, init: RequestInit = {}): Promise<Response> {
  const repeatable = REPEATABLE.has(method) || new Headers(init.headers).has(IDEMPOTENCY_HEADER);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url, { ...init, method });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      const cause = (e as Error & { cause?: { code?: unknown; message?: unknown } }).cause;
      const code = typeof cause?.code === 'string' ? cause.code : undefined;
      const stale = code !== undefined && STALE_CONNECTION.has(code);
      if (stale && repeatable && attempt < STALE_ATTEMPTS) {
        // A turn of the event loop first: the other idle sockets the coordinator closed are seen closed, and not picked next.
        await new Promise((r) => setTimeout(r, 0));
        continue;
      }
      const why = cause ? ` (${[code, typeof cause.message === 'string' ? cause.message : undefined].filter(Boolean).join(': ')})` : '';
      const tries = attempt > 1 ? `; attempt ${attempt}, after ${attempt - 1} on connections closed before any reply` : '';
      const once = stale && !repeatable ? `; not sent again: the coordinator may have applied this ${method}` : '';
      throw new Unreachable(`cannot reach the coordinator at ${server}: ${method} ${url.pathname}: ${(e as Error).message}${why}${tries}${once}`);
    }
  }
}

type Call<T extends RouteSpec> = {
  params?: Record<string, string | number>;
  query?: Record<string, string | number | undefined>;
  /** Headers the route reads (routes.ts `headers`), names in lower case. */
  headers?: Record<string, string>;
  body?: BodyOf<T>;
  signal?: AbortSignal;
};

export type JobCreated = ReplyOf<typeof ROUTES.createJob>;
export type JobStatus = ReplyOf<typeof ROUTES.job>;
export type JobRequest = BodyOf<typeof ROUTES.createJob>;
export type TrainJobRequest = Extract<JobRequest, { kind: 'train' }>;
export type InferenceJobRequest = Exclude<JobRequest, { kind: 'train' }>;
type CreatedAs<K> = Extract<JobCreated, { kind: K }>;
export type SwarmReply = ReplyOf<typeof ROUTES.swarm>;
export type Statement = ReplyOf<typeof ROUTES.account>;
export type OutputFormat = 'pb' | 'npy' | 'tensors';
export interface SubmitOptions {
  /** The submission's Idempotency-Key (1 to 255 of A-Z a-z 0-9 - _ . :); a new random one when absent. */
  idempotencyKey?: string;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as unknown as ArrayBuffer));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class TabgridClient {
  /**
   * @param server the coordinator's URL (http://host:port, or a path prefix behind a proxy)
   * @param token a project's API token; public routes need none
   */
  constructor(readonly server: string, private readonly token?: string) {}

  /** Calls a route of the contract and returns its reply, parsed. */
  async call<T extends RouteSpec>(route: T, c: Call<T> = {}): Promise<ReplyOf<T>> {
    const res = await this.send(route, c);
    if (route.reply === 'binary') return new Uint8Array(await res.arrayBuffer()) as ReplyOf<T>;
    if (route.reply === 'text') return (await res.text()) as ReplyOf<T>;
    if (route.reply === 'empty') return undefined as ReplyOf<T>;
    const json: unknown = await res.json();
    const parsed = v.safeParse(route.reply, json);
    if (!parsed.success) {
      const why = parsed.issues.slice(0, 3).map((i) => `${i.path?.map((p) => String(p.key)).join('.') ?? '(reply)'}: ${i.message}`).join('; ');
      throw new ContractError(`${route.method} ${route.path}: the reply does not match the API contract: ${why}`);
    }
    return parsed.output as ReplyOf<T>;
  }

  private url(route: RouteSpec, c: Call<RouteSpec>): URL {
    const path = route.path.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => {
      const value = c.params?.[name];
      if (value === undefined) throw new Error(`${route.path}: missing path parameter ${name}`);
      return encodeURIComponent(String(value));
    });
    const url = new URL(this.server.replace(/\/+$/, '') + path);
    for (const [k, val] of Object.entries(c.query ?? {})) if (val !== undefined) url.searchParams.set(k, String(val));
    return url;
  }

  private async send(route: RouteSpec, c: Call<RouteSpec>, okStatuses: readonly number[] = []): Promise<Response> {
    const url = this.url(route, c);
    const binary = route.body === 'binary';
    const headers: Record<string, string> = { accept: route.reply === 'binary' ? 'application/octet-stream' : 'application/json' };
    if (this.token && route.auth !== 'none') headers.authorization = `Bearer ${this.token}`;
    if (c.body !== undefined) headers['content-type'] = binary ? 'application/octet-stream' : 'application/json';
    Object.assign(headers, c.headers);
    const res = await fetchRetryingStale(this.server, route.method, url, {
      headers,
      ...(c.body !== undefined ? { body: binary ? (c.body as BodyInit) : JSON.stringify(c.body) } : {}),
      ...(c.signal ? { signal: c.signal } : {}),
    });
    if (!res.ok && !okStatuses.includes(res.status)) {
      const text = await res.text();
      let msg = text || res.statusText;
      let code = 'error';
      try {
        const j = JSON.parse(text) as { error?: unknown; code?: unknown };
        if (typeof j.error === 'string') msg = j.error;
        if (typeof j.code === 'string') code = j.code;
      } catch { /* not JSON: a proxy's page */ }
      throw new ApiError(res.status, code, `${route.method} ${url.pathname}: ${res.status} ${msg}`, msg);
    }
    return res;
  }

  // Project routes (a project's token)

  /** The project this client's token belongs to. */
  project() { return this.call(ROUTES.project); }
  setEmbed(embed: BodyOf<typeof ROUTES.setEmbed>) { return this.call(ROUTES.setEmbed, { body: embed }); }

  /** Whether this project uploaded these bytes already. */
  async hasBlob(hash: string): Promise<boolean> {
    const res = await this.send(ROUTES.hasBlob, { params: { hash } }, [404]);
    return res.status === 200;
  }

  /** Uploads bytes under their SHA-256, skipping what this project already uploaded; returns the hash. */
  async uploadBlob(bytes: Uint8Array): Promise<string> {
    const hash = await sha256Hex(bytes);
    if (await this.hasBlob(hash)) return hash;
    await this.call(ROUTES.putBlob, { params: { hash }, body: bytes });
    return hash;
  }

  /**
   * Submits a job; the reply is the plan of its kind (records and shards, or training rounds). The submission carries
   * an Idempotency-Key (a new one unless given), so it is sent again when its connection closed before any reply, and
   * the coordinator answers the repeat with the job the first made. Pass the same `idempotencyKey` to send a submission
   * again yourself (after a coordinator restart, or from a new process): one job, however many times it is sent.
   */
  createJob(req: TrainJobRequest, o?: SubmitOptions): Promise<CreatedAs<'train'>>;
  createJob(req: InferenceJobRequest, o?: SubmitOptions): Promise<CreatedAs<'inference'>>;
  async createJob(req: JobRequest, o: SubmitOptions = {}): Promise<JobCreated> {
    const key = o.idempotencyKey ?? newIdempotencyKey();
    // The draft's form: a structured-field String.
    const created = await this.call(ROUTES.createJob, { body: req, headers: { [IDEMPOTENCY_HEADER]: `"${key}"` } });
    if (created.kind !== (req.kind ?? 'inference')) throw new ContractError(`asked for a ${req.kind ?? 'inference'} job, the coordinator made a ${created.kind} job`);
    return created;
  }
  /** The project's jobs, newest first. */
  jobs() { return this.call(ROUTES.jobs); }
  job(id: string) { return this.call(ROUTES.job, { params: { id } }); }
  cancel(id: string) { return this.call(ROUTES.cancelJob, { params: { id } }); }
  /** A completed training job's trained model (ONNX bytes). */
  model(id: string) { return this.call(ROUTES.model, { params: { id } }); }
  outputs(id: string) { return this.call(ROUTES.outputs, { params: { id } }); }
  output(id: string, index: number, format: OutputFormat = 'pb') { return this.call(ROUTES.output, { params: { id, index }, query: { format } }); }
  /** Closes a payout epoch (the operator's token). */
  closePayout() { return this.call(ROUTES.closePayout); }

  /** Waits until a job is no longer running (polling), and returns its final status. */
  async waitForJob(id: string, o: { pollMs?: number; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<JobStatus> {
    const until = Date.now() + (o.timeoutMs ?? Number.POSITIVE_INFINITY);
    for (;;) {
      const s = await this.job(id);
      if (s.state !== 'running') return s;
      if (Date.now() > until) throw new Error(`job ${id} still running after ${o.timeoutMs} ms (${s.shards.validated}/${s.shards.total} shards validated)`);
      await new Promise((r) => setTimeout(r, o.pollMs ?? 1000));
      o.signal?.throwIfAborted();
    }
  }

  // Public routes

  health() { return this.call(ROUTES.health); }
  swarm(signal?: AbortSignal) { return this.call(ROUTES.swarm, signal ? { signal } : {}); }
  publicProject(id: string) { return this.call(ROUTES.publicProject, { params: { id } }); }
  embedInfo(projectId: string) { return this.call(ROUTES.embed, { params: { projectId } }); }
  account(account: string, page: { before?: number; limit?: number; signal?: AbortSignal } = {}) {
    return this.call(ROUTES.account, { params: { account }, query: { before: page.before, limit: page.limit }, ...(page.signal ? { signal: page.signal } : {}) });
  }
  ledger() { return this.call(ROUTES.ledger); }
  claim(c: BodyOf<typeof ROUTES.claim>) { return this.call(ROUTES.claim, { body: c }); }
  payouts() { return this.call(ROUTES.payouts); }
  payout(id: string) { return this.call(ROUTES.payout, { params: { id } }); }
  walletPayouts(wallet: string, signal?: AbortSignal) { return this.call(ROUTES.walletPayouts, { params: { account: wallet }, ...(signal ? { signal } : {}) }); }
  openapi() { return this.call(ROUTES.openapi); }
  /** A project's public page (by id or name): progress, validated compute, contributors by validated credit. */
  projectBoard(ref: string) { return this.call(ROUTES.projectBoard, { params: { ref } }); }

  // The operator's (the client made with the operator token): projects and their tokens.
  operatorProjects() { return this.call(ROUTES.operatorProjects); }
  createProject(body: BodyOf<typeof ROUTES.createProject>) { return this.call(ROUTES.createProject, { body }); }
  operatorProject(project: string) { return this.call(ROUTES.operatorProject, { params: { project } }); }
  updateProject(project: string, body: BodyOf<typeof ROUTES.updateProject>) { return this.call(ROUTES.updateProject, { params: { project }, body }); }
  deleteProject(project: string) { return this.call(ROUTES.deleteProject, { params: { project } }); }
  createToken(project: string, label?: string) { return this.call(ROUTES.createToken, { params: { project }, body: label !== undefined ? { label } : {} }); }
  rotateToken(project: string) { return this.call(ROUTES.rotateToken, { params: { project } }); }
  revokeToken(project: string, token: string) { return this.call(ROUTES.revokeToken, { params: { project, token } }); }

  // A private project's group (the project's own token, or the operator token).
  createInvite(project: string, label?: string) { return this.call(ROUTES.createInvite, { params: { project }, body: label !== undefined ? { label } : {} }); }
  invites(project: string) { return this.call(ROUTES.invites, { params: { project } }); }
  revokeInvite(project: string, invite: string) { return this.call(ROUTES.revokeInvite, { params: { project, invite } }); }
  members(project: string) { return this.call(ROUTES.members, { params: { project } }); }
  removeMember(project: string, volunteer: string) { return this.call(ROUTES.removeMember, { params: { project, volunteer } }); }
}
