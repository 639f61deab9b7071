/** What the coordinator's core announces; the socket gateway and dashboards listen. */
import { EventEmitter } from 'node:events';
import type { CopyOutcome } from '../../shared/protocol/events.ts';
import type { TrustLossReason } from '../core/trust/reputation.ts';
import type { SettledBy } from '../core/trust/review.ts';

/** Why a host stopped being trusted (core/trust/reputation.ts trustChange). */
export type TrustLoss = TrustLossReason;

/** What the trust machinery did, as it did it: server/metrics.ts counts these. */
export type TrustNews =
  /** A work request got a known-answer copy. */
  | { kind: 'spot-issued' }
  /** A copy was judged against a known answer. */
  | { kind: 'spot-judged'; passed: boolean }
  /** An ordinary copy was issued: standing alone (a trusted host's unreplicated copy) or beside others. */
  | { kind: 'copy-issued'; solo: boolean }
  | { kind: 'trust-earned' }
  /** A trusted host's result came back far faster than its checked pace (core/trust/pace.ts): judged as an untrusted host's. */
  | { kind: 'too-fast' }
  | { kind: 'trust-lost'; reason: TrustLoss }
  /**
   * Shards re-opened and this much credit reversed (GFLOP): by backtracking (a caught host's solo results), or
   * voided (void-agreements.ts: answers no uncaught host vouches for any more).
   */
  | { kind: 'reopened'; reason: 'backtracking' | 'void'; shards: number; creditReversed: number }
  /** Credit reversed outside backtracking (GFLOP). */
  | { kind: 'reversed'; credit: number }
  | { kind: 'payout'; accounts: number }
  /**
   * Reviews (core/trust/review.ts): opened once a host was caught, a root copy issued, settled by the root of trust:
   * `by` an operator's host (root) or the coordinator's own computation.
   */
  | { kind: 'review'; event: 'opened' | 'issued'; count: number }
  | { kind: 'review'; event: 'confirmed' | 'overturned'; count: number; by: SettledBy };

export interface CoordinatorEventMap {
  /** A decision of the trust machinery (metrics). */
  trust: [news: TrustNews];
  outcome: [volunteerId: string, outcome: CopyOutcome];
  /** Credit reached this account; the gateway coalesces balance pushes. */
  credited: [account: string];
  work: [];
  /** A copy of this job went to a volunteer. */
  assigned: [jobId: string];
  job: [jobId: string, projectId: string];
  validated: [info: { jobId: string; projectId: string; flops: number; valid: number; invalid: number }];
}

export class CoordinatorEvents extends EventEmitter<CoordinatorEventMap> {}
