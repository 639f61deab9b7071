/**
 * The set-up the embed e2e files share: coordinatorAndChromium (tabs.ts), a
 * host site whose pages embed the coordinator's one project (host-site.ts),
 * that project's embed settings, and a job waiting, so "nothing was
 * assigned" is never vacuous. Started before the describe block's tests,
 * stopped after them.
 */
import type { TabgridClient } from '../../shared/http/client.ts';
import { afterAll, beforeAll } from 'vitest';
import { type HostSite, startHostSite } from './host-site.ts';
import { cancelJob, submitMlpJob } from './jobs.ts';
import { coordinatorAndChromium, type TabFixture } from './tabs.ts';

export interface EmbedGrid extends TabFixture {
  readonly host: HostSite;
  /** The coordinator's one project, the one its host pages embed. */
  readonly projectId: string;
  /** The job waiting now. */
  readonly jobId: string;
  /** Cancels the waiting job and submits another like it, so a test never runs out of work. */
  freshJob(): Promise<void>;
}

/**
 * Call in a `describe` body. `embed`: the project's embed settings, given the host site (its origins);
 * `job`: the waiting job (replicas 2 where a test wants credit: a partner volunteer checks the frame's
 * results, an unchecked lone result earns none).
 */
export function embedGrid(o: {
  embed: (host: HostSite) => Parameters<TabgridClient['setEmbed']>[0];
  job: Parameters<typeof submitMlpJob>[1];
}): EmbedGrid {
  // No host earns trust here: a trusted partner's copies stand alone, and a fast Node partner then computes the
  // whole job by itself within seconds, leaving the frame "no work right now" (embed.test.ts failed so once).
  const grid = coordinatorAndChromium({ args: ['--trust-after', '1000000'] });
  let host: HostSite | undefined;
  let projectId = '';
  let jobId = '';
  const freshJob = async () => {
    if (jobId) await cancelJob(grid.c.api, jobId).catch(() => {});
    jobId = (await submitMlpJob(grid.c.api, o.job)).id;
  };
  beforeAll(async () => {
    host = await startHostSite(grid.c.url);
    projectId = (await grid.c.api.project()).id;
    await grid.c.api.setEmbed(o.embed(host));
    await freshJob();
  });
  afterAll(async () => {
    if (jobId) await cancelJob(grid.c.api, jobId).catch(() => {});
    await host?.close();
  });
  return {
    get c() { return grid.c; },
    get browser() { return grid.browser; },
    get gpuBrowser() { return grid.gpuBrowser; },
    problems: grid.problems,
    openTab: (backend, t) => grid.openTab(backend, t),
    restart: () => grid.restart(),
    get host() { return host!; },
    get projectId() { return projectId; },
    get jobId() { return jobId; },
    freshJob,
  };
}
