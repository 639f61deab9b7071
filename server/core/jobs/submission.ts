/**
 * Idempotent job submission (draft-ietf-httpapi-idempotency-key-header): a
 * submission that carried an Idempotency-Key is kept with the job it made, as
 * the key and the fingerprint of the request. A repeat with the same key and
 * request is answered with that job; the same key with another request is a
 * client's mistake, refused. Keys are a project's own: two projects never see
 * each other's, and a key lives as long as its job.
 */
import { createHash } from 'node:crypto';

/** A submission's key, and the fingerprint of the request it came with. */
export interface SubmissionKey {
  key: string;
  fingerprint: string;
}

/** The job a project already made with a key, and the fingerprint of the request that made it. */
export interface KeyedJob {
  jobId: string;
  fingerprint: string;
}

/**
 * The same JSON whatever the order of its object keys: keys sorted at every
 * depth, undefined members left out (JSON.stringify leaves them out too).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
}

/**
 * The fingerprint of a submission: SHA-256 of its validated body (defaults
 * filled in, so leaving a default out and spelling it are the same request),
 * member order aside.
 */
export function requestFingerprint(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

export type Repeat = { replay: string } | { refuse: string };

/** What a submission whose key a job of the project already holds gets: that job, or a refusal that says why. */
export function repeatOutcome(known: KeyedJob, fingerprint: string, key: string): Repeat {
  if (known.fingerprint === fingerprint) return { replay: known.jobId };
  return {
    refuse: `Idempotency-Key ${JSON.stringify(key)} was used for job ${known.jobId}, submitted with another request; `
      + 'a repeat must send the same body, and a new submission a new key',
  };
}
