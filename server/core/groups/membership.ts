/**
 * Private swarms (issue 15): a private project's work goes only to the
 * volunteers in its group, and a volunteer joins a group with an invite code
 * the project hands out. Pure decisions over the rows the store reads: who is
 * a member now, and whether an invite code lets this volunteer join.
 *
 * A membership ends when the volunteer leaves, when the project removes it,
 * or when the project revokes the invite it joined by (so revoking a leaked
 * code shuts out everyone who used it; members the project still wants join
 * again with a new code). A volunteer the project removed cannot come back
 * with an invite made before its removal: a `tabgrid worker --join CODE`
 * rejoins on every connection, and a removal must outlast a reconnect.
 */

export { INVITE_CODE } from '../../../shared/protocol/schemas.ts';

export interface InviteRow {
  id: string;
  projectId: string;
  label: string;
  createdAt: number;
  revokedAt: number | null;
}

export interface MembershipRow {
  projectId: string;
  volunteerId: string;
  /** The invite it joined by, last. */
  inviteId: string;
  joinedAt: number;
  /** When the membership ended, and who ended it; null while it stands. */
  endedAt: number | null;
  endedBy: 'left' | 'removed' | null;
}

export type MemberState = 'member' | 'left' | 'removed' | 'invite revoked';

/** Where a membership stands, given whether the invite it joined by was revoked since. */
export function memberState(m: Pick<MembershipRow, 'endedBy'>, inviteRevoked: boolean): MemberState {
  if (m.endedBy === 'left') return 'left';
  if (m.endedBy === 'removed') return 'removed';
  return inviteRevoked ? 'invite revoked' : 'member';
}

export type JoinRefusal = { join: false; code: 'not_found' | 'forbidden'; error: string };
export type JoinDecision = { join: true; already: boolean } | JoinRefusal;

export interface JoinInput {
  /** The invite whose hash the code has; null when no invite has it (mistyped or forged). */
  invite: InviteRow | null;
  /** The invite's project while it is live; null once deleted. */
  project: { name: string } | null;
  /** The volunteer's membership of that project, if it ever had one. */
  member: MembershipRow | null;
  /** Whether the invite that membership stands on was revoked. */
  memberInviteRevoked: boolean;
}

const iso = (t: number) => new Date(t).toISOString();

/** Whether the code lets the volunteer into the project's group; a refusal says exactly why and changes nothing. */
export function decideJoin(i: JoinInput): JoinDecision {
  if (!i.invite) return { join: false, code: 'not_found', error: 'no such invite code on this coordinator (mistyped, or made by another coordinator)' };
  if (!i.project) return { join: false, code: 'not_found', error: 'the project of this invite code was deleted' };
  if (i.invite.revokedAt !== null) {
    return { join: false, code: 'forbidden', error: `project ${i.project.name} revoked this invite code at ${iso(i.invite.revokedAt)}; ask it for a new one` };
  }
  const m = i.member;
  if (m && m.endedBy === 'removed' && m.endedAt !== null && i.invite.createdAt <= m.endedAt) {
    return {
      join: false, code: 'forbidden',
      error: `project ${i.project.name} removed you from its group at ${iso(m.endedAt)}; only an invite it made since then lets you back in`,
    };
  }
  return { join: true, already: !!m && memberState(m, i.memberInviteRevoked) === 'member' };
}
