import * as ort from 'onnxruntime-web';
import { createOrtRunner } from '../../../../server/training/ort-runner.ts';
import type { TensorRunner } from '../../../../server/training/ort-runner.ts';

// one thread: the CI box has 2 shared cores, and results must not depend on thread count
ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';

export function wasmRunner(model: Uint8Array): Promise<TensorRunner> {
  return createOrtRunner(ort, model, { executionProviders: ['wasm'] });
}
