/**
 * Reads a benchmarked coordinator's state from its database, beside it: the
 * SQLite file (WAL lets a reader in) or the PostgreSQL schema it runs in.
 */
import Database from 'better-sqlite3';
import pg from 'pg';

export interface CoordinatorDb {
  /** One number: the `n` column of the query's single row. */
  count(sql: string): Promise<number>;
  close(): Promise<void>;
}

export function sqliteDb(file: string): CoordinatorDb {
  return {
    async count(sql) {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        return Number((db.prepare(sql).get() as { n: number | bigint }).n);
      } finally {
        db.close();
      }
    },
    async close() {},
  };
}

export async function postgresDb(url: string): Promise<CoordinatorDb> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    async count(sql) {
      const { rows } = await client.query<{ n: string | number }>(sql);
      return Number(rows[0]!.n);
    },
    close: () => client.end(),
  };
}

/** Copies a coordinator still has to hand out. */
export function remainingCopies(db: CoordinatorDb): Promise<number> {
  return db.count(`SELECT COALESCE(SUM(wanted - alive), 0) AS n FROM shards WHERE state = 'open' AND alive < wanted`);
}
