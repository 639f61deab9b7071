/**
 * Every client event is a request with an acknowledgement. `acked` registers
 * one: validate the payload, require hello where needed, and always answer
 * the ack, with the handler's reply or a refusal (code + message, logged);
 * nothing a volunteer sends can throw past it. Events this coordinator does
 * not know are refused the same way.
 */
import type * as v from 'valibot';
import type { ClientToServerEvents, Reply } from '../../shared/protocol/events.ts';
import { validate } from '../../shared/protocol/schemas.ts';
import type { VolunteerSession } from '../services/work-service.ts';
import { WorkError } from '../services/work-service.ts';
import type { GatewayContext, TabgridSocket } from './context.ts';
import { failure } from './failure.ts';

export type Acked = <S extends v.GenericSchema, R extends object>(
  event: keyof ClientToServerEvents, schema: S, needsHello: boolean,
  fn: (payload: v.InferOutput<S>, session: VolunteerSession | null) => Promise<R>,
) => void;

export function ackedOn(c: GatewayContext, socket: TabgridSocket): Acked {
  const { log, metrics } = c;
  return (event, schema, needsHello, fn) => {
    socket.on(event, (async (payload: unknown, ack: unknown) => {
      // The bytes of this event stay counted against the upload budget until it is answered.
      const handled = c.uploads.take(socket.conn);
      if (typeof ack !== 'function') {
        handled();
        metrics.refused.inc({ code: 'bad_request' });
        log.warn({ socket: socket.id, event }, 'event without acknowledgement callback ignored');
        return;
      }
      const reply = ack as (r: Reply<object>) => void;
      try {
        const session = socket.data.session;
        if (needsHello && !session) throw new WorkError('bad_request', `say hello before ${event}`);
        const input = validate(schema, payload, `${event} payload`);
        reply({ ok: true, ...(await fn(input, session)) });
      } catch (e) {
        const f = failure(e);
        metrics.refused.inc({ code: f.code });
        if (f.code === 'internal') log.error({ err: e, event, socket: socket.id }, 'handler failed');
        else log.warn({ event, volunteer: socket.data.session?.volunteer.id, reason: f.error }, 'refused');
        reply({ ok: false, ...f });
      } finally {
        handled();
      }
    }) as never);
  };
}

const KNOWN = new Set(['hello', 'work:request', 'work:ack', 'work:heartbeat', 'work:result', 'work:fail', 'work:release', 'group:join', 'group:leave', 'group:list', 'jobs:held', 'watch', 'unwatch']);

/** Any other event is refused with bad_request (and answered, when it came with an ack). */
export function refuseUnknownEvents(c: GatewayContext, socket: TabgridSocket): void {
  socket.onAny((event: string, ...args: unknown[]) => {
    if (KNOWN.has(event)) return;
    c.uploads.take(socket.conn)();
    c.metrics.refused.inc({ code: 'bad_request' });
    c.log.warn({ socket: socket.id, event }, 'unknown event refused');
    const ack = args[args.length - 1];
    if (typeof ack === 'function') ack({ ok: false, code: 'bad_request', error: `unknown event ${JSON.stringify(event)}` });
  });
}
