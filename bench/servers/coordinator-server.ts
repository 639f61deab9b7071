/**
 * The coordinator under test: the real `startCoordinator()` on a fresh data
 * directory, as `tabgrid serve --distinct-copies none --log-level warn` would
 * run it, in its own process.
 *
 * argv: <dataDir> [--sql-timing] [--postgres URL] (PostgreSQL instead of SQLite; blobs stay in dataDir). The parent may start and stop V8's CPU
 * profiler around its measurement windows (over IPC, through the inspector),
 * so a profile covers the measured load and nothing else. With --sql-timing every better-sqlite3
 * statement is timed by its SQL text (and every prepare() by the text it
 * compiles), so a profile can name statements, not just `run`/`get`/`all`.
 * The timing wraps better-sqlite3's prototypes from here: nothing in server/
 * changes.
 */
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { startCoordinator } from '../../server/app.ts';
import { serveParent } from '../lib/child.ts';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: coordinator-server.ts DATA_DIR [--sql-timing] [--postgres URL]');

export interface SqlTiming { sql: string; op: string; calls: number; ms: number }

/** By SQL text, then op; each statement object caches its entry, so a call hashes no string. */
const bySql = new Map<string, Map<string, SqlTiming>>();
const ofStatement = new WeakMap<object, Map<string, SqlTiming>>();
const prepares = new Map<string, SqlTiming>();
if (process.argv.includes('--sql-timing')) installSqlTiming();

function entry(m: Map<string, SqlTiming>, op: string, sql: string): SqlTiming {
  let t = m.get(op);
  if (!t) { t = { sql: sql.replace(/\s+/g, ' ').trim(), op, calls: 0, ms: 0 }; m.set(op, t); }
  return t;
}

function installSqlTiming(): void {
  const probe = new Database(':memory:');
  const stmtProto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as Record<string, (...a: unknown[]) => unknown>;
  probe.close();
  for (const op of ['run', 'get', 'all'] as const) {
    const orig = stmtProto[op]!;
    stmtProto[op] = function timedStatement(this: { source: string }, ...args: unknown[]) {
      const t0 = performance.now();
      try {
        return orig.apply(this, args);
      } finally {
        let m = ofStatement.get(this);
        if (!m) {
          // `source` is a native getter that builds a new string: read it once per statement.
          const sql = this.source;
          m = bySql.get(sql);
          if (!m) { m = new Map(); bySql.set(sql, m); }
          ofStatement.set(this, m);
        }
        const t = m.get(op) ?? entry(m, op, this.source);
        t.calls++;
        t.ms += performance.now() - t0;
      }
    };
  }
  const dbProto = Database.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const prepare = dbProto.prepare!;
  dbProto.prepare = function timedPrepare(this: unknown, ...args: unknown[]) {
    const t0 = performance.now();
    try {
      return prepare.apply(this, args);
    } finally {
      const t = entry(prepares, String(args[0]), String(args[0]));
      t.op = 'prepare';
      t.calls++;
      t.ms += performance.now() - t0;
    }
  };
}

function sqlTimings(): SqlTiming[] {
  return [...[...bySql.values()].flatMap((m) => [...m.values()]), ...prepares.values()]
    .filter((t) => t.calls > 0).map((t) => ({ ...t })).sort((a, b) => b.ms - a.ms);
}

function resetSqlTimings(): null {
  for (const m of bySql.values()) for (const t of m.values()) { t.calls = 0; t.ms = 0; }
  prepares.clear();
  return null;
}

const pgAt = process.argv.indexOf('--postgres');
const c = await startCoordinator({
  port: 0, host: '127.0.0.1', dataDir, distinctCopies: new Set(), logLevel: 'warn',
  ...(pgAt >= 0 ? { postgresUrl: process.argv[pgAt + 1]! } : {}),
});

const inspector = new Session();
inspector.connect();
let profiling = false;

serveParent({ url: c.url, token: c.token, projectId: c.projectId }, {
  gc: () => { globalThis.gc?.(); return process.memoryUsage(); },
  sqlTimings,
  resetSqlTimings,
  profileStart: async () => {
    if (!profiling) {
      await inspector.post('Profiler.enable');
      // 250 µs instead of V8's 1 ms: a 5 s window then holds ~20,000 samples.
      await inspector.post('Profiler.setSamplingInterval', { interval: 250 });
      await inspector.post('Profiler.start');
      profiling = true;
    }
    return null;
  },
  profileStop: async (file) => {
    if (!profiling) return null;
    profiling = false;
    const { profile } = await inspector.post('Profiler.stop');
    writeFileSync(String(file), JSON.stringify(profile));
    return file;
  },
  close: async () => {
    await c.close();
    // Exit after the reply is on its way: --cpu-prof writes its profile on a normal exit.
    setImmediate(() => process.exit(0));
    return null;
  },
});
