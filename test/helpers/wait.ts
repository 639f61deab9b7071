/** Polls a job until it leaves `running`; fails with its last status after the timeout. */
import type { ApiClient, JobStatus } from '../../cli/api-client.ts';

export async function waitForJob(api: ApiClient, id: string, timeoutMs = 90_000): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: JobStatus | null = null;
  while (Date.now() < deadline) {
    last = await api.job(id);
    if (last.state !== 'running') return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`job ${id} still running after ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

/** A training job's rounds, from its status (an inference job has none: a test mix-up). */
export function historyOf(s: JobStatus) {
  if (s.kind !== 'train') throw new Error(`job ${s.id} is an inference job: it has no training history`);
  return s.history;
}
