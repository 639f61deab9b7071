/**
 * The volunteer's socket.io connection to a coordinator, as the contributor
 * page and the embed frame open it: credentials from an earlier hello (so a
 * reload resumes as the same volunteer), and a fresh start when the
 * coordinator no longer knows them.
 */
import { io } from 'socket.io-client';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';
import { wireParser } from '../../shared/protocol/wire-parser.ts';
import { RECONNECT_OPTIONS } from '../../shared/volunteer/backoff.ts';
import type { VolunteerSocket } from '../../shared/volunteer/volunteer.ts';
import { forgetCredentials, loadCredentials } from './credentials.ts';

export async function openVolunteerSocket(coordinator: string, onConnected: (connected: boolean) => void): Promise<VolunteerSocket> {
  // Storage may be denied (a third-party frame in a browser that blocks it): then start as a new volunteer.
  const creds = await loadCredentials(coordinator).catch(() => null);
  const url = new URL(coordinator);
  // A path prefix belongs to socket.io's path: as part of the URL it would name a namespace.
  const socket: VolunteerSocket = io(url.origin, {
    path: url.pathname.replace(/\/+$/, '') + SOCKET_PATH,
    autoConnect: false,
    transports: ['websocket', 'polling'],
    parser: wireParser,
    ...RECONNECT_OPTIONS,
    auth: { protocol: PROTOCOL_VERSION, ...(creds ?? {}) },
  });
  socket.on('connect', () => onConnected(true));
  socket.on('disconnect', () => onConnected(false));
  socket.on('connect_error', (e: Error & { data?: { code?: string } }) => {
    // Credentials the coordinator no longer knows (its data was reset): start over as a new volunteer.
    // A refusal in the handshake is final for socket.io, so reconnect by hand.
    if (e.data?.code === 'unauthorized' && (socket.auth as { volunteerId?: string }).volunteerId) {
      socket.auth = { protocol: PROTOCOL_VERSION };
      void forgetCredentials(coordinator);
      socket.connect();
    }
  });
  return socket;
}
