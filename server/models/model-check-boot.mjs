// The model check thread's first module, plain JavaScript: it registers the
// TypeScript loader (the coordinator runs from .ts sources through tsx) and
// loads the thread's module (model-check-worker.ts).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
