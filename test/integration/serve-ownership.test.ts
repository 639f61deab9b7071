/**
 * `tabgrid serve` owns what it serves: a second coordinator on the same SQLite
 * data directory refuses and names the first one's pid, and a coordinator that
 * cannot bind its port creates nothing (no data directory, no token).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, REPO, freePort, spawnCoordinator } from '../helpers/coordinator.ts';

function serve(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', ...args], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    p.on('exit', (code) => res({ code, stderr }));
  });
}

describe('serve owns its port and data directory', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
  });

  it('a second serve on the same data directory refuses, naming the first one\'s pid, and the first keeps serving', async () => {
    const first = await spawnCoordinator();
    cleanup.push(() => first.stop());
    const second = await serve(['--port', String(await freePort()), '--data', first.dataDir]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`data directory ${first.dataDir} is in use by another tabgrid coordinator (pid ${first.proc.pid} `);
    // The refusal took nothing from the first.
    expect((await first.api.ledger()).accounts).toEqual([]);

    // Stopped cleanly, the first hands the directory on.
    await first.stop();
    const third = await spawnCoordinator({ dataDir: first.dataDir });
    cleanup.push(() => third.stop());
    expect(third.token).toBe(first.token);
  }, 120_000);

  it('a port already in use creates no data directory and no token', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => new Promise((r) => blocker.close(() => r())));
    const port = (blocker.address() as { port: number }).port;
    const dataDir = join(mkdtempSync(join(tmpdir(), 'tabgrid-port-')), 'data');
    const r = await serve(['--port', String(port), '--data', dataDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
    expect(existsSync(dataDir)).toBe(false);
  }, 60_000);
});
