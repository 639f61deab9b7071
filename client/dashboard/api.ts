/**
 * The HTTP reads and live payloads the dashboards show. Project endpoints
 * need the project's API token; swarm and account views are public. Replies
 * are fetched and parsed by the typed client with the contract's schemas
 * (shared/http/), and socket payloads with the same schemas, so the swarm
 * reads the same whether it comes by HTTP or live.
 */
import * as v from 'valibot';
import { TabgridClient } from '../../shared/http/client.ts';
import { JobSummarySchema, type ProjectBoard, ProjectBoardSchema, SwarmStatsSchema } from '../../shared/http/replies.ts';
import type { JobSummary, SwarmStats } from '../../shared/protocol/events.ts';

export { ApiError } from '../../shared/http/client.ts';

export function parseJob(x: unknown): JobSummary {
  return v.parse(JobSummarySchema, x);
}

export function parseStats(x: unknown): SwarmStats {
  return v.parse(SwarmStatsSchema, x);
}

/** A project's public page, by id or name. */
export async function fetchBoard(coordinator: string, ref: string): Promise<ProjectBoard> {
  return new TabgridClient(coordinator).projectBoard(ref);
}

export function parseBoard(x: unknown): ProjectBoard {
  return v.parse(ProjectBoardSchema, x);
}

export type ProjectInfo = Awaited<ReturnType<TabgridClient['project']>>;

export async function fetchProject(coordinator: string, token: string): Promise<ProjectInfo> {
  return new TabgridClient(coordinator, token).project();
}

export async function fetchJobs(coordinator: string, token: string): Promise<JobSummary[]> {
  return (await new TabgridClient(coordinator, token).jobs()).jobs;
}

export type SwarmJob = JobSummary & { projectName: string };

export async function fetchSwarmStats(coordinator: string): Promise<{ stats: SwarmStats; jobs: SwarmJob[] }> {
  const { jobs, ...stats } = await new TabgridClient(coordinator).swarm();
  return { stats, jobs };
}

/** How many copies an account was credited for in all, when it is among the ledger's top accounts (else null). */
export async function fetchCreditedCopies(coordinator: string, account: string): Promise<number | null> {
  const { accounts } = await new TabgridClient(coordinator).ledger();
  return accounts.find((a) => a.account === account)?.copies ?? null;
}
