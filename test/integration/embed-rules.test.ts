/**
 * Per-project embed rules are the coordinator's to enforce, not the script's:
 * allowed host origins, and where an embed's credit goes.
 */
import { io, type Socket } from 'socket.io-client';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeCapabilities } from '../../cli/commands/worker-node.ts';
import type { ClientToServerEvents, HelloReply, Reply, ServerToClientEvents } from '../../shared/protocol/events.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';
import { perDescribe } from '../helpers/per-test.ts';

type S = Socket<ServerToClientEvents, ClientToServerEvents>;
const SITE = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const VISITOR = '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359';

describe('embed rules', () => {
  const shared = perDescribe();
  const sockets: S[] = [];
  afterAll(() => { for (const s of sockets) s.close(); });

  async function hello(body: Record<string, unknown>): Promise<Reply<HelloReply>> {
    const s: S = io(shared.c.url, { path: SOCKET_PATH, auth: { protocol: PROTOCOL_VERSION }, transports: ['websocket'], reconnection: false });
    sockets.push(s);
    await new Promise<void>((r) => s.on('connect', () => r()));
    return (s as unknown as { emitWithAck(e: string, p: unknown): Promise<Reply<HelloReply>> }).emitWithAck('hello', { backend: 'wasm', capabilities: nodeCapabilities(), ...body });
  }
  const put = (body: unknown) => fetch(`${shared.c.url}/api/v1/project/embed`, {
    method: 'PUT', headers: { authorization: `Bearer ${shared.c.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const projectId = async () => ((await (await fetch(`${shared.c.url}/api/v1/project`, { headers: { authorization: `Bearer ${shared.c.token}` } })).json()) as { id: string }).id;

  it('refuses a page origin the project does not allow, over HTTP and at hello', async () => {
    const { c } = shared;
    expect((await put({ allowedOrigins: ['https://news.example'], defaultIntensity: 0.3, creditTo: 'site' })).status).toBe(200);
    const id = await projectId();
    const denied = await fetch(`${c.url}/api/v1/embed/${id}`, { headers: { origin: 'https://evil.example' } });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: string }).error).toBe('https://evil.example is not allowed to embed the tabgrid project "local"; its owner allows: https://news.example');
    const ok = await fetch(`${c.url}/api/v1/embed/${id}`, { headers: { origin: 'https://news.example' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://news.example');
    const r = await hello({ projectId: id, embedOrigin: 'https://evil.example' });
    expect(r).toMatchObject({ ok: false, code: 'forbidden', error: expect.stringMatching(/does not allow embedding on https:\/\/evil\.example/) });
    const frame = await fetch(`${c.url}/embed-frame.html?project=${id}`);
    expect(frame.headers.get('content-security-policy')).toMatch(/frame-ancestors https:\/\/news\.example/);
  });

  it('credits the registered site wallet, whatever wallet an embed names', async () => {
    expect((await put({ allowedOrigins: [], defaultIntensity: 0.3, creditTo: 'site', siteWallet: SITE.toLowerCase() })).status).toBe(200);
    const r = await hello({ projectId: await projectId(), embedOrigin: 'https://any.example', wallet: VISITOR });
    expect(r).toMatchObject({ ok: true, account: SITE });
    const bad = await put({ allowedOrigins: [], defaultIntensity: 0.3, creditTo: 'site', siteWallet: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^siteWallet: .*EIP-55/);
  });

  it('lets a visitor name their own wallet when the project credits visitors', async () => {
    expect((await put({ allowedOrigins: [], defaultIntensity: 0.3, creditTo: 'visitor', siteWallet: SITE })).status).toBe(200);
    const r = await hello({ projectId: await projectId(), embedOrigin: 'https://any.example', wallet: VISITOR });
    expect(r).toMatchObject({ ok: true, account: VISITOR });
  });

  it('publishes only what an embed frame needs about a project', async () => {
    const { c } = shared;
    const body = await (await fetch(`${c.url}/api/v1/projects/${await projectId()}`)).json() as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['embed', 'id', 'name']);
  });
});
