/**
 * `tabgrid project ...`: the operator manages projects and their tokens over
 * the operator HTTP API (server/http/operator-api.ts) with the operator token.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { InviteInfoReply, MemberInfoReply, OperatorProject } from '../../shared/http/operator.ts';
import { TabgridClient } from '../../shared/http/client.ts';

/** --operator-token, then TABGRID_OPERATOR_TOKEN, then <--data>/operator-token (./data by default). */
export function resolveOperatorToken(explicit: string | undefined, dataDir: string): string {
  if (explicit) return explicit;
  if (process.env.TABGRID_OPERATOR_TOKEN) return process.env.TABGRID_OPERATOR_TOKEN;
  const file = resolve(join(dataDir, 'operator-token'));
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new Error(`no operator token: pass --operator-token, set TABGRID_OPERATOR_TOKEN, or run beside the coordinator's data (${file})`);
}

/** The operator's calls, through the package's typed client. */
export class OperatorClient {
  private readonly api: TabgridClient;
  constructor(server: string, token: string) {
    this.api = new TabgridClient(server, token);
  }

  create(body: { name: string; description?: string; weight?: number; private?: boolean; maxInFlight?: number }) { return this.api.createProject(body); }
  list() { return this.api.operatorProjects(); }
  show(name: string) { return this.api.operatorProject(name); }
  update(name: string, patch: { description?: string; weight?: number; private?: boolean; maxInFlight?: number }) { return this.api.updateProject(name, patch); }
  delete(name: string) { return this.api.deleteProject(name); }
  createToken(name: string, label?: string) { return this.api.createToken(name, label); }
  rotate(name: string) { return this.api.rotateToken(name); }
  revoke(name: string, tokenId: string) { return this.api.revokeToken(name, tokenId); }
}

/** A private project's group, with its own token or the operator's. */
export class GroupClient {
  private readonly api: TabgridClient;
  constructor(server: string, token: string) {
    this.api = new TabgridClient(server, token);
  }

  createInvite(name: string, label?: string) { return this.api.createInvite(name, label); }
  invites(name: string) { return this.api.invites(name); }
  revokeInvite(name: string, id: string) { return this.api.revokeInvite(name, id); }
  members(name: string) { return this.api.members(name); }
  removeMember(name: string, volunteer: string) { return this.api.removeMember(name, volunteer); }
}

const table = (head: string[], rows: string[][]): string => {
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(width[i]!))).join('  ').trimEnd();
  return `${[head, ...rows].map(line).join('\n')}\n`;
};
const when = (t: number | null) => (t === null ? '-' : new Date(t).toISOString());

export function inviteText(r: { project: string; invite: InviteInfoReply; code: string; link: string }): string {
  return [
    `project ${r.project}: invite ${r.invite.id}${r.invite.label ? ` (${r.invite.label})` : ''}`,
    `code     ${r.code}`,
    `link     ${r.link}`,
    `worker   tabgrid worker --node 2 --join ${r.code}`,
    '(shown once: the coordinator keeps only its hash; revoke it with tabgrid project invite revoke)',
  ].join('\n') + '\n';
}

export function invitesTable(r: { project: string; private: boolean; invites: readonly InviteInfoReply[] }): string {
  const note = r.private ? '' : `note: project ${r.project} is public; its work goes to every volunteer (tabgrid project set ${r.project} --private)\n`;
  if (r.invites.length === 0) return `${note}no invites\n`;
  return note + table(['ID', 'STATE', 'MEMBERS', 'CREATED', 'LABEL'],
    r.invites.map((i) => [i.id, i.revokedAt === null ? 'live' : 'revoked', String(i.members), when(i.createdAt), i.label]));
}

export function membersTable(members: readonly MemberInfoReply[]): string {
  if (members.length === 0) return 'no members\n';
  return table(['VOLUNTEER', 'STATE', 'JOINED', 'ENDED', 'INVITE', 'ACCOUNT'],
    members.map((m) => [m.volunteerId, m.state, when(m.joinedAt), when(m.endedAt), m.inviteId, m.account]));
}

export function projectsTable(projects: readonly OperatorProject[]): string {
  if (projects.length === 0) return 'no projects\n';
  const rows = projects.map((p) => [
    p.name, p.id, String(p.weight), p.private ? 'private' : 'public', p.maxInFlight ? String(p.maxInFlight) : '-', String(p.running),
    `${p.tokens.filter((t) => t.revokedAt === null).length}/${p.tokens.length}`, p.description,
  ]);
  const head = ['NAME', 'ID', 'WEIGHT', 'SWARM', 'CAP', 'RUNNING', 'TOKENS', 'DESCRIPTION'];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(width[i]!))).join('  ').trimEnd();
  return `${[head, ...rows].map(line).join('\n')}\n`;
}

export function projectText(p: OperatorProject): string {
  const tokens = p.tokens.map((t) => `  ${t.id}  ${t.revokedAt === null ? 'live   ' : 'revoked'}  ${new Date(t.createdAt).toISOString()}  ${t.label}`);
  return [
    `project  ${p.name} (${p.id})`,
    ...(p.description ? [`about    ${p.description}`] : []),
    `weight   ${p.weight}${p.maxInFlight ? `, at most ${p.maxInFlight} copies in flight` : ''}`,
    `swarm    ${p.private ? 'private (only volunteers in its group)' : 'public'}`,
    `running  ${p.running} jobs`,
    'tokens',
    ...tokens,
  ].join('\n') + '\n';
}
