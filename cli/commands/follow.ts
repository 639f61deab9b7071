/**
 * Following a job from the CLI until it finishes: poll its status, say why it
 * waits when it does, ride out a coordinator that is away for a while (a
 * restart, a deploy) with backoff, and on Ctrl-C or giving up say exactly how
 * to pick the job up again, since it keeps running on the coordinator.
 */
import { ApiError, type TabgridClient, type JobStatus, newIdempotencyKey, Unreachable } from '../api-client.ts';

/** The commands that pick a job up again, spelled out for this coordinator. */
export function followUpCommands(api: TabgridClient, id: string, out?: string): string[] {
  const server = ` --server ${api.server}`;
  return [
    `tabgrid status ${id}${server}`,
    `tabgrid results ${id} --out ${out ?? 'DIR'}${server}`,
    `tabgrid cancel ${id}${server}`,
  ];
}

/** A failure worth waiting out: the coordinator is not there, or says it is starting or overloaded. */
export function transient(e: unknown): boolean {
  return e instanceof Unreachable || (e instanceof ApiError && (e.status === 502 || e.status === 503 || e.status === 504));
}

export interface RetryOptions {
  /** Give up once the coordinator has been away this long. */
  giveUpAfterMs: number;
  /** Told once when the coordinator goes away and once when it is back. */
  say: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs `call`, retrying transient failures with capped exponential backoff
 * (0.5 s doubling to 5 s) until it succeeds or the coordinator has been away
 * `giveUpAfterMs`; then the last error is thrown.
 */
export async function withRetry<T>(call: () => Promise<T>, o: RetryOptions): Promise<T> {
  const sleep = o.sleep ?? realSleep;
  let awaySince: number | null = null;
  let delay = 500;
  for (;;) {
    try {
      const r = await call();
      if (awaySince !== null) o.say(`the coordinator is back after ${((Date.now() - awaySince) / 1000).toFixed(1)} s`);
      return r;
    } catch (e) {
      if (!transient(e)) throw e;
      const now = Date.now();
      if (awaySince === null) {
        awaySince = now;
        o.say(`${(e as Error).message}; retrying for up to ${Math.round(o.giveUpAfterMs / 1000)} s`);
      }
      if (now - awaySince >= o.giveUpAfterMs) throw e;
      await sleep(Math.min(delay, awaySince + o.giveUpAfterMs - now));
      delay = Math.min(delay * 2, 5000);
    }
  }
}

export class GaveUp extends Error {}

/**
 * Submits a job with one Idempotency-Key (--idempotency-key, or a new one) however often it is sent: a coordinator
 * that is away (a restart, a lost reply) is waited out as while following, and a repeat finds the job the first made.
 */
export function submitJob<T>(create: (o: { idempotencyKey: string }) => Promise<T>, o: { idempotencyKey?: string; retryFor?: number; say: (line: string) => void }): Promise<T> {
  const idempotencyKey = o.idempotencyKey ?? newIdempotencyKey();
  return withRetry(() => create({ idempotencyKey }), { giveUpAfterMs: (o.retryFor ?? 300) * 1000, say: o.say });
}

export interface FollowOptions {
  /** Poll interval while the job runs. */
  everyMs: number;
  giveUpAfterMs: number;
  /** Each status as it arrives (the progress bar). */
  onStatus: (s: JobStatus) => void;
  /** Lines for the user (stderr). */
  say: (line: string) => void;
  /** Where results would go, for the follow-up commands. */
  out?: string;
}

/**
 * Polls until the job leaves `running`. Says the waiting reason each time it
 * changes. On Ctrl-C, says the job keeps running and how to follow or cancel
 * it, and exits 130. If the coordinator stays away past `giveUpAfterMs`, says
 * the same and throws GaveUp.
 */
export async function followJob(api: TabgridClient, id: string, o: FollowOptions): Promise<JobStatus> {
  const hints = () => followUpCommands(api, id, o.out).map((c) => `  ${c}`).join('\n');
  const onSigint = () => {
    o.say(`\nstopped following job ${id}; it keeps running on the coordinator. Follow it, fetch its results or cancel it with:\n${hints()}`);
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  const retry = { giveUpAfterMs: o.giveUpAfterMs, say: o.say };
  let lastWaiting: string | null = null;
  try {
    for (;;) {
      let s: JobStatus;
      try {
        s = await withRetry(() => api.job(id), retry);
      } catch (e) {
        if (!transient(e)) throw e;
        o.say(`gave up on the coordinator at ${api.server}: ${(e as Error).message}. Job ${id} may still be running there; once it is back:\n${hints()}`);
        throw new GaveUp(`gave up following job ${id}`);
      }
      o.onStatus(s);
      const waiting = s.state === 'running' ? s.waiting?.message ?? null : null;
      if (waiting !== lastWaiting) {
        if (waiting) o.say(`job ${id} waits: ${waiting}`);
        else if (s.state === 'running') o.say(`job ${id} no longer waits: its shards are being computed`);
        lastWaiting = waiting;
      }
      if (s.state !== 'running') return s;
      await realSleep(o.everyMs);
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** What `tabgrid infer` and `tabgrid train` both take (submitOptions in cli/main.ts): the job's metadata and how to follow it. */
export interface SubmitOptions {
  server: string;
  token: string;
  /** Seconds from submission after which the job fails. */
  deadline?: number;
  /** The job's name, labels (--tag key=value) and priority within the project. */
  name?: string;
  tag?: Record<string, string>;
  priority?: number;
  out: string;
  quiet?: boolean;
  /** Submit, print the job id, and leave. */
  wait?: boolean;
  /** One JSON document on stdout (the job id at once with --no-wait). */
  json?: boolean;
  /** How long to wait out a coordinator that is away before giving up, seconds. */
  retryFor?: number;
  /** The submission's Idempotency-Key: the same key sent again (a rerun of the command) finds the same job. */
  idempotencyKey?: string;
}

export interface FinishOptions {
  /** Follows the job until it leaves `running` (with the command's progress bar). */
  follow: () => Promise<JobStatus>;
  /** Writes what the completed job made under `out`; returns the files. */
  download: () => Promise<string[]>;
  /** What `download` fetches, for the give-up line ("outputs", "model"). */
  what: string;
  out: string;
  /** How long to wait out a coordinator that is away before giving up, seconds. */
  retryFor?: number;
  json?: boolean;
  say: (line: string) => void;
}

/**
 * After `tabgrid infer` or `tabgrid train` submitted a job and chose to wait:
 * follows it, says how it ended when it did not complete, then downloads what
 * it made, waiting out a coordinator that is away. Null when the command must
 * exit 1 (the job failed or was cancelled, or the coordinator stayed away:
 * each said, with how to pick the job up again).
 */
export async function finishJob(api: TabgridClient, id: string, o: FinishOptions): Promise<{ status: JobStatus; written: string[] } | null> {
  let status: JobStatus;
  try {
    status = await o.follow();
  } catch (e) {
    if (e instanceof GaveUp) return null;
    throw e;
  }
  if (status.state !== 'completed') {
    o.say(`job ${id} ${status.state}${status.error ? `: ${status.error}` : ''}`);
    if (o.json) process.stdout.write(`${JSON.stringify({ job: id, state: status.state, error: status.error })}\n`);
    return null;
  }
  try {
    return { status, written: await withRetry(o.download, { giveUpAfterMs: (o.retryFor ?? 300) * 1000, say: o.say }) };
  } catch (e) {
    if (!transient(e)) throw e;
    o.say(`gave up downloading the ${o.what} of job ${id}: ${(e as Error).message}. Once the coordinator is back:\n  tabgrid results ${id} --out ${o.out} --server ${api.server}`);
    return null;
  }
}
