/**
 * Checks a submitted model before any job is created: the bytes must be ONNX,
 * every input and output must be a tensor tabgrid can carry, and
 * onnxruntime-web must actually load it (what volunteers will run).
 */
import { ModelError, type ModelProto, type ModelSignature, modelSignature, parseModel } from '../../shared/onnx/model.ts';
import { ort } from './ort-node.ts';

export interface CheckedModel {
  model: ModelProto;
  signature: ModelSignature;
}

/**
 * `loadsAlready`: onnxruntime-web has loaded these very bytes before (the
 * caller keys that by content hash), so the load, which for a large model
 * costs far more than parsing it, is not repeated.
 */
export async function checkModel(bytes: Uint8Array, o: { loadsAlready?: boolean } = {}): Promise<CheckedModel> {
  const model = parseModel(bytes);
  const signature = modelSignature(model);
  if (o.loadsAlready) return { model, signature };
  let session: ort.InferenceSession | undefined;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], logSeverityLevel: 3 });
  } catch (e) {
    const msg = (e as Error).message.replace(/\s+/g, ' ').slice(0, 500);
    throw new ModelError(`onnxruntime-web cannot load this model: ${msg}`);
  } finally {
    await session?.release().catch(() => {});
  }
  return { model, signature };
}
