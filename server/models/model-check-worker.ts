/**
 * The model check's thread (started by model-checker.ts): everything a
 * submitted model can make expensive (parsing, loading it in onnxruntime-web,
 * shape inference, the FLOP estimate, the WebGPU hazard scan) runs here, so a
 * hostile model costs this thread its time and memory limits, never the
 * coordinator's event loop.
 */
import { readFile } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { estimateFlops } from '../../shared/onnx/flops.ts';
import { ModelError, type ModelProto, modelSignature, parseModel } from '../../shared/onnx/model.ts';
import { webgpuHazards } from '../../shared/onnx/webgpu-hazards.ts';
import { buildTrainStep, type LossKind, TrainStepError, UnsupportedOpError } from '../training/autodiff/index.ts';
import { checkModel } from './check-model.ts';
import type { CheckReply, CheckRequest, ShardBatchDims, TrainStepCheck } from './model-checker.ts';

/** y = Identity(x), x float[1]. */
const WARM_UP_MODEL = 'CAg6NwoQCgF4EgF5IghJZGVudGl0eRIBd1oPCgF4EgoKCAgBEgQKAggBYg8KAXkSCgoICAESBAoCCAFCBAoAEBE=';

/** The model the last request parsed: a job's inspect and estimate come one after the other. */
let last: { file: string; model: ModelProto } | null = null;

async function handle(req: CheckRequest): Promise<CheckReply> {
  if (req.op === 'trainStep') return { id: req.id, ok: true, ...trainStep(new Uint8Array(await readFile(req.file)), req.loss, req.shard) };
  if (req.op === 'inspect') {
    const checked = await checkModel(new Uint8Array(await readFile(req.file)), { loadsAlready: req.loadsAlready });
    last = { file: req.file, model: checked.model };
    return { id: req.id, ok: true, signature: checked.signature };
  }
  const model = last?.file === req.file ? last.model : (await checkModel(new Uint8Array(await readFile(req.file)), { loadsAlready: true })).model;
  last = { file: req.file, model };
  const flops = estimateFlops(model, req.shapes);
  return { id: req.id, ok: true, flops: { flops: flops.flops, unknownOps: flops.unknownOps }, hazards: webgpuHazards(model, req.shapes) };
}

function trainStep(forward: Uint8Array, loss: LossKind, shard: ShardBatchDims): TrainStepCheck {
  let step;
  try {
    step = buildTrainStep(forward, { loss });
  } catch (e) {
    // The builder's refusals (and a model it cannot decode) are the project's to hear; anything else is a bug here.
    if (e instanceof UnsupportedOpError || e instanceof TrainStepError) throw new ModelError(e.message);
    if (e instanceof Error && /ONNX|model|graph/i.test(e.name + e.message)) throw new ModelError(e.message);
    throw e;
  }
  const out = modelSignature(parseModel(forward)).outputs[0];
  const last = out?.dims?.[out.dims.length - 1];
  const shapes: Record<string, number[]> = { [step.inputs.data]: shard.data, [step.inputs.labels]: shard.labels };
  for (const p of step.params) shapes[p.name] = p.dims;
  let shardFlops: number | null = null;
  try {
    shardFlops = estimateFlops(parseModel(step.model), shapes).flops;
  } catch {
    // A batch that does not fit the step: the coordinator checks the batch itself and names the mismatch.
  }
  return { step, shardFlops, classes: typeof last === 'number' ? last : null };
}

parentPort!.on('message', (req: CheckRequest) => {
  handle(req).then(
    (reply) => parentPort!.postMessage(reply),
    (e: unknown) => parentPort!.postMessage({
      id: req.id, ok: false, model: e instanceof ModelError, error: e instanceof Error ? e.message : String(e),
    } satisfies CheckReply),
  );
});
// onnxruntime-web compiles and instantiates its WebAssembly at the first load: done here, before
// the thread says it is ready, so no model's time limit pays for it.
const warmUp = Uint8Array.from(Buffer.from(WARM_UP_MODEL, 'base64'));
await checkModel(warmUp).catch(() => {});
parentPort!.postMessage({ ready: true });
