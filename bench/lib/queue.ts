import Database from 'better-sqlite3';

/** Copies a coordinator still has to hand out, read from its SQLite file (WAL lets a reader in beside it). */
export function remainingCopies(dbFile: string): number {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare(`SELECT COALESCE(SUM(wanted - alive), 0) AS n FROM shards WHERE state = 'open' AND alive < wanted`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}
