/** Reassembles a job's outputs from its shards' canonical results, in shard order. */
import type { TensorParts } from '../../../shared/tensor/codec.ts';
import { type NamedTensor, stackRecords } from '../../../shared/tensor/tensor.ts';

/**
 * The outputs as parts (each output: its shards' bytes in order, not joined),
 * ready for encodeTensorParts: a job's outputs are never copied into one
 * buffer on their way to the blob store.
 */
export function assembleOutputs(outputNames: readonly string[], shardOutputs: readonly NamedTensor[][], stack: boolean): TensorParts[] {
  if (shardOutputs.length === 0) throw new Error('no shard results to assemble');
  if (!stack) {
    if (shardOutputs.length !== 1) throw new Error(`an unsplit job has one shard, got ${shardOutputs.length}`);
    return shardOutputs[0]!.map((t) => ({ name: t.name, dtype: t.dtype, dims: t.dims, parts: [t.data] }));
  }
  return outputNames.map((name, i) => ({ name, ...stackRecords(shardOutputs.map((s) => s[i]!)) }));
}
