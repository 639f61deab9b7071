/**
 * Volunteer credentials (from the coordinator's `hello` reply), kept per
 * coordinator so a reload reconnects as the same volunteer and its pending
 * results stay attributable.
 */
import { kvDelete, kvGet, kvSet } from './db.ts';

export interface Credentials {
  volunteerId: string;
  secret: string;
}

const key = (coordinator: string) => `credentials|${coordinator}`;

export async function loadCredentials(coordinator: string): Promise<Credentials | null> {
  const c = await kvGet<Credentials>(key(coordinator));
  return c && typeof c.volunteerId === 'string' && typeof c.secret === 'string' ? c : null;
}

export async function saveCredentials(coordinator: string, c: Credentials): Promise<void> {
  await kvSet(key(coordinator), { volunteerId: c.volunteerId, secret: c.secret });
}

export async function forgetCredentials(coordinator: string): Promise<void> {
  await kvDelete(key(coordinator));
}
