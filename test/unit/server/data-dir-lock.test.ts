/** The data directory lock on real files: held, refused with the holder's pid, taken over from a dead holder. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataDirLockedError, LOCK_NAME, OWNER_NAME, lockDataDir } from '../../../server/data-dir-lock.ts';

const fresh = () => mkdtempSync(join(tmpdir(), 'tabgrid-lock-'));
const noop = () => {};

describe('lockDataDir', () => {
  it('refuses a second holder with the first one\'s pid and host, and frees the directory on release', async () => {
    const dir = fresh();
    const first = await lockDataDir(dir, noop);
    const err = await lockDataDir(dir, noop).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect((err as DataDirLockedError).owner).toMatchObject({ pid: process.pid, hostname: hostname() });
    expect((err as Error).message).toContain(`(pid ${process.pid} on ${hostname()}`);
    await first.release();
    expect(existsSync(join(dir, LOCK_NAME))).toBe(false);
    const again = await lockDataDir(dir, noop);
    await again.release();
  });

  it('takes over at once a lock left by a process on this host that no longer runs (SIGKILL)', async () => {
    const dir = fresh();
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout);
    mkdirSync(join(dir, LOCK_NAME)); // fresh mtime: not stale by age
    writeFileSync(join(dir, OWNER_NAME), JSON.stringify({ pid: deadPid, hostname: hostname(), startedAt: new Date().toISOString() }));
    const lock = await lockDataDir(dir, noop);
    await lock.release();
  });

  it('does not take over a fresh lock held on another host, whatever its pid', async () => {
    const dir = fresh();
    mkdirSync(join(dir, LOCK_NAME));
    writeFileSync(join(dir, OWNER_NAME), JSON.stringify({ pid: 999_999_999, hostname: `not-${hostname()}`, startedAt: '2026-01-01T00:00:00.000Z' }));
    const err = await lockDataDir(dir, noop).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect((err as Error).message).toContain(`pid 999999999 on not-${hostname()}`);
  });
});
