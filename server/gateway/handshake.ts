/**
 * Admission of a socket: the handshake names a protocol this coordinator
 * speaks and, for a returning volunteer, its id with the right secret. The
 * address recorded is the socket's peer, or behind proxies the operator trusts
 * (`--trust-proxy`) the first X-Forwarded-For hop from the right that is not
 * one of them (address.ts): never an entry the client wrote itself. A refusal carries its code in the connect error's data.
 */
import { HandshakeAuthSchema, validate } from '../../shared/protocol/schemas.ts';
import { clientAddressUnder } from '../core/trust/address.ts';
import { PROTOCOL_VERSION } from '../../shared/protocol/version.ts';
import type { Volunteer } from '../store/types.ts';
import { WorkError } from '../services/work-service.ts';
import type { GatewayContext } from './context.ts';
import { failure } from './failure.ts';

export function admitConnections(c: GatewayContext): void {
  const { io, work, log, metrics } = c;
  io.use(async (socket, next) => {
    try {
      const auth = validate(HandshakeAuthSchema, socket.handshake.auth ?? {}, 'handshake');
      if (auth.protocol !== PROTOCOL_VERSION) {
        throw new WorkError('bad_request', `unsupported protocol version ${auth.protocol}; this coordinator speaks version ${PROTOCOL_VERSION}: update this volunteer (reload the page, or install the same tabgrid as the coordinator)`);
      }
      let existing: Volunteer | null = null;
      if (auth.volunteerId || auth.secret) {
        existing = auth.volunteerId && auth.secret ? await work.authenticate(auth.volunteerId, auth.secret) : null;
        if (!existing) throw new WorkError('unauthorized', 'unknown volunteer id or wrong secret');
      }
      const peer = socket.handshake.address;
      const xff = socket.handshake.headers['x-forwarded-for'];
      const address = clientAddressUnder(c.config.trustProxy, peer, Array.isArray(xff) ? xff.join(',') : xff);
      socket.data = { existing, session: null, address, backend: null };
      next();
    } catch (e) {
      const f = failure(e);
      metrics.refused.inc({ code: f.code });
      log.warn({ address: socket.handshake.address, reason: f.error }, 'refused a connection');
      next(Object.assign(new Error(f.error), { data: f }));
    }
  });
}
