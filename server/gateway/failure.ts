/** How an error thrown by a handler (or the handshake) is told to the volunteer: a code and a precise message, never internals. */
import type { ErrorCode } from '../../shared/protocol/events.ts';
import { ValidationError } from '../../shared/protocol/schemas.ts';
import { JobError } from '../services/job-service.ts';
import { WorkError } from '../services/work-service.ts';

export function failure(e: unknown): { code: ErrorCode; error: string } {
  if (e instanceof ValidationError) return { code: 'bad_request', error: e.message };
  if (e instanceof WorkError || e instanceof JobError) return { code: e.code, error: e.message };
  return { code: 'internal', error: 'internal error; the coordinator logged it' };
}
