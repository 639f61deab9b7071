/** A small typed client for the coordinator's HTTP API, used by the CLI and tests. */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createHash } from 'node:crypto';
import type { JobSummary } from '../shared/protocol/events.ts';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** The coordinator could not be reached at all (refused, reset, DNS): worth retrying. */
export class Unreachable extends Error {}

/** --token, then TABGRID_TOKEN, then ./data/token beside a local coordinator. */
export function resolveToken(explicit?: string): string {
  if (explicit) return explicit;
  if (process.env.TABGRID_TOKEN) return process.env.TABGRID_TOKEN;
  const file = resolve('data/token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new Error('no API token: pass --token, set TABGRID_TOKEN, or run beside a local coordinator (./data/token)');
}

export interface JobStatus extends JobSummary {
  records: number;
  history?: { round: number; epoch: number; loss: number; accuracy: number | null; evalLoss: number | null }[];
  outputs: { name: string; dtype: string; dims: (number | null)[] | null }[];
}

export class ApiClient {
  constructor(readonly server: string, private readonly token: string) {}

  private async call(method: string, path: string, body?: unknown, raw?: Uint8Array): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.server), {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(raw ? { 'content-type': 'application/octet-stream' } : body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: raw ? (raw as unknown as BodyInit) : body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (e) {
      const cause = (e as Error & { cause?: { code?: string } }).cause?.code;
      throw new Unreachable(`cannot reach the coordinator at ${this.server}: ${(e as Error).message}${cause ? ` (${cause})` : ''}`);
    }
    if (!res.ok) {
      const text = await res.text();
      let msg = text;
      let code = 'error';
      try { const j = JSON.parse(text); msg = j.error ?? text; code = j.code ?? code; } catch { /* not JSON */ }
      throw new ApiError(res.status, code, `${method} ${path}: ${res.status} ${msg}`);
    }
    return res;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.call(method, path, body)).json() as Promise<T>;
  }

  /** Uploads bytes by content hash, skipping what the coordinator already holds. */
  async uploadBlob(bytes: Uint8Array): Promise<string> {
    const hash = createHash('sha256').update(bytes).digest('hex');
    const head = await fetch(new URL(`/api/v1/blobs/${hash}`, this.server), { method: 'HEAD', headers: { authorization: `Bearer ${this.token}` } });
    if (head.status === 200) return hash;
    await this.call('PUT', `/api/v1/blobs/${hash}`, undefined, bytes);
    return hash;
  }

  createJob(req: unknown) {
    return this.json<JobStatus & { shardSize: number; flopsPerRecord: number; replicas: number; rounds?: number; warnings?: string[] }>('POST', '/api/v1/jobs', req);
  }

  job(id: string) {
    return this.json<JobStatus>('GET', `/api/v1/jobs/${encodeURIComponent(id)}`);
  }

  /** The project's jobs, newest first. */
  jobs() {
    return this.json<{ jobs: JobSummary[] }>('GET', '/api/v1/jobs');
  }

  cancel(id: string) {
    return this.json<{ ok: true }>('DELETE', `/api/v1/jobs/${encodeURIComponent(id)}`);
  }

  async raw(path: string): Promise<Uint8Array> {
    return new Uint8Array(await (await this.call('GET', path)).arrayBuffer());
  }

  async output(id: string, index: number, format: 'pb' | 'npy' | 'tensors'): Promise<Uint8Array> {
    const res = await this.call('GET', `/api/v1/jobs/${encodeURIComponent(id)}/outputs/${index}?format=${format}`);
    return new Uint8Array(await res.arrayBuffer());
  }

  outputs(id: string) {
    return this.json<{ outputs: { index: number; name: string; dtype: string; dims: number[] }[] }>('GET', `/api/v1/jobs/${encodeURIComponent(id)}/outputs`);
  }

  ledger() {
    return this.json<{ accounts: { account: string; balance: number; copies: number }[] }>('GET', '/api/v1/ledger');
  }
}
