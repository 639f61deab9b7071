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
