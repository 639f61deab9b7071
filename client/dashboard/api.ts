/**
 * The HTTP reads the dashboards make. Project endpoints need the project's API
 * token; swarm and account views are public. Replies are parsed defensively,
 * like the contributor page's: a missing field shows as a dash, not a crash.
 */
import type { JobSummary, SwarmStats } from '../../shared/protocol/events.ts';

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function getJson(url: string, token?: string): Promise<unknown> {
  const res = await fetch(url, { headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } });
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: unknown } | null;
    throw new HttpError(res.status, typeof body?.error === 'string' ? body.error : `${new URL(url).pathname}: HTTP ${res.status}`);
  }
  return res.json();
}

type Json = Record<string, unknown>;
const obj = (x: unknown): Json => (x && typeof x === 'object' ? (x as Json) : {});
const num = (x: unknown, d = 0): number => (typeof x === 'number' && Number.isFinite(x) ? x : d);
const str = (x: unknown, d = ''): string => (typeof x === 'string' ? x : d);

export function parseJob(x: unknown): JobSummary {
  const o = obj(x);
  const shards = obj(o.shards);
  const copies = obj(o.copies);
  const train = o.train ? obj(o.train) : null;
  const state = str(o.state, 'running');
  return {
    id: str(o.id),
    projectId: str(o.projectId),
    kind: o.kind === 'train' ? 'train' : 'inference',
    state: (['running', 'completed', 'failed', 'cancelled'].includes(state) ? state : 'running') as JobSummary['state'],
    shards: { total: num(shards.total), validated: num(shards.validated), failed: num(shards.failed) },
    copies: { valid: num(copies.valid), invalid: num(copies.invalid), pending: num(copies.pending), expired: num(copies.expired), error: num(copies.error) },
    credit: num(o.credit),
    createdAt: num(o.createdAt),
    finishedAt: typeof o.finishedAt === 'number' ? o.finishedAt : null,
    error: typeof o.error === 'string' ? o.error : null,
    ...(train ? {
      train: {
        round: num(train.round), rounds: num(train.rounds),
        loss: typeof train.loss === 'number' ? train.loss : null, accuracy: typeof train.accuracy === 'number' ? train.accuracy : null,
      },
    } : {}),
  };
}

export interface ProjectInfo {
  id: string;
  name: string;
  embed: { allowedOrigins: string[]; defaultIntensity: number; creditTo: string } | null;
}

export async function fetchProject(coordinator: string, token: string): Promise<ProjectInfo> {
  const o = obj(await getJson(`${coordinator}/api/v1/project`, token));
  const e = o.embed ? obj(o.embed) : null;
  return {
    id: str(o.id),
    name: str(o.name, 'unnamed project'),
    embed: e ? {
      allowedOrigins: Array.isArray(e.allowedOrigins) ? e.allowedOrigins.filter((s): s is string => typeof s === 'string') : [],
      defaultIntensity: num(e.defaultIntensity, 0.3),
      creditTo: str(e.creditTo, 'site'),
    } : null,
  };
}

export async function fetchJobs(coordinator: string, token: string): Promise<JobSummary[]> {
  const o = obj(await getJson(`${coordinator}/api/v1/jobs`, token));
  return (Array.isArray(o.jobs) ? o.jobs : []).map(parseJob);
}

export type SwarmJob = JobSummary & { projectName: string };

export function parseStats(x: unknown): SwarmStats {
  const o = obj(x);
  const v = obj(o.volunteers);
  const byBackend: Record<string, number> = {};
  for (const [k, n] of Object.entries(obj(v.byBackend))) if (typeof n === 'number') byBackend[k] = n;
  return {
    at: num(o.at, Date.now()),
    volunteers: { total: num(v.total), byBackend },
    activeJobs: num(o.activeJobs),
    shardsPerMin: num(o.shardsPerMin),
    gflopsPerSec: num(o.gflopsPerSec),
  };
}

export async function fetchSwarmStats(coordinator: string): Promise<{ stats: SwarmStats; jobs: SwarmJob[] }> {
  const o = obj(await getJson(`${coordinator}/api/v1/swarm`));
  const jobs = (Array.isArray(o.jobs) ? o.jobs : []).map((j) => ({ ...parseJob(j), projectName: str(obj(j).projectName, '?') }));
  return { stats: parseStats(o), jobs };
}

/** How many copies an account was credited for in all, when it is among the ledger's top accounts (else null). */
export async function fetchCreditedCopies(coordinator: string, account: string): Promise<number | null> {
  const o = obj(await getJson(`${coordinator}/api/v1/ledger`));
  const row = (Array.isArray(o.accounts) ? o.accounts : []).map(obj).find((a) => a.account === account);
  return row && typeof row.copies === 'number' ? row.copies : null;
}
