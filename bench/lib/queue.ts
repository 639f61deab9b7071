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
  // One read-only connection, opened on first use (the coordinator creates the file); outside a query it holds no snapshot.
  let db: Database.Database | null = null;
  return {
    async count(sql) {
      db ??= new Database(file, { readonly: true, fileMustExist: true });
      return Number((db.prepare(sql).get() as { n: number | bigint }).n);
    },
    async close() {
      db?.close();
      db = null;
    },
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
