/**
 * The known-answer thread (started by answer-runner.ts): the coordinator
 * computes some shards itself, so spot checks have answers before any shard
 * is validated. It runs the very executor `tabgrid worker --node` runs
 * (shared/worker-core/executor.ts, onnxruntime-web's WASM backend, one
 * thread), so an honest volunteer's result and the coordinator's agree to
 * the job's tolerance.
 */
import { readFile } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import type { Assignment, BlobRef } from '../../shared/protocol/events.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { ShardExecutor } from '../../shared/worker-core/executor.ts';
import { ort } from './ort-node.ts';

export interface AnswerRequest {
  id: number;
  assignment: Assignment;
  /** Where each blob the assignment names lies on disk, by hash. */
  blobPaths: Record<string, string>;
}

export type AnswerReply = { id: number; ok: true; encoded: Uint8Array; computeMs: number } | { id: number; ok: false; error: string };

let paths: Record<string, string> = {};
const executor = new ShardExecutor({
  ort, backend: 'wasm', maxSessions: 2,
  loadBlob: async (ref: BlobRef) => {
    const p = paths[ref.hash];
    if (!p) throw new Error(`no local path for blob ${ref.hash}`);
    return new Uint8Array(await readFile(p));
  },
});

parentPort!.on('message', (req: AnswerRequest) => {
  paths = req.blobPaths;
  executor.run(req.assignment).then(
    (out) => {
      const encoded = encodeTensors(out.outputs);
      parentPort!.postMessage({ id: req.id, ok: true, encoded, computeMs: out.computeMs } satisfies AnswerReply, [encoded.buffer as ArrayBuffer]);
    },
    (e: unknown) => parentPort!.postMessage({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) } satisfies AnswerReply),
  );
});
parentPort!.postMessage({ ready: true });
