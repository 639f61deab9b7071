/** What the coordinator's core announces; the socket gateway and dashboards listen. */
import { EventEmitter } from 'node:events';
import type { CopyOutcome } from '../../shared/protocol/events.ts';

export interface CoordinatorEventMap {
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
