/**
 * Reputations as rows, for both stores (the same columns in SQLite and
 * PostgreSQL). A store applies events with the pure afterEvent
 * (core/trust/reputation.ts) under its write lock: read the row, compute,
 * write it back, so two judgements of one host never lose an update.
 */
import { afterEvent, newReputation, type Reputation, type ReputationEvent } from '../core/trust/reputation.ts';
import type { Row } from './rows.ts';

export interface ReputationKey {
  volunteerId: string;
  numericClass: string;
}

export interface ReputationEventWrite extends ReputationKey {
  event: ReputationEvent;
  /**
   * The judged copy's pace (core/trust/pace.ts copyPace) and job, for a checked result: a `valid` or `spot-pass`
   * event makes the host's pace in that job (the paces table) the faster of the two, in the event's transaction.
   * Absent or null: unknown, nothing learned.
   */
  seen?: number | null;
  jobId?: string;
}

/** A host's pace in one job (core/trust/pace.ts): a row of the paces table. */
export interface PaceRow extends ReputationKey { jobId: string; pace: number }

/** What a reputation event teaches its host's pace in the job: a checked result's pace, or nothing. */
export function checkedPace(e: ReputationEventWrite): PaceRow | null {
  if (e.event !== 'valid' && e.event !== 'spot-pass') return null;
  if (e.seen === null || e.seen === undefined || !Number.isFinite(e.seen) || !e.jobId) return null;
  return { volunteerId: e.volunteerId, numericClass: e.numericClass, jobId: e.jobId, pace: e.seen };
}

const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export const toReputation = (r: Row): Reputation => ({
  volunteerId: r.volunteer_id as string, numericClass: r.numeric_class as string,
  streak: Number(r.streak), streakSince: numOrNull(r.streak_since), valid: Number(r.valid), invalid: Number(r.invalid),
  errors: Number(r.errors), spotPassed: Number(r.spot_passed), spotFailed: Number(r.spot_failed),
  lastInvalidAt: numOrNull(r.last_invalid_at), updatedAt: Number(r.updated_at),
  ...(r.operator === 1 || r.operator === true ? { operator: true } : {}),
  ...(Number(r.operator) === OPERATOR_REVOKED ? { operatorRevoked: true } : {}),
});

/**
 * The `operator` column: 0 never an operator's host, 1 an operator's host,
 * -1 an operator's host whose trust was revoked (Reputation.operatorRevoked).
 * Every query that asks for trust tests `operator = 1`, so -1 reads as untrusted.
 */
export const OPERATOR_REVOKED = -1;
const operatorColumn = (r: Reputation): number => (r.operatorRevoked ? OPERATOR_REVOKED : r.operator ? 1 : 0);

/** The row's values in REPUTATION_COLS order. */
export const reputationValues = (r: Reputation): unknown[] => [
  r.volunteerId, r.numericClass, r.streak, r.streakSince, r.valid, r.invalid, r.errors, r.spotPassed, r.spotFailed,
  r.lastInvalidAt, operatorColumn(r), r.updatedAt,
];

export const REPUTATION_COLS = 'volunteer_id, numeric_class, streak, streak_since, valid, invalid, errors, spot_passed, spot_failed, last_invalid_at, operator, updated_at';

/** `current`: the host's row, or null when it has none yet (it starts as newReputation). */
export function applyEvent(current: Reputation | null, e: ReputationEventWrite, now: number): Reputation {
  return afterEvent(current ?? newReputation(e.volunteerId, e.numericClass, now), e.event, now);
}

/**
 * What a write did to one host's reputation in one class: its row before
 * the write's first event (null: none yet) and after its last, read under
 * the store's write lock, so concurrent judgements never report one change twice.
 */
export interface ReputationMove {
  before: Reputation | null;
  after: Reputation;
}

/** The key a store's maps use. */
export const reputationKey = (k: ReputationKey): string => `${k.volunteerId}\u0000${k.numericClass}`;
