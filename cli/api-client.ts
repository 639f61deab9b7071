/**
 * The CLI's side of the HTTP API: where its token comes from. The client
 * itself is the package's typed client (shared/http/client.ts, exported as
 * `tabgrid/client`); `ApiClient` is its older name, kept for the tests and
 * benches that still say it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export { ApiError, newIdempotencyKey, TabgridClient, TabgridClient as ApiClient, type JobStatus, Unreachable } from '../shared/http/client.ts';

/** --token, then TABGRID_TOKEN, then ./data/token beside a local coordinator. */
export function resolveToken(explicit?: string): string {
  if (explicit) return explicit;
  if (process.env.TABGRID_TOKEN) return process.env.TABGRID_TOKEN;
  const file = resolve('data/token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new Error('no API token: pass --token, set TABGRID_TOKEN, or run beside a local coordinator (./data/token)');
}
