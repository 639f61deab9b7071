/**
 * The operator's side of the coordinator (issue 15): the operator credential
 * made at first start, projects (names, descriptions, fair-share weights,
 * private or public, a cap on copies in flight) and their tokens, several per
 * project and each revocable. Tokens are random, shown once, and stored only
 * as SHA-256 hashes; a revoked one is refused on its next request, on every
 * coordinator sharing the store (tokens are looked up in the store each time).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { OperatorProject, TokenInfoReply } from '../../shared/http/operator.ts';
import { PROJECT_NAME } from '../../shared/http/operator.ts';
import { newId } from '../store/ids.ts';
import type { Project, ProjectSettings, Store } from '../store/types.ts';
import type { CoordinatorEvents } from './events.ts';
import { DEFAULT_EMBED, hashToken, JobError } from './job-service.ts';

export const newToken = (): string => `tg_${randomBytes(24).toString('base64url')}`;

export class ProjectService {
  constructor(
    private readonly store: Store,
    private readonly events: CoordinatorEvents,
    private readonly log: Logger,
  ) {}

  /** Makes the operator credential unless the store has one; the new token, or null when one existed. */
  async ensureOperator(): Promise<string | null> {
    const token = newToken();
    return (await this.store.addOperatorToken({ hash: hashToken(token), createdAt: Date.now() })) ? token : null;
  }

  async isOperator(token: string): Promise<boolean> {
    return this.store.isOperatorTokenHash(hashToken(token));
  }

  async create(req: { name: string } & Partial<ProjectSettings>): Promise<{ project: Project; token: string; tokenId: string }> {
    if (!PROJECT_NAME.test(req.name)) throw new JobError('bad_request', `project name ${JSON.stringify(req.name)}: 1 to 64 letters, digits, dots, dashes or underscores`);
    if (await this.store.projectByName(req.name)) throw new JobError('conflict', `a project named ${req.name} exists already`);
    const project: Project = {
      id: newId(), name: req.name, createdAt: Date.now(), embed: DEFAULT_EMBED,
      description: req.description ?? '', weight: req.weight ?? 1, private: req.private ?? false, maxInFlight: req.maxInFlight ?? 0,
    };
    try {
      await this.store.createProject(project);
    } catch (e) {
      // Two operators racing for one name: the store's unique index decides.
      if (await this.store.projectByName(req.name)) throw new JobError('conflict', `a project named ${req.name} exists already`);
      throw e;
    }
    const { token, tokenId } = await this.issue(project, 'created with the project');
    this.log.info({ project: project.id, name: project.name, weight: project.weight, private: project.private }, 'project created');
    this.events.emit('work');
    return { project, token, tokenId };
  }

  /** A live project by name (or by id, for projects made before names mattered). */
  async find(nameOrId: string): Promise<Project> {
    const p = (await this.store.projectByName(nameOrId)) ?? (await this.store.getProject(nameOrId));
    if (!p || !(await this.store.listProjects()).some((l) => l.id === p.id)) throw new JobError('not_found', `no project named ${nameOrId}`);
    return p;
  }

  async list(): Promise<OperatorProject[]> {
    return Promise.all((await this.store.listProjects()).map((p) => this.describe(p)));
  }

  async describe(p: Project): Promise<OperatorProject> {
    const running = (await this.store.listJobs({ projectId: p.id, states: ['running'], limit: 10_000 })).length;
    const tokens: TokenInfoReply[] = await this.store.tokensOf(p.id);
    return { id: p.id, name: p.name, description: p.description, weight: p.weight, private: p.private, maxInFlight: p.maxInFlight, createdAt: p.createdAt, running, tokens };
  }

  async update(nameOrId: string, patch: Partial<ProjectSettings>): Promise<OperatorProject> {
    const p = await this.find(nameOrId);
    await this.store.updateProject(p.id, patch);
    this.log.info({ project: p.id, ...patch }, 'project settings changed');
    // A new weight, cap or privacy changes who gets the next copy.
    this.events.emit('work');
    return this.describe({ ...p, ...patch });
  }

  async issueToken(nameOrId: string, label = 'issued by the operator'): Promise<{ project: Project; token: string; tokenId: string }> {
    const project = await this.find(nameOrId);
    return { project, ...(await this.issue(project, label)) };
  }

  /** A new token, and every older one of the project revoked in the same breath. */
  async rotate(nameOrId: string): Promise<{ project: Project; token: string; tokenId: string; revoked: string[] }> {
    const project = await this.find(nameOrId);
    const { token, tokenId } = await this.issue(project, 'rotated');
    const older = (await this.store.tokensOf(project.id)).filter((t) => t.revokedAt === null && t.id !== tokenId).map((t) => t.id);
    const revoked = await this.store.revokeTokens(project.id, older, Date.now());
    this.log.info({ project: project.id, revoked }, 'project token rotated');
    return { project, token, tokenId, revoked };
  }

  async revoke(nameOrId: string, tokenId: string): Promise<{ project: Project; revoked: string[] }> {
    const project = await this.find(nameOrId);
    const known = (await this.store.tokensOf(project.id)).find((t) => t.id === tokenId);
    if (!known) throw new JobError('not_found', `project ${project.name} has no token ${tokenId}`);
    if (known.revokedAt !== null) throw new JobError('conflict', `token ${tokenId} was revoked already`);
    const revoked = await this.store.revokeTokens(project.id, [tokenId], Date.now());
    this.log.info({ project: project.id, token: tokenId }, 'project token revoked');
    return { project, revoked };
  }

  async delete(nameOrId: string): Promise<Project> {
    const project = await this.find(nameOrId);
    const outcome = await this.store.deleteProject(project.id, Date.now());
    if (outcome === 'running') throw new JobError('conflict', `project ${project.name} has jobs running: cancel them first (tabgrid cancel JOB with its token)`);
    if (outcome === 'gone') throw new JobError('not_found', `no project named ${nameOrId}`);
    this.log.info({ project: project.id, name: project.name }, 'project deleted');
    return project;
  }

  private async issue(project: Project, label: string): Promise<{ token: string; tokenId: string }> {
    const token = newToken();
    const tokenId = newId();
    await this.store.addToken({ id: tokenId, projectId: project.id, hash: hashToken(token), label, createdAt: Date.now() });
    return { token, tokenId };
  }
}
