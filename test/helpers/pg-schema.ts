/**
 * A fresh PostgreSQL schema for coordinators under test (one, or several
 * sharing it as a cluster does), on the test database (pgUrl: an unreachable
 * server fails the test), so parallel test files never collide.
 */
import pg from 'pg';
import { pgUrl, testSchemaName } from '../unit/store/harness.ts';

export interface PgSchema {
  /** Its name, to qualify tables with in `query`. */
  readonly name: string;
  /** The `serve` arguments that keep a coordinator's store in it. */
  readonly serveArgs: string[];
  /** SQL on the test database through a connection of the test's own, not a coordinator's. */
  query<R extends pg.QueryResultRow = Record<string, unknown>>(text: string): Promise<pg.QueryResult<R>>;
  /** Drops the schema, if it is still there, and closes the connection. */
  drop(): Promise<void>;
}

export async function freshPgSchema(): Promise<PgSchema> {
  const url = await pgUrl();
  const name = testSchemaName();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${name}`);
  } catch (e) {
    await admin.end();
    throw e;
  }
  return {
    name,
    serveArgs: ['--postgres', `${url}?options=${encodeURIComponent(`-c search_path=${name}`)}`],
    query: (text) => admin.query(text),
    async drop() {
      try {
        await admin.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      } finally {
        await admin.end();
      }
    },
  };
}
