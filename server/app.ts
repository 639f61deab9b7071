/**
 * Composes the coordinator: store, blob files, services, HTTP API, socket.io
 * gateway, the contributor app and the reconciler loop.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { Server } from 'socket.io';
import { SOCKET_PATH } from '../shared/protocol/version.ts';
import { wireParser } from '../shared/protocol/wire-parser.ts';
import { BlobStore } from './blobs/blob-store.ts';
import { type CoordinatorConfig, DEFAULT_CONFIG, uploadBudgetProblem } from './config.ts';
import { type DataDirLock, lockDataDir } from './data-dir-lock.ts';
import { type ClusterLink, joinCluster } from './gateway/cluster.ts';
import { GroupService } from './services/group-service.ts';
import { attachGateway, type TabgridServer } from './gateway/socket-gateway.ts';
import { registerApi } from './http/api.ts';
import { securityHeaders } from './http/security-headers.ts';
import { serveClientApp } from './http/static-assets.ts';
import { fastifyProxyTrust } from './core/trust/address.ts';
import { trustPolicy } from './core/trust/policy.ts';
import { createLogger } from './log.ts';
import { countTrust, createMetrics, registerGridMetrics } from './metrics.ts';
import { CreditService } from './services/credit-service.ts';
import { CoordinatorEvents } from './services/events.ts';
import { InferenceWork } from './services/inference-work.ts';
import { JobService } from './services/job-service.ts';
import { ProjectService } from './services/project-service.ts';
import { SwarmMonitor } from './services/swarm-monitor.ts';
import { ProjectBoards } from './services/project-board.ts';
import { ModelChecker } from './models/model-checker.ts';
import { AnswerRunner } from './models/answer-runner.ts';
import { PACKAGE_ROOT } from './package-root.ts';
import { WaitWatch } from './services/wait-watch.ts';
import { TrainService } from './services/train-service.ts';
import { WorkService } from './services/work-service.ts';
import { PgStore } from './store/postgres/pg-store.ts';
import { SqliteStore } from './store/sqlite/sqlite-store.ts';
import type { Store } from './store/types.ts';

const PACKAGE_VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** How long requests under way may take to finish when the coordinator shuts down. */
const SHUTDOWN_GRACE_MS = 5000;

/**
 * How long an idle keep-alive connection stays open. Node's default, 5 s (advertised as `Keep-Alive: timeout=5`),
 * lets Node's fetch (undici) keep an idle socket for 3 s; a client whose event loop is blocked past 5 s (a shard's
 * compute in `tabgrid worker --node`, or in a test process that also calls the API) then writes its next request on a
 * socket the coordinator closed meanwhile, and fetch fails with "other side closed" (UND_ERR_SOCKET). With 65 s a client
 * must stall a minute for that; 65 s also outlasts the 60 s idle timeout of common load balancers, which must never
 * reuse a connection the coordinator has just closed. The typed client retries what still loses the race (client.ts).
 */
export const KEEP_ALIVE_MS = 65_000;

export interface RunningCoordinator {
  url: string;
  port: number;
  /** The local project's token, when this data directory has one on file. */
  token: string | null;
  projectId: string;
  config: CoordinatorConfig;
  /** Every route the HTTP server registered (the contract test compares them with the OpenAPI document). */
  routes: readonly { method: string; url: string }[];
  close(): Promise<void>;
}

export type CoordinatorOptions = Partial<CoordinatorConfig> & { dataDir: string };

export async function startCoordinator(opts: CoordinatorOptions): Promise<RunningCoordinator> {
  const config: CoordinatorConfig = {
    ...DEFAULT_CONFIG,
    clientDir: join(PACKAGE_ROOT, 'dist/client'),
    ...opts,
    dataDir: resolve(opts.dataDir),
  };
  const budgetProblem = uploadBudgetProblem(config);
  if (budgetProblem) throw new Error(budgetProblem);
  // A bad knob is refused before anything is created, with the value and its range.
  trustPolicy({ ...config.trust, spotCheckFraction: config.spotCheckFraction });
  const log = createLogger(config.logLevel);
  // The port first: a coordinator that cannot listen creates nothing (no data
  // directory, no project, no token). Until the API is ready it answers 503.
  const server = createServer();
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  await listen(server, config.port, config.host);
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
  let ready = false;
  server.on('request', (req, res) => {
    if (ready && handler) return handler(req, res);
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end('{"code":"starting","error":"the coordinator is starting"}');
  });
  let lock: DataDirLock | null = null;
  try {
    // The owner's alone: the database, the token and the blobs live under it (an older version left it 0755).
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    await chmod(config.dataDir, 0o700);
    // One process owns a SQLite data directory. Coordinators on PostgreSQL share
    // theirs by design (blobs on a network volume), so they take no lock.
    if (!config.postgresUrl) {
      lock = await lockDataDir(config.dataDir, (err) => log.error({ err, data: config.dataDir }, 'lost the data directory lock; another process may now open the same data'));
    }
    return await startOnBoundPort(config, log, server, lock, (h) => { handler = h; }, () => { ready = true; });
  } catch (e) {
    await new Promise<void>((r) => server.close(() => r()));
    await lock?.release();
    throw e;
  }
}

function listen(server: ReturnType<typeof createServer>, port: number, host: string): Promise<void> {
  return new Promise((res, rej) => {
    const onError = (e: NodeJS.ErrnoException) => {
      rej(e.code === 'EADDRINUSE' ? new Error(`port ${port} on ${host} is already in use (another coordinator?); nothing was created`) : e);
    };
    server.once('error', onError);
    server.listen({ port, host }, () => { server.off('error', onError); res(); });
  });
}

async function startOnBoundPort(
  config: CoordinatorConfig, log: ReturnType<typeof createLogger>, server: ReturnType<typeof createServer>, lock: DataDirLock | null,
  setHandler: (h: (req: IncomingMessage, res: ServerResponse) => void) => void, markReady: () => void,
): Promise<RunningCoordinator> {
  // On PostgreSQL several coordinators share the database, and dispatch and
  // validation are atomic there; blobs (models, inputs, outputs) still live in
  // <dataDir>/blobs, so coordinators sharing a database need a shared blob
  // directory too (a network volume), or one coordinator misses another's uploads.
  const store: Store = config.postgresUrl
    ? await PgStore.open(config.postgresUrl, { onError: (err) => log.warn({ err }, 'idle PostgreSQL connection failed; the next query reconnects') })
    : new SqliteStore(join(config.dataDir, 'tabgrid.sqlite'));
  const blobs = new BlobStore(join(config.dataDir, 'blobs'));
  const events = new CoordinatorEvents();
  const metrics = createMetrics();
  countTrust(metrics, events);
  const checker = new ModelChecker(config.modelCheck);
  const jobs = new JobService(store, blobs, events, log, checker);
  const train = new TrainService(store, blobs, jobs, events, log, checker);
  const kinds = { inference: new InferenceWork(blobs, store, jobs), train };
  // The coordinator's own computations of shards (known answers for spot checks, and reviews it settles), on one thread.
  const answers = (config.spotCheckFraction > 0 || config.ownReviews) && config.knownAnswers.timeMs > 0 ? new AnswerRunner(config.knownAnswers) : null;
  const trust = trustPolicy({ ...config.trust, spotCheckFraction: config.spotCheckFraction });
  const work = new WorkService(store, jobs, kinds, events, config, log, { blobs, runner: answers }, trust);
  const swarm = new SwarmMonitor(store, events);
  const credit = new CreditService(store, events, log.child({ component: 'credit' }));
  const waits = new WaitWatch(
    store, () => swarm.connected(), config, log.child({ component: 'waits' }), () => swarm.elsewhere(), (j) => events.emit('job', j.id, j.projectId),
    { trusted: (id) => work.trustedNow(id), classes: (job) => work.homogeneousClasses(job) },
  );
  jobs.explainWaitsWith((id) => waits.reason(id));
  events.on('assigned', (jobId) => waits.assigned(jobId));

  const projects = new ProjectService(store, events, log.child({ component: 'projects' }));
  const groups = new GroupService(store, events, log.child({ component: 'groups' }));
  const { projectId, token } = await ensureOperatorAndLocalProject(config.dataDir, store, projects, log);

  const app = Fastify({
    // Fastify's own per-request lines are info-level noise; refusals (warn) and errors still show,
    // and every request is logged at debug by the hook below.
    loggerInstance: log.child({ component: 'http' }, { level: levelAtLeast(config.logLevel, 'warn') }) as FastifyBaseLogger,
    bodyLimit: config.maxUploadBytes,
    // The socket handshake's trust (address.ts): request.ip is a hop a trusted proxy appended, never one the client wrote.
    trustProxy: fastifyProxyTrust(config.trustProxy),
    // The server was bound before anything else (see startCoordinator).
    serverFactory: (h) => { setHandler(h); return server; },
  }) as unknown as FastifyInstance;
  const routes: { method: string; url: string }[] = [];
  app.addHook('onRoute', (r) => { for (const method of [r.method].flat()) routes.push({ method, url: r.url }); });
  const requests = log.child({ component: 'http' });
  app.addHook('onResponse', async (req, reply) => {
    requests.debug({ method: req.method, url: req.url, status: reply.statusCode }, 'request');
    // The route as registered (`/api/v1/jobs/:id`), never the raw URL: bounded label values.
    metrics.http.observe({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  registerGridMetrics(metrics, () => store.gridCounts(), { version: PACKAGE_VERSION, store: store.kind }, () => store.reviewCounts());
  securityHeaders(app, async (id) => (await store.getProject(id))?.embed.allowedOrigins ?? null);
  const boards = new ProjectBoards(store);
  registerApi(app, { store, blobs, jobs, projects, groups, train, swarm, waits, credit, boards, operatorProjectId: projectId, publicUrl: config.publicUrl, version: PACKAGE_VERSION, metrics, consentMaxHours: config.consentMaxHours });
  if (existsSync(config.clientDir)) {
    await serveClientApp(app, config.clientDir);
  } else {
    log.warn({ clientDir: config.clientDir }, 'contributor app not built (npm run build): serving the API only');
    app.get('/', async (_req, reply) => reply.type('text/plain').send('tabgrid coordinator: the contributor app is not built; run `npm run build`.\n'));
  }

  const io: TabgridServer = new Server(app.server, {
    path: SOCKET_PATH,
    // The largest message of a connection that holds no copy: the upload guard raises it, per connection, to
    // what the result of a copy it holds can be (and lowers it again when it holds none).
    // Every connection's bytes in flight also count against the upload budget (gateway/upload-guard.ts).
    maxHttpBufferSize: config.unhelloedUploadBytes,
    // A result carries a tensor per output (a gradient per parameter): more binary attachments than socket.io's default 10.
    parser: wireParser,
    cors: { origin: true, credentials: false },
    pingInterval: 10_000,
    pingTimeout: 20_000,
  });
  // Coordinators sharing a PostgreSQL database tell each other what concerns each other's volunteers and dashboards.
  const cluster: ClusterLink | null = config.postgresUrl ? await joinCluster(io, config.postgresUrl, log.child({ component: 'cluster' })) : null;
  attachGateway({
    clustered: cluster !== null,
    io, work, groups, events, swarm, config, metrics, log: log.child({ component: 'gateway' }),
    projectForToken: (t) => jobs.projectForToken(t),
    job: async (id) => {
      const j = await store.getJob(id);
      return j ? { projectId: j.projectId, state: j.state } : null;
    },
    projectBoard: async (pid) => {
      const p = await store.getProject(pid);
      return p ? boards.board(p) : null;
    },
    projectSummaries: async (pid) => Promise.all((await store.listJobs({ projectId: pid, limit: 50 })).map((j) => jobs.summary(j))),
  });

  let reconciling = false;
  const reconciler = setInterval(async () => {
    if (reconciling) return;
    reconciling = true;
    try {
      await work.reconcile();
      await jobs.failOverdue();
      await waits.pass();
    } catch (e) {
      log.error({ err: e }, 'reconciler pass failed');
    } finally {
      reconciling = false;
    }
  }, config.reconcileEveryMs);

  if (config.demo) {
    // Loaded only for the demo: the digits are tens of megabytes of JSON.
    const { ensureMnistDemo } = await import('./demo/mnist-demo.ts');
    const project = await store.getProject(projectId);
    if (project) await ensureMnistDemo({ store, blobs, train, project, replicas: config.demoReplicas, log });
  }

  // The coordinator's own known answers from before a restart: stored results below are judged against them too.
  await work.spot.restore();

  // Results stored just before a crash may never have been judged: judge them now
  // (nothing else would, since no further result for those shards has to arrive).
  // One shard that cannot be judged (its results unreadable) is logged, not a coordinator that cannot start.
  for (const shardId of await store.shardsWithUnjudgedResults()) {
    await work.validateShard(shardId).catch((e) => log.error({ shard: shardId, err: e }, 'could not judge the results stored before the restart'));
  }

  // Shards validated before a crash may not have completed their job yet. A job whose stored results
  // cannot be read back (a damaged row or blob) never can: it is logged and failed, and the coordinator starts.
  for (const j of await store.listJobs({ states: ['running'], limit: 10_000 })) {
    try {
      await kinds[j.kind].progress(j.id);
    } catch (e) {
      log.error({ job: j.id, err: e }, 'could not finish the job from its stored results at start-up; failing it');
      await jobs.fail(j.id, `its stored results could not be read at start-up: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  await app.ready();
  markReady();
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = config.publicUrl ?? `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  log.info({ url, data: config.dataDir, store: store.kind, distinctCopies: [...config.distinctCopies],
    addressGroups: `v4/${config.addressGroups.v4Prefix},v6/${config.addressGroups.v6Prefix}`, trustProxy: config.trustProxy, trust }, 'coordinator listening');

  return {
    url, port, token, projectId, config, routes,
    async close() {
      clearInterval(reconciler);
      // Closes every connection without telling clients they were let go: socket.io clients reconnect by
      // themselves after a closed transport (even pages loaded before this version), and the gateway keeps
      // the leases of the copies they hold. disconnectSockets(true) would tell them not to come back.
      // io.close() also closes the HTTP server, which waits for every connection to end. A request under way
      // gets a few seconds; then every connection goes, since one a browser keeps open (seen with an embed
      // frame's page) would otherwise hold the shutdown until Node's request timeout, minutes later.
      const closed = new Promise<void>((r) => io.close(() => r()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await closed;
      clearTimeout(force);
      await app.close().catch(() => {});
      await cluster?.close();
      await checker.close();
      await answers?.close();
      await store.close();
      await lock?.release();
    },
  };
}

function levelAtLeast(level: string, floor: string): string {
  const order = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
  return order.indexOf(level) > order.indexOf(floor) ? level : floor;
}

/**
 * On first start: the operator credential (`<data>/operator-token`) and a
 * "local" project whose token is kept in `<data>/token` (both mode 600, both
 * printed once, both stored only hashed). A data directory from before
 * operators existed keeps its local project and token and gets an operator
 * credential on its next start.
 */
async function ensureOperatorAndLocalProject(dataDir: string, store: Store, projects: ProjectService, log: ReturnType<typeof createLogger>) {
  const operatorFile = join(dataDir, 'operator-token');
  const operatorToken = await projects.ensureOperator();
  if (operatorToken) {
    await writeSecret(operatorFile, operatorToken);
    log.info({ operatorTokenFile: operatorFile }, 'created the operator credential; it is in the operator token file');
    process.stderr.write(`\ntabgrid: operator token ${operatorToken}\ntabgrid: (saved to ${operatorFile}, readable by you only; it manages projects: tabgrid project --help)\n`);
  }
  const tokenFile = join(dataDir, 'token');
  const live = await store.listProjects();
  const local = live.find((p) => p.name === 'local');
  if (local) {
    const token = existsSync(tokenFile) ? (await readFile(tokenFile, 'utf8')).trim() : null;
    return { projectId: local.id, token };
  }
  // The operator deleted the local project and made others: nothing new is made for it.
  if (live[0]) return { projectId: live[0].id, token: null };
  const { project, token } = await projects.create({ name: 'local', description: 'the coordinator\'s own project, created at first start' });
  await writeSecret(tokenFile, token);
  log.info({ project: project.id, tokenFile }, 'created the local project; its API token is in the token file');
  process.stderr.write(`\ntabgrid: local project ${project.id}\ntabgrid: API token ${token}\ntabgrid: (also saved to ${tokenFile}, readable by you only)\n\n`);
  return { projectId: project.id, token };
}

async function writeSecret(file: string, secret: string): Promise<void> {
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
}
