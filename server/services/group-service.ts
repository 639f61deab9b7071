/**
 * Private swarms (issue 15): a project's invite codes, its group, and a
 * volunteer's side of it (join with a code, leave, see which projects it
 * serves). The decisions are server/core/groups/membership.ts's; this
 * sequences them around the store. Codes are random, shown once, and kept
 * only as SHA-256 hashes, like API tokens.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ServedProject, ServedProjects } from '../../shared/protocol/events.ts';
import { INVITE_CODE_PROBLEM } from '../../shared/protocol/schemas.ts';
import { decideJoin, INVITE_CODE, memberState, type MemberState } from '../core/groups/membership.ts';
import { newId } from '../store/ids.ts';
import type { Project, Store } from '../store/types.ts';
import type { CoordinatorEvents } from './events.ts';
import { hashToken, JobError } from './job-service.ts';

export const newInviteCode = (): string => `tgi_${randomBytes(24).toString('base64url')}`;

export interface InviteInfo {
  id: string;
  label: string;
  createdAt: number;
  revokedAt: number | null;
  /** Volunteers in the group by this invite now. */
  members: number;
}

export interface MemberInfo {
  volunteerId: string;
  account: string;
  inviteId: string;
  joinedAt: number;
  endedAt: number | null;
  state: MemberState;
}

export class GroupService {
  constructor(
    private readonly store: Store,
    private readonly events: CoordinatorEvents,
    private readonly log: Logger,
  ) {}

  /** A new invite code for the project's group, shown once. */
  async createInvite(project: Project, label: string | undefined): Promise<{ invite: InviteInfo; code: string }> {
    const code = newInviteCode();
    const invite = { id: newId(), projectId: project.id, label: label ?? '', createdAt: Date.now(), revokedAt: null };
    await this.store.addInvite({ ...invite, hash: hashToken(code) });
    this.log.info({ project: project.id, invite: invite.id, private: project.private }, 'invite code created');
    return { invite: { id: invite.id, label: invite.label, createdAt: invite.createdAt, revokedAt: null, members: 0 }, code };
  }

  async invites(project: Project): Promise<InviteInfo[]> {
    return (await this.store.invitesOf(project.id)).map((i) => ({ id: i.id, label: i.label, createdAt: i.createdAt, revokedAt: i.revokedAt, members: i.members }));
  }

  /** Revokes an invite: nobody joins by it any more, and everyone in the group by it is out at once. */
  async revokeInvite(project: Project, inviteId: string): Promise<InviteInfo> {
    const known = (await this.invites(project)).find((i) => i.id === inviteId);
    if (!known) throw new JobError('not_found', `project ${project.name} has no invite ${inviteId}`);
    if (known.revokedAt !== null) throw new JobError('conflict', `invite ${inviteId} was revoked already`);
    const at = Date.now();
    if (!(await this.store.revokeInvite(project.id, inviteId, at))) throw new JobError('conflict', `invite ${inviteId} was revoked already`);
    this.log.info({ project: project.id, invite: inviteId, members: known.members }, 'invite code revoked; the members who joined by it are out of the group');
    return { ...known, revokedAt: at, members: 0 };
  }

  async members(project: Project): Promise<MemberInfo[]> {
    return (await this.store.membersOf(project.id)).map((m) => ({
      volunteerId: m.volunteerId, account: m.account, inviteId: m.inviteId, joinedAt: m.joinedAt, endedAt: m.endedAt, state: memberState(m, m.inviteRevoked),
    }));
  }

  /** The project removes a volunteer: it gets none of the project's work from its next request on, and cannot rejoin by an older invite. */
  async removeMember(project: Project, volunteerId: string): Promise<MemberInfo> {
    const m = await this.store.membership(project.id, volunteerId);
    if (!m) throw new JobError('not_found', `volunteer ${volunteerId} never joined project ${project.name}`);
    if (!(await this.store.endMembership(project.id, volunteerId, 'removed', Date.now()))) {
      throw new JobError('conflict', `volunteer ${volunteerId} is not in project ${project.name}'s group (it ${m.endedBy ?? 'was shut out when its invite was revoked'})`);
    }
    this.log.info({ project: project.id, volunteer: volunteerId }, 'member removed from the group');
    return (await this.members(project)).find((x) => x.volunteerId === volunteerId)!;
  }

  /** A volunteer joins a group with an invite code; a code that opens nothing changes nothing. */
  async join(volunteerId: string, code: string): Promise<{ project: ServedProject; already: boolean }> {
    if (!INVITE_CODE.test(code)) throw new JobError('bad_request', INVITE_CODE_PROBLEM);
    const invite = await this.store.inviteByHash(hashToken(code));
    const project = invite ? await this.liveProject(invite.projectId) : null;
    const member = invite ? await this.store.membership(invite.projectId, volunteerId) : null;
    const d = decideJoin({ invite, project, member, memberInviteRevoked: member?.inviteRevoked ?? false });
    if (!d.join) {
      this.log.warn({ volunteer: volunteerId, invite: invite?.id, reason: d.error }, 'join refused');
      throw new JobError(d.code, d.error);
    }
    const joined = await this.store.joinGroup({ projectId: invite!.projectId, volunteerId, inviteId: invite!.id, inviteCreatedAt: invite!.createdAt, at: Date.now() });
    // The project removed it between the read and the write: the removal stands.
    if (!joined) throw new JobError('forbidden', `project ${project!.name} removed you from its group; only an invite it made since then lets you back in`);
    if (!d.already) {
      this.log.info({ volunteer: volunteerId, project: project!.id, invite: invite!.id }, 'volunteer joined a group');
      // It may now take work it could not before.
      this.events.emit('work');
    }
    return { project: served(project!), already: d.already };
  }

  async leave(volunteerId: string, projectId: string): Promise<{ project: ServedProject }> {
    const project = await this.liveProject(projectId);
    if (!project) throw new JobError('not_found', `no project ${projectId}`);
    if (!(await this.store.endMembership(projectId, volunteerId, 'left', Date.now()))) throw new JobError('not_found', `you are not in project ${project.name}'s group`);
    this.log.info({ volunteer: volunteerId, project: projectId }, 'volunteer left a group');
    return { project: served(project) };
  }

  /** The projects a volunteer computes for: every public one, and the private ones whose group it is in now. */
  async servedBy(volunteerId: string): Promise<ServedProjects> {
    const [projects, groups] = await Promise.all([this.store.listProjects(), this.store.groupsOf(volunteerId)]);
    const mine = new Set(groups);
    return {
      public: projects.filter((p) => !p.private).map(served),
      groups: projects.filter((p) => mine.has(p.id)).map(served),
    };
  }

  private async liveProject(id: string): Promise<Project | null> {
    return (await this.store.listProjects()).find((p) => p.id === id) ?? null;
  }
}

const served = (p: Project): ServedProject => ({ id: p.id, name: p.name, description: p.description, private: p.private });
