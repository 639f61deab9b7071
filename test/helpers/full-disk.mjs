/**
 * Preloaded (`node --import`) into a test coordinator: while the file
 * `disk-full` exists in its data directory, committing a judgement fails as
 * SQLite does on a full disk. A real full disk cannot be made to fail that
 * commit, and not the result write before it, reliably: this fails exactly
 * the store call the test is about, in a real coordinator process.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

// The CLI runs the compiled coordinator (dist/node, kept fresh by the tests'
// globalSetup), so the patch goes on that module, the one the process loads.
const { SqliteStore } = await import('../../dist/node/server/store/sqlite/sqlite-store.js');
const full = join(process.argv[process.argv.indexOf('--data') + 1], 'disk-full');
const apply = SqliteStore.prototype.applyValidation;
SqliteStore.prototype.applyValidation = function (...args) {
  if (existsSync(full)) return Promise.reject(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
  return apply.apply(this, args);
};
