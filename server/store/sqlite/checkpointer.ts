/**
 * WAL checkpoints on a thread of their own.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses the
 * threshold, on the connection that commits: for this store that is the
 * coordinator's event loop, which then copies megabytes of WAL frames into
 * the database file and fsyncs it while every volunteer waits. Measured with
 * the coordinator's own statements (.scratch-style replay of the bench's
 * writes), automatic checkpoints were a third of the SQL time per result.
 *
 * So the store turns them off (`wal_autocheckpoint = 0`) and this worker
 * thread, on its own connection, runs PASSIVE checkpoints: they copy what
 * is committed without taking any lock a writer needs, and never wait. When a
 * checkpoint has copied the whole WAL, SQLite rewinds it at the next write
 * transaction, so the file does not grow without bound; `journal_size_limit`
 * truncates what a burst left behind.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

/** How often: a busy coordinator appends about a megabyte of WAL in this time. */
export const CHECKPOINT_EVERY_MS = 200;

// Plain JavaScript evaluated in the worker: no TypeScript loader is needed there.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.betterSqlite3);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 0');
let timer = null;
const run = () => {
  clearTimeout(timer);
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (e) {
    parentPort.postMessage(String(e && e.message || e));
  }
  timer = setTimeout(run, workerData.everyMs);
};
parentPort.on('message', (m) => {
  if (m === 'stop') { clearTimeout(timer); db.close(); parentPort.close(); }
});
timer = setTimeout(run, workerData.everyMs);
`;

export class Checkpointer {
  private readonly worker: Worker;
  private stopped: Promise<void> | null = null;
  private lastFailure: string | null = null;

  constructor(file: string, everyMs = CHECKPOINT_EVERY_MS) {
    const betterSqlite3 = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, everyMs, betterSqlite3 } });
    // The coordinator must exit when asked even if close() is never reached.
    this.worker.unref();
    // Only failures come back. Said once per distinct reason: a WAL that is never checkpointed only grows.
    this.worker.on('message', (why: string) => {
      if (why !== this.lastFailure) process.emitWarning(`SQLite WAL checkpoint failed: ${why}`);
      this.lastFailure = why;
    });
  }

  stop(): Promise<void> {
    this.stopped ??= new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
      this.worker.postMessage('stop');
    });
    return this.stopped;
  }
}
