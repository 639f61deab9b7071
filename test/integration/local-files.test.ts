/**
 * What a coordinator leaves on disk is its owner's alone: the data directory
 * is 0700 and the database and token files 0600, whatever the umask, on a new
 * directory and on one an older version left 0755. And the API token's scheme
 * is case-insensitive (RFC 9110 §11.1): `bearer` works like `Bearer`.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

describe('local files and the API token', () => {
  const running: SpawnedCoordinator[] = [];
  afterAll(async () => { await Promise.all(running.map((c) => c.stop())); });

  it('creates the data directory 0700, and the database and token files 0600', async () => {
    // A directory that does not exist yet: created by the coordinator, under the usual umask 022.
    const dataDir = join(mkdtempSync(join(tmpdir(), 'tabgrid-files-')), 'data');
    const c = await spawnCoordinator({ dataDir });
    running.push(c);
    // Something written, so SQLite's WAL and shared-memory files exist too.
    await c.api.uploadBlob(new TextEncoder().encode('a blob'));
    expect(mode(dataDir)).toBe('700');
    expect(mode(join(dataDir, 'token'))).toBe('600');
    const db = readdirSync(dataDir).filter((f) => f.startsWith('tabgrid.sqlite'));
    expect(db).toContain('tabgrid.sqlite');
    for (const f of db) expect([f, mode(join(dataDir, f))]).toEqual([f, '600']);
  });

  it('tightens a data directory and database an older version left readable by all', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'tabgrid-files-')), 'data');
    const first = await spawnCoordinator({ dataDir });
    await first.stop();
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, 'tabgrid.sqlite'), 0o644);
    mkdirSync(join(dataDir, 'blobs'), { recursive: true });
    const c = await spawnCoordinator({ dataDir });
    running.push(c);
    expect(mode(dataDir)).toBe('700');
    expect(mode(join(dataDir, 'tabgrid.sqlite'))).toBe('600');
    expect(mode(join(dataDir, 'token'))).toBe('600');
  });

  it('accepts the token scheme in any case, and still refuses other schemes', async () => {
    const c = running[0]!;
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const r = await fetch(`${c.url}/api/v1/project`, { headers: { authorization: `${scheme} ${c.token}` } });
      expect([scheme, r.status]).toEqual([scheme, 200]);
    }
    const basic = await fetch(`${c.url}/api/v1/project`, { headers: { authorization: `Basic ${c.token}` } });
    expect(basic.status).toBe(401);
    expect(((await basic.json()) as { error: string }).error).toMatch(/missing API token/);
  });
});
