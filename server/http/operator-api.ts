/**
 * The operator's HTTP API (issue 15): create, list, change and delete
 * projects; issue, rotate and revoke their tokens. Routes, request and reply
 * schemas are the contract's (shared/http/routes.ts, shared/http/operator.ts);
 * only the operator token (`<data>/operator-token`) opens them, through the
 * `operator` auth hook below; a project token is refused (403).
 */
import type { FastifyRequest } from 'fastify';
import { ROUTES } from '../../shared/http/routes.ts';
import { JobError } from '../services/job-service.ts';
import type { ProjectService } from '../services/project-service.ts';
import type { routeServer } from './serve-route.ts';

export const bearer = (req: FastifyRequest): string => {
  // The scheme is case-insensitive (RFC 9110 §11.1): `bearer` is `Bearer`.
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!m) throw new JobError('unauthorized', 'missing API token: send Authorization: Bearer <token>');
  return m[1]!;
};

/** The onRequest hook of operator routes. */
export const operatorAuth = (projects: ProjectService) => async (req: FastifyRequest): Promise<void> => {
  if (!(await projects.isOperator(bearer(req)))) {
    throw new JobError('forbidden', 'this needs the coordinator\'s operator token (<data>/operator-token), not a project token');
  }
};

export function registerOperatorApi(serve: ReturnType<typeof routeServer>, projects: ProjectService): void {
  serve(ROUTES.operatorProjects, async () => ({ projects: await projects.list() }));

  serve(ROUTES.createProject, async ({ body, reply }) => {
    const { project, token, tokenId } = await projects.create(body);
    return reply.status(201).send({ project: await projects.describe(project), token, tokenId });
  });

  serve(ROUTES.operatorProject, async ({ params }) => projects.describe(await projects.find(params.project)));

  serve(ROUTES.updateProject, async ({ params, body }) => projects.update(params.project, withoutUndefined(body)));

  serve(ROUTES.deleteProject, async ({ params }) => ({ project: (await projects.delete(params.project)).name, deleted: true as const }));

  serve(ROUTES.createToken, async ({ params, body, reply }) => {
    const t = await projects.issueToken(params.project, body.label);
    return reply.status(201).send({ project: t.project.name, token: t.token, tokenId: t.tokenId, revoked: [] });
  });

  serve(ROUTES.rotateToken, async ({ params, reply }) => {
    const t = await projects.rotate(params.project);
    return reply.status(201).send({ project: t.project.name, token: t.token, tokenId: t.tokenId, revoked: t.revoked });
  });

  serve(ROUTES.revokeToken, async ({ params }) => {
    const r = await projects.revoke(params.project, params.token);
    return { project: r.project.name, revoked: r.revoked };
  });
}

function withoutUndefined<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
