/**
 * The one typed socket.io protocol between the coordinator and volunteers
 * (browser tabs and `tabgrid worker --node`). Both sides use these maps:
 * `new Server<ClientToServerEvents, ServerToClientEvents>()` and
 * `io() as Socket<ServerToClientEvents, ClientToServerEvents>`.
 *
 * Every inbound payload is validated against `schemas.ts` before it reaches the
 * coordinator's core; the types here are what a validated payload looks like.
 */
import type { DType } from '../tensor/dtypes.ts';
import type { LocalStepsPlan } from '../training/local-steps.ts';
import type { Offer } from '../training/weights-delta.ts';
import type { ProjectBoard } from '../http/replies.ts';

export type Backend = 'webgpu' | 'wasm';
export type JobKind = 'inference' | 'train';

/** Sent in socket.io's handshake `auth`; checked before the connection is accepted. */
export interface HandshakeAuth {
  protocol: number;
  /** Credentials from an earlier `hello` reply, so results survive reconnects and reloads. */
  volunteerId?: string;
  secret?: string;
}

/** What a volunteer's device can do, measured by its own probe and self-test. */
export interface Capabilities {
  agent: 'browser' | 'node';
  /** Backends that passed the known-answer self-test, best first. */
  backends: Backend[];
  ortVersion: string;
  gpu?: { vendor: string; architecture: string; features: string[]; maxStorageBufferBindingSize: number; maxBufferSize: number };
  threads?: number;
  crossOriginIsolated?: boolean;
  memoryMB?: number;
  userAgent?: string;
}

export interface HelloRequest {
  /** EVM address credit goes to; omitted means credit accrues to the volunteer id. */
  wallet?: string;
  backend: Backend;
  capabilities: Capabilities;
  /** Restrict work to one project (embeds). */
  projectId?: string;
  /** Origin of the page embedding the compute frame, checked against the project's allowed origins. */
  embedOrigin?: string;
  /**
   * The coordinator's operator token (`<data>/operator-token`): this volunteer is the operator's own
   * host, the root of trust (trusted from its first result). A wrong token is refused.
   */
  operatorToken?: string;
  /**
   * The copies this volunteer still holds, after a reload or a dropped connection (at most
   * MAX_HELD_IN_HELLO, each once): the coordinator keeps each one that is still its, acknowledged
   * with a fresh lease, instead of letting the disconnect grace run out and reissuing it.
   */
  holding?: HeldCopy[];
}

/**
 * A hello lists at most this many copies it holds: a volunteer holds a couple (the coordinator's
 * maxInFlightPerVolunteer) and the results it is about to send; a longer list is refused whole.
 */
export const MAX_HELD_IN_HELLO = 16;

/**
 * A copy a volunteer says it holds: `computing` (its assignment in hand), `kept` (its result computed,
 * to be sent after the hello), `interrupted` (a reload lost its assignment: send it again).
 */
export interface HeldCopy {
  copyId: string;
  state: 'computing' | 'kept' | 'interrupted';
}

/** What became of the copies a hello said it holds: each is resumed or refused, with why. */
export interface HeldVerdicts {
  /** Still this volunteer's, acknowledged with a fresh lease. */
  resumed: string[];
  /** Not kept for it (not its copy, ended, another project's...); nothing about them changed. */
  refused: { copyId: string; reason: string }[];
  /** The assignments of resumed `interrupted` copies, sent again. */
  resent: Assignment[];
}

export interface HelloReply {
  volunteerId: string;
  /** Only for a new volunteer: keep it to resume as the same volunteer after a reload. */
  secret?: string;
  /** The account the ledger credits: the wallet, or `volunteer:<id>`. */
  account: string;
  /** Numeric class used for cross-checking: backend/vendor/onnxruntime version. */
  numericClass: string;
  /** Only when the hello carried the operator token: whether this host is now one of the operator's own (trusted). */
  operator?: boolean;
  /** What the volunteer's operator should know about this hello (why an operator token was ignored). */
  notice?: string;
  /** Only when the hello listed copies it holds: what became of each. */
  holding?: HeldVerdicts;
  heartbeatMs: number;
  limits: {
    maxResultBytes: number;
    /**
     * The largest message this connection may send now, bytes: the small
     * allowance unless the volunteer holds a copy (then what that copy's result
     * can be). A kept result larger than this is for a copy no longer held: the
     * coordinator would drop the connection at its frame header, so it is not sent.
     */
    uploadBytes?: number;
  };
}

/** A tensor on the wire: raw little-endian bytes, never a JSON array of numbers. */
export interface WireTensor {
  name: string;
  dtype: DType;
  dims: number[];
  data: Uint8Array;
}

export interface BlobRef {
  hash: string;
  /** Path on the coordinator, e.g. `/blobs/<sha256>`; long-cached, immutable. */
  url: string;
  bytes: number;
}

export type WeightsOffer = Offer<BlobRef>;

export interface Assignment {
  /**
   * Opaque and random per copy: nothing in an assignment names its shard, so a
   * volunteer cannot tell whether it (or a friend) holds another copy of it.
   */
  copyId: string;
  jobId: string;
  projectId: string;
  kind: JobKind;
  model: BlobRef;
  /** Extra feeds stored as encoded tensor lists (training weights), fetched and cached by hash. */
  feedBlobs: BlobRef[];
  /** The shard's own feeds, sent inline. */
  inputs: WireTensor[];
  /** Inputs split along axis 0 (the records). */
  batchedInputs: string[];
  /** Records per session.run: 0 runs the whole shard at once; k>0 runs k at a time and stacks outputs along axis 0. */
  runUnit: number;
  /** Graph outputs expected back, in order. */
  outputs: string[];
  /**
   * Local-steps training: run H inner steps of the train-step graph and return
   * [losses, parameter change(, scales)] (shared/training/local-steps.ts) instead of `outputs` of one run.
   */
  localSteps?: LocalStepsPlan;
  /**
   * Local-steps training: the weights to train from, by version (shared/training/weights-delta.ts): the full
   * weights, or the deltas from a version the volunteer holds. `feedBlobs` then holds no weights.
   */
  weights?: WeightsOffer;
  /** Acknowledge (or return the result) within this time or the copy goes to someone else. */
  ackWithinMs: number;
  leaseMs: number;
}

export type ErrorCode =
  | 'bad_request' | 'unauthorized' | 'not_found' | 'not_assigned' | 'conflict'
  | 'too_large' | 'bad_result' | 'unsupported_protocol' | 'forbidden' | 'internal';

export type Reply<T> = ({ ok: true } & T) | { ok: false; code: ErrorCode; error: string };

export type WorkReply = ({ assignment: Assignment } | { assignment: null; retryInMs: number; reason: string }) & { news?: VolunteerNews };

/**
 * What happened to a volunteer's copies since it last heard, and its balance.
 * It rides on the replies to `work:request` and `work:result` (a busy
 * volunteer hears it with no message of its own); what no reply carried
 * within a second is pushed as the `news` event.
 */
export interface VolunteerNews {
  outcomes: CopyOutcome[];
  balance?: AccountBalance;
}

/**
 * An account's credit: `pending` is still in its hold window (a spot check
 * may reverse it), `payable` is past it and not yet paid out; `balance` is
 * their sum.
 */
export interface AccountBalance {
  account: string;
  balance: number;
  pending: number;
  payable: number;
  /**
   * Credit reversed after it was claimed to a wallet or paid out, beyond what
   * is payable (-payable when payable is negative): the next payout pays net of it.
   */
  debt: number;
  /**
   * Of the balance, credit for results under review (a host that agreed on them was caught; the coordinator's own
   * computation or the operator's own host recomputes them): pending until the review settles, whatever its hold. Absent from older coordinators.
   */
  underReview?: number;
}

export interface ResultUpload {
  copyId: string;
  outputs: WireTensor[];
  /** Reported for throughput charts only; credit never depends on it. */
  computeMs: number;
  /** Ask for the next assignment in the same round trip. */
  next?: boolean;
}

export type ResultStatus = 'accepted' | 'duplicate';

export type CopyOutcomeKind = 'valid' | 'invalid' | 'expired' | 'error' | 'cancelled';

/** Why the coordinator judged a copy as it did: volunteers are always told. */
export interface CopyOutcome {
  copyId: string;
  jobId: string;
  outcome: CopyOutcomeKind;
  reason?: string;
  credit: number;
}

/** Local-steps jobs whose weights a volunteer keeps (`jobs:held`), or that ended (`jobs:ended`). */
export interface HeldJobs {
  jobIds: string[];
}

/** Private swarms (issue 15): join a project's group with the invite code it handed out. */
export interface JoinRequest {
  code: string;
}

export interface LeaveRequest {
  projectId: string;
}

/** A project as a volunteer sees it. */
export interface ServedProject {
  id: string;
  name: string;
  description: string;
  /** Private: its work goes only to volunteers in its group. */
  private: boolean;
}

/** The projects a volunteer computes for: every public one, and the private ones whose group it is in. */
export interface ServedProjects {
  public: ServedProject[];
  groups: ServedProject[];
}

export interface SwarmStats {
  at: number;
  volunteers: { total: number; byBackend: Record<string, number> };
  activeJobs: number;
  /** Validated shards and GFLOP per second over the last minute. */
  shardsPerMin: number;
  gflopsPerSec: number;
}

export interface ClientToServerEvents {
  hello: (req: HelloRequest, ack: (r: Reply<HelloReply>) => void) => void;
  'work:request': (req: Record<string, never>, ack: (r: Reply<WorkReply>) => void) => void;
  'work:ack': (req: { copyId: string }, ack: (r: Reply<{ leaseDeadline: number }>) => void) => void;
  'work:heartbeat': (req: { copyIds: string[] }, ack: (r: Reply<{ extended: string[]; lost: { copyId: string; reason: string }[] }>) => void) => void;
  /** Also acknowledges the copy when no `work:ack` came first (a shard finished within ackWithinMs). */
  'work:result': (req: ResultUpload, ack: (r: Reply<{ status: ResultStatus; next?: WorkReply; news?: VolunteerNews }>) => void) => void;
  'work:fail': (req: { copyId: string; error: string }, ack: (r: Reply<Record<never, never>>) => void) => void;
  /** Hands back a copy not started (the volunteer stopped): reissued at once, counted as no error. */
  'work:release': (req: { copyId: string }, ack: (r: Reply<Record<never, never>>) => void) => void;
  /** Joins a private project's group (issue 15); `already` when it was in it. Refused with a precise reason, changing nothing, for a malformed, unknown or revoked code. */
  'group:join': (req: JoinRequest, ack: (r: Reply<{ project: ServedProject; already: boolean; served: ServedProjects }>) => void) => void;
  /** Leaves a group: the project's work stops coming from the next request on. */
  'group:leave': (req: LeaveRequest, ack: (r: Reply<{ project: ServedProject; served: ServedProjects }>) => void) => void;
  /** The projects this volunteer computes for. */
  'group:list': (req: Record<string, never>, ack: (r: Reply<ServedProjects>) => void) => void;
  /**
   * The local-steps jobs whose weights the volunteer keeps (a tab's IndexedDB), said after each hello: the reply names
   * those that have ended (or this coordinator does not know), whose weights it drops; of the others it hears `jobs:ended`.
   */
  'jobs:held': (req: HeldJobs, ack: (r: Reply<{ ended: string[] }>) => void) => void;
  /** Live views for dashboards: `swarm`, `project:<id>` (its token), `board:<project id>` (its public page), `account:<wallet>`. */
  watch: (req: { topic: string; token?: string }, ack: (r: Reply<Record<never, never>>) => void) => void;
  unwatch: (req: { topic: string }, ack: (r: Reply<Record<never, never>>) => void) => void;
}

export interface ServerToClientEvents {
  /** New work may be available: request some. */
  'work:nudge': () => void;
  /** A volunteer's news that no reply carried in time (see VolunteerNews). */
  news: (n: VolunteerNews) => void;
  /** An account's balance, to dashboards watching `account:<id>`. */
  'credit:balance': (b: AccountBalance) => void;
  'swarm:stats': (s: SwarmStats) => void;
  'project:update': (u: { projectId: string; jobs: JobSummary[] }) => void;
  /** A project's public page (GET /api/v1/projects/:ref/board), to pages watching `board:<project id>`. */
  'project:board': (b: ProjectBoard) => void;
  /**
   * Local-steps jobs that ended (completed, failed, cancelled), to the connections that may keep their weights: those
   * given a copy of one, and those that named it in `jobs:held`. Their weights are of no more use: drop them.
   */
  'jobs:ended': (e: HeldJobs) => void;
  /** Sent just before the coordinator drops this connection: what it sent was over a limit (the upload budget). */
  refused: (r: { code: ErrorCode; error: string }) => void;
}

export interface JobSummary {
  id: string;
  projectId: string;
  kind: JobKind;
  state: JobState;
  /** What its project calls it, its labels (key=value tags) and its priority within the project (issue 15). */
  name?: string;
  tags?: Record<string, string>;
  priority?: number;
  shards: { total: number; validated: number; failed: number };
  copies: { valid: number; invalid: number; pending: number; expired: number; error: number };
  credit: number;
  createdAt: number;
  finishedAt: number | null;
  error: string | null;
  train?: { round: number; rounds: number; loss: number | null; accuracy: number | null };
  /** The backends that may compute it, when not every one may, and why. */
  backends?: Backend[];
  backendNotes?: string[];
  /** Why its shards are not being computed now (absent while they are, or once it is finished). */
  waiting?: { code: 'no_volunteers' | 'excluded' | 'busy' | 'copy_in_flight'; message: string };
}

export type JobState = 'running' | 'completed' | 'failed' | 'cancelled';
