/** Private swarms' pure decisions (server/core/groups/membership.ts, eligibility.ts): who is in a group, who may join, who is served. */
import { describe, expect, it } from 'vitest';
import { decideJoin, type InviteRow, memberState, type MembershipRow } from '../../../server/core/groups/membership.ts';
import { connectionServes, mayServeProject } from '../../../server/core/scheduler/eligibility.ts';

const T = 1_700_000_000_000;
const invite = (o: Partial<InviteRow> = {}): InviteRow => ({ id: 'inv1', projectId: 'lab', label: '', createdAt: T, revokedAt: null, ...o });
const member = (o: Partial<MembershipRow> = {}): MembershipRow => ({ projectId: 'lab', volunteerId: 'v1', inviteId: 'inv1', joinedAt: T + 1, endedAt: null, endedBy: null, ...o });
const lab = { name: 'lab' };

describe('membership', () => {
  it('a private project serves only its group; a public one everyone', () => {
    expect(mayServeProject({ id: 'lab', private: true }, new Set())).toBe(false);
    expect(mayServeProject({ id: 'lab', private: true }, new Set(['other']))).toBe(false);
    expect(mayServeProject({ id: 'lab', private: true }, new Set(['lab']))).toBe(true);
    expect(mayServeProject({ id: 'pub', private: false }, new Set())).toBe(true);
  });

  it('a connection computes for the projects it may serve, and an embed only for its own', () => {
    const [pub, lab] = [{ id: 'pub', private: false }, { id: 'lab', private: true }];
    expect(connectionServes(pub, { groups: new Set() })).toBe(true);
    expect(connectionServes(lab, { groups: new Set() })).toBe(false);
    expect(connectionServes(lab, { groups: new Set(['lab']) })).toBe(true);
    // An embed of another project: neither, whatever its volunteer's groups.
    expect(connectionServes(pub, { projectId: 'site', groups: new Set(['lab']) })).toBe(false);
    expect(connectionServes(lab, { projectId: 'site', groups: new Set(['lab']) })).toBe(false);
    // An embed of the project itself: a private one still only in its group.
    expect(connectionServes(pub, { projectId: 'pub', groups: new Set() })).toBe(true);
    expect(connectionServes(lab, { projectId: 'lab', groups: new Set() })).toBe(false);
    expect(connectionServes(lab, { projectId: 'lab', groups: new Set(['lab']) })).toBe(true);
  });

  it('where a membership stands', () => {
    expect(memberState(member(), false)).toBe('member');
    expect(memberState(member(), true)).toBe('invite revoked');
    expect(memberState(member({ endedBy: 'left', endedAt: T + 2 }), false)).toBe('left');
    expect(memberState(member({ endedBy: 'removed', endedAt: T + 2 }), true)).toBe('removed');
  });

  it('an unknown, revoked or orphaned code is refused, each with its own reason', () => {
    expect(decideJoin({ invite: null, project: null, member: null, memberInviteRevoked: false }))
      .toEqual({ join: false, code: 'not_found', error: expect.stringMatching(/no such invite code/) });
    expect(decideJoin({ invite: invite(), project: null, member: null, memberInviteRevoked: false }))
      .toEqual({ join: false, code: 'not_found', error: expect.stringMatching(/was deleted/) });
    expect(decideJoin({ invite: invite({ revokedAt: T + 5 }), project: lab, member: null, memberInviteRevoked: false }))
      .toEqual({ join: false, code: 'forbidden', error: `project lab revoked this invite code at ${new Date(T + 5).toISOString()}; ask it for a new one` });
  });

  it('a removed volunteer comes back only by an invite made after its removal; one that left, by any', () => {
    const removed = member({ endedBy: 'removed', endedAt: T + 10 });
    expect(decideJoin({ invite: invite(), project: lab, member: removed, memberInviteRevoked: false }))
      .toMatchObject({ join: false, code: 'forbidden', error: expect.stringMatching(/removed you from its group/) });
    expect(decideJoin({ invite: invite({ createdAt: T + 10 }), project: lab, member: removed, memberInviteRevoked: false })).toMatchObject({ join: false });
    expect(decideJoin({ invite: invite({ createdAt: T + 11 }), project: lab, member: removed, memberInviteRevoked: false })).toEqual({ join: true, already: false });
    expect(decideJoin({ invite: invite(), project: lab, member: member({ endedBy: 'left', endedAt: T + 10 }), memberInviteRevoked: false })).toEqual({ join: true, already: false });
  });

  it('joining again is no change; a member shut out by a revoked invite joins anew by a live one', () => {
    expect(decideJoin({ invite: invite(), project: lab, member: null, memberInviteRevoked: false })).toEqual({ join: true, already: false });
    expect(decideJoin({ invite: invite(), project: lab, member: member(), memberInviteRevoked: false })).toEqual({ join: true, already: true });
    expect(decideJoin({ invite: invite({ id: 'inv2' }), project: lab, member: member(), memberInviteRevoked: true })).toEqual({ join: true, already: false });
  });
});
