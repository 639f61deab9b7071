/**
 * Fresh, isolated stores for the contract suite: a temp SQLite file, or a
 * temp PostgreSQL schema (so parallel runs on one database never collide).
 * `open()` may be called more than once: each call is another connection to
 * the same database, i.e. another coordinator.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach } from 'vitest';
import { PgStore } from '../../../server/store/postgres/pg-store.ts';
import { SqliteStore } from '../../../server/store/sqlite/sqlite-store.ts';
import type { Store } from '../../../server/store/types.ts';

type Row = Record<string, unknown>;

export interface StoreHarness {
  open(): Promise<Store>;
  /** Raw SQL on the same database through a connection of its own (not the store's). */
  sql(text: string): Promise<Row[]>;
  dispose(): Promise<void>;
}

export async function sqliteHarness(): Promise<StoreHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'tabgrid-store-'));
  const file = join(dir, 'tabgrid.sqlite');
  const stores: SqliteStore[] = [];
  let raw: Database.Database | null = null;
  return {
    async open() {
      const s = new SqliteStore(file);
      stores.push(s);
      return s;
    },
    async sql(text) {
      // Foreign keys are a per-connection switch in SQLite; the store turns them on, so does this.
      if (!raw) {
        raw = new Database(file);
        raw.pragma('foreign_keys = ON');
      }
      const st = raw.prepare(text);
      if (st.reader) return st.all() as Row[];
      st.run();
      return [];
    },
    async dispose() {
      raw?.close();
      for (const s of stores) await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const PG_CANDIDATES = process.env.TABGRID_TEST_PG_URL
  ? [process.env.TABGRID_TEST_PG_URL]
  : ['postgres://postgres@127.0.0.1:5432/test', 'postgres://root@127.0.0.1:5432/test'];

let reachable: Promise<string> | null = null;

/**
 * The first URL that connects. An unreachable server fails the suite with a
 * message saying so: a store that was never tested must not look green.
 */
export function pgUrl(): Promise<string> {
  reachable ??= (async () => {
    const errors: string[] = [];
    for (const url of PG_CANDIDATES) {
      const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
      try {
        await c.connect();
        await c.query('SELECT 1');
        return url;
      } catch (e) {
        errors.push(`${url.replace(/:[^:@/]*@/, ':***@')}: ${(e as Error).message || String(e)}`);
      } finally {
        await c.end().catch(() => {});
      }
    }
    const where = new URL(PG_CANDIDATES[0]!);
    throw new Error(`PostgreSQL at ${where.hostname}:${where.port || 5432} is not reachable: ${errors.join('; ')} (set TABGRID_TEST_PG_URL to point the tests elsewhere)`);
  })();
  return reachable;
}

export function testSchemaName(): string {
  return `tabgrid_test_${randomBytes(6).toString('hex')}`;
}

export async function pgHarness(): Promise<StoreHarness> {
  const url = await pgUrl();
  const schema = testSchemaName();
  const stores: PgStore[] = [];
  const admin = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  await admin.connect();
  return {
    async open() {
      const s = await PgStore.open(url, { schema });
      stores.push(s);
      return s;
    },
    async sql(text) {
      return (await admin.query<Row>(text)).rows;
    },
    async dispose() {
      for (const s of stores) await s.close().catch(() => {});
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    },
  };
}

/**
 * Call in a describe body: before each test, a fresh database from `makeHarness` and a store opened on it,
 * handed to `use`; after the test, both are gone.
 */
export function freshStoreEachTest(makeHarness: () => Promise<StoreHarness>, use: (h: StoreHarness, store: Store) => void): void {
  let h: StoreHarness | undefined;
  beforeEach(async () => {
    h = await makeHarness();
    use(h, await h.open());
  });
  afterEach(async () => {
    await h?.dispose();
  });
}
