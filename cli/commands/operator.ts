/**
 * `tabgrid operator token reset`: a new operator token for a coordinator
 * whose token was lost (or leaked). It needs what only the machine's owner
 * has, the coordinator's data directory (and its PostgreSQL, when it keeps
 * state there): it writes the new token's hash to the store and the token to
 * `<data>/operator-token` (mode 600). A running coordinator refuses the old
 * token from its next request on: operator tokens are looked up in the store
 * on each request.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hashToken } from '../../server/services/job-service.ts';
import { newToken } from '../../server/services/project-service.ts';
import { PgStore } from '../../server/store/postgres/pg-store.ts';
import { SqliteStore } from '../../server/store/sqlite/sqlite-store.ts';

export async function resetOperatorToken(o: { dataDir: string; postgresUrl?: string }): Promise<{ token: string; file: string }> {
  const dataDir = resolve(o.dataDir);
  const sqlite = join(dataDir, 'tabgrid.sqlite');
  // Never a new, empty database: the reset is for an existing coordinator.
  if (!o.postgresUrl && !existsSync(sqlite)) throw new Error(`no coordinator data in ${dataDir} (no tabgrid.sqlite): pass the --data directory the coordinator runs with, and --postgres if it keeps state there`);
  const token = newToken();
  const file = join(dataDir, 'operator-token');
  // The SQLite store's checkpoint thread is unref'd (a coordinator's server keeps the process alive): without a
  // handle of our own, a CLI with nothing else to wait on would exit silently while close() waits for that thread.
  const alive = setInterval(() => {}, 60_000);
  try {
    const store = o.postgresUrl ? await PgStore.open(o.postgresUrl) : new SqliteStore(sqlite);
    try {
      await store.replaceOperatorToken({ hash: hashToken(token), createdAt: Date.now() });
    } finally {
      await store.close();
    }
  } finally {
    clearInterval(alive);
  }
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return { token, file };
}
