/**
 * A worker thread for work on an untrusted model (model checks, known-answer
 * runs), its heap capped so a hostile graph cannot exhaust the coordinator's
 * memory.
 */
import { Worker } from 'node:worker_threads';

export interface LimitedWorker { worker: Worker; ready: Promise<void> }

/**
 * Starts the thread module `name` (beside this file) with `memoryMb` of old
 * generation. Compiled to JavaScript (as shipped), the module runs as it is;
 * from TypeScript sources (tests), model-check-boot.mjs registers tsx's
 * loader in the thread first. `ready` resolves on the thread's `{ ready: true }`
 * message. `gone` is called when the thread errors (one outside a task must not
 * go unhandled and take the coordinator down), fails to start, or exits.
 */
export function startLimitedWorker(name: string, memoryMb: number, gone: (worker: Worker) => void): LimitedWorker {
  const compiled = import.meta.url.endsWith('.js');
  const entry = new URL(compiled ? `./${name}.js` : `./${name}.ts`, import.meta.url);
  const worker = new Worker(compiled ? entry : new URL('./model-check-boot.mjs', import.meta.url), {
    workerData: { entry: entry.href },
    resourceLimits: { maxOldGenerationSizeMb: memoryMb, maxYoungGenerationSizeMb: 64 },
  });
  worker.unref();
  worker.on('error', () => gone(worker));
  const ready = new Promise<void>((resolve, reject) => {
    const onMessage = (m: { ready?: boolean }) => {
      if (!m.ready) return;
      worker.off('message', onMessage).off('error', reject);
      resolve();
    };
    worker.on('message', onMessage).once('error', reject);
  });
  ready.catch(() => gone(worker));
  worker.once('exit', () => gone(worker));
  return { worker, ready };
}
