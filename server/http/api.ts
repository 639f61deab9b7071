/**
 * The HTTP JSON API for projects (blobs, jobs, results) and public read-only
 * endpoints (swarm, ledger, model blobs). A thin shell: authenticate,
 * validate, call the services, map their errors to status codes.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { encodeNpy } from '../../shared/tensor/npy.ts';
import { encodeTensorProto } from '../../shared/tensor/tensorproto.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { ValidationError } from '../../shared/protocol/schemas.ts';
import { isWallet, toChecksumAddress, walletProblem } from '../../shared/wallet.ts';
import { type BlobStore, sha256 } from '../blobs/blob-store.ts';
import { isSha256Hex } from '../../shared/hash.ts';
import type { Metrics } from '../metrics.ts';
import type { Project, Store } from '../store/types.ts';
import { type InferenceRequest, JobError, type JobService } from '../services/job-service.ts';
import type { SwarmMonitor } from '../services/swarm-monitor.ts';
import type { WaitWatch } from '../services/wait-watch.ts';
import type { JobRequestSchema } from '../../shared/http/requests.ts';
import { ROUTES } from '../../shared/http/routes.ts';
import { routeServer } from './serve-route.ts';
import { openApiDocument } from '../../shared/http/openapi.ts';
import type { TrainService } from '../services/train-service.ts';
import type { CreditService } from '../services/credit-service.ts';
import type { ProjectBoards } from '../services/project-board.ts';
import { registerCreditApi } from './credit-api.ts';
import { bearer, operatorAuth, registerOperatorApi } from './operator-api.ts';
import type { ProjectService } from '../services/project-service.ts';
import type { GroupService } from '../services/group-service.ts';
import { groupAuth, registerGroupApi } from './group-api.ts';
import type * as v from 'valibot';
import { kindOf } from '../core/jobs/kinds.ts';
import { KeyReused, Submissions } from '../services/submissions.ts';
import { IDEMPOTENCY_HEADER, idempotencyKeyOf } from '../../shared/http/idempotency.ts';

declare module 'fastify' {
  interface FastifyRequest {
    project: Project | null;
  }
}

const STATUS: Record<string, number> = { bad_request: 400, unauthorized: 401, forbidden: 403, not_found: 404, conflict: 409, too_large: 413 };

export interface ApiDeps {
  store: Store;
  blobs: BlobStore;
  jobs: JobService;
  train: TrainService;
  swarm: SwarmMonitor;
  /** Why running jobs wait, and what to warn a submitter about. */
  waits: WaitWatch;
  metrics: Metrics;
  /** How long an embed's consent is remembered (hours, at most 30 days). */
  consentMaxHours: number;
  credit: CreditService;
  /** Projects' public pages. */
  boards: ProjectBoards;
  projects: ProjectService;
  /** Private projects' invite codes and groups. */
  groups: GroupService;
  /** The coordinator's own (local) project (the one `<data>/token` belongs to). */
  operatorProjectId: string;
  /** Public URL of this coordinator (the domain wallet claims must name), when set. */
  publicUrl?: string | undefined;
  /** The package's version, stated in the OpenAPI document. */
  version: string;
}

export function registerApi(app: FastifyInstance, d: ApiDeps): void {
  app.decorateRequest('project', null);

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    let status = 500;
    let code = 'internal';
    let message = 'internal error; the coordinator logged it';
    if (err instanceof ValidationError) { status = 400; code = 'bad_request'; message = err.message; }
    else if (err instanceof JobError) { status = STATUS[err.code] ?? 400; code = err.code; message = err.message; }
    else if (err instanceof KeyReused) { status = 422; code = 'idempotency_key_reused'; message = err.message; }
    else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') { status = 413; code = 'too_large'; message = `body exceeds this coordinator's upload limit of ${app.initialConfig.bodyLimit} bytes`; }
    else if (err.statusCode && err.statusCode < 500) { status = err.statusCode; code = 'bad_request'; message = err.message; }
    if (status >= 500) req.log.error({ err }, 'request failed');
    else req.log.warn({ url: req.url, reason: message }, 'request refused');
    d.metrics.refused.inc({ code });
    void reply.status(status).send({ error: message, code });
  });

  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const auth = async (req: FastifyRequest) => {
    const project = await d.jobs.projectForToken(bearer(req));
    if (!project) throw new JobError('unauthorized', 'invalid API token');
    req.project = project;
  };
  const serve = routeServer(app, { project: auth, operator: operatorAuth(d.projects), group: groupAuth(d.projects, d.jobs) });
  registerOperatorApi(serve, d.projects);
  registerGroupApi(serve, d);

  serve(ROUTES.health, async () => ({ ok: true, store: d.store.kind }));
  // Readiness: the store answers a real query on the coordinator's tables within 2 s (a dropped
  // schema, a closed connection or a stuck database all make it 503, so a balancer stops sending work).
  serve(ROUTES.ready, async ({ reply }) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        d.store.listJobs({ limit: 1 }),
        new Promise((_, rej) => { timer = setTimeout(() => rej(new Error('the store did not answer within 2 s')), 2000); }),
      ]);
      return { ok: true, store: d.store.kind };
    } catch (e) {
      return reply.status(503).send({ ok: false, store: d.store.kind, code: 'store_unavailable', error: `store not ready: ${(e as Error).message}` });
    } finally {
      clearTimeout(timer);
    }
  });
  let openapi: Record<string, unknown> | null = null;
  serve(ROUTES.openapi, async () => (openapi ??= openApiDocument({ version: d.version, ...(d.publicUrl ? { serverUrl: d.publicUrl } : {}) })));
  serve(ROUTES.metrics, async ({ reply }) => reply.type(d.metrics.registry.contentType).send(await d.metrics.registry.metrics()));

  // Project API (token required)
  serve(ROUTES.project, async ({ req }) => ({ id: req.project!.id, name: req.project!.name, embed: req.project!.embed }));
  serve(ROUTES.setEmbed, async ({ req, body: embed }) => {
    embed.allowedOrigins = embed.allowedOrigins.map((o) => new URL(o).origin);
    if (embed.siteWallet) {
      const problem = walletProblem(embed.siteWallet);
      if (problem) throw new JobError('bad_request', `siteWallet: ${problem}`);
      embed.siteWallet = toChecksumAddress(embed.siteWallet);
    }
    await d.jobs.setEmbed(req.project!, embed);
    return { ok: true, embed };
  });

  serve(ROUTES.hasBlob, async ({ req, reply, params: { hash } }) => {
    // Only the project's own uploads: whether another project holds these bytes is not this project's to learn.
    const own = await d.jobs.ownsBlob(req.project!, hash);
    return reply.status(own ? 200 : 404).send();
  });
  serve(ROUTES.putBlob, async ({ req, reply, params: { hash }, body }) => {
    const actual = sha256(body);
    if (actual !== hash) throw new JobError('bad_request', `body hashes to ${actual}, not ${hash}: upload corrupted or wrong id`);
    await d.jobs.upload(req.project!, body);
    return reply.status(201).send({ hash, bytes: body.byteLength });
  });

  const submissions = new Submissions(d.store);
  serve(ROUTES.createJob, async ({ req, reply, body, headers }) => {
    const project = req.project!;
    const header = headers[IDEMPOTENCY_HEADER];
    // A repeat (same Idempotency-Key and body) gets the first's job, in the same reply: 201 and the job as it is now.
    const { job, repeat } = await submissions.submit(project, body, header === undefined ? null : idempotencyKeyOf(header), (submission) => (body.kind === 'train'
      ? d.train.createTrainJob(project, withoutKind(body), submission)
      : d.jobs.createInferenceJob(project, inferenceRequest(body), submission)));
    if (repeat) req.log.info({ job: job.id, project: project.id }, 'job submission repeated (same Idempotency-Key and body): answered with its job');
    return reply.status(201).send({ ...(await d.jobs.summary(job)), ...kindOf(job.spec).created(job), warnings: await d.waits.warnings(job) });
  });
  serve(ROUTES.jobs, async ({ req }) => ({ jobs: await d.jobs.list(req.project!) }));
  serve(ROUTES.job, async ({ req, reply, params: { id } }) => {
    const job = await d.jobs.jobFor(req.project!, id);
    // What the kind adds is typed by the contract's variant (JobStatusSchema), which the contract tests check.
    return reply.send({ ...(await d.jobs.summary(job)), ...kindOf(job.spec).details(job) });
  });
  serve(ROUTES.model, async ({ req, reply, params: { id } }) => {
    const job = await d.jobs.jobFor(req.project!, id);
    const kind = kindOf(job.spec);
    if (kind.yields !== 'model') throw new JobError('bad_request', `job ${job.id} is ${kind.describe}`);
    if (job.state !== 'completed' || !job.resultHash) throw new JobError('conflict', `job ${job.id} is ${job.state}${job.error ? `: ${job.error}` : ''}; the trained model exists once it completes`);
    const bytes = await d.blobs.get(job.resultHash);
    return reply.type('application/octet-stream').send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
  serve(ROUTES.cancelJob, async ({ req, params: { id } }) => {
    const job = await d.jobs.jobFor(req.project!, id);
    await d.jobs.cancel(job);
    return { ok: true };
  });
  serve(ROUTES.outputs, async ({ req, params: { id } }) => {
    const job = await d.jobs.jobFor(req.project!, id);
    const outs = await d.jobs.results(job);
    return { outputs: outs.map((o, index) => ({ index, name: o.name, dtype: o.dtype, dims: o.dims, bytes: o.data.byteLength })) };
  });
  serve(ROUTES.output, async ({ req, reply, params: { id, index }, query }) => {
    const format = query.format ?? 'pb';
    const job = await d.jobs.jobFor(req.project!, id);
    const outs = await d.jobs.results(job);
    const i = Number(index);
    const o = outs[i];
    if (!o) throw new JobError('not_found', `job ${id} has outputs 0..${outs.length - 1}, not ${index}`);
    const bytes = format === 'npy' ? encodeNpy(o) : format === 'pb' ? encodeTensorProto(o) : encodeTensors([o]);
    return reply.type('application/octet-stream').header('X-Tabgrid-Output-Name', encodeURIComponent(o.name)).send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });

  // Public, read-only
  serve(ROUTES.blob, async ({ req, reply, params: { hash }, query }) => {
    if (!isSha256Hex(hash)) throw new JobError('not_found', 'no blob at this link: a blob link comes with an assignment, and this one is not one');
    let cacheControl = 'public, max-age=31536000, immutable';
    if (query.copy !== undefined) {
      // A private project's blob: only through the capability of a copy in flight that needs it (blob-links.ts).
      await d.jobs.requireCapability(hash, query);
      // Never in a shared cache (a proxy would hand it to anyone asking for this URL).
      cacheControl = 'private, no-store';
    } else {
      // Only through the signed, expiring link an assignment carries (blob-links.ts); a hash alone opens nothing.
      if (!d.blobs.links.holds(hash, query)) {
        throw new JobError('not_found', `no blob at this link: a blob link comes with an assignment, and this one is missing, altered or expired`);
      }
      // A private project's blob never opens with a hash link, whoever signed it.
      if (await d.store.blobIsPrivate(hash)) throw new JobError('not_found', `no public blob ${hash}: a private project's blob opens only with the capability its assignment carries`);
    }
    // Only what volunteers must fetch, whatever was signed; inputs and outputs stay with their project.
    if (!(await d.jobs.isPublicBlob(hash))) throw new JobError('not_found', `no public blob ${hash}`);
    if (query.copy === undefined && req.headers['if-none-match'] === `"${hash}"`) return reply.status(304).send();
    if (!(await d.blobs.has(hash))) throw new JobError('not_found', `blob ${hash} is no longer available (a superseded training checkpoint)`);
    const bytes = await d.blobs.get(hash);
    return reply
      .header('Cache-Control', cacheControl)
      .header('ETag', `"${hash}"`)
      .header('Cross-Origin-Resource-Policy', 'cross-origin')
      .type('application/octet-stream')
      .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });

  serve(ROUTES.swarm, async () => {
    const stats = await d.swarm.stats();
    return { ...stats, jobs: await d.jobs.runningEverywhere() };
  });

  // Public: what an embed frame needs to know (name, where credit goes, who may embed); jobs stay private.
  serve(ROUTES.publicProject, async ({ params: { id } }) => {
    const p = await d.jobs.project(id);
    if (!p) throw new JobError('not_found', 'no such project');
    return {
      id: p.id, name: p.name,
      embed: {
        creditTo: p.embed.creditTo, allowedOrigins: p.embed.allowedOrigins, defaultIntensity: p.embed.defaultIntensity, siteWallet: p.embed.siteWallet ?? null,
        // How long a visitor's confirmation in the frame is remembered.
        consentHours: d.consentMaxHours,
      },
    };
  });

  serve(ROUTES.projectBoard, async ({ params: { ref } }) => {
    const p = await d.boards.find(ref);
    if (!p) throw new JobError('not_found', `no project with the id or name ${JSON.stringify(ref)}`);
    return d.boards.board(p);
  });
  // A project's public page is a view of the dashboards app, whose asset URLs are relative: the short
  // link sends there (relative too, so it works behind a proxy's path prefix).
  app.get('/p/:name', async (req, reply) => reply.redirect(`../dashboard.html#/p/${encodeURIComponent((req.params as { name: string }).name)}`));

  serve(ROUTES.account, async ({ params, query }) => {
    const account = isWallet(params.account) ? toChecksumAddress(params.account) : params.account;
    const before = query.before !== undefined ? Number(query.before) : undefined;
    const limit = query.limit !== undefined ? Number(query.limit) : 100;
    if (before !== undefined && !(before > 0)) throw new JobError('bad_request', 'before must be a positive ledger sequence number');
    if (!(limit >= 1 && limit <= 1000)) throw new JobError('bad_request', 'limit must be an integer in 1..1000');
    return d.credit.statement(account, { limit, ...(before ? { before } : {}) });
  });
  registerCreditApi(serve, d);

  serve(ROUTES.ledger, async () => ({ accounts: await d.credit.top() }));

  // The embed loader asks before rendering its consent card. The browser sets
  // Origin on this cross-origin request, so the allow-list is enforced here, by
  // the coordinator, not only by the script.
  serve(ROUTES.embed, async ({ req, reply, params: { projectId } }) => {
    const origin = req.headers.origin;
    if (origin) reply.header('Access-Control-Allow-Origin', origin).header('Vary', 'Origin');
    const p = await d.jobs.project(projectId);
    if (!p) throw new JobError('not_found', 'this tabgrid project does not exist');
    if (p.embed.allowedOrigins.length && (!origin || !p.embed.allowedOrigins.includes(origin))) {
      throw new JobError('forbidden', `${origin ?? 'this page'} is not allowed to embed the tabgrid project "${p.name}"; its owner allows: ${p.embed.allowedOrigins.join(', ')}`);
    }
    return {
      project: { id: p.id, name: p.name },
      jobs: await d.jobs.running(p.id),
      defaultIntensity: p.embed.defaultIntensity,
      creditTo: p.embed.creditTo,
      consentHours: d.consentMaxHours,
      frame: '/embed-frame.html',
    };
  });
}

type JobRequest = v.InferOutput<typeof JobRequestSchema>;

function withoutKind<T extends { kind: unknown }>(r: T): Omit<T, 'kind'> {
  const { kind: _kind, ...rest } = r;
  return rest;
}

/** The HTTP inference request (seconds, flat limits) as the job service takes it (milliseconds, grouped). */
function inferenceRequest(b: Exclude<JobRequest, { kind: 'train' }>): InferenceRequest {
  return {
    model: b.model, inputs: b.inputs, shardSize: b.shardSize, homogeneous: b.homogeneous, backends: b.backends,
    meta: { name: b.name, tags: b.tags, priority: b.priority },
    tolerance: { ...(b.rtol !== undefined ? { rtol: b.rtol } : {}), ...(b.atol !== undefined ? { atol: b.atol } : {}) },
    limits: {
      ...(b.replicas !== undefined ? { replicas: b.replicas } : {}),
      ...(b.maxErrorCopies !== undefined ? { maxErrorCopies: b.maxErrorCopies } : {}),
      ...(b.maxTotalCopies !== undefined ? { maxTotalCopies: b.maxTotalCopies } : {}),
      ...(b.leaseSeconds !== undefined ? { leaseMs: b.leaseSeconds * 1000 } : {}),
      ...(b.deadlineSeconds !== undefined ? { deadlineMs: b.deadlineSeconds * 1000 } : {}),
    },
  };
}
