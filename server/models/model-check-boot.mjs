// The model check thread's first module when the coordinator runs from its .ts
// sources (in tests, under vitest): plain JavaScript that registers tsx's loader
// (a devDependency) and loads the thread's module (model-check-worker.ts). The
// compiled coordinator (dist/node) starts model-check-worker.js directly.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
