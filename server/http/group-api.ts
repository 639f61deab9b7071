/**
 * Private swarms over HTTP (issue 15): a project's invite codes and its
 * group. The routes are the contract's (shared/http/routes.ts, auth `group`):
 * the project's own token manages its own group, the operator token any
 * project's; a project token naming another project is refused (403).
 */
import type { FastifyRequest } from 'fastify';
import { ROUTES } from '../../shared/http/routes.ts';
import type { GroupService } from '../services/group-service.ts';
import { JobError, type JobService } from '../services/job-service.ts';
import type { ProjectService } from '../services/project-service.ts';
import type { Project } from '../store/types.ts';
import { bearer } from './operator-api.ts';
import type { routeServer } from './serve-route.ts';

/** The onRequest hook of `group` routes: the operator token, or a project token (then `req.project` is set). */
export const groupAuth = (projects: ProjectService, jobs: JobService) => async (req: FastifyRequest): Promise<void> => {
  const token = bearer(req);
  if (await projects.isOperator(token)) return;
  const project = await jobs.projectForToken(token);
  if (!project) throw new JobError('unauthorized', 'invalid API token: this needs the project\'s token or the operator token');
  req.project = project;
};

export function registerGroupApi(serve: ReturnType<typeof routeServer>, d: { projects: ProjectService; groups: GroupService; publicUrl?: string | undefined }): void {
  /** The project named in the path, as this caller may manage it. */
  const target = async (req: FastifyRequest, ref: string): Promise<Project> => {
    const own = req.project;
    if (!own) return d.projects.find(ref);
    if (own.name !== ref && own.id !== ref) throw new JobError('forbidden', `this token is project ${own.name}'s: it manages that project's group only`);
    return own;
  };
  /** Where the contributor page is, as the caller reached this coordinator (or its public URL). */
  const origin = (req: FastifyRequest) => (d.publicUrl ?? `${req.protocol}://${req.host}`).replace(/\/+$/, '');

  serve(ROUTES.createInvite, async ({ req, reply, params, body }) => {
    const p = await target(req, params.project);
    const { invite, code } = await d.groups.createInvite(p, body.label);
    return reply.status(201).send({ project: p.name, invite, code, link: `${origin(req)}/?join=${code}` });
  });

  serve(ROUTES.invites, async ({ req, params }) => {
    const p = await target(req, params.project);
    return { project: p.name, private: p.private, invites: await d.groups.invites(p) };
  });

  serve(ROUTES.revokeInvite, async ({ req, params }) => {
    const p = await target(req, params.project);
    return { project: p.name, invite: await d.groups.revokeInvite(p, params.invite) };
  });

  serve(ROUTES.members, async ({ req, params }) => {
    const p = await target(req, params.project);
    return { project: p.name, members: await d.groups.members(p) };
  });

  serve(ROUTES.removeMember, async ({ req, params }) => {
    const p = await target(req, params.project);
    return { project: p.name, member: await d.groups.removeMember(p, params.volunteer) };
  });
}
