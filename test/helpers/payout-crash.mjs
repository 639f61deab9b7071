/**
 * Preloaded (`node --import`) into a test coordinator, to stop it at an exact
 * point of closing a payout epoch so the test can SIGKILL it there:
 *   <data>/crash-mid-payout   inside the store's transaction, after the epoch
 *                             and its leaves are written and before the payout
 *                             rows that spend the wallets' credit (nothing committed);
 *   <data>/crash-after-payout once the store has committed the epoch, before
 *                             the HTTP reply leaves (the operator's reply is lost).
 * When it stops it writes <data>/payout-stopped and blocks the process for good
 * (Atomics.wait on the main thread), so the kill lands exactly there whatever
 * the machine's load. Patches the compiled stores (dist/node), the modules the
 * shipped CLI loads.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const { SqliteStore } = await import('../../dist/node/server/store/sqlite/sqlite-store.js');
const { PgStore } = await import('../../dist/node/server/store/postgres/pg-store.js');
const data = process.argv[process.argv.indexOf('--data') + 1];

function stopHere(where) {
  writeFileSync(join(data, 'payout-stopped'), where);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

for (const Store of [SqliteStore, PgStore]) {
  const close = Store.prototype.closePayout;
  Store.prototype.closePayout = async function (p) {
    if (existsSync(join(data, 'crash-mid-payout'))) {
      // Both stores write the epoch and its leaves, then read `debits` for the payout rows.
      const build = p.build;
      p = { ...p, build: (payable) => {
        const draft = build(payable);
        return draft && Object.defineProperty({ ...draft }, 'debits', { get: () => stopHere('mid-payout') });
      } };
    }
    const epoch = await close.call(this, p);
    if (epoch && existsSync(join(data, 'crash-after-payout'))) stopHere('after-payout');
    return epoch;
  };
}
