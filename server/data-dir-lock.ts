/**
 * One coordinator process per data directory: the SQLite file, its WAL and the
 * hot-shard cache in memory belong to exactly one process, so a second `serve`
 * on the same `--data` must refuse rather than start beside the first.
 *
 * The lock is proper-lockfile's (an atomic mkdir whose mtime the holder keeps
 * fresh, so it also works on a network volume); beside it an owner file names
 * the holder's pid and host, for the refusal message and so that a lock left by
 * a process killed with SIGKILL on this host is taken over at once (its pid is
 * gone) instead of after the staleness period.
 */
import lockfile from 'proper-lockfile';
import { readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const LOCK_NAME = 'serve.lock';
export const OWNER_NAME = 'serve.owner';

export interface LockOwner {
  pid: number;
  hostname: string;
  startedAt: string;
}

export class DataDirLockedError extends Error {
  constructor(readonly dataDir: string, readonly owner: LockOwner | null) {
    super(owner
      ? `data directory ${dataDir} is in use by another tabgrid coordinator (pid ${owner.pid} on ${owner.hostname}, since ${owner.startedAt}); stop it first, or give this one another --data`
      : `data directory ${dataDir} is in use by another tabgrid coordinator (its pid is not recorded yet); stop it first, or give this one another --data`);
  }
}

function readOwner(dataDir: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(join(dataDir, OWNER_NAME), 'utf8')) as LockOwner;
    return Number.isInteger(o.pid) && typeof o.hostname === 'string' ? o : null;
  } catch {
    return null;
  }
}

/** Whether a process with this pid runs here (EPERM: it does, under another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface DataDirLock {
  release(): Promise<void>;
}

/**
 * Takes the data directory (which must exist) for this process, or throws
 * DataDirLockedError naming the process that holds it.
 */
export async function lockDataDir(dataDir: string, onCompromised: (err: Error) => void): Promise<DataDirLock> {
  const opts = { lockfilePath: join(dataDir, LOCK_NAME), realpath: false, stale: 30_000, onCompromised };
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(dataDir, opts);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw e;
    const owner = readOwner(dataDir);
    // Left behind by a process that died without cleaning up (SIGKILL, OOM) on this host.
    if (!owner || owner.hostname !== hostname() || alive(owner.pid) || owner.pid === process.pid) throw new DataDirLockedError(dataDir, owner);
    rmdirSync(join(dataDir, LOCK_NAME));
    try {
      release = await lockfile.lock(dataDir, opts);
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === 'ELOCKED') throw new DataDirLockedError(dataDir, readOwner(dataDir));
      throw e2;
    }
  }
  const owner: LockOwner = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() };
  writeFileSync(join(dataDir, OWNER_NAME), `${JSON.stringify(owner)}\n`, { mode: 0o600 });
  return {
    async release() {
      rmSync(join(dataDir, OWNER_NAME), { force: true });
      await release().catch(() => {});
    },
  };
}
